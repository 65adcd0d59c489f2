/**
 * Claude Code's settings files, read only for what bears on the credential (claude-auth.ts):
 * managed (/etc/claude-code/managed-settings.json), user (`$CLAUDE_CONFIG_DIR` or ~/.claude,
 * settings.json), project and local (.claude/settings.json and settings.local.json under the
 * command's working directory). They are the image author's: claude-entry warns about them
 * and never edits them. Read like a secret file (no FIFO, regular files only, a size cap, with
 * the target user's rights where that user could have swapped the path), never printed.
 */
import * as path from 'node:path';
import type { SettingsLayer } from './claude-auth.js';
import { readSecretFile } from './sources/file.js';
import type { TargetUser } from './user.js';

export const MANAGED_SETTINGS = '/etc/claude-code/managed-settings.json';

export function settingsPaths(configDir: string, cwd: string, managed = MANAGED_SETTINGS): { scope: SettingsLayer['scope']; path: string }[] {
  return [
    { scope: 'managed', path: managed },
    { scope: 'user', path: path.join(configDir, 'settings.json') },
    { scope: 'project', path: path.join(cwd, '.claude', 'settings.json') },
    { scope: 'local', path: path.join(cwd, '.claude', 'settings.local.json') },
  ];
}

/** The settings files that exist and parse; the others are left out (Claude Code skips them too). */
export function readClaudeSettings(configDir: string, cwd: string, user?: TargetUser, managed?: string): SettingsLayer[] {
  const layers: SettingsLayer[] = [];
  for (const { scope, path: file } of settingsPaths(configDir, cwd, managed)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readSecretFile(file, file, { as: user }).toString('utf8'));
    } catch {
      continue;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) continue;
    const { env, apiKeyHelper, permissions } = parsed as Record<string, unknown>;
    const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
    layers.push({
      scope,
      path: file,
      env: isObject(env) ? env : undefined,
      apiKeyHelper,
      defaultMode: isObject(permissions) ? permissions.defaultMode : undefined,
    });
  }
  return layers;
}

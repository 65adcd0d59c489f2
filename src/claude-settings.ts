/**
 * Claude Code's settings files, read only for what bears on the credential (claude-auth.ts):
 * managed (/etc/claude-code/managed-settings.json, then the `*.json` of managed-settings.d in
 * name order, each over the one before), the command's `--settings` (a JSON object or a file),
 * local and project (.claude/settings.local.json and settings.json under the command's working
 * directory) and user (`$CLAUDE_CONFIG_DIR` or ~/.claude, settings.json); `--setting-sources`
 * keeps only the user, project and local files it names. They are the image author's:
 * claude-entry warns about them and never edits them. Read like a secret file (no FIFO, regular
 * files only, a size cap, with the target user's rights where that user could have swapped the
 * path), never printed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { optionValue, type SettingsLayer } from './claude-auth.js';
import { readSecretFile } from './sources/file.js';
import type { TargetUser } from './user.js';

export const MANAGED_DIR = '/etc/claude-code';

/** The managed file, then its drop-ins as Claude Code lists them: `*.json`, not hidden, by name. */
function managedPaths(dir: string): string[] {
  let dropIns: string[] = [];
  try {
    dropIns = fs
      .readdirSync(path.join(dir, 'managed-settings.d'))
      .filter((name) => name.endsWith('.json') && !name.startsWith('.'))
      .sort();
  } catch {
    // no drop-in directory
  }
  return [path.join(dir, 'managed-settings.json'), ...dropIns.map((name) => path.join(dir, 'managed-settings.d', name))];
}

export function settingsPaths(configDir: string, cwd: string, managedDir = MANAGED_DIR): { scope: SettingsLayer['scope']; path: string }[] {
  return [
    ...managedPaths(managedDir).map((file) => ({ scope: 'managed' as const, path: file })),
    { scope: 'user', path: path.join(configDir, 'settings.json') },
    { scope: 'project', path: path.join(cwd, '.claude', 'settings.json') },
    { scope: 'local', path: path.join(cwd, '.claude', 'settings.local.json') },
  ];
}

function layerOf(scope: SettingsLayer['scope'], where: string, text: string): SettingsLayer | undefined {
  let parsed: unknown;
  try {
    // Claude Code reads a file that starts with a byte order mark (an editor's UTF-8 BOM).
    parsed = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    return undefined;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const { env, apiKeyHelper, permissions } = parsed as Record<string, unknown>;
  const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  return { scope, path: where, env: isObject(env) ? env : undefined, apiKeyHelper, defaultMode: isObject(permissions) ? permissions.defaultMode : undefined };
}

/**
 * The settings files that exist and parse; the others are left out (Claude Code skips them too).
 * `command` (argv[0] included) gives `--settings` and `--setting-sources`.
 */
export function readClaudeSettings(configDir: string, cwd: string, user?: TargetUser, managedDir?: string, command: string[] = []): SettingsLayer[] {
  const sources = optionValue(command, '--setting-sources')
    ?.split(',')
    .map((s) => s.trim());
  const read = (file: string) => readSecretFile(file, file, { as: user }).toString('utf8');
  const layers: SettingsLayer[] = [];
  for (const { scope, path: file } of settingsPaths(configDir, cwd, managedDir)) {
    if (sources && scope !== 'managed' && !sources.includes(scope)) continue;
    let text: string;
    try {
      text = read(file);
    } catch {
      continue;
    }
    const layer = layerOf(scope, file, text);
    if (layer) layers.push(layer);
  }
  // Claude Code's own test: an object in braces is JSON, anything else a file (relative to the cwd).
  const flag = optionValue(command, '--settings');
  if (flag !== undefined) {
    const inline = flag.trim().startsWith('{') && flag.trim().endsWith('}');
    let layer: SettingsLayer | undefined;
    try {
      layer = inline ? layerOf('flag', '--settings (JSON)', flag) : layerOf('flag', path.resolve(cwd, flag), read(path.resolve(cwd, flag)));
    } catch {
      // a --settings file that cannot be read stops Claude Code itself, with its own message
    }
    if (layer) layers.push(layer);
  }
  return layers;
}

/**
 * Bypass permissions as root. Observed with the real CLI (2.1.330 and 2.1.332, as uid 0):
 * `--dangerously-skip-permissions`, `--allow-dangerously-skip-permissions`,
 * `--permission-mode bypassPermissions` and `permissions.defaultMode: "bypassPermissions"` in
 * settings all exit 1 with "--dangerously-skip-permissions cannot be used with root/sudo
 * privileges for security reasons", unless IS_SANDBOX is exactly "1" ("true" is refused).
 */
import { claudeOptions, type SettingsLayer } from './claude-auth.js';

export const ROOT_BYPASS_REFUSAL = 'cannot be used with root/sudo privileges';

/** What in the command or the settings asks for bypass permissions, or undefined. */
export function bypassRequest(command: string[], settings: SettingsLayer[] = []): string | undefined {
  const args = claudeOptions(command);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--dangerously-skip-permissions' || arg === '--allow-dangerously-skip-permissions') return arg;
    if (arg === '--permission-mode' && args[i + 1] === 'bypassPermissions') return '--permission-mode bypassPermissions';
    if (arg === '--permission-mode=bypassPermissions') return arg;
  }
  const fromSettings = settings.find((layer) => layer.defaultMode === 'bypassPermissions');
  return fromSettings && `permissions.defaultMode "bypassPermissions" in ${fromSettings.path}`;
}

export interface RootBypassVerdict {
  /** Claude Code will refuse to start: what asks for bypass permissions, why, and the fix. */
  refused?: string;
  /** Set IS_SANDBOX=1 for the command (the explicit opt-in, for a command that runs as root). */
  setSandbox: boolean;
}

/**
 * `commandUid` is the uid the command will run as; `optIn` is CLAUDE_ENTRY_ALLOW_ROOT_BYPASS.
 * The opt-in sets IS_SANDBOX=1 for every command that runs as root (bypass mode can also be
 * asked for in ways claude-entry does not see, e.g. a --settings file); it never does for a user.
 */
export function rootBypass(request: string | undefined, commandUid: number, env: NodeJS.ProcessEnv, optIn: boolean): RootBypassVerdict {
  if (commandUid !== 0 || env.IS_SANDBOX === '1') return { setSandbox: false };
  if (optIn) return { setSandbox: true };
  if (!request) return { setSandbox: false };
  return {
    setSandbox: false,
    refused: `${request} with the command running as root: Claude Code refuses it ("${ROOT_BYPASS_REFUSAL}"); run the command as a user (CLAUDE_ENTRY_USER=name or uid), or, in a sandbox whose risk you accept, set CLAUDE_ENTRY_ALLOW_ROOT_BYPASS=1`,
  };
}

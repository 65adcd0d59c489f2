/** doctor's "What Claude Code will use" section: the command's environment as a start would build it. */
import { childEnvironment } from '../child-env.js';
import { readClaudeSettings } from '../claude-settings.js';
import { inspectSurface } from '../claude-surface.js';
import { envSecretRequests } from '../env-secrets.js';
import type { ClaudePaths } from '../home.js';
import type { Resolution } from '../sources/chain.js';
import { splitReferences } from '../sources/references.js';
import type { TargetUser } from '../user.js';

export function claudeSurfaceSection(
  env: NodeJS.ProcessEnv,
  resolved: Resolution | undefined,
  target: { user: TargetUser; paths: ClaudePaths },
  source: string | undefined,
  command: string[],
  allowRootBypass: boolean,
  trust: string[],
): { lines: string[]; problems: string[] } {
  const envRefs = splitReferences(source ?? '')
    .filter((r) => r.startsWith('env:'))
    .map((r) => r.slice(4));
  const settings = readClaudeSettings(target.paths.configDir, process.cwd(), target.user, undefined, command);
  // What a start would fill from secrets is there too (a placeholder: doctor fetches nothing).
  const filled: NodeJS.ProcessEnv = {};
  try {
    for (const request of envSecretRequests(env)) filled[request.name] = 'filled by a start';
  } catch {
    // doctor reports a bad request in its own section
  }
  const child = childEnvironment(env, resolved, target.user, envRefs, settings, filled);
  Object.assign(child.env, filled);
  const surface = inspectSurface({
    env: child.env,
    paths: target.paths,
    cwd: process.cwd(),
    user: target.user,
    kind: resolved?.credential.kind,
    command,
    allowRootBypass,
    trust,
    settings,
  });
  const heading =
    command.length > 0
      ? `What Claude Code will use (for: ${command[0]}${command.length > 1 ? ' ...' : ''})`
      : 'What Claude Code will use (give the command after -- to check --bare and bypass permissions)';
  return { lines: [heading, ...surface.lines.map((l) => `  ${l}`)], problems: surface.problems };
}

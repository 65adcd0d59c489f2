/**
 * `claude-entry doctor`: explains the whole decision a start would make, writes nothing and
 * contacts nothing. Exit 0 when it found no problem, 1 otherwise.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../cli.js';
import { messageOf } from '../errors.js';
import { checkWritable } from '../home.js';
import { createLogger } from '../log.js';
import { delivered, deliveryOf, formatDuration, secretsOf } from '../payload.js';
import { canExec } from '../run.js';
import { linksFor, toCredential, type Resolution } from '../sources/chain.js';
import { claudeSurfaceSection } from './surface-section.js';
import { describeEnvSecrets } from '../env-secrets.js';
import type { SourceContext } from '../sources/types.js';
import { readState } from '../state.js';
import { fileFacts, linkFreeRoot, targetFor } from './inspect.js';
import { readSecretFile } from '../sources/file.js';
import { parsePayload } from '../payload.js';
import type { TargetUser } from '../user.js';

declare const __VERSION__: string;

/**
 * `config` is the one a start takes (flags and their CLAUDE_ENTRY_* twins, every spelling a
 * start accepts), so doctor explains that start; `command` is what it would run.
 */
export async function runDoctor(config: Config, command: string[], env: NodeJS.ProcessEnv, now = Date.now()): Promise<{ code: number; output: string }> {
  const { source, user: userSpec, allowRootBypass } = config;
  const out: string[] = [];
  const problems: string[] = [];
  // Every secret doctor reads is registered here, and the whole output redacted at the end.
  const redactor = createLogger({ level: 'silent' });
  const say = (line = '') => out.push(line);
  const uid = process.getuid!();
  say(`claude-entry ${typeof __VERSION__ === 'string' ? __VERSION__ : 'dev'} doctor: Node ${process.version}, pid ${process.pid}, uid ${uid}`);

  // Target user and files
  say();
  say('Target user');
  let target: ReturnType<typeof targetFor> | undefined;
  let credentialsFile: { line: string; problems: string[] } | undefined;
  try {
    target = targetFor(env, userSpec);
  } catch (error) {
    problems.push(`${messageOf(error)}`);
    say(`  cannot be resolved: ${messageOf(error)}`);
  }
  if (target) {
    const { user, paths } = target;
    say(`  ${user.name ?? `uid ${user.uid}`} (uid ${user.uid}, gid ${user.gid}, groups ${user.groups.join(',')}), home ${user.home}`);
    say(`  credentials: ${paths.credentialsPath}`);
    say(`  settings:    ${paths.claudeJsonPath}`);
    say(
      user.dropsFromRoot
        ? `  running as root: files chowned to ${user.uid}:${user.gid}, then the command runs as ${user.name ?? user.uid}`
        : `  not switching users: files written as uid ${uid}, the command runs as uid ${uid}`,
    );
    if (user.dropsFromRoot && uid !== 0)
      problems.push(
        `CLAUDE_ENTRY_USER names ${user.name} but claude-entry runs as uid ${uid}, not root: run it as root (it drops privileges itself) or drop CLAUDE_ENTRY_USER`,
      );
    if (!user.dropsFromRoot) {
      try {
        checkWritable(paths.configDir);
      } catch (error) {
        problems.push(messageOf(error));
      }
    }
    if (env.CLAUDE_CONFIG_DIR) {
      const ignored = path.join(user.home, '.claude', '.credentials.json');
      if (ignored !== paths.credentialsPath && fs.existsSync(ignored)) {
        problems.push(`CLAUDE_CONFIG_DIR is ${env.CLAUDE_CONFIG_DIR}, so Claude Code ignores ${ignored}: move it there, or unset CLAUDE_CONFIG_DIR`);
      }
    }
    const state = readState(paths.configDir, linkFreeRoot(paths));
    if (state) say(`  last start: ${state.startedAt}, ${deliveryOf(state.kind).label} from ${state.source}`);
    if (state?.sync) say(`  sync: ${state.sync.mode} with ${state.sync.store}`);
    if (state?.lastSync) say(`  last sync: ${state.lastSync.at}, ${state.lastSync.direction} ${state.lastSync.result}: ${state.lastSync.detail}`);
    if (state?.lastSync?.result === 'failed') problems.push(`the last sync failed: ${state.lastSync.detail}`);
    credentialsFile = describeCredentialsFile(paths.credentialsPath, user, now, redactor.addSecret, linkFreeRoot(paths));
  }

  // Sources
  say();
  const ctx: SourceContext = {
    env,
    log: createLogger({ level: 'silent' }),
    timeoutMs: 0,
    credentialsPath: target?.paths.credentialsPath ?? '/nonexistent',
    linkFreeBelow: target ? linkFreeRoot(target.paths) : undefined,
  };
  say(source ? `Sources (CLAUDE_ENTRY_SOURCE=${source}, tried in order)` : 'Sources (CLAUDE_ENTRY_SOURCE not set: conventional variables, first one set wins)');
  let winner: string | undefined;
  let resolved: Resolution | undefined;
  try {
    const links = linksFor(source, ctx);
    let n = 0;
    for (const link of links) {
      n++;
      const label = `  ${String(n).padStart(2)}. ${link.describe.padEnd(34)}`;
      // Asked, not fetched: a link after the winner is never read.
      const set = link.isSet();
      if (winner || !set) {
        say(`${label} ${!set ? 'not set' : 'set, but not used: an earlier source wins'}`);
        continue;
      }
      winner = link.describe;
      if (link.remoteRef !== undefined) {
        say(`${label} <- wins: would fetch ${link.remoteRef} (not fetched by doctor)`);
        continue;
      }
      try {
        const fetched = await link.fetch();
        redactor.addSecret(fetched.payload.toString().trim());
        const credential = toCredential(fetched, now);
        for (const secret of secretsOf(credential)) redactor.addSecret(secret);
        resolved = { credential, fetched };
        const { label: kind, oauth } = delivered(credential);
        let detail = kind;
        if (typeof oauth?.expiresAt === 'number') {
          const left = oauth.expiresAt - now;
          detail += left > 0 ? `, expires in ${formatDuration(left)}` : `, expired ${formatDuration(left)} ago (will be refreshed)`;
        }
        say(`${label} <- wins: ${detail}`);
        // An expired access token with a refresh token is routine: Claude Code renews it.
        for (const w of credential.warnings) say(`      note: ${w}`);
      } catch (error) {
        say(`${label} <- set, but broken: a start would stop here`);
        problems.push(messageOf(error));
      }
    }
  } catch (error) {
    problems.push(messageOf(error));
  }
  if (!winner) {
    if (config.optional) say('  none set: the command would start without a credential (--optional, CLAUDE_ENTRY_OPTIONAL)');
    else problems.push('no source is set: a start would fail with exit 78 (set one, e.g. CLAUDE_CREDENTIALS_B64, or CLAUDE_ENTRY_OPTIONAL=1)');
  }
  if (credentialsFile) {
    say(`  in place: ${credentialsFile.line}`);
    // A start replaces (or fixes) the file when another source wins; else Claude Code gets it as it is.
    const usedAsIs = !winner || winner.endsWith('(already in place)');
    if (usedAsIs) problems.push(...credentialsFile.problems);
    else if (credentialsFile.problems.length > 0) say('  (a start fixes or replaces it)');
  }
  for (const name of ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN']) {
    if (env[name] && winner && winner !== name) say(`  note: ${name} is set but ${winner} wins, so it is removed from the command's environment`);
  }

  const filled = describeEnvSecrets(env);
  if (filled.lines.length > 0) say();
  for (const line of filled.lines) say(line);
  problems.push(...filled.problems);
  if (target) {
    const auth = claudeSurfaceSection(env, resolved, target, source, command, allowRootBypass);
    say();
    for (const line of auth.lines) say(line);
    problems.push(...auth.problems);
  }

  // Running
  say();
  say('Running the command');
  if (canExec()) say('  exec: process.execve replaces claude-entry with the command; nothing stays resident');
  else if (process.pid === 1) say('  supervise: claude-entry is PID 1, so it stays to forward signals and pass on the exit code');
  else say(`  supervise: Node ${process.version} has no process.execve (Node 22.15+ / 23.11+ has); signals are forwarded, the exit code passed on`);
  if (process.pid === 1) {
    say('  reaping: claude-entry is PID 1 and cannot reap orphaned processes');
    problems.push(
      'PID 1 cannot reap orphans: use `docker run --init` or ENTRYPOINT ["tini", "--", "claude-entry", "--"] (shareProcessNamespace or an init in Kubernetes)',
    );
  } else {
    const init = processName(1);
    const reapers = ['tini', 'docker-init', 'dumb-init', 'catatonit', 'systemd', 'init', 'runit', 's6-svscan'];
    say(`  reaping: PID 1 is ${init ?? 'not visible'}${init && reapers.some((r) => init.startsWith(r)) ? ', which reaps orphans' : ''}`);
  }
  if (config.sync !== 'off') say(`  sync: ${config.sync} (--sync, CLAUDE_ENTRY_SYNC) keeps claude-entry resident as a supervisor (no execve)`);
  if (env.NODE_EXTRA_CA_CERTS && process.versions.node.startsWith('20.')) {
    say('  note: NODE_EXTRA_CA_CERTS is set: Node 20 loads it at every start (about +70 ms); set it only where a private CA is needed');
  }

  say();
  const unique = [...new Set(problems)];
  problems.length = 0;
  problems.push(...unique);
  if (problems.length === 0) say('No problems found.');
  else {
    say(`Problems (${problems.length})`);
    for (const p of problems) say(`  - ${p}`);
  }
  return { code: problems.length === 0 ? 0 : 1, output: redactor.redact(out.join('\n')) };
}

function processName(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The credentials file already in the config dir: its login and its mode and owner. */
function describeCredentialsFile(
  file: string,
  user: TargetUser,
  now: number,
  addSecret: (s: string) => void,
  below: string,
): { line: string; problems: string[] } | undefined {
  const facts = fileFacts(file, user, below);
  if (!facts) return undefined;
  const problems = [...facts.problems];
  let login: string;
  try {
    const credential = parsePayload(readSecretFile(file, file, { noFollow: true, linkFreeBelow: below }), file, now);
    for (const secret of secretsOf(credential)) addSecret(secret);
    const { label, oauth } = delivered(credential);
    login = label;
    if (oauth) {
      const { expiresAt, refreshToken } = oauth;
      if (typeof expiresAt === 'number')
        login += expiresAt > now ? `, expires in ${formatDuration(expiresAt - now)}` : `, expired ${formatDuration(now - expiresAt)} ago`;
      login += refreshToken ? ', refresh token present' : ', no refresh token';
    }
    problems.push(...credential.warnings.filter((w) => !/will refresh it/.test(w)));
  } catch (error) {
    login = 'not usable';
    problems.push(messageOf(error));
  }
  return { line: `${file} (${facts.mode.toString(8).padStart(4, '0')}, uid ${facts.uid}): ${login}`, problems };
}

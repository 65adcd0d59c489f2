/**
 * `claude-entry doctor`: explains the whole decision a start would make, writes nothing and
 * contacts nothing. Exit 0 when it found no problem, 1 otherwise.
 */
import { codeCache } from './warm.js';
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
import { readState, type EntryState } from '../state.js';
import { fileFacts, linkFreeRoot, targetFor } from './inspect.js';
import { readSecretFile } from '../sources/file.js';
import { parsePayload } from '../payload.js';
import type { TargetUser } from '../user.js';

declare const __VERSION__: string;

/** What doctor says, the problems it found, and every secret it read (the output is redacted of them). */
class Explanation {
  private readonly lines: string[] = [];
  private readonly problems: string[] = [];
  private readonly redactor = createLogger({ level: 'silent' });
  readonly addSecret = (secret: string) => this.redactor.addSecret(secret);
  say(line = ''): void {
    this.lines.push(line);
  }
  problem(...problems: string[]): void {
    this.problems.push(...problems);
  }
  /** The problems, each once, after the lines; exit 0 when there is none. */
  finish(): { code: number; output: string } {
    const problems = [...new Set(this.problems)];
    this.say();
    if (problems.length === 0) this.say('No problems found.');
    else {
      this.say(`Problems (${problems.length})`);
      for (const p of problems) this.say(`  - ${p}`);
    }
    return { code: problems.length === 0 ? 0 : 1, output: this.redactor.redact(this.lines.join('\n')) };
  }
}

type Target = ReturnType<typeof targetFor>;

/**
 * `config` is the one a start takes (flags and their CLAUDE_ENTRY_* twins, every spelling a
 * start accepts), so doctor explains that start; `command` is what it would run.
 */
export async function runDoctor(config: Config, command: string[], env: NodeJS.ProcessEnv, now = Date.now()): Promise<{ code: number; output: string }> {
  const doc = new Explanation();
  doc.say(
    `claude-entry ${typeof __VERSION__ === 'string' ? __VERSION__ : 'dev'} doctor: Node ${process.version}, pid ${process.pid}, uid ${process.getuid!()}`,
  );
  doc.say();
  const target = explainTarget(doc, config, env);
  const credentialsFile = target && describeCredentialsFile(target.paths.credentialsPath, target.user, now, doc.addSecret, linkFreeRoot(target.paths));
  doc.say();
  const { winner, resolved } = await explainSources(doc, config, env, target, now);
  explainCredentialsFile(doc, credentialsFile, winner);
  for (const name of ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR', 'CLAUDE_CODE_OAUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR']) {
    if (env[name] && winner && winner !== name) doc.say(`  note: ${name} is set but ${winner} wins, so it is removed from the command's environment`);
  }

  const filled = describeEnvSecrets(env);
  if (filled.lines.length > 0) doc.say();
  for (const line of filled.lines) doc.say(line);
  doc.problem(...filled.problems);
  if (target) {
    const auth = claudeSurfaceSection(env, resolved, target, config.source, command, config.allowRootBypass, config.trust);
    doc.say();
    for (const line of auth.lines) doc.say(line);
    doc.problem(...auth.problems);
  }
  doc.say();
  explainRunning(doc, config, env);
  return doc.finish();
}

/** The target user, its files, and what the last start recorded. */
function explainTarget(doc: Explanation, config: Config, env: NodeJS.ProcessEnv): Target | undefined {
  const uid = process.getuid!();
  doc.say('Target user');
  let target: Target;
  try {
    target = targetFor(env, config.user);
  } catch (error) {
    doc.problem(messageOf(error));
    doc.say(`  cannot be resolved: ${messageOf(error)}`);
    return undefined;
  }
  const { user, paths } = target;
  doc.say(`  ${user.name ?? `uid ${user.uid}`} (uid ${user.uid}, gid ${user.gid}, groups ${user.groups.join(',')}), home ${user.home}`);
  doc.say(`  credentials: ${paths.credentialsPath}`);
  doc.say(`  settings:    ${paths.claudeJsonPath}`);
  doc.say(
    user.dropsFromRoot
      ? `  running as root: files chowned to ${user.uid}:${user.gid}, then the command runs as ${user.name ?? user.uid}`
      : `  not switching users: files written as uid ${uid}, the command runs as uid ${uid}`,
  );
  if (user.dropsFromRoot && uid !== 0)
    doc.problem(
      `CLAUDE_ENTRY_USER names ${user.name} but claude-entry runs as uid ${uid}, not root: run it as root (it drops privileges itself) or drop CLAUDE_ENTRY_USER`,
    );
  if (!user.dropsFromRoot) {
    try {
      checkWritable(paths.configDir);
    } catch (error) {
      doc.problem(messageOf(error));
    }
  }
  if (env.CLAUDE_CONFIG_DIR) {
    const ignored = path.join(user.home, '.claude', '.credentials.json');
    if (ignored !== paths.credentialsPath && fs.existsSync(ignored)) {
      doc.problem(`CLAUDE_CONFIG_DIR is ${env.CLAUDE_CONFIG_DIR}, so Claude Code ignores ${ignored}: move it there, or unset CLAUDE_CONFIG_DIR`);
    }
  }
  const state = readState(paths.configDir, linkFreeRoot(paths), user);
  if (state) doc.say(`  last start: ${state.startedAt}, ${deliveryOf(state.kind).label} from ${state.source}`);
  if (state?.sync) doc.say(`  sync: ${state.sync.mode} with ${state.sync.store}`);
  if (state?.lastSync) doc.say(`  last sync: ${state.lastSync.at}, ${state.lastSync.direction} ${state.lastSync.result}: ${state.lastSync.detail}`);
  if (state?.lastSync?.result === 'failed') doc.problem(`the last sync failed: ${state.lastSync.detail}`);
  if (state?.fleet) explainFleet(doc, state.fleet, Date.now());
  return target;
}

/**
 * Each link of the chain and whether it is set (asked, never fetched); only the winner is read,
 * and a secret manager's is named, not fetched. `winner` is the winning link's description.
 */
async function explainSources(
  doc: Explanation,
  config: Config,
  env: NodeJS.ProcessEnv,
  target: Target | undefined,
  now: number,
): Promise<{ winner?: string; resolved?: Resolution }> {
  const { source } = config;
  const ctx: SourceContext = {
    env,
    log: createLogger({ level: 'silent' }),
    timeoutMs: 0,
    credentialsPath: target?.paths.credentialsPath ?? '/nonexistent',
    linkFreeBelow: target ? linkFreeRoot(target.paths) : undefined,
    // As the start reads them: with the user's rights where the user controls the path.
    user: target?.user,
  };
  doc.say(
    source ? `Sources (CLAUDE_ENTRY_SOURCE=${source}, tried in order)` : 'Sources (CLAUDE_ENTRY_SOURCE not set: conventional variables, first one set wins)',
  );
  let winner: string | undefined;
  let resolved: Resolution | undefined;
  try {
    const links = linksFor(source, ctx);
    let n = 0;
    for (const link of links) {
      n++;
      const label = `  ${String(n).padStart(2)}. ${link.describe.padEnd(34)}`;
      const set = link.isSet();
      if (winner || !set) {
        doc.say(`${label} ${!set ? 'not set' : 'set, but not used: an earlier source wins'}`);
        continue;
      }
      winner = link.describe;
      if (link.remoteRef !== undefined) {
        doc.say(`${label} <- wins: would fetch ${link.remoteRef} (not fetched by doctor)`);
        continue;
      }
      try {
        const fetched = await link.fetch();
        doc.addSecret(fetched.payload.toString().trim());
        const credential = toCredential(fetched, now);
        for (const secret of secretsOf(credential)) doc.addSecret(secret);
        resolved = { credential, fetched };
        const { label: kind, oauth } = delivered(credential);
        let detail = kind;
        if (typeof oauth?.expiresAt === 'number') {
          const left = oauth.expiresAt - now;
          detail += left > 0 ? `, expires in ${formatDuration(left)}` : `, expired ${formatDuration(left)} ago (will be refreshed)`;
        }
        doc.say(`${label} <- wins: ${detail}`);
        // An expired access token with a refresh token is routine: Claude Code renews it.
        for (const w of credential.warnings) doc.say(`      note: ${w}`);
      } catch (error) {
        doc.say(`${label} <- set, but broken: a start would stop here`);
        doc.problem(messageOf(error));
      }
    }
  } catch (error) {
    doc.problem(messageOf(error));
  }
  if (!winner) {
    if (config.optional) doc.say('  none set: the command would start without a credential (--optional, CLAUDE_ENTRY_OPTIONAL)');
    else doc.problem('no source is set: a start would fail with exit 78 (set one, e.g. CLAUDE_CREDENTIALS_B64, or CLAUDE_ENTRY_OPTIONAL=1)');
  }
  return { winner, resolved };
}

/** The credentials file in place: its problems are the deployment's only when Claude Code gets it as it is. */
function explainCredentialsFile(doc: Explanation, file: { line: string; problems: string[] } | undefined, winner: string | undefined): void {
  if (!file) return;
  doc.say(`  in place: ${file.line}`);
  // A start replaces (or fixes) the file when another source wins; else Claude Code gets it as it is.
  const usedAsIs = !winner || winner.endsWith('(already in place)');
  if (usedAsIs) doc.problem(...file.problems);
  else if (file.problems.length > 0) doc.say('  (a start fixes or replaces it)');
}

/** exec or supervise, who reaps orphans, and what keeps claude-entry resident. */
function explainRunning(doc: Explanation, config: Config, env: NodeJS.ProcessEnv): void {
  doc.say('Running the command');
  // Sync and fleet mode need a resident supervisor: a start with either does not exec (main.ts).
  const resident = config.sync !== 'off' ? 'sync' : config.fleet === 'on' ? 'fleet mode' : undefined;
  if (canExec() && resident) doc.say(`  supervise: ${resident} keeps claude-entry resident, so it forwards signals and passes on the exit code (no execve)`);
  else if (canExec()) doc.say('  exec: process.execve replaces claude-entry with the command; nothing stays resident');
  else if (process.pid === 1) doc.say('  supervise: claude-entry is PID 1, so it stays to forward signals and pass on the exit code');
  else doc.say(`  supervise: Node ${process.version} has no process.execve (Node 22.15+ / 23.11+ has); signals are forwarded, the exit code passed on`);
  if (process.pid === 1) {
    doc.say('  reaping: claude-entry is PID 1 and cannot reap orphaned processes');
    doc.problem(
      'PID 1 cannot reap orphans: use `docker run --init` or ENTRYPOINT ["tini", "--", "claude-entry", "--"] (shareProcessNamespace or an init in Kubernetes)',
    );
  } else {
    const init = processName(1);
    const reapers = ['tini', 'docker-init', 'dumb-init', 'catatonit', 'systemd', 'init', 'runit', 's6-svscan'];
    doc.say(`  reaping: PID 1 is ${init ?? 'not visible'}${init && reapers.some((r) => init.startsWith(r)) ? ', which reaps orphans' : ''}`);
  }
  if (config.sync !== 'off') doc.say(`  sync: ${config.sync} (--sync, CLAUDE_ENTRY_SYNC) keeps claude-entry resident as a supervisor (no execve)`);
  explainCodeCache(doc);
  if (env.NODE_EXTRA_CA_CERTS && process.versions.node.startsWith('20.')) {
    doc.say('  note: NODE_EXTRA_CA_CERTS is set: Node 20 loads it at every start (about +70 ms); set it only where a private CA is needed');
  }
}

/** What the loader did with FILE.v8cache at this start (build/code-cache-loader.js). */
function explainCodeCache(doc: Explanation): void {
  const cache = codeCache();
  if (cache === undefined) return;
  const { status, file } = cache;
  if (status === 'used') doc.say(`  code cache: ${file}, made by claude-entry warm for this build and Node ${process.version}`);
  else if (status === 'absent') doc.say('  code cache: none; `claude-entry warm` at image build makes every start compile less');
  else if (status === 'stale') doc.say(`  code cache: ${file} was made for another build or Node version and is not used: run claude-entry warm again`);
  else if (status === 'rejected')
    doc.say(`  code cache: ${file} was refused by V8 (made under other Node options): run claude-entry warm with the container's NODE_OPTIONS`);
  else doc.problem(`code cache: ${file} is not used: ${status.replace(/^ignored: /, '')}; remove it, or run claude-entry warm as the owner of claude-entry`);
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
    const credential = parsePayload(readSecretFile(file, file, { noFollow: true, linkFreeBelow: below, as: user }), file, now);
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

/** A fleet member's view of the lease, as its supervisor last wrote it. */
function explainFleet(doc: Explanation, f: NonNullable<EntryState['fleet']>, now: number): void {
  const left = (t: number | undefined) =>
    t === undefined ? 'unknown' : t > now ? `${formatDuration(t - now)} left` : `expired ${formatDuration(now - t)} ago`;
  doc.say(`  fleet: ${f.role ?? 'member'} (${f.me ?? 'unnamed'}) of ${f.store}${f.at ? `, as of ${f.at}` : ''}`);
  doc.say(`    lease: ${f.holder ? `held by ${f.holder}, ${left(f.leaseUntil)}` : 'free'}; generation ${f.generation ?? 0}`);
  doc.say(`    access token here: ${left(f.expiresAt)}${f.canRefresh === false ? '; this replica cannot refresh (no claude on PATH)' : ''}`);
  if (f.problem) doc.problem(f.problem.startsWith('fleet: ') ? f.problem : `fleet: ${f.problem}`);
}

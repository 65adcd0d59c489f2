/**
 * Flags and their CLAUDE_ENTRY_* environment twins, merged in one place into one Config.
 * A flag wins over its variable.
 */
import { parseArgs } from 'node:util';
import * as path from 'node:path';
import { ConfigError, UsageError } from './errors.js';
import { parseLogLevel, type LogLevel } from './log.js';
import { REFERENCE_VARIABLES, credentialShape, refuseCredentialShaped } from './secret-shape.js';

export interface Config {
  user?: string;
  source?: string;
  trust: string[];
  optional: boolean;
  skipPermissionsPrompt: boolean;
  /** IS_SANDBOX=1 for a command that runs as root, so Claude Code accepts bypass permissions. */
  allowRootBypass: boolean;
  timeoutMs: number;
  logLevel: LogLevel;
  logJson: boolean;
  sync: 'off' | 'push' | 'pull' | 'both';
  /** Fleet mode (one refresher per store; the others hold only an access token): auto joins a store that is a fleet's already. */
  fleet: 'auto' | 'on' | 'off';
  /** Fleet tuning: refresh when less than this is left of the access token; how often replicas look at the store. */
  fleetRefreshBeforeMs: number;
  fleetPollMs: number;
}

export type Invocation =
  | { action: 'run'; config: Config; command: string[] }
  | { action: 'check'; config: Config; minValidMs: number; json: boolean; online: boolean; onlineAcceptUnknown: boolean }
  | { action: 'doctor'; config: Config; command: string[] }
  | { action: 'export'; config: Config; from?: string; to?: string; format: 'b64' | 'json' | 'env' }
  | { action: 'warm'; config: Config }
  | { action: 'help'; text: string }
  | { action: 'version' };

export const SUBCOMMANDS = ['check', 'doctor', 'export', 'warm'] as const;

const options = {
  user: { type: 'string', short: 'u' },
  source: { type: 'string', short: 's' },
  trust: { type: 'string', short: 't' },
  optional: { type: 'boolean' },
  'skip-permissions-prompt': { type: 'boolean' },
  'allow-root-bypass': { type: 'boolean' },
  timeout: { type: 'string' },
  sync: { type: 'string' },
  fleet: { type: 'string' },
  log: { type: 'string', short: 'l' },
  'log-format': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

export const USAGE = `Usage: claude-entry [OPTIONS] -- COMMAND [ARG...]

Authenticate Claude Code from a secret, then run COMMAND as the target user,
as if it had been started directly (signals, exit code, TTY). Made to be a
container's ENTRYPOINT.

Options (each has an environment twin; the flag wins):
  -s, --source REFS        references to try, comma-separated        CLAUDE_ENTRY_SOURCE
                           /path, file:/path, env:NAME,
                           arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME, aws-sm:NAME,
                           projects/P/secrets/S[/versions/V], gcp-sm:...,
                           https://VAULT.vault.azure.net/secrets/NAME[/VERSION];
                           REF#key takes one key of a JSON object secret (any kind)
  -u, --user USER          name, uid, name:group or uid:gid          CLAUDE_ENTRY_USER
  -t, --trust DIRS         answer "trust this folder?" for DIRS      CLAUDE_ENTRY_TRUST
      --optional           run even when no credential is found      CLAUDE_ENTRY_OPTIONAL=1
      --skip-permissions-prompt
                           accept the --dangerously-skip-permissions
                           warning in advance                        CLAUDE_ENTRY_SKIP_PERMISSIONS_PROMPT=1
      --allow-root-bypass  let a command running as root use bypass
                           permissions (sets IS_SANDBOX=1; only in a
                           sandbox: see the README)                  CLAUDE_ENTRY_ALLOW_ROOT_BYPASS=1
      --timeout DURATION   deadline for network sources (15s)        CLAUDE_ENTRY_TIMEOUT
      --sync MODE          off, push, pull or both: keep the source  CLAUDE_ENTRY_SYNC
                           and the refreshed login in step
      --fleet MODE         on, off or auto: replicas share the login CLAUDE_ENTRY_FLEET
                           in a writable store and exactly one of them
                           refreshes it (auto: join a store that is a
                           fleet's already)
  -l, --log LEVEL          debug, info, warn, error, silent          CLAUDE_ENTRY_LOG
      --log-format FORMAT  text or json                              CLAUDE_ENTRY_LOG_FORMAT
  -h, --help               show this help
  -V, --version            show the version

Without --source, the first of these that is set wins:
  CLAUDE_CREDENTIALS_FILE, CLAUDE_CREDENTIALS_B64, CLAUDE_CREDENTIALS_JSON,
  CLAUDE_CREDENTIALS_AWS_SECRET, CLAUDE_CREDENTIALS_GCP_SECRET, CLAUDE_CREDENTIALS_AZURE_SECRET,
  CLAUDE_CODE_OAUTH_TOKEN(_FILE), ANTHROPIC_API_KEY(_FILE),
  /run/secrets/claude-credentials, a .credentials.json already in place.

Other secrets: CLAUDE_ENTRY_ENV_NAME=REF gives the command NAME from REF (any reference
above), e.g. CLAUDE_ENTRY_ENV_GH_TOKEN=aws-sm:ci/tokens#github.

Examples:
  ENTRYPOINT ["claude-entry", "--"]
  CMD ["claude", "-p", "review this repository"]

  docker run -e CLAUDE_CREDENTIALS_B64="$(base64 -w0 ~/.claude/.credentials.json)" \\
    -e CLAUDE_ENTRY_USER=agent image claude -p "say hi"

  claude-entry --user agent --trust /workspace -- claude

Commands (a program named like one of these runs as: claude-entry -- check):
  claude-entry check [--min-valid 1h] [--json] [--online [--online-accept-unknown]]
                                                            health check (check --help)
  claude-entry doctor [-- COMMAND]                          explain, write nothing
  claude-entry export [--from FILE] [--format b64|json|env] [--to REF]
                                                            print (or store) the local login
  claude-entry warm                                         at image build: V8's code cache
                                                            beside this file (warm --help)

Exit codes: the command's own; 128+N if it died of signal N; 64 usage (bad flag or
flag value); 78 configuration (bad reference, payload, user or variable value, or a
credential where a path or reference belongs); 69 source unavailable;
73 cannot write the files; 127 command not found; 126 not executable; 70 internal
error (a bug in claude-entry).`;

/**
 * A bad value is a usage error (64) when it came from a flag, a configuration error (78) when
 * it came from the environment: the flag's user is at a prompt, the variable's in a deployment.
 */
function badValue(name: string, why: string): Error {
  return name.startsWith('-') ? new UsageError(`${name}: ${why} (see claude-entry --help)`) : new ConfigError(`${name}: ${why}`);
}

/** parseArgs' first line, which quotes the argument it did not expect: never a credential. */
function parseArgsMessage(error: unknown): string {
  const line = (error as Error).message.split('\n')[0]!;
  return line.replace(/'([^']*)'/g, (quoted, inner: string) => (credentialShape(inner) ? "'(not shown: it looks like a credential)'" : quoted));
}

/** A value quoted in an error, unless it looks like a credential (then never). */
function shown(value: string): string {
  return credentialShape(value) ? 'the value (not shown: it looks like a credential)' : `"${value.slice(0, 100)}"`;
}

export function parseBoolean(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw badValue(name, `${shown(value)} is not a boolean (use 1 or 0)`);
}

/** "15", "15s", "500ms", "2m", "1h" -> milliseconds. */
export function parseDuration(name: string, value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (!match) throw badValue(name, `${shown(value)} is not a duration (e.g. 15s, 2m)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(match[1]) * unit);
}

function boundedDuration(name: string, value: string, minMs: number, min: string): number {
  const ms = parseDuration(name, value);
  if (ms < minMs || ms > 24 * 3_600_000) throw badValue(name, `${shown(value)} is not between ${min} and 24h`);
  return ms;
}

/**
 * Everything after the first `--` is the command, untouched; without `--`, the first
 * argument that is neither an option nor an option's value starts it (as tini and gosu do).
 */
function splitCommand(argv: string[]): { own: string[]; command: string[] } {
  const takesValue = new Set<string>();
  for (const [name, spec] of Object.entries(options)) {
    if (spec.type !== 'string') continue;
    takesValue.add(`--${name}`);
    if ('short' in spec) takesValue.add(`-${spec.short}`);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return { own: argv.slice(0, i), command: argv.slice(i + 1) };
    if (!arg.startsWith('-') || arg === '-') return { own: argv.slice(0, i), command: argv.slice(i) };
    if (takesValue.has(arg)) i++;
  }
  return { own: argv, command: [] };
}

const CHECK_USAGE = `Usage: claude-entry check [--min-valid DURATION] [--online [--online-accept-unknown]] [--json]

Health check for HEALTHCHECK, Kubernetes probes and cron. Reads what is in place for the
target user (CLAUDE_ENTRY_USER, CLAUDE_CONFIG_DIR honoured) and prints one line, no secret.
Exit 0 healthy; 1 missing, invalid, expired beyond refresh, valid for less than
--min-valid (a refreshable login is renewed by Claude Code itself), files with the wrong
mode or owner, or (--online) not accepted.

  --min-valid DURATION  fail when a non-refreshable credential expires sooner (e.g. 1h)
  --online              send one minimal request to the Anthropic API (ANTHROPIC_BASE_URL):
                        healthy only on a 2xx answer; 401/403 is "rejected"; any other
                        answer (404, 429, 500, 529, a redirect) or none is "unexpected" or
                        "unreachable", and unhealthy
  --online-accept-unknown
                        with --online (implies it): an answer other than 2xx, 401 or 403
                        counts as healthy (the credential was not refused), for gateways
                        that answer the probe with something else
  --json                one JSON object instead of the line

Examples:
  HEALTHCHECK --interval=5m CMD ["claude-entry", "check"]
  livenessProbe: { exec: { command: ["claude-entry", "check"] } }
  claude-entry check --min-valid 24h --json`;

const DOCTOR_USAGE = `Usage: claude-entry doctor [-- COMMAND [ARG...]]

Explains, without writing anything or contacting any service, what a start would do:
each source and whether it is set, which one wins and why, where files would go and for
which user, exec or supervise, orphan reaping, which credential Claude Code will really use
(given the settings files and, after --, the command: --bare, bypass permissions as root),
and every problem found with its fix.
Exit 0 when no problem was found, 1 otherwise.

Example:
  docker run --rm --entrypoint claude-entry my-agent doctor -- claude -p "hi"`;

const EXPORT_USAGE = `Usage: claude-entry export [--from FILE|keychain] [--format b64|json|env]

On a developer's machine: reads the local Claude Code login (~/.claude/.credentials.json,
or the macOS keychain item "Claude Code-credentials"), checks it, and prints it for a
deployment: b64 (default, for CLAUDE_CREDENTIALS_B64), json, or env (a VAR=value line).

Examples:
  claude-entry export > claude.b64
  kubectl create secret generic claude --from-file=claude-credentials=<(claude-entry export --format json)
  gh secret set CLAUDE_CREDENTIALS_B64 --body "$(claude-entry export)"`;

const subcommandOptions = {
  check: { 'min-valid': { type: 'string' }, online: { type: 'boolean' }, 'online-accept-unknown': { type: 'boolean' }, json: { type: 'boolean' } },
  doctor: {},
  export: { from: { type: 'string' }, to: { type: 'string' }, format: { type: 'string' } },
  warm: {},
} as const;

const WARM_USAGE = `Usage: claude-entry warm

At image build, after claude-entry is in place and as its owner (before USER):
  RUN ["claude-entry", "warm"]
Runs a few starts and a check of its own (a fake login in a temporary home, nothing of
the image touched) and writes V8's code cache for this build and this Node beside the
file, as FILE.v8cache. Every start after that compiles from it instead of from source.
A cache made by another build, another Node or other Node options, or one that is not
the file owner's alone, is not used (doctor says why). Exit 73 if it cannot be written.`;

const subcommandUsage = { check: CHECK_USAGE, doctor: DOCTOR_USAGE, export: EXPORT_USAGE, warm: WARM_USAGE };

export function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): Invocation {
  const { own, command } = splitCommand(argv);
  let parsed;
  try {
    parsed = parseArgs({ args: own, options, allowPositionals: false, strict: true });
  } catch (error) {
    throw new UsageError(`${parseArgsMessage(error)} (see claude-entry --help)`);
  }
  const v = parsed.values;
  if (v.help && command.length === 0) return { action: 'help', text: USAGE };
  if (v.version) return { action: 'version' };
  const sub =
    own.length === argv.length - command.length && (SUBCOMMANDS as readonly string[]).includes(command[0] ?? '')
      ? (command[0] as (typeof SUBCOMMANDS)[number])
      : undefined;
  if (sub) return parseSubcommand(sub, command.slice(1), v, env, cwd);
  if (v.help) return { action: 'help', text: USAGE };
  if (command.length === 0 || command[0] === '') {
    throw new UsageError('no command to run: give it after --, e.g. claude-entry -- claude -p "hello"');
  }
  return { action: 'run', command, config: buildConfig(v, env, cwd) };
}

function parseSubcommand(sub: (typeof SUBCOMMANDS)[number], args: string[], common: CommonValues, env: NodeJS.ProcessEnv, cwd: string): Invocation {
  // doctor -- COMMAND: the command a start would run, for what depends on it (--bare, root bypass)
  const dashes = sub === 'doctor' ? args.indexOf('--') : -1;
  const command = dashes >= 0 ? args.slice(dashes + 1) : [];
  if (dashes >= 0) args = args.slice(0, dashes);
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, ...subcommandOptions[sub] }, allowPositionals: false, strict: true });
  } catch (error) {
    throw new UsageError(`${sub}: ${parseArgsMessage(error)} (see claude-entry ${sub} --help)`);
  }
  const v = parsed.values as CommonValues & {
    help?: boolean;
    'min-valid'?: string;
    online?: boolean;
    'online-accept-unknown'?: boolean;
    json?: boolean;
    from?: string;
    to?: string;
    format?: string;
  };
  if (v.help) return { action: 'help', text: subcommandUsage[sub] };
  const config = buildConfig({ ...common, ...v }, env, cwd);
  switch (sub) {
    case 'check':
      return {
        action: 'check',
        config,
        minValidMs: v['min-valid'] ? parseDuration('--min-valid', v['min-valid']) : 0,
        json: v.json ?? false,
        online: (v.online ?? false) || (v['online-accept-unknown'] ?? false),
        onlineAcceptUnknown: v['online-accept-unknown'] ?? false,
      };
    case 'doctor':
      return { action: 'doctor', config, command };
    case 'warm':
      return { action: 'warm', config };
    case 'export': {
      const format = v.format ?? 'b64';
      if (format !== 'b64' && format !== 'json' && format !== 'env') throw new UsageError(`export: --format must be b64, json or env`);
      refuseCredentialShaped('--to', v.to);
      refuseCredentialShaped('--from', v.from, 'a file path or "keychain"');
      return { action: 'export', config, from: v.from, to: v.to, format };
    }
  }
}

type CommonValues = {
  user?: string;
  source?: string;
  trust?: string;
  optional?: boolean;
  'skip-permissions-prompt'?: boolean;
  'allow-root-bypass'?: boolean;
  timeout?: string;
  sync?: string;
  fleet?: string;
  log?: string;
  'log-format'?: string;
};

/** One place where flags meet their CLAUDE_ENTRY_* twins. */
export function buildConfig(v: CommonValues, env: NodeJS.ProcessEnv, cwd: string): Config {
  // First, before any value is used, printed or sent anywhere: a secret pasted where a path
  // or a reference belongs.
  refuseCredentialShaped('--source', v.source);
  refuseCredentialShaped('--user', v.user, 'a user name or uid');
  refuseCredentialShaped('--trust', v.trust, 'a list of directories');
  for (const name of REFERENCE_VARIABLES) refuseCredentialShaped(name, env[name]);

  // Which name a value came by: the flag wins over its variable.
  const from = (flag: string, variable: string, flagValue: string | undefined) => (flagValue !== undefined ? flag : variable);
  const logLevelText = v.log ?? env.CLAUDE_ENTRY_LOG;
  const logLevel = parseLogLevel(logLevelText);
  if (logLevelText && !logLevel)
    throw badValue(from('--log', 'CLAUDE_ENTRY_LOG', v.log), `${shown(logLevelText)} is not one of debug, info, warn, error, silent`);
  const logFormatText = v['log-format'] ?? env.CLAUDE_ENTRY_LOG_FORMAT ?? 'text';
  const logFormat = logFormatText.toLowerCase();
  if (logFormat !== 'text' && logFormat !== 'json')
    throw badValue(from('--log-format', 'CLAUDE_ENTRY_LOG_FORMAT', v['log-format']), `${shown(logFormatText)} is not text or json`);
  const trust = (v.trust ?? env.CLAUDE_ENTRY_TRUST ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((dir) => path.resolve(cwd, dir));
  const timeoutText = v.timeout ?? env.CLAUDE_ENTRY_TIMEOUT;
  const syncText = v.sync ?? env.CLAUDE_ENTRY_SYNC ?? 'off';
  const sync = syncText.trim().toLowerCase() || 'off';
  if (sync !== 'off' && sync !== 'push' && sync !== 'pull' && sync !== 'both') {
    throw badValue(from('--sync', 'CLAUDE_ENTRY_SYNC', v.sync), `${shown(syncText)} is not one of off, push, pull, both`);
  }
  const fleetText = v.fleet ?? env.CLAUDE_ENTRY_FLEET ?? 'auto';
  const fleetWord = fleetText.trim().toLowerCase() || 'auto';
  if (!['auto', '1', 'true', 'yes', 'on', '0', 'false', 'no', 'off'].includes(fleetWord))
    throw badValue(from('--fleet', 'CLAUDE_ENTRY_FLEET', v.fleet), `${shown(fleetText)} is not on, off or auto`);
  const fleet = fleetWord === 'auto' ? 'auto' : parseBoolean(from('--fleet', 'CLAUDE_ENTRY_FLEET', v.fleet), fleetWord) ? 'on' : 'off';
  const fleetRefreshBefore = env.CLAUDE_ENTRY_FLEET_REFRESH_BEFORE;
  const fleetPoll = env.CLAUDE_ENTRY_FLEET_POLL;
  return {
    sync,
    fleet,
    // Bounded: 0 would refresh only after every replica's token expired; a poll under 1 s reads the
    // store in a busy loop, one over 24 h overflows Node's timers (which then fire at once).
    fleetRefreshBeforeMs: fleetRefreshBefore ? boundedDuration('CLAUDE_ENTRY_FLEET_REFRESH_BEFORE', fleetRefreshBefore, 60_000, '1m') : 10 * 60_000,
    fleetPollMs: fleetPoll ? boundedDuration('CLAUDE_ENTRY_FLEET_POLL', fleetPoll, 1000, '1s') : 60_000,
    user: v.user ?? (env.CLAUDE_ENTRY_USER || undefined),
    source: v.source ?? (env.CLAUDE_ENTRY_SOURCE || undefined),
    trust,
    optional: v.optional ?? parseBoolean('CLAUDE_ENTRY_OPTIONAL', env.CLAUDE_ENTRY_OPTIONAL) ?? false,
    skipPermissionsPrompt:
      v['skip-permissions-prompt'] ?? parseBoolean('CLAUDE_ENTRY_SKIP_PERMISSIONS_PROMPT', env.CLAUDE_ENTRY_SKIP_PERMISSIONS_PROMPT) ?? false,
    allowRootBypass: v['allow-root-bypass'] ?? parseBoolean('CLAUDE_ENTRY_ALLOW_ROOT_BYPASS', env.CLAUDE_ENTRY_ALLOW_ROOT_BYPASS) ?? false,
    timeoutMs: timeoutText ? parseDuration(from('--timeout', 'CLAUDE_ENTRY_TIMEOUT', v.timeout), timeoutText) : 15_000,
    logLevel: logLevel ?? 'info',
    logJson: logFormat === 'json',
  };
}

/**
 * claude-entry: the steps of a container start, top to bottom. The only process.exit.
 */
import { childEnvironment } from './child-env.js';
import { memberCredential, prepareFleet } from './fleet/setup.js';
import { readClaudeSettings } from './claude-settings.js';
import { inspectSurface } from './claude-surface.js';
import { applyEnvSecrets, envSecretRequests, fillEnvSecrets } from './env-secrets.js';
import { parseCommandLine, type Config } from './cli.js';
import { ConfigError, EntryError, ExitCode, errnoCode, messageOf } from './errors.js';
import { claudePaths } from './home.js';
import { install } from './install.js';
import { createLogger, parseLogLevel, writeStdout, type Logger } from './log.js';
import { delivered, secretsOf } from './payload.js';
import { canExec, closeUninvitedInspector, execCommand, installStartupSignalHandlers, resolveCommand, signalExitCode, supervise } from './run.js';
import { describeLinks, linksFor, resolveChain } from './sources/chain.js';
import { splitReferences } from './sources/references.js';
import type { SourceContext } from './sources/types.js';
import { withRightsOf } from './rights.js';
import { scrubEnvironmentBlock } from './scrub-environ.js';
import { stateText } from './state.js';
import { dropPrivileges, readUserDatabase, resolveTargetUser } from './user.js';

declare const __VERSION__: string;

/** Values that may hold a secret before we know which one wins: never printed. */
const SECRET_VARIABLES = ['CLAUDE_CREDENTIALS_B64', 'CLAUDE_CREDENTIALS_JSON', 'CLAUDE_CODE_OAUTH_TOKEN', 'ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN'];

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let log = createLogger({
    level: parseLogLevel(env.CLAUDE_ENTRY_LOG) ?? 'info',
    json: env.CLAUDE_ENTRY_LOG_FORMAT?.toLowerCase() === 'json',
  });
  for (const name of SECRET_VARIABLES) log.addSecret(env[name]);
  // A SIGUSR1 that arrived while Node itself was starting, before the bundle's first statement
  // could make it harmless, has opened the inspector: close it before any secret is fetched.
  closeUninvitedInspector(log);
  try {
    const invocation = parseCommandLine(argv, env, workingDirectory());
    if (invocation.action === 'help') {
      writeStdout(invocation.text + '\n');
      return 0;
    }
    if (invocation.action === 'version') {
      writeStdout(`claude-entry ${__VERSION__}\n`);
      return 0;
    }
    log = createLogger({ level: invocation.config.logLevel, json: invocation.config.logJson });
    for (const name of SECRET_VARIABLES) log.addSecret(env[name]);
    switch (invocation.action) {
      case 'run':
        return await start(invocation.config, invocation.command, env, log);
      case 'check': {
        const { runCheck } = await import('./commands/check.js');
        const { code, output } = await runCheck(invocation, invocation.config, env);
        writeStdout(log.redact(output) + '\n');
        return code;
      }
      case 'doctor': {
        const { runDoctor } = await import('./commands/doctor.js');
        const { code, output } = await runDoctor(invocation.config, invocation.command, env);
        writeStdout(log.redact(output) + '\n');
        return code;
      }
      case 'export': {
        const { runExport } = await import('./commands/export.js');
        return await runExport(invocation, env, log);
      }
      case 'warm': {
        const { runWarm } = await import('./commands/warm.js');
        return runWarm(env, log);
      }
    }
  } catch (error) {
    if (error instanceof EntryError) {
      log.error(error.message);
      return error.exitCode;
    }
    log.error(`internal error: ${messageOf(error)}`);
    return ExitCode.internal;
  }
}

/** A working directory removed under the process (a deleted WORKDIR) is the setup's error, not claude-entry's (70). */
function workingDirectory(): string {
  try {
    return process.cwd();
  } catch (error) {
    throw new ConfigError(`the working directory no longer exists (${errnoCode(error) ?? 'getcwd failed'}); start in an existing directory`, { cause: error });
  }
}

async function start(config: Config, command: string[], env: NodeJS.ProcessEnv, log: Logger): Promise<number> {
  installStartupSignalHandlers((signal) => {
    log.warn(`${signal} during start-up; stopping before the command was started`);
    process.exit(signalExitCode(signal));
  });
  if (process.pid === 1) {
    log.warn('running as PID 1: orphaned processes will not be reaped; use `docker run --init` or ENTRYPOINT ["tini", "--", "claude-entry", "--"]');
  }

  // 1. who we write for and run as
  const user = resolveTargetUser(config.user, readUserDatabase(), {
    uid: process.getuid!(),
    gid: process.getgid!(),
    home: env.HOME,
  });
  const paths = claudePaths(user.home, env);

  // 2. the credential
  const ctx: SourceContext = { env, log, timeoutMs: config.timeoutMs, credentialsPath: paths.credentialsPath, user };
  const links = linksFor(config.source, ctx);
  // CLAUDE_ENTRY_ENV_* are fetched alongside the chain, under the same deadline.
  const envRequests = envSecretRequests(env);
  const filling = fillEnvSecrets(envRequests, ctx);
  filling.catch(() => undefined); // awaited below, unless the chain fails first
  const resolution = await resolveChain(links, ctx);
  if (resolution) {
    for (const secret of secretsOf(resolution.credential)) log.addSecret(secret);
    for (const warning of resolution.credential.warnings) log.warn(warning);
    log.info(`using ${delivered(resolution.credential).label} from ${resolution.fetched.source}`);
  } else if (config.optional) {
    log.warn(`no credential found (looked at ${describeLinks(links)}); starting without one (CLAUDE_ENTRY_OPTIONAL)`);
  } else {
    throw new ConfigError(`no credential found (looked at ${describeLinks(links)}); set CLAUDE_ENTRY_OPTIONAL=1 to start without one`);
  }

  const fleetStore = await prepareFleet(config, resolution, log);
  // Loaded only when asked for: a start without sync runs no sync code.
  const sync = config.sync === 'off' ? undefined : await (await import('./sync/session.js')).prepareSync(config.sync, resolution, log);
  const filled = await filling;
  for (const variable of filled) {
    log.addSecret(variable.value);
    log.info(`filled ${variable.name} from ${variable.source}`);
  }

  // Whatever can fail before the command runs fails here, before anything is written: the
  // drop to the user (too many groups, no CAP_SETGID) and the command as the user will see it.
  const envRefs = splitReferences(config.source ?? '')
    .filter((r) => r.startsWith('env:'))
    .map((r) => r.slice(4));
  // Claude Code's settings are read as it will read them, with the user's rights: one switch for
  // all the files, which is also the proof that the drop will work (it fails first, as before,
  // when it cannot). One switch fewer than a separate check: each is a setxid broadcast to every
  // Node thread. The command's environment depends on them (a gateway set up in an env block).
  const { child, surface } = withRightsOf(user, () => {
    const settings = readClaudeSettings(paths.configDir, process.cwd(), user, undefined, command);
    const child = childEnvironment(env, resolution, user, envRefs, settings, Object.fromEntries(filled.map((v) => [v.name, v.value])));
    applyEnvSecrets(child.env, envRequests, filled);
    const kind = resolution?.credential.kind;
    return {
      child,
      surface: inspectSurface({
        env: child.env,
        paths,
        cwd: process.cwd(),
        user,
        kind,
        command,
        allowRootBypass: config.allowRootBypass,
        trust: config.trust,
        settings,
      }),
    };
  });
  resolveCommand(command[0]!, child.env.PATH, user);
  for (const warning of surface.startWarnings) log.warn(warning);
  if (surface.setSandbox) child.env.IS_SANDBOX = '1';

  // 3. the files, written and owned before the privileges go
  const state = resolution && {
    source: resolution.fetched.source,
    kind: resolution.credential.kind,
    deliveredAs: delivered(resolution.credential).variable ?? paths.credentialsPath,
    startedAt: new Date().toISOString(),
    version: __VERSION__,
    sync: sync ? { mode: sync.mode, store: sync.store.describe } : undefined,
    fleet: fleetStore ? { store: fleetStore.describe } : undefined,
  };
  install(
    resolution && memberCredential(resolution.credential, fleetStore !== undefined),
    resolution?.fetched.fromCredentialsFile ?? false,
    paths,
    { ...config, apiKey: child.env.ANTHROPIC_API_KEY },
    { user, log },
    state && stateText(state),
  );

  // 4. the drop
  if (child.removed.length > 0) log.debug(`removed from the command's environment: ${child.removed.join(', ')}`);
  const willExec = canExec() && !sync && !fleetStore;
  if (!willExec) {
    // The command can read a supervisor of its own uid in /proc: leave nothing there it was not
    // given. Done before the drop, while /proc/self/mem is still ours to open.
    const hidden = scrubEnvironmentBlock(child.env);
    if (hidden.length > 0) log.debug(`cleared from claude-entry's own environment block: ${hidden.join(', ')}`);
  }
  if (user.dropsFromRoot) {
    dropPrivileges(user);
    log.debug(`running as ${user.name ?? user.uid} (uid ${user.uid}, gid ${user.gid}, groups ${user.groups.join(',')})`);
  }

  // 5. the command
  const file = resolveCommand(command[0]!, child.env.PATH);
  if (willExec) {
    log.debug(`exec ${file}`);
    execCommand(file, command, child.env);
  }
  log.debug(`supervising ${file}${process.pid === 1 ? ' as PID 1' : ''}${sync || fleetStore ? ' (sync and fleet need a resident supervisor)' : ''}`);
  if (fleetStore) {
    const { runFleetMember } = await import('./fleet/member.js');
    return runFleetMember({ config, store: fleetStore, paths, env: child.env, log, start: () => supervise(file, command, child.env, log).exitCode });
  }
  if (!sync) return supervise(file, command, child.env, log).exitCode;

  const syncer = sync.start({ credentialsPath: paths.credentialsPath, configDir: paths.configDir, log, timeoutMs: config.timeoutMs });
  const supervisor = supervise(file, command, child.env, log);
  const code = await supervisor.exitCode;
  await syncer.stop();
  return code;
}

// If the event loop ever drains before main settles, that is a bug: never report success for it.
process.once('beforeExit', () => {
  process.stderr.write('claude-entry: error: internal error: stopped before the command finished\n');
  process.exit(ExitCode.internal);
});
main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  () => process.exit(ExitCode.internal),
);

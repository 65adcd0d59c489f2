/**
 * Step 5: run the command as if it had been started directly. Replace the process where
 * Node can (process.execve, not as PID 1); otherwise supervise it like tini: forward
 * signals, pass the TTY through, exit with its code or 128+N.
 */
import type * as ChildProcess from 'node:child_process';
import type * as Os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CommandError, ExitCode, errnoCode } from './errors.js';
import type { Logger } from './log.js';
import { rootActsForAnotherUser } from './rights.js';
import type { TargetUser } from './user.js';

export const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
/** The kernel sends these to the terminal's whole foreground process group, child included. */
const TERMINAL_SIGNALS = new Set<NodeJS.Signals>(['SIGINT', 'SIGQUIT', 'SIGWINCH']);

/**
 * Find the command on PATH like a shell would; 127 / 126 when it cannot run. With `as`, judge
 * as that user will, still as root: the start checks this before writing anything, so a
 * command the user cannot run fails with nothing left behind.
 */
export function resolveCommand(command: string, envPath: string | undefined, as?: TargetUser): string {
  const user = as && rootActsForAnotherUser(as) ? as : undefined;
  const candidates = command.includes('/')
    ? [command]
    : (envPath ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
        .split(':')
        // An empty entry means the current directory; keep the `./` so the result is a path
        // (a bare name would be searched on PATH again by spawn).
        .map((dir) => (dir === '' ? `./${command}` : path.join(dir, command)));
  let notExecutable: string | undefined;
  for (const candidate of candidates) {
    let stat: fs.Stats;
    try {
      if (user && !searchableBy(path.dirname(path.resolve(candidate)), user)) throw Object.assign(new Error('search'), { code: 'EACCES' });
      stat = fs.statSync(candidate);
    } catch (error) {
      // As a shell does: a PATH entry the user cannot search (e.g. /root/.local/bin after the
      // drop) or that is not a directory is passed over; a path given outright is reported.
      if (command.includes('/') && errnoCode(error) === 'EACCES') notExecutable ??= `${candidate}: permission denied`;
      continue;
    }
    if (stat.isDirectory()) {
      notExecutable ??= `${candidate} is a directory`;
      continue;
    }
    try {
      if (user) {
        if (!permits(stat, user, 0o1)) throw new Error('not executable');
      } else fs.accessSync(candidate, fs.constants.X_OK);
    } catch {
      notExecutable ??= `${candidate}: permission denied`;
      continue;
    }
    const interpreter = missingInterpreter(candidate, user);
    if (interpreter) throw new CommandError(`cannot run ${command}: ${candidate}: ${interpreter}`, ExitCode.notExecutable);
    return candidate;
  }
  if (notExecutable) throw new CommandError(`cannot run ${command}: ${notExecutable}`, ExitCode.notExecutable);
  throw new CommandError(`${command}: command not found${command.includes('/') ? '' : ' on PATH'}`, ExitCode.notFound);
}

/**
 * A script's `#!` interpreter that is missing or that `user` cannot run, said as a shell says it
 * ("bad interpreter"): execve would fail only after the start has written its files. The first
 * line is read without blocking, from a regular file only; a file we cannot read is left to
 * execve (whose error then comes after the files, as before).
 */
function missingInterpreter(file: string, user: TargetUser | undefined): string | undefined {
  let head: string;
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      if (!fs.fstatSync(fd).isFile()) return undefined;
      const bytes = Buffer.alloc(256);
      head = bytes.toString('latin1', 0, fs.readSync(fd, bytes, 0, bytes.length, 0));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const interpreter = /^#!\s*(\S+)/.exec(head)?.[1];
  if (!interpreter?.startsWith('/')) return undefined;
  let stat: fs.Stats;
  try {
    if (user && !searchableBy(path.dirname(interpreter), user)) return `bad interpreter ${interpreter}: permission denied`;
    stat = fs.statSync(interpreter);
  } catch (error) {
    return errnoCode(error) === 'ENOENT' ? `bad interpreter ${interpreter}: no such file` : undefined;
  }
  if (stat.isDirectory()) return `bad interpreter ${interpreter}: is a directory`;
  try {
    if (user) {
      if (!permits(stat, user, 0o1)) throw new Error('not executable');
    } else fs.accessSync(interpreter, fs.constants.X_OK);
  } catch {
    return `bad interpreter ${interpreter}: permission denied`;
  }
  return undefined;
}

/** The mode bits that apply to `user` (owner, group or other), tested for `bit` (4 r, 2 w, 1 x). */
function permits(stat: fs.Stats, user: TargetUser, bit: number): boolean {
  const bits = stat.uid === user.uid ? stat.mode >> 6 : user.groups.includes(stat.gid) ? stat.mode >> 3 : stat.mode;
  return (bits & bit) !== 0;
}

/** Every directory on the way to `dir` lets `user` through. */
function searchableBy(dir: string, user: TargetUser): boolean {
  for (let d = dir; ; d = path.dirname(d)) {
    const stat = fs.statSync(d, { throwIfNoEntry: false });
    if (stat && !permits(stat, user, 0o1)) return false;
    if (d === path.dirname(d)) return true;
  }
}

export function signalExitCode(signal: NodeJS.Signals): number {
  // Required here: node:os costs every start (check included) about 4 M instructions to load,
  // and only a signal needs it.
  return 128 + ((require('node:os') as typeof Os).constants.signals[signal] ?? 0);
}

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

export function canExec(): boolean {
  return typeof (process as unknown as { execve?: Execve }).execve === 'function' && process.pid !== 1;
}

/** Node ignores these for itself; execve passes an ignore on (spawn resets it), and a shell cannot undo it. */
const IGNORED_BY_NODE: NodeJS.Signals[] = ['SIGPIPE', 'SIGXFSZ'];

/** Replace this process. Only called after resolveCommand: a failed execve aborts Node. */
export function execCommand(file: string, argv: string[], env: NodeJS.ProcessEnv): never {
  // Removing a signal's last listener leaves it at the default action (measured, Node 22, 24).
  for (const signal of IGNORED_BY_NODE) {
    const noop = () => {};
    process.on(signal, noop);
    process.removeListener(signal, noop);
  }
  return (process as unknown as { execve: Execve }).execve(file, argv, env);
}

/**
 * True when we share the terminal's foreground process group: then Ctrl-C, Ctrl-\ and
 * window changes reach the child from the kernel already, and forwarding would double them.
 */
export function inTerminalForeground(): boolean {
  try {
    return statSaysTerminalForeground(fs.readFileSync('/proc/self/stat', 'utf8'));
  } catch {
    return false;
  }
}

/**
 * From /proc/<pid>/stat: field 5 pgrp, 7 tty_nr, 8 tpgid. Ids are shown as seen from the
 * reader's PID namespace, 0 when not visible there: PID 1 of a namespace made by `unshare
 * --fork` from a shell (measured under tmux) reads pgrp 0 and tpgid 0, because its process
 * group and the terminal's foreground group were made outside. With a terminal (tty_nr set),
 * count that as the foreground: a stray `kill -INT` of a background job in such a namespace
 * is lost, where the other reading doubles every Ctrl-C.
 */
export function statSaysTerminalForeground(stat: string): boolean {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const pgrp = Number(fields[2]);
  const ttyNr = Number(fields[4]);
  const tpgid = Number(fields[5]);
  if (ttyNr === 0 || tpgid < 0) return false;
  return tpgid === pgrp;
}

/**
 * True as PID 1 leading the session of its own terminal: `docker run -t` (or a Kubernetes
 * `tty: true`) with claude-entry as the entrypoint. There a SIGINT or SIGQUIT may be a Ctrl-C,
 * which the kernel delivered to the child too, or may come from the platform (`docker kill -s
 * INT`, STOPSIGNAL SIGINT, the docker client's signal proxy under -t without -i), which reaches
 * PID 1 alone. Nothing we can read tells them apart (Node does not show siginfo), and the
 * costs differ: a forwarded Ctrl-C reaches the child twice, a lost stop signal waits out the
 * grace period and ends in SIGKILL. So forward. (PID 1 of a namespace made by `unshare` from
 * a shell reads session 0, as its session was made outside: the terminal is the user's there.)
 */
export function leadsContainerTerminal(): boolean {
  if (process.pid !== 1) return false;
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]) === 1;
  } catch {
    return false;
  }
}

/**
 * Whether the terminal turns Ctrl-C and Ctrl-\\ into signals (termios ISIG). Claude Code's
 * interactive UI turns ISIG off and reads the keys itself: then a SIGINT that reaches us was
 * sent on purpose (`docker kill -s INT`, STOPSIGNAL SIGINT) and must be forwarded. Node cannot
 * read termios, so ask stty; when it cannot tell, assume the terminal made the signal.
 */
function terminalMakesSignals(): boolean {
  const stty = childProcess().spawnSync('stty', ['-a'], { stdio: ['inherit', 'pipe', 'ignore'], encoding: 'utf8', timeout: 1000 });
  return stty.status !== 0 || !/(^|[\s;])-isig([\s;]|$)/.test(stty.stdout ?? '');
}

/** Loaded when first needed: the execve path never spawns (measured: about 2 ms of start-up). */
function childProcess(): typeof ChildProcess {
  return require('node:child_process') as typeof ChildProcess;
}

export interface Supervisor {
  /** Resolves with the exit code to exit with. */
  exitCode: Promise<number>;
}

export function supervise(file: string, argv: string[], env: NodeJS.ProcessEnv, log: Logger): Supervisor {
  closeUninvitedInspector(log);
  const child = childProcess().spawn(file, argv.slice(1), { argv0: argv[0], env, stdio: 'inherit' });

  const forward = (signal: NodeJS.Signals) => {
    if (TERMINAL_SIGNALS.has(signal) && inTerminalForeground() && (signal === 'SIGWINCH' || (!leadsContainerTerminal() && terminalMakesSignals()))) {
      log.debug(`${signal} came from the terminal, which delivered it to the child too`);
      return;
    }
    log.debug(`forwarding ${signal} to pid ${child.pid}`);
    try {
      child.kill(signal);
    } catch {
      // Already gone: its exit is on its way.
    }
  };
  handleSignals(forward);

  const exitCode = new Promise<number>((resolve) => {
    child.on('error', (error) => {
      log.error(`cannot run ${argv[0]}: ${(error as NodeJS.ErrnoException).code ?? error.message}`);
      resolve((error as NodeJS.ErrnoException).code === 'ENOENT' ? ExitCode.notFound : ExitCode.notExecutable);
    });
    child.on('exit', (code, signal) => {
      if (signal) {
        log.debug(`${argv[0]} was killed by ${signal}`);
        resolve(signalExitCode(signal));
      } else {
        resolve(code ?? 0);
      }
    });
  });
  return { exitCode };
}

/**
 * Until the child exists, a stop signal ends the start-up (a cloud fetch can take seconds),
 * and SIGUSR1 must not open Node's debugger.
 */
export function installStartupSignalHandlers(onStop: (signal: NodeJS.Signals) => void): void {
  handleSignals((signal) => {
    if (signal !== 'SIGUSR1' && signal !== 'SIGUSR2' && signal !== 'SIGWINCH') onStop(signal);
  });
  // The inspector is looked for just before the command starts (supervise), not here: it costs
  // about 4 ms of every start, and execve closes its socket anyway (measured on Node 22, 24).
}

/**
 * Node reacts to SIGUSR1 before any handler of ours exists (while it starts and compiles the
 * bundle) by opening its inspector on 127.0.0.1:9229: as root, for any process in the
 * container. The bundle's first statement (build/build.mjs) makes the signal harmless and
 * closes such an inspector on the first turns of the event loop; this says so in the log, and
 * looks once more before the command starts.
 */
export function closeUninvitedInspector(log?: Logger): void {
  const flags = globalThis as { __claudeEntryClosedInspector?: boolean };
  if (flags.__claudeEntryClosedInspector) {
    delete flags.__claudeEntryClosedInspector;
    log?.warn('closed the Node inspector that a SIGUSR1 opened while Node was starting');
  }
  if ([...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((arg) => arg.includes('--inspect'))) return;
  if (inspectorUrl() === undefined) return;
  // Required here, not imported: loading it costs about 4 ms, and a Node built without the
  // inspector throws on loading it.
  (require('node:inspector') as typeof import('node:inspector')).close();
  log?.warn('closed the Node inspector that a SIGUSR1 opened while claude-entry was starting');
}

/** The open inspector's address, asked through the binding: free, where node:inspector costs ms. */
function inspectorUrl(): string | undefined {
  try {
    return (process as unknown as { binding(name: string): { url(): string | undefined } }).binding('inspector').url();
  } catch {
    try {
      return (require('node:inspector') as typeof import('node:inspector')).url();
    } catch {
      return undefined;
    }
  }
}

let signalHandler: ((signal: NodeJS.Signals) => void) | undefined;

/**
 * The listeners go on once and stay; a phase change only swaps the handler they call.
 * Removing a signal's last listener resets it to the default action until the next one is
 * added (measured on Node 20 and 24: a SIGTERM or SIGUSR1 then kills the process; as PID 1 it
 * would be dropped).
 */
function handleSignals(handler: (signal: NodeJS.Signals) => void): void {
  const listening = signalHandler !== undefined;
  signalHandler = handler;
  if (listening) return;
  for (const signal of FORWARDED_SIGNALS) process.on(signal, () => signalHandler!(signal));
}

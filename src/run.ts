/**
 * Step 5: run the command as if it had been started directly. Replace the process where
 * Node can (process.execve, not as PID 1); otherwise supervise it like tini: forward
 * signals, pass the TTY through, exit with its code or 128+N.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CommandError, ExitCode } from './errors.js';
import type { Logger } from './log.js';

export const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
/** The kernel sends these to the terminal's whole foreground process group, child included. */
const TERMINAL_SIGNALS = new Set<NodeJS.Signals>(['SIGINT', 'SIGQUIT', 'SIGWINCH']);

/** Find the command on PATH like a shell would; 127 / 126 when it cannot run. */
export function resolveCommand(command: string, envPath: string | undefined): string {
  const candidates = command.includes('/')
    ? [command]
    : (envPath ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
        .split(':')
        .map((dir) => path.join(dir || '.', command));
  let notExecutable: string | undefined;
  for (const candidate of candidates) {
    const stat = fs.statSync(candidate, { throwIfNoEntry: false });
    if (!stat) continue;
    if (stat.isDirectory()) {
      notExecutable ??= `${candidate} is a directory`;
      continue;
    }
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      notExecutable ??= `${candidate}: permission denied`;
    }
  }
  if (notExecutable) throw new CommandError(`cannot run ${command}: ${notExecutable}`, ExitCode.notExecutable);
  throw new CommandError(`${command}: command not found${command.includes('/') ? '' : ' on PATH'}`, ExitCode.notFound);
}

export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 0);
}

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

export function canExec(): boolean {
  return typeof (process as unknown as { execve?: Execve }).execve === 'function' && process.pid !== 1;
}

/** Replace this process. Only called after resolveCommand: a failed execve aborts Node. */
export function execCommand(file: string, argv: string[], env: NodeJS.ProcessEnv): never {
  return (process as unknown as { execve: Execve }).execve(file, argv, env);
}

/**
 * True when we share the terminal's foreground process group: then Ctrl-C, Ctrl-\ and
 * window changes reach the child from the kernel already, and forwarding would double them.
 * Read from /proc/self/stat (field 5 pgrp, field 8 tpgid).
 */
export function inTerminalForeground(): boolean {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pgrp = Number(fields[2]);
    const tpgid = Number(fields[5]);
    return tpgid > 0 && tpgid === pgrp;
  } catch {
    return false;
  }
}

export interface Supervisor {
  /** Resolves with the exit code to exit with. */
  exitCode: Promise<number>;
}

export function supervise(file: string, argv: string[], env: NodeJS.ProcessEnv, log: Logger): Supervisor {
  const child = spawn(file, argv.slice(1), { argv0: argv[0], env, stdio: 'inherit' });

  const forward = (signal: NodeJS.Signals) => {
    if (TERMINAL_SIGNALS.has(signal) && inTerminalForeground()) {
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
  for (const signal of FORWARDED_SIGNALS) {
    process.removeAllListeners(signal);
    process.on(signal, forward);
  }

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
  for (const signal of FORWARDED_SIGNALS) {
    process.on(signal, signal === 'SIGUSR1' || signal === 'SIGUSR2' || signal === 'SIGWINCH' ? () => {} : onStop);
  }
}

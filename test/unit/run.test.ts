/**
 * src/run.ts's helpers as tables: command resolution (PATH search, a path given outright,
 * mode bits, not found, a directory, and as another user, judged from the mode bits while
 * still root: test/system/resolve-command.test.ts), the exit code of a death by signal, and the
 * reading of /proc/self/stat that decides whether a terminal signal reached the child already.
 * Through the bundle: test/system/pid1.test.ts and test/system/users.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CommandError, ExitCode } from '../../src/errors.js';
import { canExec, leadsContainerTerminal, resolveCommand, signalExitCode, statSaysTerminalForeground } from '../../src/run.js';
import { plantScript as plant, tableDir, thrown } from '../helpers.js';

/** The error resolveCommand refuses with, as [exit code, message]. */
function refusal(run: () => unknown): [number, string] {
  const error = thrown(run);
  expect(error).toBeInstanceOf(CommandError);
  return [(error as CommandError).exitCode, error.message];
}

describe('resolveCommand as the user it runs as', () => {
  /** bin/: the command; noexec/: the command without an execute bit; isdir/: a directory by its name. */
  const at = tableDir();
  beforeAll(() => {
    plant(at('bin', 'tool'), 0o755);
    plant(at('noexec', 'tool'), 0o644);
    fs.mkdirSync(at('isdir', 'tool'), { recursive: true });
    plant(at('afile'), 0o755);
  });

  it.each<[string, string, string]>([
    ['the first PATH entry that has it', 'bin:noexec', 'bin/tool'],
    ['past a file without an execute bit', 'noexec:bin', 'bin/tool'],
    ['past a directory of that name', 'isdir:bin', 'bin/tool'],
    ['past a missing directory', 'missing:bin', 'bin/tool'],
    ['past an entry that is a file', 'afile:bin', 'bin/tool'],
  ])('tool on PATH: %s', (_what, entries, expected) => {
    const envPath = entries
      .split(':')
      .map((e) => at(e))
      .join(':');
    expect(resolveCommand('tool', envPath)).toBe(at(expected));
  });

  it.each<[string, () => string, number, string]>([
    [
      'no PATH entry has it',
      () => resolveCommand('no-such-tool', [at('bin'), at('noexec')].join(':')),
      ExitCode.notFound,
      'no-such-tool: command not found on PATH',
    ],
    [
      'only without an execute bit',
      () => resolveCommand('tool', at('noexec')),
      ExitCode.notExecutable,
      `cannot run tool: ${at('noexec', 'tool')}: permission denied`,
    ],
    ['only as a directory', () => resolveCommand('tool', at('isdir')), ExitCode.notExecutable, `cannot run tool: ${at('isdir', 'tool')} is a directory`],
    [
      'the first reason is the one given',
      () => resolveCommand('tool', [at('isdir'), at('noexec')].join(':')),
      ExitCode.notExecutable,
      `cannot run tool: ${at('isdir', 'tool')} is a directory`,
    ],
    ['an empty PATH is the working directory alone', () => resolveCommand('tool', ''), ExitCode.notFound, 'tool: command not found on PATH'],
  ])('tool on PATH, %s: refused', (_what, run, code, message) => {
    expect(refusal(run)).toEqual([code, message]);
  });

  it('with PATH unset, the default PATH (as execvp)', () => {
    expect(resolveCommand('sh', undefined)).toMatch(/^\/(usr\/)?(local\/)?s?bin\/sh$/);
  });

  it('an empty PATH entry is the working directory, kept as a ./ path', () => {
    const cwd = process.cwd();
    process.chdir(at('bin'));
    try {
      expect(resolveCommand('tool', `${at('noexec')}::${at('isdir')}`)).toBe('./tool');
    } finally {
      process.chdir(cwd);
    }
  });

  it.each<[string, () => string, string]>([
    ['an absolute path', () => at('bin', 'tool'), at('bin', 'tool')],
    [
      'a relative path, as given (not searched on PATH)',
      () => path.relative(process.cwd(), at('bin', 'tool')),
      path.relative(process.cwd(), at('bin', 'tool')),
    ],
  ])('%s: itself', (_what, command, expected) => {
    expect(resolveCommand(command(), at('noexec'))).toBe(expected);
  });

  it.each<[string, () => string, number, (command: string) => string]>([
    ['missing', () => at('bin', 'none'), ExitCode.notFound, (c) => `${c}: command not found`],
    ['without an execute bit', () => at('noexec', 'tool'), ExitCode.notExecutable, (c) => `cannot run ${c}: ${c}: permission denied`],
    ['a directory', () => at('isdir', 'tool'), ExitCode.notExecutable, (c) => `cannot run ${c}: ${c} is a directory`],
    ['under a file', () => at('afile', 'tool'), ExitCode.notFound, (c) => `${c}: command not found`],
  ])('a path given outright, %s: refused', (_what, command, code, message) => {
    const c = command();
    expect(refusal(() => resolveCommand(c, at('bin')))).toEqual([code, message(c)]);
  });
});

describe('signalExitCode: 128 + the signal number (Linux)', () => {
  it.each<[NodeJS.Signals, number]>([
    ['SIGHUP', 129],
    ['SIGINT', 130],
    ['SIGQUIT', 131],
    ['SIGKILL', 137],
    ['SIGUSR1', 138],
    ['SIGSEGV', 139],
    ['SIGUSR2', 140],
    ['SIGPIPE', 141],
    ['SIGTERM', 143],
    ['SIGWINCH', 156],
  ])('%s: %i', (signal, code) => {
    expect(signalExitCode(signal)).toBe(code);
  });
});

describe('statSaysTerminalForeground: fields 5 pgrp, 7 tty_nr, 8 tpgid of /proc/self/stat', () => {
  // pid (comm) state ppid pgrp session tty_nr tpgid flags ...
  it.each<[string, string, boolean]>([
    ['no terminal', '4321 (node) S 1 4321 4321 0 -1 4194560 1 0', false],
    ['the foreground group of its terminal', '4321 (node) S 1 4321 4321 34816 4321 4194560', true],
    ['a background job', '4321 (node) S 1 4321 4321 34816 4400 4194560', false],
    ['a terminal with no foreground group', '4321 (node) S 1 4321 4321 34816 -1 4194560', false],
    ['a command name with spaces and parentheses', '4321 (a) b (c)) S 1 4321 4321 34816 4321 0', true],
    // PID 1 of a namespace made by `unshare --fork` from a shell: both ids made outside read 0.
    ['ids not visible in its PID namespace', '1 (node) S 0 0 0 34817 0 4194560', true],
  ])('%s: %s', (_what, stat, expected) => {
    expect(statSaysTerminalForeground(stat)).toBe(expected);
  });

  it('not PID 1: leadsContainerTerminal is false; canExec is whether Node has process.execve', () => {
    expect(process.pid).not.toBe(1);
    expect(leadsContainerTerminal()).toBe(false);
    expect(canExec()).toBe(typeof (process as { execve?: unknown }).execve === 'function');
  });
});

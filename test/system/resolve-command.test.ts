/**
 * resolveCommand (src/run.ts) for the user the command will run as, judged from the mode bits
 * while still root, before anything is written: files and directories of real other uids and
 * groups, so root. The rest of its table (PATH search, paths given outright, as this process):
 * test/unit/run.test.ts; through the bundle: test/system/users.test.ts.
 */
import * as fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CommandError, ExitCode } from '../../src/errors.js';
import { resolveCommand } from '../../src/run.js';
import type { TargetUser } from '../../src/user.js';
import { plantScript as plant, tableDir, thrown } from '../helpers.js';
import { needs } from '../needs.js';

/** The error resolveCommand refuses with, as [exit code, message]. */
function refusal(run: () => unknown): [number, string] {
  const error = thrown(run);
  expect(error).toBeInstanceOf(CommandError);
  return [(error as CommandError).exitCode, error.message];
}

describe('resolveCommand for another user, still as root', needs(needs.root()), () => {
  const agent: TargetUser = { uid: 4242, gid: 4242, groups: [4242, 4343], home: '/', dropsFromRoot: true };
  const at = tableDir();
  beforeAll(() => {
    fs.chmodSync(at(), 0o755);
    plant(at('bin', 'all'), 0o755);
    plant(at('bin', 'root-only'), 0o700);
    plant(at('bin', 'group-x'), 0o710, { uid: 0, gid: 4343 }); // a supplementary group of agent's
    plant(at('bin', 'other-group-x'), 0o710, { uid: 0, gid: 4444 });
    plant(at('bin', 'other-x'), 0o701);
    plant(at('bin', 'owner-x'), 0o700, agent);
    // The owner's bits decide for the owner, even where others may execute.
    plant(at('bin', 'owner-no-x'), 0o677, agent);
    fs.mkdirSync(at('private'), { mode: 0o700 });
    plant(at('private', 'all'), 0o755);
    fs.chmodSync(at('private'), 0o700);
  });

  it.each<[string, boolean]>([
    ['all', true],
    ['root-only', false],
    ['group-x', true],
    ['other-group-x', false],
    ['other-x', true],
    ['owner-x', true],
    ['owner-no-x', false],
  ])('bin/%s: runnable %s', (name, runnable) => {
    const run = () => resolveCommand(name, at('bin'), agent);
    if (runnable) expect(run()).toBe(at('bin', name));
    else expect(refusal(run)).toEqual([ExitCode.notExecutable, `cannot run ${name}: ${at('bin', name)}: permission denied`]);
    // root itself may run every one of them that has an execute bit
    if ((fs.statSync(at('bin', name)).mode & 0o111) !== 0) expect(resolveCommand(name, at('bin'))).toBe(at('bin', name));
  });

  it('a PATH entry the user cannot search is passed over, as a shell does', () => {
    expect(resolveCommand('all', `${at('private')}:${at('bin')}`, agent)).toBe(at('bin', 'all'));
    expect(refusal(() => resolveCommand('all', at('private'), agent))).toEqual([ExitCode.notFound, 'all: command not found on PATH']);
    expect(resolveCommand('all', `${at('private')}:${at('bin')}`)).toBe(at('private', 'all')); // root searches it
  });

  it('a path given outright under a directory the user cannot search: permission denied', () => {
    const file = at('private', 'all');
    expect(refusal(() => resolveCommand(file, undefined, agent))).toEqual([ExitCode.notExecutable, `cannot run ${file}: ${file}: permission denied`]);
  });

  it('a target that is root, or a start that is not root, is judged as this process', () => {
    const self: TargetUser = { uid: 0, gid: 0, groups: [0], home: '/root', dropsFromRoot: false };
    expect(resolveCommand('root-only', at('bin'), self)).toBe(at('bin', 'root-only'));
    expect(resolveCommand('root-only', at('bin'), { ...agent, dropsFromRoot: false })).toBe(at('bin', 'root-only'));
  });
});

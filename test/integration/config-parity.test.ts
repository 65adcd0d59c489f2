/**
 * doctor and check take the Config a start takes: the same flags, the same CLAUDE_ENTRY_*
 * twins, the same spellings (1/true/yes/on), the flag winning. Each row runs a start and the
 * command with the same inputs, through the built bundle, and asks that they agree.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAKE, baseEnv, credentialsJson, expectNoSecret, runBundle, tempDir } from '../helpers.js';
import { needs } from '../needs.js';

const SECRETS = Object.values(FAKE);

async function run(args: string[], env: NodeJS.ProcessEnv, home = tempDir()) {
  const r = await runBundle(args, { env: baseEnv(home, env) });
  expectNoSecret(r.stdout + r.stderr, SECRETS);
  return r;
}

describe('doctor agrees with a start on --optional and CLAUDE_ENTRY_OPTIONAL', () => {
  it.each<[string, string[], NodeJS.ProcessEnv, boolean]>([
    ['neither', [], {}, false],
    ['--optional', ['--optional'], {}, true],
    ['CLAUDE_ENTRY_OPTIONAL=1', [], { CLAUDE_ENTRY_OPTIONAL: '1' }, true],
    ['CLAUDE_ENTRY_OPTIONAL=yes', [], { CLAUDE_ENTRY_OPTIONAL: 'yes' }, true],
    ['CLAUDE_ENTRY_OPTIONAL=TRUE', [], { CLAUDE_ENTRY_OPTIONAL: 'TRUE' }, true],
    ['CLAUDE_ENTRY_OPTIONAL=on', [], { CLAUDE_ENTRY_OPTIONAL: ' on ' }, true],
    ['CLAUDE_ENTRY_OPTIONAL=0', [], { CLAUDE_ENTRY_OPTIONAL: '0' }, false],
    ['CLAUDE_ENTRY_OPTIONAL=no', [], { CLAUDE_ENTRY_OPTIONAL: 'no' }, false],
    ['CLAUDE_ENTRY_OPTIONAL= (empty)', [], { CLAUDE_ENTRY_OPTIONAL: '' }, false],
    ['--optional over CLAUDE_ENTRY_OPTIONAL=0', ['--optional'], { CLAUDE_ENTRY_OPTIONAL: '0' }, true],
  ])('%s', async (_name, flags, env, optional) => {
    const start = await run([...flags, '--', 'true'], env);
    expect(start.code, start.stderr).toBe(optional ? 0 : 78);

    const doctor = await run(['doctor', ...flags], env);
    const withoutOne = /^ {2}none set: the command would start without a credential/m;
    const wouldFail = /no source is set: a start would fail with exit 78/;
    if (optional) {
      expect(doctor.stdout).toMatch(withoutOne);
      expect(doctor.stdout).not.toMatch(wouldFail);
    } else {
      expect(doctor.stdout).not.toMatch(withoutOne);
      expect(doctor.stdout).toMatch(wouldFail);
      expect(doctor.code).toBe(1);
    }
  });

  it('a value a start refuses, doctor and check refuse alike (exit 78, same message)', async () => {
    const env = { CLAUDE_ENTRY_OPTIONAL: 'maybe' };
    const results = [await run(['--', 'true'], env), await run(['doctor'], env), await run(['check'], env)];
    for (const r of results) {
      expect(r.code).toBe(78);
      expect(r.stderr).toMatch(/CLAUDE_ENTRY_OPTIONAL: "maybe" is not a boolean/);
    }
  });
});

describe('doctor agrees with a start on --sync and CLAUDE_ENTRY_SYNC', () => {
  /** A credentials JSON in a file a sync can write back to. */
  function fileSource(): string {
    const file = path.join(tempDir(), 'claude-credentials.json');
    fs.writeFileSync(file, JSON.stringify(credentialsJson()), { mode: 0o600 });
    return file;
  }

  it.each<[string, string[], NodeJS.ProcessEnv, string | undefined]>([
    ['neither', [], {}, undefined],
    ['--sync push', ['--sync', 'push'], {}, 'push'],
    ['CLAUDE_ENTRY_SYNC=Both', [], { CLAUDE_ENTRY_SYNC: 'Both' }, 'both'],
    ['CLAUDE_ENTRY_SYNC=" PULL "', [], { CLAUDE_ENTRY_SYNC: ' PULL ' }, 'pull'],
    ['--sync off over CLAUDE_ENTRY_SYNC=push', ['--sync', 'off'], { CLAUDE_ENTRY_SYNC: 'push' }, undefined],
    ['--sync pull over CLAUDE_ENTRY_SYNC=off', ['--sync', 'pull'], { CLAUDE_ENTRY_SYNC: 'off' }, 'pull'],
  ])('%s', async (_name, flags, env, mode) => {
    const source = fileSource();
    const home = tempDir();
    const withSource = ['--source', `file:${source}`, ...flags];
    const start = await run([...withSource, '--', 'true'], env, home);
    expect(start.code, start.stderr).toBe(0);
    // What the start did, as it recorded it.
    const state = JSON.parse(fs.readFileSync(path.join(home, '.claude', '.claude-entry-state.json'), 'utf8')) as { sync?: { mode: string } };
    expect(state.sync?.mode).toBe(mode);

    // doctor, given the same inputs, on a home of its own (it reads the state file too).
    const doctor = await run(['doctor', ...withSource], env);
    const said = /^ {2}sync: (?:CLAUDE_ENTRY_SYNC=)?(\w+)\b.* keeps claude-entry resident/m.exec(doctor.stdout)?.[1];
    expect(said).toBe(mode);
  });
});

describe('check takes the start user from --user or CLAUDE_ENTRY_USER alike', () => {
  it.each<[string, string[], NodeJS.ProcessEnv]>([
    ['--user', ['--user', 'no-such-user-here'], {}],
    ['-u', ['-u', 'no-such-user-here'], {}],
    ['CLAUDE_ENTRY_USER', [], { CLAUDE_ENTRY_USER: 'no-such-user-here' }],
  ])('%s', async (_name, flags, env) => {
    for (const args of [
      [...flags, '--', 'true'],
      ['check', ...flags],
      ['doctor', ...flags],
    ]) {
      const r = await run(args, env);
      expect(r.stdout + r.stderr, args.join(' ')).toMatch(/unknown user "no-such-user-here"/);
    }
  });
});

describe('check and doctor take --allow-root-bypass and CLAUDE_ENTRY_ALLOW_ROOT_BYPASS as a start does', needs(needs.root()), () => {
  /** Root's home, where a start left a login, with settings that ask for bypass permissions. */
  function rootHomeAskingForBypass(): string {
    const home = tempDir();
    fs.mkdirSync(path.join(home, '.claude'), { mode: 0o700 });
    fs.writeFileSync(path.join(home, '.claude', '.credentials.json'), JSON.stringify(credentialsJson()), { mode: 0o600 });
    fs.writeFileSync(path.join(home, '.claude', 'settings.json'), JSON.stringify({ permissions: { defaultMode: 'bypassPermissions' } }));
    return home;
  }
  const refused = /Claude Code refuses it/;

  it.each<[string, string[], NodeJS.ProcessEnv, boolean]>([
    ['neither: refused', [], {}, false],
    ['--allow-root-bypass', ['--allow-root-bypass'], {}, true],
    ['CLAUDE_ENTRY_ALLOW_ROOT_BYPASS=yes', [], { CLAUDE_ENTRY_ALLOW_ROOT_BYPASS: 'yes' }, true],
    ['CLAUDE_ENTRY_ALLOW_ROOT_BYPASS=0', [], { CLAUDE_ENTRY_ALLOW_ROOT_BYPASS: '0' }, false],
  ])('%s', async (_name, flags, env, allowed) => {
    const home = rootHomeAskingForBypass();
    // A start warns that Claude Code would refuse, or sets IS_SANDBOX=1 and says nothing.
    const start = await run([...flags, '--', 'sh', '-c', 'echo "IS_SANDBOX=$IS_SANDBOX"'], env, home);
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout.trim()).toBe(allowed ? 'IS_SANDBOX=1' : 'IS_SANDBOX=');
    expect(start.stderr).toMatch(allowed ? /^(?![\s\S]*refuses it)/ : refused);

    const doctor = await run(['doctor', ...flags], env, home);
    expect(doctor.stdout).toMatch(allowed ? /IS_SANDBOX=1 is set for it/ : refused);
    // check prints its lines on Claude Code's side only when there is a problem.
    const check = await run(['check', ...flags], env, home);
    expect(check.code, check.stdout).toBe(0);
    expect(check.stdout.trim().split('\n').length > 1, check.stdout).toBe(!allowed);
  });
});

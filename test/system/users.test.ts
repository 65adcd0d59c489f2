/**
 * Real uids and groups: a private mount namespace binds a made-up /etc/passwd and /etc/group
 * over the real ones (nothing on the host changes), with a user `agent` (1000:1000, also in
 * groups 1001 and 1002). The shim runs as root and drops to it, or runs as 1000 itself.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAKE, credentialsJson, expectNoSecret, fileMode, type RunResult } from '../helpers.js';
import { needs } from '../needs.js';
import { AGENT, agentWorld, runInWorld as run, type AgentWorld, type MountStep } from './ns.js';

const SECRETS = [FAKE.accessToken, FAKE.refreshToken];

type World = AgentWorld & { credentials: Record<string, unknown> };

/** agent (also in groups 1001 and 1002), another user, and the login in CLAUDE_CREDENTIALS_JSON. */
function world(): World {
  const credentials = credentialsJson();
  const w = agentWorld({
    morePasswdLines: ['other:x:1003:1003::/nonexistent:/bin/sh'],
    groupLines: ['agent:x:1000:', 'extra1:x:1001:agent', 'extra2:x:1002:other,agent', 'other:x:1003:'],
    // The caller's HOME, USER and LOGNAME are root's: the command must get the agent's.
    env: { USER: 'root', LOGNAME: 'root', CLAUDE_CREDENTIALS_JSON: JSON.stringify(credentials) },
  });
  return { ...w, credentials };
}

/** Every path under dir with its owner and mode, to prove nothing was written. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    out.push(`${path.relative(dir, p) || '.'} ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`);
    if (st.isDirectory()) for (const name of fs.readdirSync(p).sort()) walk(path.join(p, name));
  };
  walk(dir);
  return out;
}

function owner(p: string): string {
  const st = fs.lstatSync(p);
  return `${st.uid}:${st.gid}`;
}

function expectFailure(r: RunResult, code: number, message: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('claude-entry: error:'));
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatch(message);
  expect(r.stdout).toBe('');
  expectNoSecret(r.stdout + r.stderr, SECRETS);
}

// Both need root: a private mount namespace (the made-up /etc/passwd) and setpriv to uid 1000.
describe('dropping to a real user', needs(needs.unshare(), needs.tool('setpriv')), () => {
  it('runs the command as agent with its primary and supplementary groups', async () => {
    const w = world();
    const r = await run(w, ['--user', 'agent', '--', 'sh', '-c', 'id; echo "$(id -u):$(id -g):$(id -G)"']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^uid=1000\(agent\) gid=1000\(agent\) groups=1000\(agent\),1001\(extra1\),1002\(extra2\)$/m);
    expect(r.stdout).toMatch(/^1000:1000:1000 1001 1002$/m);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
  });

  // gosu (and runc, so `docker run --user 1000:1000`) keep only the named group when a group is
  // given: gosu's own test expects `gosu 1000:1000 id -G` to print 1000 (not the passwd user's
  // other groups, "1000:1000:1000 1001 1002").
  it.each([
    ['1000', 'a uid for a name: its passwd gid and groups', '1000:1000:1000 1001 1002'],
    ['1000:1000', 'like gosu 1000:1000, that gid and no other group', '1000:1000:1000'],
    ['1000:1003', 'a gid not its own: that gid alone', '1000:1003:1003'],
  ])('--user %s: %s (uid:gid:groups)', async (spec, _what, ids) => {
    const w = world();
    const r = await run(w, ['--user', spec, '--', 'sh', '-c', 'echo "$(id -u):$(id -g):$(id -G)"']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${ids}\n`);
  });

  // After the drop, a PATH entry only root can search (root's ~/.local/bin, say) is passed
  // over, as a shell does; it used to end the start with an internal error (EACCES, exit 70).
  it('finds the command on PATH past directories the user cannot search', async () => {
    const w = world();
    const privateBin = path.join(w.dir, 'root-only-bin');
    fs.mkdirSync(privateBin, { mode: 0o700 });
    fs.writeFileSync(path.join(privateBin, 'id'), '#!/bin/sh\necho root-only-id\n', { mode: 0o755 });
    const env = { ...w.env, PATH: `${privateBin}:/usr/local/bin:/usr/bin:/bin` };
    const r = await run(w, ['--user', 'agent', '--', 'id', '-u'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1000\n');
  });

  it('sets HOME, USER and LOGNAME for the user', async () => {
    const w = world();
    const r = await run(w, ['--user', 'agent', '--', 'sh', '-c', 'echo "$HOME|$USER|$LOGNAME"']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${w.home}|agent|agent\n`);
  });

  it('writes the files as the user: ~/.claude 0700, .credentials.json and .claude.json 0600', async () => {
    const w = world();
    const r = await run(w, ['--user', 'agent', '--', 'true']);
    expect(r.code, r.stderr).toBe(0);

    const claudeDir = path.join(w.home, '.claude');
    const credentials = path.join(claudeDir, '.credentials.json');
    const claudeJson = path.join(w.home, '.claude.json');
    expect([owner(claudeDir), fileMode(claudeDir)]).toEqual(['1000:1000', 0o700]);
    expect([owner(credentials), fileMode(credentials)]).toEqual(['1000:1000', 0o600]);
    expect([owner(claudeJson), fileMode(claudeJson)]).toEqual(['1000:1000', 0o600]);
    expect(JSON.parse(fs.readFileSync(credentials, 'utf8'))).toEqual(w.credentials);
    expect(JSON.parse(fs.readFileSync(claudeJson, 'utf8'))).toMatchObject({ hasCompletedOnboarding: true });
    // Nothing left for root: no temp file, nothing in root's HOME.
    expect(fs.readdirSync(claudeDir)).toContain('.credentials.json');
    expect(fs.readdirSync(claudeDir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect(fs.readdirSync(w.env.HOME!)).toEqual([]);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
  });

  /** A root-owned 0400 file, mounted read-only: the shim copies it, the copy is the user's. */
  it.each([
    ['at /run/secrets/claude-credentials', (_dir: string) => '/run/secrets/claude-credentials'],
    ['named by CLAUDE_CREDENTIALS_FILE', (dir: string) => path.join(dir, 'mounted-secret.json')],
  ])('copies a read-only mounted secret %s into a file the user can write', async (_what, mountPointIn) => {
    const w = world();
    const source = path.join(w.dir, 'secret-source.json');
    const text = JSON.stringify(w.credentials);
    fs.writeFileSync(source, text, { mode: 0o400 });
    const mountPoint = mountPointIn(w.dir);
    const dockerSecret = mountPoint.startsWith('/run/');
    if (!dockerSecret) fs.writeFileSync(mountPoint, '');
    const mounts: MountStep[] = [
      { tmpfs: '/run' },
      ...(dockerSecret ? [{ mkdir: '/run/secrets' }, { touch: mountPoint }] : []),
      { bind: source, at: mountPoint, readOnly: true },
    ];
    const env = { ...w.env, CLAUDE_CREDENTIALS_JSON: undefined, ...(dockerSecret ? {} : { CLAUDE_CREDENTIALS_FILE: mountPoint }) };
    // The user rewrites its copy, as Claude Code does after refreshing a token.
    const rewrite = 'f="$HOME/.claude/.credentials.json"; test -O "$f" && printf "\\n" >> "$f" && echo rewritten';
    const r = await run(w, ['--user', 'agent', '--', 'sh', '-c', rewrite], { env, mounts });

    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('rewritten\n');
    const copy = path.join(w.home, '.claude', '.credentials.json');
    expect([owner(copy), fileMode(copy)]).toEqual(['1000:1000', 0o600]);
    const copied = fs.readFileSync(copy, 'utf8');
    expect(copied.endsWith('\n\n')).toBe(true); // the shim's newline, then the user's
    expect(JSON.parse(copied)).toEqual(w.credentials);
    expect(fs.readFileSync(source, 'utf8')).toBe(text);
    expect([owner(source), fileMode(source)]).toEqual(['0:0', 0o400]);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
  });

  it.each([
    ['.claude/.credentials.json', (w: World) => JSON.parse(fs.readFileSync(path.join(w.home, '.claude/.credentials.json'), 'utf8'))],
    ['.claude.json', (w: World) => JSON.parse(fs.readFileSync(path.join(w.home, '.claude.json'), 'utf8'))],
  ])('replaces a symlink planted at ~/%s instead of writing through it', async (planted, read) => {
    const w = world();
    const claudeDir = path.join(w.home, '.claude');
    fs.mkdirSync(claudeDir, { mode: 0o700 });
    fs.chownSync(claudeDir, AGENT.uid, AGENT.gid);
    const victim = path.join(w.dir, 'outside', 'victim');
    fs.mkdirSync(path.dirname(victim));
    fs.writeFileSync(victim, 'root:do-not-touch\n', { mode: 0o644 });
    const link = path.join(w.home, planted);
    fs.symlinkSync(victim, link);
    fs.lchownSync(link, AGENT.uid, AGENT.gid); // planted by the user

    const r = await run(w, ['--user', 'agent', '--', 'true']);

    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(victim, 'utf8')).toBe('root:do-not-touch\n');
    expect([owner(victim), fileMode(victim)]).toEqual(['0:0', 0o644]);
    const replaced = fs.lstatSync(link);
    expect(replaced.isFile()).toBe(true);
    expect([owner(link), fileMode(link)]).toEqual(['1000:1000', 0o600]);
    expect(read(w)).toBeTypeOf('object');
    expect(r.stderr).toMatch(/symbolic link/);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
  });

  it('fails with 73 when ~/.claude is a symlink out of the home, and writes nothing anywhere', async () => {
    const w = world();
    const outside = path.join(w.dir, 'outside');
    fs.mkdirSync(outside);
    const link = path.join(w.home, '.claude');
    fs.symlinkSync(outside, link);
    fs.lchownSync(link, AGENT.uid, AGENT.gid);
    const before = { home: tree(w.home), outside: tree(outside) };

    const r = await run(w, ['--user', 'agent', '--', 'true']);

    expectFailure(r, 73, /\.claude is a symbolic link/);
    expect({ home: tree(w.home), outside: tree(outside) }).toEqual(before);
  });

  it.each([
    ['an unknown user', 'nobody-here', /unknown user "nobody-here"/],
    ['a uid with no passwd entry', '4242', /uid 4242 has no entry in \/etc\/passwd/],
    ['an unknown group', 'agent:no-such-group', /unknown group "no-such-group"/],
  ])('fails with 78 for %s, one line, nothing written', async (_what, spec, message) => {
    const w = world();
    const before = tree(w.dir);
    const r = await run(w, ['--user', spec, '--', 'true']);
    expectFailure(r, 78, message);
    expect(tree(w.dir)).toEqual(before);
  });
});

describe('not root', needs(needs.unshare(), needs.tool('setpriv')), () => {
  it('runs as itself and fails with 73 when its HOME is not writable, nothing written', async () => {
    const w = world();
    const rootOwned = path.join(w.dir, 'root-owned-home');
    fs.mkdirSync(rootOwned, { mode: 0o755 });
    const before = tree(w.dir);

    const r = await run(w, ['--', 'true'], { env: { ...w.env, HOME: rootOwned }, asAgent: true });

    expectFailure(r, 73, /not writable by uid 1000/);
    expect(tree(w.dir)).toEqual(before);
  });

  it('refuses to switch to another user when not root (78)', async () => {
    const w = world();
    const before = tree(w.dir);
    const r = await run(w, ['--user', 'other', '--', 'true'], { env: { ...w.env, HOME: w.home }, asAgent: true });
    expectFailure(r, 78, /cannot switch to other/);
    expect(tree(w.dir)).toEqual(before);
  });

  it('writes into its own home as itself', async () => {
    const w = world();
    const r = await run(w, ['--', 'sh', '-c', 'echo "$(id -u):$(id -g)"'], {
      env: { ...w.env, HOME: w.home },
      asAgent: true,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1000:1000\n');
    const credentials = path.join(w.home, '.claude', '.credentials.json');
    expect([owner(credentials), fileMode(credentials)]).toEqual(['1000:1000', 0o600]);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
  });
});

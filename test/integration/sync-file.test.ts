/**
 * CLAUDE_ENTRY_SYNC with a file source, through the built bundle. The command stands in for
 * Claude Code: it rewrites the credentials file the way the CLI does (temp file + rename).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAKE, baseEnv, expectNoSecret, runBundle, runSupervised, shWaitFor, tempDir, loginPair as pair, tokenOf, HOUR, writeLikeCli } from '../helpers.js';
import { pullRows, pushRows } from './sync-rows.js';

interface World {
  dir: string;
  home: string;
  source: string;
  local: string;
}

function world(initial: string): World {
  const dir = tempDir();
  const home = path.join(dir, 'home');
  const source = path.join(dir, 'secrets', 'claude.json');
  fs.mkdirSync(path.dirname(source));
  fs.writeFileSync(source, initial, { mode: 0o600 });
  return { dir, home, source, local: path.join(home, '.claude', '.credentials.json') };
}

/** A supervisor started from w's source; its command starts once the sync watches (see runSupervised). */
function run(w: World, script: string, args: string[] = [], extra: NodeJS.ProcessEnv = {}, onStderr?: (stderr: string) => void) {
  return runSupervised(script, args, {
    env: baseEnv(w.home, { CLAUDE_ENTRY_SOURCE: w.source, CLAUDE_ENTRY_SYNC: 'both', CLAUDE_ENTRY_TIMEOUT: '2s', ...extra }),
    onStderr,
  });
}

/** The file source for the rows every store keeps (sync-rows.ts). */
function fileSource(initial: string) {
  const w = world(initial);
  return {
    env: { CLAUDE_ENTRY_SOURCE: w.source, CLAUDE_ENTRY_TIMEOUT: '2s' },
    value: () => fs.readFileSync(w.source, 'utf8'),
    // as another replica's start writes it: a temp file renamed over it
    write: (text: string) => {
      fs.writeFileSync(`${w.source}.new`, text, { mode: 0o600 });
      fs.renameSync(`${w.source}.new`, w.source);
    },
  };
}

describe('push', () => {
  it('a refreshed pair written by the command goes back to the source', async () => {
    const A = pair(Date.now() + HOUR);
    const B = pair(Date.now() + 8 * HOUR);
    const w = world(A);
    const r = await run(w, `${writeLikeCli(w.local)}; sleep 1.5; exit 7`, [B]);
    expect(r.code).toBe(7);
    expect(tokenOf(fs.readFileSync(w.source, 'utf8'))).toBe(tokenOf(B));
    expect(r.stderr).toMatch(new RegExp(`claude-entry: sync push: pushed the refreshed login to file:${w.source} \\(access token valid until `));
    expect(fs.statSync(w.source).mode & 0o777).toBe(0o600);
    expectNoSecret(r.stderr, [tokenOf(A), tokenOf(B), FAKE.accessToken]);
    // check shows the last sync
    const check = await runBundle(['check', '--json'], { env: baseEnv(w.home) });
    expect(check.code).toBe(0);
    expect(JSON.parse(check.stdout).lastSync).toMatchObject({
      direction: 'push',
      result: 'copied',
      detail: expect.stringMatching(/^pushed the refreshed login to file:/),
    });
    const doctor = await runBundle(['doctor'], { env: baseEnv(w.home, { CLAUDE_ENTRY_SOURCE: w.source, CLAUDE_ENTRY_SYNC: 'both' }) });
    expect(doctor.stdout).toMatch(/^ {2}last sync: .*, push copied: pushed the refreshed login to file:/m);
    expect(doctor.stdout).toMatch(/^ {2}sync: both with file:/m);
  });

  pushRows(fileSource);
});

describe('pull', () => {
  pullRows(fileSource);

  it('waits while Claude Code holds its refresh lock, then pulls', async () => {
    const A = pair(Date.now() + HOUR);
    const B = pair(Date.now() + 8 * HOUR);
    const blank = JSON.stringify({ claudeAiOauth: { accessToken: '', refreshToken: '', expiresAt: 0, scopes: ['user:inference'] } });
    const w = world(A);
    const lock = path.join(path.dirname(w.local), '.oauth_refresh.lock');
    // The CLI's lock is held (as during its own refresh) when the file is blanked, and let go
    // once the supervisor has said it waits for it.
    const waiting = path.join(w.dir, 'supervisor-waits');
    const script = `mkdir "${lock}"; printf '%s' "$2" > "${w.source}.new" && mv "${w.source}.new" "${w.source}"; ${writeLikeCli(w.local)}; ${shWaitFor(waiting, 'x', 60)}; cat "${w.local}" > "${w.dir}/during"; rmdir "${lock}"; ${shWaitFor(w.local, tokenOf(B))}; cat "${w.local}"`;
    const r = await run(w, script, [blank, B], { CLAUDE_ENTRY_SYNC: 'pull', CLAUDE_ENTRY_LOG: 'debug' }, (stderr) => {
      if (/sync pull: Claude Code is refreshing right now/.test(stderr) && !fs.existsSync(waiting)) fs.writeFileSync(waiting, 'x');
    });
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(w.dir, 'during'), 'utf8')).toBe(blank);
    expect(r.stderr).toMatch(/sync pull: Claude Code is refreshing right now; looking again in 5s/);
    expect(tokenOf(r.stdout)).toBe(tokenOf(B));
  });
});

describe('failures', () => {
  it('a store failing throughout never stops the command', async () => {
    const A = pair(Date.now() + HOUR);
    const B = pair(Date.now() + 8 * HOUR);
    const w = world(A);
    const script = `rm -rf "${path.dirname(w.source)}"; ${writeLikeCli(w.local)}; sleep 1; echo still running; exit 5`;
    const r = await run(w, script, [B], { CLAUDE_ENTRY_SYNC: 'push', CLAUDE_ENTRY_TIMEOUT: '500ms' });
    expect(r.code).toBe(5);
    expect(r.stdout).toBe('still running\n');
    expect(r.stderr).toMatch(/claude-entry: warning: sync push: cannot write file:/);
  });

  it('the command puts a FIFO where its login was: the supervisor never blocks on it, and reports the exit code', async () => {
    const w = world(pair(Date.now() + HOUR));
    // No writer ever opens the FIFO: a blocking open would hang the supervisor for good (SIGTERM included).
    const r = await runSupervised(`f='${w.local}'; rm -f "$f"; mkfifo "$f"; sleep 1.5; exit 5`, [], {
      env: baseEnv(w.home, { CLAUDE_ENTRY_SOURCE: w.source, CLAUDE_ENTRY_SYNC: 'push' }),
      timeoutMs: 20_000,
    });
    expect(r.code, r.stderr).toBe(5);
  });

  it.each([
    [
      { CLAUDE_ENTRY_SOURCE: 'env:LOGIN', LOGIN: pair(Date.now() + HOUR) },
      78,
      /CLAUDE_ENTRY_SYNC=push: LOGIN is an environment variable, which cannot be written back/,
    ],
    [{ CLAUDE_ENTRY_SYNC: 'sideways' }, 78, /CLAUDE_ENTRY_SYNC: "sideways" is not one of off, push, pull, both/],
  ])('%o', async (env, code, message) => {
    const home = tempDir();
    const r = await runBundle(['--', 'true'], { env: baseEnv(home, { CLAUDE_ENTRY_SYNC: 'push', ...env }) });
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(fs.readdirSync(home)).toEqual([]);
  });

  it('a token does not rotate: sync warns and the command runs', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, FAKE.oauthToken);
    const r = await runBundle(['--', 'true'], { env: baseEnv(path.join(dir, 'home'), { CLAUDE_ENTRY_SOURCE: file, CLAUDE_ENTRY_SYNC: 'both' }) });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: CLAUDE_ENTRY_SYNC=both: file:.* holds an OAuth token, which does not rotate; nothing to sync/);
  });
});

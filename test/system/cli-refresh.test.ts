/**
 * The real Claude Code CLI (2.1.330) refreshing its OAuth tokens under claude-entry, offline:
 * the CLI's refresh goes to https://platform.claude.com/v1/oauth/token, which HTTPS_PROXY
 * routes to a local proxy that terminates TLS with a test CA (trusted through
 * NODE_EXTRA_CA_CERTS) and answers with a rotated pair (test/fakes/oauth-proxy.ts).
 *
 * What these pin down (the facts the credential sync is built on; .notes/cli-refresh.md):
 *  - refresh: with less than 5 minutes left the CLI refreshes before its first request,
 *    replaces .credentials.json by rename (new inode, 0600) with the rotated pair, and sends
 *    the new access token;
 *  - failure: 400 invalid_grant blanks the file and the CLI exits 1;
 *  - rotation: two replicas started from one secret: the second one's refresh token is dead;
 *  - re-reads: a running CLI takes a newer pair from disk instead of refreshing, after a 401
 *    (-p), when the file changed under an interactive session, and when another process
 *    writes the file while its own refresh is in flight (it then drops the pair it got).
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { fakeToken, gateMessages, startRefreshRig, TOKEN_PATH, type RefreshRig, type RefreshRigOptions } from '../fakes/oauth-proxy';
import { BUNDLE, FAKE, ROOT, b64, baseEnv, credentialsJson, expectNoSecret, fileMode, runBundle, tempDir } from '../helpers';
import { processTree, waitGone } from './procs';
import { entryLines } from './cli-assertions';
import { needs } from '../needs';

const BIN_DIR = path.join(ROOT, 'node_modules', '.bin');
const MINUTE = 60_000;

async function rig(options: RefreshRigOptions = {}): Promise<RefreshRig> {
  const r = await startRefreshRig(options);
  onTestFinished(() => r.close());
  return r;
}

function cliEnv(home: string, r: RefreshRig, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return baseEnv(home, { PATH: `${BIN_DIR}:${process.env.PATH}`, ...r.env, ...extra });
}

/** A credentials JSON (the payload) whose access token has `msLeft` to live. */
function expiring(msLeft: number, tokens: { accessToken?: string; refreshToken?: string } = {}): string {
  return JSON.stringify(credentialsJson({ expiresAt: Date.now() + msLeft, ...tokens }));
}

/** Replace a file the way the CLI does (temp file, rename), optionally keeping its mtime. */
function replaceFile(file: string, text: string, options: { keepMtime?: boolean } = {}): void {
  const before = options.keepMtime ? fs.statSync(file) : undefined;
  const tmp = `${file}.test-${randomUUID().slice(0, 8)}`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.renameSync(tmp, file);
  if (before) fs.utimesSync(file, before.atime, before.mtime);
}

function readOauth(file: string): Record<string, any> {
  return JSON.parse(fs.readFileSync(file, 'utf8')).claudeAiOauth;
}

const context = (r: { code: number | null; stdout: string; stderr: string }, rig?: RefreshRig) =>
  `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}` + (rig ? `\n${trace(rig)}` : '');

/** What the fakes saw, tokens cut short: for failure messages. */
function trace(r: RefreshRig): string {
  const short = (t: unknown) => (typeof t === 'string' ? `${t.slice(0, 22)}…` : String(t));
  const proxy = r.proxy.requests.map(
    (q) => `proxy ${q.method} ${q.host}${q.path} -> ${q.status ?? '?'}${q.path === TOKEN_PATH ? ` refresh_token=${short(q.body?.refresh_token)}` : ''}`,
  );
  const api = r.api.requests.map((q) => `api ${q.method} ${q.path} bearer=${short(q.headers.authorization)}`);
  return [...proxy, ...api].join('\n');
}

describe('the real CLI refreshing its tokens under claude-entry', needs(needs.claude()), () => {
  it('a minute left: refreshes through the proxy, the rotated pair replaces the file (rename, 0600), the API gets the new token', async () => {
    const r = await rig();
    const home = tempDir();
    const file = path.join(home, '.claude', '.credentials.json');
    // The file as claude-entry wrote it, seen at the moment the refresh arrives.
    let atRefresh: { ino: number; accessToken: string } | undefined;
    r.proxy.onRequest = (req) => {
      if (req.path === TOKEN_PATH && !atRefresh) atRefresh = { ino: fs.statSync(file).ino, accessToken: readOauth(file).accessToken };
    };

    const t0 = Date.now();
    const result = await runBundle(['--', 'claude', '-p', 'say hi'], {
      env: cliEnv(home, r, { CLAUDE_CREDENTIALS_B64: b64(expiring(MINUTE)) }),
      cwd: tempDir('claude-entry-ws-'),
      timeoutMs: 90_000,
    });
    expect(result.code, context(result, r)).toBe(0);
    expect(result.stdout).toContain(r.reply);

    // the refresh request, as the CLI sends it
    const refreshes = r.proxy.refreshes();
    expect(refreshes, context(result, r)).toHaveLength(1);
    const refresh = refreshes[0]!;
    expect(refresh.host).toBe('platform.claude.com');
    expect(refresh.scheme).toBe('https');
    expect(String(refresh.headers['content-type'])).toMatch(/^application\/json/);
    expect(refresh.body).toMatchObject({ grant_type: 'refresh_token', refresh_token: FAKE.refreshToken });
    expect(refresh.body.client_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(String(refresh.body.scope).split(' ')).toContain('user:inference');
    // it went through a CONNECT tunnel to the real host name, not to ANTHROPIC_BASE_URL
    expect(r.proxy.connects.some((c) => c.host === 'platform.claude.com' && c.port === 443)).toBe(true);
    expect(r.api.requests.some((q) => q.path === TOKEN_PATH)).toBe(false);

    // the file: the rotated pair, by rename, 0600
    expect(atRefresh?.accessToken).toBe(FAKE.accessToken);
    const issued = r.proxy.issued;
    expect(issued).toHaveLength(1);
    const oauth = readOauth(file);
    expect(oauth.accessToken).toBe(issued[0]!.accessToken);
    expect(oauth.refreshToken).toBe(issued[0]!.refreshToken);
    expect(oauth.refreshToken).not.toBe(FAKE.refreshToken);
    expect(oauth.expiresAt).toBeGreaterThan(t0 + 7.9 * 3600_000);
    expect(oauth.scopes).toContain('user:inference');
    expect(fs.statSync(file).ino).not.toBe(atRefresh!.ino);
    expect(fileMode(file)).toBe(0o600);
    expect(fs.readdirSync(path.dirname(file)).filter((n) => n.startsWith('.credentials.json.'))).toEqual([]);
    // (.claude.json usually gains oauthAccount from the token answer and the profile, but
    // not always before a -p run exits under load: not asserted)

    // every model call carries the new access token, none the old one
    const tokens = r.messageTokens();
    expect(tokens.length).toBeGreaterThanOrEqual(1);
    expect(new Set(tokens)).toEqual(new Set([issued[0]!.accessToken]));

    const ours = entryLines(result.stderr);
    expect(ours).toMatch(/^claude-entry: /m);
    expectNoSecret(ours, [FAKE.accessToken, FAKE.refreshToken, issued[0]!.accessToken, issued[0]!.refreshToken]);
  });

  it('400 invalid_grant: the CLI blanks the file and exits 1, which claude-entry passes through', async () => {
    const r = await rig({ proxy: { tokenMode: 'invalid_grant' } });
    const home = tempDir();
    const result = await runBundle(['--', 'claude', '-p', 'say hi'], {
      env: cliEnv(home, r, { CLAUDE_CREDENTIALS_B64: b64(expiring(MINUTE)) }),
      cwd: tempDir('claude-entry-ws-'),
      timeoutMs: 90_000,
    });
    expect(result.code, context(result, r)).toBe(1);
    // on stdout (it is the -p result), not stderr
    expect(result.stdout).toMatch(/OAuth session expired and could not be refreshed/);
    expect(r.proxy.refreshes()).toHaveLength(1);
    // not even the access token that still had a minute to live is tried
    expect(r.api.messages()).toHaveLength(0);
    const file = path.join(home, '.claude', '.credentials.json');
    expect(readOauth(file)).toMatchObject({ accessToken: '', refreshToken: '', expiresAt: 0 });
    expect(fileMode(file)).toBe(0o600);
  });

  it('rotation: two replicas from one secret, the second one to refresh finds its refresh token dead', async () => {
    // strict: a refresh token is good once, as Anthropic's are
    const r = await rig({ proxy: { strict: true, refreshTokens: [FAKE.refreshToken] } });
    const secret = b64(expiring(MINUTE));
    const homes = [tempDir(), tempDir()];
    const results = [];
    for (const home of homes) {
      results.push(
        await runBundle(['--', 'claude', '-p', 'say hi'], {
          env: cliEnv(home, r, { CLAUDE_CREDENTIALS_B64: secret }),
          cwd: tempDir('claude-entry-ws-'),
          timeoutMs: 90_000,
        }),
      );
    }
    expect(results[0]!.code, context(results[0]!, r)).toBe(0);
    expect(results[1]!.code, context(results[1]!, r)).toBe(1);
    expect(
      r.proxy.refreshes().map((q) => q.body.refresh_token),
      trace(r),
    ).toEqual([FAKE.refreshToken, FAKE.refreshToken]);
    expect(r.proxy.issued).toHaveLength(1);
    expect(readOauth(path.join(homes[0]!, '.claude', '.credentials.json')).refreshToken).toBe(r.proxy.issued[0]!.refreshToken);
    expect(readOauth(path.join(homes[1]!, '.claude', '.credentials.json'))).toMatchObject({ accessToken: '', refreshToken: '' });
  });

  it('a 401: the CLI re-reads the file and retries with the pair it finds there, without refreshing', async () => {
    const r = await rig();
    const home = tempDir();
    const file = path.join(home, '.claude', '.credentials.json');
    const newer = { accessToken: fakeToken('oat', 'disk'), refreshToken: fakeToken('ort', 'disk') };
    let replaced = false;
    // The API refuses the token the CLI started with; at that moment another process (the
    // sync) has put a newer pair in the file, mtime unchanged so only the 401 path can see it.
    gateMessages(
      r.api,
      (token) => {
        if (token === FAKE.accessToken && !replaced) {
          replaceFile(file, expiring(8 * 3600_000, newer), { keepMtime: true });
          replaced = true;
        }
        return token === newer.accessToken;
      },
      () => r.reply,
    );
    const result = await runBundle(['--', 'claude', '-p', 'say hi'], {
      env: cliEnv(home, r, { CLAUDE_CREDENTIALS_B64: b64(expiring(8 * 3600_000)) }),
      cwd: tempDir('claude-entry-ws-'),
      timeoutMs: 90_000,
    });
    expect(result.code, context(result, r)).toBe(0);
    expect(result.stdout).toContain(r.reply);
    expect(r.messageTokens(), trace(r)).toEqual([FAKE.accessToken, newer.accessToken]);
    expect(r.proxy.refreshes(), trace(r)).toHaveLength(0);
    expect(readOauth(file).refreshToken).toBe(newer.refreshToken);
  });

  it('a pair written by another process while the refresh is in flight wins: the CLI drops the pair it got', async () => {
    const r = await rig();
    const home = tempDir();
    const file = path.join(home, '.claude', '.credentials.json');
    const newer = { accessToken: fakeToken('oat', 'disk'), refreshToken: fakeToken('ort', 'disk') };
    let lockSeen = false;
    r.proxy.setTokenMode((req, res, proxy) => {
      // the CLI holds its refresh lock (proper-lockfile directories) while it waits
      lockSeen = fs.existsSync(path.join(home, '.claude', '.oauth_refresh.lock'));
      replaceFile(file, expiring(8 * 3600_000, newer));
      proxy.rotate(req, res);
    });
    const result = await runBundle(['--', 'claude', '-p', 'say hi'], {
      env: cliEnv(home, r, { CLAUDE_CREDENTIALS_B64: b64(expiring(MINUTE)) }),
      cwd: tempDir('claude-entry-ws-'),
      timeoutMs: 90_000,
    });
    expect(result.code, context(result, r)).toBe(0);
    expect(r.proxy.issued, trace(r)).toHaveLength(1);
    expect(lockSeen).toBe(true);
    // compare-and-swap on the refresh token it posted: the file no longer held it, so the
    // file's pair is kept and used, and the freshly issued pair is thrown away
    expect(readOauth(file)).toMatchObject(newer);
    expect(new Set(r.messageTokens()), trace(r)).toEqual(new Set([newer.accessToken]));
  });
});

// ---------------------------------------------------------------------------------------
// A running interactive session

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

describe('a running interactive CLI under claude-entry', needs(needs.claude(), needs.tool('tmux')), () => {
  it('entering the refresh window, it takes a newer pair put on disk behind it instead of refreshing', async () => {
    const r = await rig();
    const home = tempDir();
    const workspace = tempDir('claude-entry-ws-');
    const dir = tempDir('claude-entry-tmux-');
    const socket = path.join(dir, 'tmux.sock');
    const tmux = (...args: string[]) => spawnSync('tmux', ['-S', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
    // Registered after the temp dirs, so it runs before they are removed: the CLI must be
    // gone first, or it still writes into its HOME while that is deleted.
    onTestFinished(async () => {
      const pane = Number(tmux('display-message', '-p', '-t', 'cli', '#{pane_pid}').stdout);
      const tree = pane > 0 ? processTree(pane) : [];
      tmux('kill-server');
      for (const pid of await waitGone(tree, 3_000)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await waitGone(tree, 2_000);
    });
    const file = path.join(home, '.claude', '.credentials.json');
    // 5 min + 45 s: no refresh at start (the window is 5 min), inside it 45 s later (a start
    // slower than that, on a very busy machine, is reported below rather than misread)
    const startLeft = 5 * MINUTE + 45_000;
    const env = cliEnv(home, r, {
      CLAUDE_CREDENTIALS_B64: b64(expiring(startLeft)),
      CLAUDE_ENTRY_TRUST: workspace,
      TERM: 'xterm-256color',
    });
    const started = Date.now();
    const argv = ['new-session', '-d', '-s', 'cli', '-x', '120', '-y', '40', '-c', workspace, process.execPath, BUNDLE, '--', 'claude'];
    expect(spawnSync('tmux', ['-S', socket, '-f', '/dev/null', ...argv], { env, encoding: 'utf8' }).status).toBe(0);
    tmux('set-option', '-t', 'cli', 'remain-on-exit', 'on');
    const screen = () => tmux('capture-pane', '-p', '-t', 'cli').stdout ?? '';
    const waitFor = async (re: RegExp, what: string) => {
      const deadline = Date.now() + 40_000;
      while (!re.test(screen())) {
        if (Date.now() > deadline) throw new Error(`waiting for ${what}; the screen:\n${screen()}`);
        await sleep(200);
      }
    };
    await waitFor(/^❯/m, 'the main prompt');
    expect(r.proxy.refreshes(), `the session took ${Date.now() - started} ms to start: too slow for this test`).toHaveLength(0);

    // into the window; the pair the sync would pull goes in behind the CLI, mtime kept
    await sleep(Math.max(0, started + startLeft - 5 * MINUTE + 1_000 - Date.now()));
    const newer = { accessToken: fakeToken('oat', 'disk'), refreshToken: fakeToken('ort', 'disk') };
    replaceFile(file, expiring(8 * 3600_000, newer), { keepMtime: true });

    tmux('send-keys', '-t', 'cli', '-l', 'say hi');
    await waitFor(/say hi/, 'the typed prompt');
    tmux('send-keys', '-t', 'cli', 'Enter');
    await waitFor(new RegExp(r.reply.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the reply');

    expect(r.proxy.refreshes(), trace(r)).toHaveLength(0);
    expect(r.messageTokens(), trace(r)).toEqual([newer.accessToken]);
    expect(readOauth(file)).toMatchObject(newer);
  });
});

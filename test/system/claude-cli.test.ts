/**
 * The real client: the built bundle starts the real Claude Code CLI (the native binary from
 * the @anthropic-ai/claude-code dev dependency, and the newest release in tools/claude-latest) against a fake Anthropic API on
 * 127.0.0.1, and we check what the CLI actually sent.
 *
 *  - `claude -p` for each kind of credential source: exit 0, the fake's reply on stdout,
 *    the auth header the CLI sent, no secret in claude-entry's own log lines;
 *  - interactive `claude` under tmux: straight to the main prompt (no onboarding, no trust
 *    dialog, no API-key question), one Ctrl-C keeps the session, a second one (or /exit)
 *    ends it;
 *  - negative controls, so that each check above is seen to be able to fail.
 *
 * Nothing here needs IS_SANDBOX=1: the CLI asks for it only with
 * --dangerously-skip-permissions as root, which these tests do not use.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic, type RecordedRequest } from '../fakes/anthropic';
import { BUNDLE, FAKE, b64, baseEnv, credentialsJson, expectNoSecret, fileMode, runBundle, runProcess, tempDir } from '../helpers';
import { alive, processTree, waitGone } from './procs';
import { entryLines, expectOAuth, expectApiKey } from './cli-assertions';
import { CLAUDE_CLIS } from './claude-versions';
import { CTRL_C_HINT, PROMPT, Tmux, blocker, sleep } from './tmux';
import { needs } from '../needs';

/** Keeps the CLI from calling home: no updater, telemetry, error reports or extras. */
const QUIET = {
  DISABLE_AUTOUPDATER: '1',
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  DISABLE_TELEMETRY: '1',
  DISABLE_ERROR_REPORTING: '1',
};

/** A fake API for one test, closed when it ends; its reply is unique to the test. */
async function fakeApi(): Promise<{ fake: FakeAnthropic; reply: string }> {
  const reply = `Hi from the fake, ${randomUUID().slice(0, 8)}.`;
  const fake = await startFakeAnthropic({ replyText: reply });
  onTestFinished(() => fake.close());
  return { fake, reply };
}

/** A fresh HOME and the environment the CLI needs: the claude binary on PATH, the fake, quiet. */
function cliEnvFor(binDir: string, home: string, fake: FakeAnthropic, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return baseEnv(home, { PATH: `${binDir}:${process.env.PATH}`, ANTHROPIC_BASE_URL: fake.url, ...QUIET, ...extra });
}

/** A credentials JSON as a mounted secret: read-only, as Docker and Kubernetes mount them. */
function mountedCredentials(): string {
  const file = path.join(tempDir('claude-entry-secret-'), 'credentials.json');
  fs.writeFileSync(file, JSON.stringify(credentialsJson()) + '\n', { mode: 0o400 });
  return file;
}

// Every suite runs against the pinned CLI and the newest published one (claude-versions.ts).
for (const cli of CLAUDE_CLIS) {
  const CLAUDE = cli.claude;
  const cliEnv = (home: string, fake: FakeAnthropic, extra: NodeJS.ProcessEnv = {}) => cliEnvFor(cli.binDir, home, fake, extra);
  describe(`claude -p through claude-entry, real CLI ${cli.version}, fake API`, needs(needs.claude()), () => {
    const oauthFileSecrets = [FAKE.accessToken, FAKE.refreshToken];

    const cases: {
      name: string;
      env: () => NodeJS.ProcessEnv;
      check: (req: RecordedRequest) => void;
      secrets: string[];
      writesCredentials: boolean;
    }[] = [
      {
        name: 'CLAUDE_CREDENTIALS_B64 (base64 of a credentials JSON)',
        env: () => ({ CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())) }),
        check: (req) => expectOAuth(req, FAKE.accessToken),
        secrets: oauthFileSecrets,
        writesCredentials: true,
      },
      {
        name: 'CLAUDE_CREDENTIALS_FILE (a mounted, read-only file)',
        env: () => ({ CLAUDE_CREDENTIALS_FILE: mountedCredentials() }),
        check: (req) => expectOAuth(req, FAKE.accessToken),
        secrets: oauthFileSecrets,
        writesCredentials: true,
      },
      {
        name: 'CLAUDE_ENTRY_SOURCE=/path (a mounted, read-only file)',
        env: () => ({ CLAUDE_ENTRY_SOURCE: mountedCredentials() }),
        check: (req) => expectOAuth(req, FAKE.accessToken),
        secrets: oauthFileSecrets,
        writesCredentials: true,
      },
      {
        name: 'CLAUDE_CODE_OAUTH_TOKEN (from claude setup-token)',
        env: () => ({ CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }),
        check: (req) => expectOAuth(req, FAKE.oauthToken),
        secrets: [FAKE.oauthToken],
        writesCredentials: false,
      },
      {
        name: 'ANTHROPIC_API_KEY',
        env: () => ({ ANTHROPIC_API_KEY: FAKE.apiKey }),
        check: (req) => expectApiKey(req, FAKE.apiKey),
        secrets: [FAKE.apiKey],
        writesCredentials: false,
      },
      {
        // The chain picks the credentials JSON (first found); a stray API key, which the CLI
        // would otherwise prefer, must not reach it.
        name: 'CLAUDE_CREDENTIALS_B64 wins over a stray ANTHROPIC_API_KEY, which the CLI never sees',
        env: () => ({ CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())), ANTHROPIC_API_KEY: FAKE.apiKey }),
        check: (req) => expectOAuth(req, FAKE.accessToken),
        secrets: [...oauthFileSecrets, FAKE.apiKey],
        writesCredentials: true,
      },
    ];

    for (const c of cases) {
      it(c.name, async () => {
        const { fake, reply } = await fakeApi();
        const home = tempDir();
        const workspace = tempDir('claude-entry-ws-');
        const result = await runBundle(['--', 'claude', '-p', 'say hi'], {
          env: cliEnv(home, fake, c.env()),
          cwd: workspace,
          timeoutMs: 90_000,
        });
        const context = `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
        expect(result.code, context).toBe(0);
        expect(result.stdout, context).toContain(reply);

        const messages = fake.messages();
        expect(messages.length, context).toBeGreaterThanOrEqual(1);
        for (const req of messages) {
          expect(req.url).toMatch(/^\/v1\/messages(\?beta=true)?$/);
          expect(req.body?.stream).toBe(true);
          c.check(req);
        }
        expect(JSON.stringify(messages[0]!.body.messages)).toContain('say hi');

        const ours = entryLines(result.stderr);
        expect(ours).toMatch(/^claude-entry: using /m); // else the secret check below proves nothing
        expectNoSecret(ours, c.secrets);
        const written = path.join(home, '.claude', '.credentials.json');
        expect(fs.existsSync(written)).toBe(c.writesCredentials);
        // a writable 0600 copy even of a read-only mount, so the CLI can refresh its tokens
        if (c.writesCredentials) expect(fileMode(written)).toBe(0o600);
      });
    }

    it('negative control: the bare CLI with only CLAUDE_CREDENTIALS_B64 is not logged in', async () => {
      const { fake, reply } = await fakeApi();
      const home = tempDir();
      const result = await runProcess([CLAUDE, '-p', 'say hi'], {
        env: cliEnv(home, fake, { CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())) }),
        cwd: tempDir('claude-entry-ws-'),
        timeoutMs: 90_000,
      });
      expect(result.code).not.toBe(0);
      expect(result.stdout + result.stderr).toMatch(/not logged in/i);
      expect(result.stdout).not.toContain(reply);
      expect(fake.messages()).toHaveLength(0);
    });
  });
}

// ---------------------------------------------------------------------------------------
// Interactive, under tmux

function childrenOf(pid: number): { pid: number; comm: string }[] {
  const r = spawnSync('ps', ['-o', 'pid=,comm=', '--ppid', String(pid)], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([p]) => Number(p) > 0)
    .map(([p, comm]) => ({ pid: Number(p), comm: comm ?? '' }));
}

/** Where Node has process.execve, claude-entry becomes the CLI instead of supervising it. */
const nodeExecs = typeof (process as unknown as { execve?: unknown }).execve === 'function';

for (const cli of CLAUDE_CLIS) {
  const cliEnv = (home: string, fake: FakeAnthropic, extra: NodeJS.ProcessEnv = {}) => cliEnvFor(cli.binDir, home, fake, extra);
  describe(`interactive claude through claude-entry, under tmux, real CLI ${cli.version}`, needs(needs.claude(), needs.tool('tmux'), needs.tool('ps')), () => {
    const cases: {
      name: string;
      env: () => NodeJS.ProcessEnv;
      check: (req: RecordedRequest) => void;
      secrets: string[];
      exitWith: 'ctrl-c' | '/exit';
    }[] = [
      {
        name: 'OAuth credentials file',
        env: () => ({ CLAUDE_CREDENTIALS_FILE: mountedCredentials() }),
        check: (req) => expectOAuth(req, FAKE.accessToken),
        secrets: [FAKE.accessToken, FAKE.refreshToken],
        exitWith: 'ctrl-c',
      },
      {
        name: 'API key',
        env: () => ({ ANTHROPIC_API_KEY: FAKE.apiKey }),
        check: (req) => expectApiKey(req, FAKE.apiKey),
        secrets: [FAKE.apiKey],
        exitWith: '/exit',
      },
    ];

    for (const c of cases) {
      it(`${c.name}: straight to the prompt, one Ctrl-C keeps it, answers, ends with ${c.exitWith}`, async () => {
        const { fake, reply } = await fakeApi();
        const home = tempDir();
        const workspace = tempDir('claude-entry-ws-');
        const tmux = new Tmux(tempDir('claude-entry-tmux-'));
        tmux.start([process.execPath, BUNDLE, '--', 'claude'], {
          env: cliEnv(home, fake, { CLAUDE_ENTRY_TRUST: workspace, ...c.env() }),
          cwd: workspace,
        });
        const pid = tmux.pid();

        // 1. the main prompt, and nothing that would have stopped before it
        const screen = await tmux.waitFor('the main prompt', (s) => PROMPT.test(s), { fail: blocker });
        expect(blocker(screen), screen).toBeUndefined();
        expect(screen).toContain('Claude Code');
        // claude-entry either supervises the CLI (one child) or has become it (execve)
        const children = nodeExecs ? [] : childrenOf(pid).map((p) => p.pid);
        if (!nodeExecs) expect(childrenOf(pid).map((p) => p.comm)).toEqual(['claude']);

        // 2. one Ctrl-C: the CLI shows its hint and keeps running. Its full-screen UI turns the
        // terminal's ISIG off (stty -isig), so Ctrl-C reaches it as a key, not as SIGINT: this
        // checks that the TTY passes through intact, not claude-entry's signal forwarding.
        tmux.keys('C-c');
        await tmux.waitFor('the Ctrl-C hint', (s) => CTRL_C_HINT.test(s), { timeoutMs: 30_000 });
        // Not an event: the absence of one (an exit), given time to happen.
        await sleep(1_500);
        expect(tmux.dead(), tmux.screen()).toBe(false);
        expect(alive(pid)).toBe(true);
        for (const child of children) expect(alive(child)).toBe(true);
        const after = tmux.screen();
        expect(PROMPT.test(after) || CTRL_C_HINT.test(after), after).toBe(true);

        // 3. a question reaches the fake with the right credential, and its reply the screen
        tmux.type('say hi');
        tmux.keys('Enter');
        await tmux.waitFor('the reply', (s) => s.includes(reply), { timeoutMs: 60_000, fail: blocker });
        const messages = fake.messages();
        expect(messages.length).toBeGreaterThanOrEqual(1);
        for (const req of messages) c.check(req);

        // claude-entry's own lines, printed before the CLI took the screen over
        const ours = entryLines(tmux.rawOutput());
        expect(ours).toMatch(/^claude-entry: using /m);
        expectNoSecret(ours, c.secrets);

        // 4. the end: a second Ctrl-C in a row, or /exit
        if (c.exitWith === 'ctrl-c') {
          tmux.keys('C-c');
          await sleep(200);
          tmux.keys('C-c');
        } else {
          tmux.type('/exit');
          await tmux.waitFor('the typed /exit', (s) => s.includes('/exit'));
          tmux.keys('Enter');
        }
        await tmux.waitForExit();
        // tmux does not always record the status (a race between the pty's end and SIGCHLD
        // in tmux 3.3a): check it when it is there.
        const status = tmux.display('#{pane_dead_status}');
        if (status !== '') expect(status).toBe('0');
        expect(await waitGone([pid], 15_000), 'claude-entry outlived the session').toEqual([]);
        expect(await waitGone(children, 15_000), 'claude outlived the session').toEqual([]);
      });
    }

    it('docker stop: SIGTERM to claude-entry reaches the CLI, and both end', async () => {
      const { fake } = await fakeApi();
      const home = tempDir();
      const workspace = tempDir('claude-entry-ws-');
      const tmux = new Tmux(tempDir('claude-entry-tmux-'));
      tmux.start([process.execPath, BUNDLE, '--', 'claude'], {
        env: cliEnv(home, fake, { CLAUDE_ENTRY_TRUST: workspace, CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }),
        cwd: workspace,
      });
      const pid = tmux.pid();
      await tmux.waitFor('the main prompt', (s) => PROMPT.test(s), { fail: blocker });
      const tree = processTree(pid);
      process.kill(pid, 'SIGTERM');
      await tmux.waitForExit(30_000);
      const status = tmux.display('#{pane_dead_status}');
      if (status !== '') expect(['0', '143']).toContain(status); // the CLI's own code, or 128+SIGTERM
      expect(await waitGone(tree, 15_000), 'processes outlived SIGTERM').toEqual([]);
    });

    it('negative control: without CLAUDE_ENTRY_TRUST the trust dialog stops the session', async () => {
      const { fake } = await fakeApi();
      const home = tempDir();
      const workspace = tempDir('claude-entry-ws-');
      const tmux = new Tmux(tempDir('claude-entry-tmux-'));
      tmux.start([process.execPath, BUNDLE, '--', 'claude'], {
        env: cliEnv(home, fake, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }),
        cwd: workspace,
      });
      const screen = await tmux.waitFor('the trust dialog', (s) => blocker(s) !== undefined || PROMPT.test(s));
      expect(blocker(screen), screen).toBe('the trust dialog');
      expect(screen).not.toMatch(PROMPT);
      // the start said so, with the fix; and doctor, as a problem
      expect(entryLines(tmux.rawOutput())).toMatch(
        /warning: an interactive session in \S+ stops at Claude Code's "Do you trust the files in this folder\?".*CLAUDE_ENTRY_TRUST=/,
      );
      const doctor = await runBundle(['doctor', '--', 'claude'], { env: cliEnv(home, fake, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }), cwd: workspace });
      expect(doctor.code).toBe(1);
      expect(doctor.stdout).toMatch(/- an interactive session in \S+ stops at Claude Code's "Do you trust/);
      expect(
        (await runBundle(['doctor', '--', 'claude', '-p', 'hi'], { env: cliEnv(home, fake, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }), cwd: workspace }))
          .stdout,
      ).not.toMatch(/Do you trust/);
    });

    it('negative control: the bare CLI with only CLAUDE_CODE_OAUTH_TOKEN does not reach the prompt', async () => {
      const { fake } = await fakeApi();
      const home = tempDir();
      const workspace = tempDir('claude-entry-ws-');
      const tmux = new Tmux(tempDir('claude-entry-tmux-'));
      tmux.start(['claude'], { env: cliEnv(home, fake, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }), cwd: workspace });
      // Offline it checks connectivity to Anthropic's hosts and exits 1; online it would show
      // the theme picker. Either way: no prompt.
      const deadline = Date.now() + 60_000;
      let screen = tmux.screen();
      while (!tmux.dead() && blocker(screen) === undefined && !PROMPT.test(screen) && Date.now() < deadline) {
        await sleep(200);
        screen = tmux.screen();
      }
      expect(screen).not.toMatch(PROMPT);
      expect(blocker(screen), screen).toMatch(/onboarding|connectivity/);
      expect(fake.messages()).toHaveLength(0);
    });
  });
}

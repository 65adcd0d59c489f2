/**
 * The real client: the built bundle starts the real Claude Code CLI (the native binary from
 * the @anthropic-ai/claude-code dev dependency, 2.1.330) against a fake Anthropic API on
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
import { BUNDLE, FAKE, ROOT, b64, baseEnv, credentialsJson, expectNoSecret, fileMode, runBundle, runProcess, tempDir } from '../helpers';
import { alive, processTree, waitGone } from './procs';
import { entryLines, expectOAuth, expectApiKey } from './cli-assertions';
import { needs } from '../needs';

const BIN_DIR = path.join(ROOT, 'node_modules', '.bin');
const CLAUDE = path.join(BIN_DIR, 'claude');

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
function cliEnv(home: string, fake: FakeAnthropic, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return baseEnv(home, { PATH: `${BIN_DIR}:${process.env.PATH}`, ANTHROPIC_BASE_URL: fake.url, ...QUIET, ...extra });
}




/** A credentials JSON as a mounted secret: read-only, as Docker and Kubernetes mount them. */
function mountedCredentials(): string {
  const file = path.join(tempDir('claude-entry-secret-'), 'credentials.json');
  fs.writeFileSync(file, JSON.stringify(credentialsJson()) + '\n', { mode: 0o400 });
  return file;
}

describe('claude -p through claude-entry, real CLI, fake API', needs(needs.claude()), () => {
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

// ---------------------------------------------------------------------------------------
// Interactive, under tmux

/** One tmux server (own socket) with one session, killed when the test ends. */
class Tmux {
  readonly socket: string;
  private readonly output: string;
  readonly name = `ce-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly conf: string;

  constructor(dir: string) {
    this.socket = path.join(dir, 'tmux.sock');
    this.conf = path.join(dir, 'tmux.conf');
    this.output = path.join(dir, 'output.log');
    // remain-on-exit: the pane (and its last screen) stays after the command ends.
    fs.writeFileSync(this.conf, 'set -g remain-on-exit on\nset -g default-terminal xterm-256color\n');
  }

  private tmux(args: string[], env?: NodeJS.ProcessEnv): string {
    const r = spawnSync('tmux', ['-S', this.socket, '-f', this.conf, ...args], { encoding: 'utf8', env: env ?? process.env });
    if (r.status !== 0) throw new Error(`tmux ${args[0]} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  }

  /**
   * The server is started by this call with exactly `env`, so the pane inherits it and
   * nothing else; the command is exec'd directly (several arguments: no shell).
   */
  start(argv: string[], options: { env: NodeJS.ProcessEnv; cwd: string }): void {
    // Registered after the test's temp dirs, so it runs before they are removed: the CLI
    // must be gone before its HOME is (vitest runs these hooks last-in, first-out).
    onTestFinished(async () => {
      let tree: number[] = [];
      try {
        tree = processTree(this.pid());
      } catch {
        // no session
      }
      spawnSync('tmux', ['-S', this.socket, 'kill-server'], { stdio: 'ignore' });
      for (const pid of await waitGone(tree, 3_000)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await waitGone(tree, 2_000);
    });
    // pipe-pane in the same command queue, before the command has had time to print: the
    // raw output is kept, even what the CLI's full-screen UI later clears from the pane.
    this.tmux(
      ['new-session', '-d', '-s', this.name, '-x', '120', '-y', '40', '-c', options.cwd, ...argv, ';',
        'pipe-pane', '-t', this.name, `cat >> '${this.output}'`],
      options.env,
    );
  }

  /** Everything the command wrote to the terminal so far, line ends normalised. */
  rawOutput(): string {
    return fs.existsSync(this.output) ? fs.readFileSync(this.output, 'utf8').replace(/\r/g, '') : '';
  }

  screen(): string {
    return this.tmux(['capture-pane', '-p', '-t', this.name]);
  }

  display(format: string): string {
    return this.tmux(['display-message', '-p', '-t', this.name, format]).trim();
  }

  pid(): number {
    return Number(this.display('#{pane_pid}'));
  }

  dead(): boolean {
    return this.display('#{pane_dead}') === '1';
  }

  keys(...keys: string[]): void {
    this.tmux(['send-keys', '-t', this.name, ...keys]);
  }

  type(text: string): void {
    this.tmux(['send-keys', '-t', this.name, '-l', text]);
  }

  /** Poll the screen until `done`; stop early (and fail) on `fail` or when the pane dies. */
  async waitFor(
    what: string,
    done: (screen: string) => boolean,
    options: { timeoutMs?: number; fail?: (screen: string) => string | undefined } = {},
  ): Promise<string> {
    const deadline = Date.now() + (options.timeoutMs ?? 40_000);
    for (;;) {
      const screen = this.screen();
      if (done(screen)) return screen;
      const failure = options.fail?.(screen) ?? (this.dead() ? 'the command ended' : undefined);
      if (failure || Date.now() > deadline) {
        throw new Error(`waiting for ${what}: ${failure ?? 'timed out'}; the screen:\n${screen}`);
      }
      await sleep(200);
    }
  }

  async waitForExit(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.dead()) {
      if (Date.now() > deadline) throw new Error(`the session did not end; the screen:\n${this.screen()}`);
      await sleep(200);
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const PROMPT = /^❯/m; // the main prompt; dialog choices are indented ("  ❯ No, exit")
const CTRL_C_HINT = /Press Ctrl-C again to exit/;
/** Screens that mean the session will not reach the prompt by itself. */
const BLOCKERS: [RegExp, string][] = [
  [/Do you trust|trust this folder|Accessing workspace/i, 'the trust dialog'],
  [/Detected a custom API key/i, 'the custom API key question'],
  [/Choose the text style|Let's get started|Select login method|Dark mode/i, 'onboarding'],
  [/Unable to connect to Anthropic services/i, 'the connectivity check (onboarding not done)'],
  [/Not logged in|Invalid API key|Please run \/login/i, 'an authentication error'],
];
const blocker = (screen: string) => BLOCKERS.find(([re]) => re.test(screen))?.[1];


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

describe('interactive claude through claude-entry, under tmux', needs(needs.claude(), needs.tool('tmux'), needs.tool('ps')), () => {
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

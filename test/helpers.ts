/**
 * Shared test helpers: run the built bundle as a user would, in a temp home, and check that
 * no secret byte ever reaches its output.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, onTestFinished } from 'vitest';
import { nodeBinaryOf } from './needs.js';

export const ROOT = path.resolve(__dirname, '..');
export const BUNDLE = path.join(ROOT, 'dist', 'claude-entry');

/** Obviously fake, but shaped like the real thing. */
export const FAKE = {
  accessToken: 'sk-ant-oat01-TESTaccess0000000000000000000000000000000000000000000000000000000000000000000000-TESTAA',
  refreshToken: 'sk-ant-ort01-TESTrefresh000000000000000000000000000000000000000000000000000000000000000000000-TESTAA',
  oauthToken: 'sk-ant-oat01-TESTsetuptoken0000000000000000000000000000000000000000000000000000000000000000000-TESTAA',
  apiKey: 'sk-ant-api03-TESTapikey00000000000000000000000000000000000000000000000000000000000000000000000-TESTAA',
};

export function credentialsJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    claudeAiOauth: {
      accessToken: FAKE.accessToken,
      refreshToken: FAKE.refreshToken,
      expiresAt: Date.now() + 8 * 3600_000,
      scopes: ['user:inference', 'user:profile'],
      subscriptionType: 'max',
      ...overrides,
    },
  };
}

export const b64 = (s: string) => Buffer.from(s).toString('base64');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
  /** Run the bundle with this node binary instead of the current one. */
  node?: string;
  /** Wrap the command, e.g. ['unshare', '--pid', '--fork', '--mount-proc']. */
  prefix?: string[];
  /** Called with the whole stderr so far, each time more arrives. */
  onStderr?: (stderr: string) => void;
}

/** A minimal environment: nothing from the test runner leaks in (no stray tokens). */
export function baseEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8', ...extra };
}

export function runBundle(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const node = options.node ?? process.execPath;
  const argv = [...(options.prefix ?? []), node, BUNDLE, ...args];
  return runProcess(argv, options);
}

export function runProcess(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const spawnOptions: SpawnOptions = { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] };
    const child = spawn(argv[0]!, argv.slice(1), spawnOptions);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => {
      stderr += d;
      options.onStderr?.(stderr);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin!.end(options.input ?? '');
  });
}

export const HOUR = 3600_000;

/**
 * A shell line that writes "$1" to `file` as Claude Code writes its login: a temp file beside
 * it, 0600, renamed over it.
 */
export const writeLikeCli = (file: string) => `t="$(dirname "${file}")/.tmp.$$"; printf '%s' "$1" > "$t"; chmod 600 "$t"; mv "$t" "${file}"`;

/** The line a supervisor logs once its sync watches the credentials file. */
export const SYNC_STARTED = /claude-entry: sync: (push|pull|both) between /;

/**
 * The bundle supervising `sh -c script` (script's $1... from scriptArgs), the script held until
 * the supervisor's sync watches the credentials file (its "sync: MODE between" line): a
 * command that wrote at once would race the watcher's start. `whenStarted` runs at that moment,
 * before the script is let go (to change the store behind the supervisor's back, say).
 */
export function runSupervised(script: string, scriptArgs: string[], options: RunOptions & { whenStarted?: () => unknown } = {}): Promise<RunResult> {
  const gate = path.join(tempDir('claude-entry-gate-'), 'go');
  let opened = false;
  const held = `i=0; while [ ! -e '${gate}' ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; ${script}`;
  return runBundle(['--', 'sh', '-c', held, 'sh', ...scriptArgs], {
    timeoutMs: 90_000,
    ...options,
    onStderr: (stderr) => {
      options.onStderr?.(stderr);
      if (opened || !SYNC_STARTED.test(stderr)) return;
      opened = true;
      void Promise.resolve(options.whenStarted?.()).finally(() => fs.writeFileSync(gate, ''));
    },
  });
}

/**
 * sh that waits (up to `seconds`) until `file` contains `text`: a command that needs something
 * to have happened to its files, without guessing how long that takes.
 */
export function shWaitFor(file: string, text: string, seconds = 90): string {
  return `i=0; until grep -qF '${text}' "${file}" 2>/dev/null || [ $i -ge ${seconds * 10} ]; do sleep 0.1; i=$((i+1)); done`;
}

/** A temp dir removed when the test ends. */
export function tempDir(prefix = 'claude-entry-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A temp dir made as the test file is collected (for tables whose rows name paths in it),
 * removed after the file's tests: a function that joins paths below it.
 */
export function tableDir(prefix = 'claude-entry-test-'): (...parts: string[]) => string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  return (...parts) => path.join(dir, ...parts);
}

/** A shell script at `file` (its directory made 0755 if missing), with exactly `mode`, and `owner`'s. */
export function plantScript(file: string, mode: number, owner?: { uid: number; gid: number }): string {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  fs.writeFileSync(file, '#!/bin/sh\n', { mode });
  fs.chmodSync(file, mode); // past the umask
  if (owner) fs.chownSync(file, owner.uid, owner.gid);
  return file;
}

/** The error `run` throws; a test failure when it returns. */
export function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error, and none was thrown');
}

/** Every fragment of a secret that would betray it (the whole, and its distinctive part). */
export function expectNoSecret(output: string, secrets: string[]): void {
  for (const secret of secrets) {
    expect(output).not.toContain(secret);
    const body = secret.replace(/^sk-ant-[a-z]{3}\d\d-/, '');
    if (body.length >= 12) expect(output).not.toContain(body.slice(0, 12));
    expect(output).not.toContain(b64(secret).slice(0, 16));
  }
}

export function fileMode(p: string): number {
  return fs.statSync(p).mode & 0o777;
}

/**
 * Node binaries for the compatibility tests, installed in tools/nodes by `npm run setup` (not
 * in the root node_modules: their `node` bin would shadow yours on npm's PATH), else the
 * node running the tests when it is that major. Declare it: needs.now(ctx, needs.node(major)).
 */
export function nodeBinary(major: 18 | 20 | 22 | 24): string | undefined {
  return nodeBinaryOf(major);
}

let pairSerial = 0;
/** A credentials JSON with its own token pair (tagged), for the sync tests' newer/older logins. */
export function loginPair(expiresAt: number, tag = `P${++pairSerial}`): string {
  return JSON.stringify({
    claudeAiOauth: {
      accessToken: `${FAKE.accessToken}-${tag}`,
      refreshToken: `${FAKE.refreshToken}-${tag}`,
      expiresAt,
      scopes: ['user:inference'],
      subscriptionType: 'max',
    },
  });
}

export const tokenOf = (text: string | Buffer | undefined) => JSON.parse(String(text)).claudeAiOauth.accessToken as string;

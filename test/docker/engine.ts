/**
 * A real Docker engine for the Docker tier: a working DOCKER_HOST or default socket if there is
 * one, else a dockerd of our own under a temp directory (root only), stopped when the tier ends.
 *
 * Its image store (--data-root) lives in a cache directory that outlasts the run, so the
 * second run finds the base images and the build cache there. Only one dockerd may use a
 * data root: a run that finds it taken uses a fresh temp one (and builds everything again).
 */
import type { TestOptions } from 'vitest';
import { META_PREFIX } from '../needs.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Engine {
  /** Environment for the docker client: DOCKER_HOST, BuildKit on. */
  env: NodeJS.ProcessEnv;
  /** The docker client to call (one that can build with BuildKit). */
  cli: string;
  /** Where images, layers and the build cache are kept between runs. */
  cacheDir: string;
  /** Stops the dockerd we started (nothing when the engine was someone else's). */
  close(): Promise<void>;
}

/** Where the tier keeps what outlasts a run: the engine's data root, the base rootfs. */
export function cacheRoot(): string {
  const base = process.env.CLAUDE_ENTRY_TEST_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'claude-entry-test');
  fs.mkdirSync(base, { recursive: true });
  return base;
}

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin'])) {
    const file = path.join(dir || '.', name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  return undefined;
}

/**
 * A client that builds with BuildKit: one with the buildx plugin, else Debian's docker.io
 * client (20.10), which has BuildKit built in under DOCKER_BUILDKIT=1. Newer clients without
 * buildx fall back to the legacy builder, which cannot mount a build secret.
 */
function buildingClient(dockerd?: string): string | undefined {
  const candidates = [which('docker'), dockerd && path.join(path.dirname(dockerd).replace(/sbin$/, 'bin'), 'docker'), '/usr/bin/docker'].filter(
    (c): c is string => !!c && fs.existsSync(c),
  );
  for (const cli of candidates) {
    if (spawnSync(cli, ['buildx', 'version'], { stdio: 'ignore' }).status === 0) return cli;
  }
  for (const cli of candidates) {
    const version = spawnSync(cli, ['version', '--format', '{{.Client.Version}}'], { encoding: 'utf8' }).stdout?.trim() ?? '';
    if (/^(1\d|20|21|22)\./.test(version)) return cli;
  }
  return candidates[0];
}

function answers(cli: string, env: NodeJS.ProcessEnv): boolean {
  return spawnSync(cli, ['version', '--format', '{{.Server.Version}}'], { env, stdio: 'ignore', timeout: 10_000 }).status === 0;
}

/**
 * Why no engine can be had here, without starting one (test files are also collected by
 * `vitest list`, which runs no hooks: nothing may be left running by collecting); undefined
 * when one answers or a dockerd can be started.
 */
export function engineProblem(): string | undefined {
  if (process.env.DOCKER_HOST) {
    const cli = buildingClient();
    if (!cli) return 'DOCKER_HOST is set but there is no docker client on PATH';
    return answers(cli, process.env) ? undefined : `DOCKER_HOST=${process.env.DOCKER_HOST} does not answer`;
  }
  if (fs.existsSync('/var/run/docker.sock')) {
    const cli = buildingClient();
    if (cli && answers(cli, process.env)) return undefined;
  }
  if (!which('dockerd')) return 'no dockerd on PATH (Debian package docker.io; .ci/run installs it)';
  if (process.getuid?.() !== 0) return 'starting dockerd needs root';
  if (!buildingClient()) return 'no docker client on PATH';
  return undefined;
}

/** Start or find an engine; a string says why there is none. */
export async function startEngine(): Promise<Engine | string> {
  const cache = cacheRoot();
  if (process.env.DOCKER_HOST) {
    const cli = buildingClient();
    if (!cli) return 'DOCKER_HOST is set but there is no docker client on PATH';
    const env = { ...process.env, DOCKER_BUILDKIT: '1' };
    if (answers(cli, env)) return { env, cli, cacheDir: cache, close: async () => {} };
    return `DOCKER_HOST=${process.env.DOCKER_HOST} does not answer`;
  }
  // An engine already running at the client's default socket (a CI runner's, a developer's).
  const existing = buildingClient();
  if (existing && fs.existsSync('/var/run/docker.sock')) {
    const env = { ...process.env, DOCKER_BUILDKIT: '1' };
    if (answers(existing, env)) return { env, cli: existing, cacheDir: cache, close: async () => {} };
  }
  const dockerd = which('dockerd');
  if (!dockerd) return 'no dockerd on PATH (Debian package docker.io; .ci/run installs it)';
  if (process.getuid?.() !== 0) return 'starting dockerd needs root';
  const cli = buildingClient(dockerd);
  if (!cli) return 'no docker client on PATH';

  // The socket path must stay short (108 bytes): a temp dir under /tmp.
  const run = fs.mkdtempSync(path.join('/tmp', 'ce-dockerd-'));
  // The cached data root, unless a dockerd (the pid in the lock) is using it.
  let dataRoot = path.join(cache, 'docker-data');
  const lock = path.join(cache, 'docker-data.lock');
  let ownLock = false;
  try {
    fs.writeFileSync(lock, '0', { flag: 'wx' });
    ownLock = true;
  } catch {
    const holder = Number(fs.readFileSync(lock, 'utf8'));
    if (!holder || !fs.existsSync(`/proc/${holder}`)) {
      fs.writeFileSync(lock, '0');
      ownLock = true;
    } else {
      dataRoot = path.join(run, 'data');
    }
  }
  const socket = path.join(run, 'docker.sock');
  const log = path.join(run, 'dockerd.log');
  const out = fs.openSync(log, 'a');
  // --pdeathsig: dockerd stops with us even if the test run is killed before its afterAll.
  const daemon: ChildProcess = spawn(
    'setpriv',
    [
      '--pdeathsig',
      'SIGTERM',
      '--',
      dockerd,
      `--data-root=${dataRoot}`,
      `--exec-root=${path.join(run, 'exec')}`,
      `--pidfile=${path.join(run, 'docker.pid')}`,
      `--host=unix://${socket}`,
      '--storage-driver=overlay2',
      // No bridge, no NAT rules on this machine: containers use --network host.
      '--iptables=false',
      '--ip-masq=false',
      '--bridge=none',
    ],
    { stdio: ['ignore', out, out] },
  );
  fs.closeSync(out);
  if (ownLock && daemon.pid) fs.writeFileSync(lock, String(daemon.pid));
  let exited: string | undefined;
  daemon.on('exit', (code, signal) => (exited = `dockerd exited (${signal ?? code})`));
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_BUILDKIT: '1' };

  const exit = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));
  const close = async () => {
    if (!exited) {
      daemon.kill('SIGTERM');
      // Its exit is the event; the bound only catches a daemon that will not stop.
      await Promise.race([exit, new Promise((resolve) => setTimeout(resolve, 60_000))]);
      if (!exited) daemon.kill('SIGKILL');
    }
    if (ownLock) fs.rmSync(lock, { force: true });
    removeRunDir(run);
  };

  const answering = await until(() => !!exited || (fs.existsSync(socket) && answers(cli, env)), 120_000);
  if (answering && !exited) return { env, cli, cacheDir: cache, close };
  const tail = fs.readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' | ');
  await close();
  return `${exited ?? 'dockerd did not answer within 60 s'}: ${tail}`;
}

/** dockerd leaves mounts in its exec root (the host network namespace): unmount, then remove. */
function removeRunDir(run: string): void {
  const mounts = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((target) => target.startsWith(`${run}/`))
    .reverse();
  for (const target of mounts) spawnSync('umount', ['-l', target], { stdio: 'ignore' });
  try {
    fs.rmSync(run, { recursive: true, force: true });
  } catch (error) {
    console.warn(`Docker tier: could not remove ${run}: ${(error as Error).message}`);
  }
}

/**
 * Issue 9's rule for a tier that cannot run: fail with one line that says why, unless a
 * partial run was asked for (CLAUDE_ENTRY_TEST_PARTIAL=1), which skips it with the reason
 * recorded for the run's summary (test/skip-reporter.ts), like test/needs.ts does.
 */
export function dockerTierOptions(reason: string | undefined): TestOptions {
  if (!reason || process.env.CLAUDE_ENTRY_TEST_PARTIAL !== '1') return {};
  return {
    skip: true,
    meta: {
      [`${META_PREFIX}docker`]: `Docker tier: ${reason}\tas root: npm run setup (docker.io, mmdebstrap), or a working DOCKER_HOST`,
    } as TestOptions['meta'],
  };
}

/** @deprecated kept for callers that only need the yes/no. */
export function mustSkipWithout(reason: string | undefined): boolean {
  return dockerTierOptions(reason).skip === true;
}

/**
 * Wait for a state the engine reports only when asked (a socket answering, a container's
 * process list, a health status): asked again until it holds, bounded by a generous wall-clock
 * deadline, not by a count of tries that a busy machine stretches. True when it held.
 */
export async function until(holds: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await holds()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Containers without a container engine: PID and mount namespaces from util-linux `unshare`,
 * real uids from `setpriv`, and a process handle that knows its pid (runProcess does not).
 * Everything mounted here lives in a private mount namespace and disappears with it.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { baseEnv, runBundle, tempDir, type RunOptions, type RunResult } from '../helpers.js';

/** The command becomes PID 1 of a new PID namespace, with its own /proc. */
export const PID_NAMESPACE = ['unshare', '--pid', '--fork', '--mount-proc'];

export const isRoot = process.getuid?.() === 0;

/** Drop to a uid/gid with no supplementary groups before running the rest of argv. */
export function asUser(uid: number, gid: number): string[] {
  return ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups'];
}

export type MountStep = { bind: string; at: string; readOnly?: boolean } | { tmpfs: string } | { mkdir: string } | { touch: string };

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A prefix that runs the rest of argv in a new, private mount namespace after these steps
 * (private: nothing mounted here propagates back to the host).
 */
export function mountNamespace(steps: MountStep[]): string[] {
  const lines = steps.map((step) => {
    if ('bind' in step) {
      return `mount --bind ${step.readOnly ? '-o ro ' : ''}${quote(step.bind)} ${quote(step.at)}`;
    }
    if ('tmpfs' in step) return `mount -t tmpfs -o mode=0755 tmpfs ${quote(step.tmpfs)}`;
    if ('mkdir' in step) return `mkdir -p ${quote(step.mkdir)}`;
    return `: > ${quote(step.touch)}`;
  });
  const script = ['set -eu', ...lines, 'exec "$@"'].join('\n');
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'ns-setup'];
}

export interface FakeUsers {
  passwd: string;
  group: string;
}

/** Write an /etc/passwd and /etc/group pair into dir, to bind over the real ones. */
export function writeUserDatabase(dir: string, passwdLines: string[], groupLines: string[]): FakeUsers {
  const passwd = path.join(dir, 'passwd');
  const group = path.join(dir, 'group');
  fs.writeFileSync(passwd, ['root:x:0:0:root:/root:/bin/sh', ...passwdLines, ''].join('\n'), { mode: 0o644 });
  fs.writeFileSync(group, ['root:x:0:', ...groupLines, ''].join('\n'), { mode: 0o644 });
  return { passwd, group };
}

export function withUsers(users: FakeUsers, more: MountStep[] = []): string[] {
  return mountNamespace([{ bind: users.passwd, at: '/etc/passwd' }, { bind: users.group, at: '/etc/group' }, ...more]);
}

/** The target user of the system tests, `agent`. */
export const AGENT = { uid: 1000, gid: 1000 };

/** A temp dir where `agent` has a home and its own passwd entry, for runInWorld. */
export interface AgentWorld {
  dir: string;
  /** dir/home/agent, agent's. */
  home: string;
  users: FakeUsers;
  /** The start's environment: root's HOME (dir/root-home) and the options' variables. */
  env: NodeJS.ProcessEnv;
}

/**
 * A temp dir (0755, so that agent reaches inside) with agent's home (home/agent, 1000:1000),
 * a made-up /etc/passwd and /etc/group (etc/) where agent is `agent:x:1000:1000` with that home
 * (or `homeField`), and root's own HOME (root-home).
 */
export function agentWorld(options: { env?: NodeJS.ProcessEnv; homeField?: string; morePasswdLines?: string[]; groupLines?: string[] } = {}): AgentWorld {
  const dir = tempDir();
  fs.chmodSync(dir, 0o755);
  const home = path.join(dir, 'home', 'agent');
  fs.mkdirSync(home, { recursive: true });
  fs.chownSync(home, AGENT.uid, AGENT.gid);
  fs.mkdirSync(path.join(dir, 'etc'));
  const users = writeUserDatabase(
    path.join(dir, 'etc'),
    [`agent:x:1000:1000:Agent:${options.homeField ?? home}:/bin/sh`, ...(options.morePasswdLines ?? [])],
    options.groupLines ?? ['agent:x:1000:'],
  );
  const rootHome = path.join(dir, 'root-home');
  fs.mkdirSync(rootHome);
  return { dir, home, users, env: baseEnv(rootHome, options.env) };
}

/** The bundle with the world's users bound over /etc (and `mounts`), started as root or, `asAgent`, as agent. */
export function runInWorld(w: AgentWorld, args: string[], options: RunOptions & { mounts?: MountStep[]; asAgent?: boolean } = {}): Promise<RunResult> {
  return runBundle(args, {
    env: w.env,
    ...options,
    prefix: [...withUsers(w.users, options.mounts), ...(options.asAgent ? asUser(AGENT.uid, AGENT.gid) : [])],
  });
}

export interface Started {
  pid: number;
  result: Promise<RunResult>;
  /** stderr so far. */
  stderr(): string;
}

/**
 * Start argv with piped stdio and hand back its pid. `detached` puts it in a new session:
 * no controlling terminal, whatever terminal the test runner was started from.
 */
export function startProcess(argv: string[], options: RunOptions & { detached?: boolean } = {}): Started {
  const child = spawn(argv[0]!, argv.slice(1), {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdin!.end(options.input ?? '');
  const result = new Promise<RunResult>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  if (child.pid === undefined) throw new Error(`cannot start ${argv[0]}`);
  return { pid: child.pid, result, stderr: () => stderr };
}

/** Direct children of pid, from /proc/<n>/stat (this kernel has no /proc/<pid>/task/<pid>/children). */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

/** The pid a process has in each namespace, outermost first (NSpid in /proc/<pid>/status). */
export function namespacePids(pid: number): number[] {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const line = status.split('\n').find((l) => l.startsWith('NSpid:'));
  return line ? line.slice('NSpid:'.length).trim().split(/\s+/).map(Number) : [pid];
}

/**
 * The host pid of the PID 1 that `unshare --pid --fork` started: its only child, once that
 * child is in the new namespace.
 */
export async function namespaceInit(unsharePid: number, timeoutMs = 5000): Promise<number> {
  let found: number | undefined;
  await waitFor(
    () => {
      const [child] = childrenOf(unsharePid);
      if (child !== undefined && namespacePids(child).at(-1) === 1) found = child;
      return found !== undefined;
    },
    timeoutMs,
    `PID 1 under unshare (pid ${unsharePid})`,
  );
  return found!;
}

export async function waitFor(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Lines of a file, [] while it does not exist. */
export function readLines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * TCP ports that process pid itself listens on, from `ss` (sock_diag over netlink: on this
 * kernel /proc/<pid>/net/tcp leaves some listening sockets out).
 */
export function listeningPorts(pid: number): number[] {
  const ss = spawnSync('ss', ['-Hltnp'], { encoding: 'utf8' });
  if (ss.status !== 0) throw new Error(`ss failed: ${ss.stderr}`);
  return ss.stdout
    .split('\n')
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => {
      const local = line.trim().split(/\s+/)[3]!; // State Recv-Q Send-Q Local Peer Process
      return Number(local.slice(local.lastIndexOf(':') + 1));
    });
}

/** Whether something on 127.0.0.1:port answers an HTTP request (the inspector would). */
export function answersHttp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/json/list', timeout: 500 }, (response) => {
      response.resume();
      resolve(true);
    });
    request.on('timeout', () => {
      request.destroy();
      resolve(false);
    });
    request.on('error', () => resolve(false));
  });
}

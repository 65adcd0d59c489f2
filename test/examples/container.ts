/**
 * A container as Dockerfile.example describes it, without a container engine: a private
 * mount namespace that sees the image's /etc/passwd and /etc/group, the image user's home,
 * and the secret where the platform mounts it (read-only); inside it, ENTRYPOINT + CMD run as
 * PID 1 of a new PID namespace; then the HEALTHCHECK (or probe) command runs in the same
 * mount namespace, as `docker exec` or the kubelet would run it.
 *
 * The image's files that are not on this machine are stood in for: claude-entry is the
 * bundle under the name the image copies it to, first on PATH; `claude` is a small Node
 * script that records who it runs as and what it can read, then exits.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BUNDLE } from '../helpers.js';

export interface Identity {
  uid: number;
  gid: number;
  /** Supplementary groups (Kubernetes adds fsGroup). */
  groups: number[];
}

export interface ContainerSpec {
  /** The image's users: passwd and group lines beyond root. */
  passwd: string[];
  group: string[];
  /** The image user's home, and who owns it there. */
  home: { path: string; uid: number; gid: number; mode: number };
  workdir: string;
  env: Record<string, string>;
  /** ENTRYPOINT + CMD (CMD as the platform overrides it). */
  argv: string[];
  /** Start as this uid instead of root (docker --user, Kubernetes runAsUser). */
  startAs?: Identity;
  /** Starting as root with only these capabilities (Kubernetes capabilities.drop ALL + add). */
  capabilities?: string[];
  secret: { path: string; content: string; mode: number; uid: number; gid: number };
  /** The health check command (HEALTHCHECK CMD, a probe's exec command). */
  health: string[];
  /** Run the health check while the command runs (a probe), then stop it with SIGTERM. */
  whileRunning?: { waitFor: string };
  /** A directory holding the real `claude`, put on PATH instead of the stand-in. */
  realClaude?: string;
  /** A directory holding the `node` the image has, first on PATH (else this machine's). */
  nodeDir?: string;
}

export interface StandInRecord {
  uid: number;
  gid: number;
  groups: number[];
  env: { HOME?: string; USER?: string; LOGNAME?: string; PATH?: string };
  argv: string[];
  cwd: string;
  pid: number;
  ppid: number;
  pid1: string[];
  credentials: { path: string; readable: boolean; writable: boolean };
  claudeJson?: Record<string, unknown>;
  /** Names of the variables in its environment (never their values). */
  envNames: string[];
  /** Variables Claude Code reads itself, by length and a hash prefix. */
  tokens: Record<string, string>;
}

export interface ContainerRun {
  exit: number | null;
  health: { exit: number | null; stdout: string };
  stdout: string;
  stderr: string;
  record?: StandInRecord;
  /** Host path of what was the image user's home inside. */
  home: string;
  /** Host path of the secret file that was bind-mounted. */
  secret: string;
}

const STAND_IN = `#!/usr/bin/env node
// Stand-in for Claude Code: records who it runs as and what it can read, then exits 0.
const fs = require('node:fs');
const crypto = require('node:crypto');
const home = process.env.HOME || '';
const cred = require('node:path').join(process.env.CLAUDE_CONFIG_DIR || home + '/.claude', '.credentials.json');
const can = (mode) => { try { fs.accessSync(cred, mode); return true; } catch { return false; } };
let claudeJson;
try { claudeJson = JSON.parse(fs.readFileSync(home + '/.claude.json', 'utf8')); } catch {}
let pid1 = [];
try { pid1 = fs.readFileSync('/proc/1/cmdline', 'utf8').split('\\0').filter(Boolean); } catch {}
const tokens = {};
for (const name of ['CLAUDE_CODE_OAUTH_TOKEN', 'ANTHROPIC_API_KEY']) {
  const v = process.env[name];
  if (v !== undefined) tokens[name] = v.length + ':' + crypto.createHash('sha256').update(v).digest('hex').slice(0, 16);
}
const record = {
  uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(),
  env: { HOME: process.env.HOME, USER: process.env.USER, LOGNAME: process.env.LOGNAME, PATH: process.env.PATH },
  argv: process.argv.slice(2), cwd: process.cwd(), pid: process.pid, ppid: process.ppid, pid1,
  credentials: { path: cred, readable: can(fs.constants.R_OK), writable: can(fs.constants.W_OK) },
  claudeJson, envNames: Object.keys(process.env).sort(), tokens,
};
fs.writeFileSync(process.env.STANDIN_RECORD, JSON.stringify(record));
`;

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const argvText = (argv: string[]) => argv.map(quote).join(' ');

function mkdir(p: string, mode: number, uid = 0, gid = 0): string {
  fs.mkdirSync(p, { recursive: true });
  fs.chmodSync(p, mode);
  fs.chownSync(p, uid, gid);
  return p;
}

/**
 * Run the container and its health check; `dir` is a temp directory the caller removes.
 * `claudeEntryPath` is where the image puts claude-entry (its basename is what PATH finds).
 */
export async function runContainer(spec: ContainerSpec, dir: string, claudeEntryPath = '/usr/local/bin/claude-entry'): Promise<ContainerRun> {
  fs.chmodSync(dir, 0o755);
  const bin = mkdir(path.join(dir, 'bin'), 0o755);
  fs.copyFileSync(BUNDLE, path.join(bin, path.basename(claudeEntryPath)));
  fs.chmodSync(path.join(bin, path.basename(claudeEntryPath)), 0o755);
  if (!spec.realClaude) fs.writeFileSync(path.join(bin, 'claude'), STAND_IN, { mode: 0o755 });

  const etc = mkdir(path.join(dir, 'etc'), 0o755);
  fs.writeFileSync(path.join(etc, 'passwd'), ['root:x:0:0:root:/root:/bin/bash', ...spec.passwd, ''].join('\n'), { mode: 0o644 });
  fs.writeFileSync(path.join(etc, 'group'), ['root:x:0:', ...spec.group, ''].join('\n'), { mode: 0o644 });

  const home = mkdir(path.join(dir, 'home'), spec.home.mode, spec.home.uid, spec.home.gid);
  const workdir = mkdir(path.join(dir, 'workspace'), 0o755, spec.home.uid, spec.home.gid);
  const records = mkdir(path.join(dir, 'records'), 0o777);
  const recordFile = path.join(records, 'claude.json');

  const secret = path.join(mkdir(path.join(dir, 'secret'), 0o755), 'secret');
  fs.writeFileSync(secret, spec.secret.content, { mode: spec.secret.mode });
  fs.chmodSync(secret, spec.secret.mode);
  fs.chownSync(secret, spec.secret.uid, spec.secret.gid);

  const as = (who?: Identity) => (who ? `setpriv --reuid=${who.uid} --regid=${who.gid} --groups=${who.groups.join(',') || who.gid} ` : '');
  const caps = spec.capabilities ? `setpriv --bounding-set=-all${spec.capabilities.map((c) => `,+${c.toLowerCase()}`).join('')} --inh-caps=-all ` : '';
  const container = `unshare --pid --fork --mount-proc ${caps}${as(spec.startAs)}${argvText(spec.argv)}`;
  const health = `${as(spec.startAs)}${argvText(spec.health)}`;

  const setup = [
    'set -u',
    // the image's users
    `mount --bind ${quote(path.join(etc, 'passwd'))} /etc/passwd`,
    `mount --bind ${quote(path.join(etc, 'group'))} /etc/group`,
    // the image user's home (a fresh /home hides this machine's)
    'mount -t tmpfs -o mode=0755 tmpfs /home',
    `mkdir -p ${quote(spec.home.path)}`,
    `mount --bind ${quote(home)} ${quote(spec.home.path)}`,
    // the secret, read-only, where the platform mounts it (a fresh /run)
    'mount -t tmpfs -o mode=0755 tmpfs /run',
    `mkdir -p ${quote(path.dirname(spec.secret.path))}`,
    `: > ${quote(spec.secret.path)}`,
    `mount --bind -o ro ${quote(secret)} ${quote(spec.secret.path)}`,
    `cd ${quote(workdir)}`,
  ];
  const run = spec.whileRunning
    ? [
        `${container} &`,
        'ns=$!',
        // wait until the start has written what the probe reads
        `i=0; while [ ! -e ${quote(spec.whileRunning.waitFor)} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done`,
        'sleep 0.2',
        `${health} > ${quote(path.join(dir, 'health.out'))}; echo "health-exit=$?"`,
        // stop the container as the platform does: SIGTERM to its PID 1
        'init=$(pgrep -P $ns | head -n 1); kill -TERM "$init"',
        'wait $ns; echo "container-exit=$?"',
      ]
    : [`${container}; echo "container-exit=$?"`, `${health} > ${quote(path.join(dir, 'health.out'))}; echo "health-exit=$?"`];
  const script = [...setup, ...run].join('\n');

  const image = spec.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  const env = { ...spec.env, PATH: [spec.nodeDir, bin, spec.realClaude, image].filter(Boolean).join(':'), STANDIN_RECORD: recordFile };
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve({ stdout: out, stderr: err });
    });
  });
  const exitOf = (name: string) => {
    const m = new RegExp(`^${name}=(\\d+)$`, 'm').exec(stdout);
    return m ? Number(m[1]) : null;
  };
  let record: StandInRecord | undefined;
  try {
    record = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as StandInRecord;
  } catch {
    record = undefined;
  }
  let healthOut = '';
  try {
    healthOut = fs.readFileSync(path.join(dir, 'health.out'), 'utf8');
  } catch {
    // not run
  }
  return { exit: exitOf('container-exit'), health: { exit: exitOf('health-exit'), stdout: healthOut }, stdout, stderr, record, home, secret };
}

export function tempRoot(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'claude-entry-container-'));
}

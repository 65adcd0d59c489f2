/**
 * What a test needs from the machine (root, a Debian tool, PID namespaces, a Node binary, the
 * real Claude Code CLI, Docker), declared where the test is, checked once per worker.
 *
 *   describe('as PID 1', needs(needs.root(), needs.unshare()), () => { ... });
 *   it('under tmux', needs(needs.tool('tmux')), async () => { ... });
 *   it('slow', { ...needs(needs.claude()), timeout: 120_000 }, async () => { ... });
 *   it.for([18, 22])('on Node %i', async (major, ctx) => { needs.now(ctx, needs.node(major)); ... });
 *
 * A need that is missing skips the test and records, in the test's meta, why and the command
 * that fixes it. test/skip-reporter.ts prints one line per reason at the end of the run and
 * fails the run unless CLAUDE_ENTRY_TEST_PARTIAL=1 (a partial run, asked for).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestContext, TestOptions } from 'vitest';

export interface Need {
  /** One reason, one line in the summary: 'root', 'tool:tmux', 'node:18', ... */
  id: string;
  /** What is missing and why the tests want it; undefined when it is there. */
  missing: string | undefined;
  /** The one command that fixes it. */
  fix: string;
}

/** A skipped test's meta: need id -> "what is missing\tfix". */
export const META_PREFIX = 'needs:';

const ROOT_DIR = path.resolve(__dirname, '..');
export const SETUP = 'npm run setup';

/** The Debian package that brings each command the tests run. */
const DEBIAN_PACKAGE: Record<string, string> = {
  tmux: 'tmux',
  tini: 'tini',
  gosu: 'gosu',
  hyperfine: 'hyperfine',
  openssl: 'openssl',
  ss: 'iproute2',
  ps: 'procps',
  setpriv: 'util-linux',
  unshare: 'util-linux',
};

const memo = new Map<string, Need>();
function once(id: string, probe: () => Omit<Need, 'id'>): Need {
  let need = memo.get(id);
  if (!need) memo.set(id, (need = { id, ...probe() }));
  return need;
}

const runs = (argv: string[]) => {
  try {
    return spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore', timeout: 10_000 }).status === 0;
  } catch {
    return false;
  }
};

const isRoot = () => process.getuid?.() === 0;

function root(): Need {
  return once('root', () => ({
    missing: isRoot() ? undefined : 'not root (PID namespaces, real uids, chown to other users)',
    fix: 'run as root: sudo npm test',
  }));
}

function tool(command: string): Need {
  const pkg = DEBIAN_PACKAGE[command] ?? command;
  return once(`tool:${command}`, () => ({
    missing: runs(['sh', '-c', `command -v ${command}`]) ? undefined : `${command} not installed`,
    fix: `${SETUP} (or: apt-get install -y ${pkg})`,
  }));
}

/** New PID and mount namespaces (util-linux unshare): root, and not forbidden by a container. */
function unshare(): Need {
  return once('unshare', () => {
    // Reported under the need that is really missing (its id wins in once()'s spread).
    if (!isRoot()) return root();
    if (tool('unshare').missing) return tool('unshare');
    return {
      missing: runs(['unshare', '--pid', '--fork', '--mount-proc', 'true'])
        ? undefined
        : 'unshare --pid --fork --mount-proc is not permitted here (a container without CAP_SYS_ADMIN?)',
      fix: 'run on a VM or a privileged container (docker run --privileged)',
    };
  });
}

/** A Node binary for the compatibility tests: tools/nodes (`npm run setup`), else ours if it is that major. */
export function nodeBinaryOf(major: number): string | undefined {
  const installed = path.join(ROOT_DIR, 'tools', 'nodes', 'node_modules', `node${major}`, 'bin', 'node');
  if (fs.existsSync(installed)) return installed;
  return process.versions.node.split('.')[0] === String(major) ? process.execPath : undefined;
}

function node(major: number): Need {
  return once(`node:${major}`, () => ({
    missing: nodeBinaryOf(major) ? undefined : `Node ${major} not in tools/nodes`,
    fix: `${SETUP} (or: cd tools/nodes && npm ci)`,
  }));
}

export const CLAUDE_BIN = path.join(ROOT_DIR, 'node_modules', '.bin', 'claude');

/**
 * The real Claude Code CLI, a dev dependency: its postinstall copies the native binary (an
 * optional dependency) over a small placeholder. Checked by size, not by running it: a probe
 * that runs a 380 MB binary could time out on a busy machine and skip tests for no reason.
 */
function claude(): Need {
  return once('claude', () => {
    let size = 0;
    try {
      size = fs.statSync(CLAUDE_BIN).size; // follows the .bin link
    } catch {
      // not installed
    }
    return {
      missing: size > 1024 * 1024 ? undefined : 'the real Claude Code CLI is not installed (node_modules/.bin/claude missing, or its postinstall did not run)',
      fix: "npm ci (package.json's allowScripts lets its postinstall run)",
    };
  });
}

function docker(): Need {
  return once('docker', () => ({
    missing: runs(['docker', 'info']) ? undefined : 'no Docker engine reachable (docker info fails)',
    fix: 'install Docker (https://docs.docker.com/engine/install/) and run as a user who may use it',
  }));
}

function missingOf(list: Need[]): Need[] {
  return list.filter((n) => n.missing !== undefined);
}

function metaOf(missing: Need[]): Record<string, string> {
  return Object.fromEntries(missing.map((n) => [`${META_PREFIX}${n.id}`, `${n.missing}\t${n.fix}`]));
}

/** Options for describe/it: skipped, with the reasons recorded, when a need is missing. */
function needsOptions(...list: Need[]): TestOptions {
  const missing = missingOf(list);
  if (missing.length === 0) return {};
  return { skip: true, meta: metaOf(missing) as TestOptions['meta'] };
}

/** Inside a running test (a need that depends on the case, as with it.for): skip it now. */
function now(context: TestContext, ...list: Need[]): void {
  const missing = missingOf(list);
  if (missing.length === 0) return;
  Object.assign(context.task.meta, metaOf(missing));
  context.skip(missing.map((n) => n.missing).join('; '));
}

/** True when every need is there (for a fixture that only some cases can use). */
function have(...list: Need[]): boolean {
  return missingOf(list).length === 0;
}

export const needs = Object.assign(needsOptions, { root, tool, unshare, node, claude, docker, now, have });

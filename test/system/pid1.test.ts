/**
 * The bundle as a container's PID 1 (a new PID namespace from `unshare`), and as a plain
 * supervisor: signals reach the child exactly once, exit codes pass through, Node's
 * debugger never opens on SIGUSR1, and a Ctrl-C typed in a terminal is not doubled.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { BUNDLE, FAKE, baseEnv, credentialsJson, expectNoSecret, nodeBinary, runBundle, tempDir, type RunResult } from '../helpers.js';
import { PID_NAMESPACE, answersHttp, listeningPorts, namespaceInit, readLines, sleep, startProcess, waitFor } from './ns.js';
import { needs } from '../needs.js';

const SECRETS = [FAKE.accessToken, FAKE.refreshToken];

/**
 * Records every signal it gets, one line each, to argv[2]. SIGTERM is recorded, then
 * re-raised with the default action, so the child dies *of* SIGTERM. With `int-exits`, the
 * first SIGINT ends it the same way 400 ms later, leaving time for a duplicate to arrive.
 */
const SIGNAL_RECORDER = `
const fs = require('fs');
const [out, mode = ''] = process.argv.slice(2);
// Like Claude Code's full-screen UI: the terminal stops making signals of Ctrl-C.
if (mode.startsWith('raw')) {
  require('child_process').spawnSync('stty', ['-isig'], { stdio: ['inherit', 'ignore', 'ignore'] });
  fs.appendFileSync(out, 'ppid ' + process.ppid + '\\n');
}
const record = (s) => fs.appendFileSync(out, s + '\\n');
let ints = 0;
for (const s of ['SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH']) {
  process.on(s, () => {
    record(s);
    if (s === 'SIGINT' && mode.endsWith('int-exits') && ++ints === 1) {
      setTimeout(() => { process.removeAllListeners('SIGINT'); process.kill(process.pid, 'SIGINT'); }, 400);
    }
  });
}
process.on('SIGTERM', () => {
  record('SIGTERM');
  process.removeAllListeners('SIGTERM');
  process.kill(process.pid, 'SIGTERM');
});
record('ready');
setInterval(() => {}, 1000);
`;

interface Scene {
  dir: string;
  home: string;
  recorder: string;
  out: string;
  env: NodeJS.ProcessEnv;
}

function scene(): Scene {
  const dir = tempDir();
  const home = path.join(dir, 'home');
  fs.mkdirSync(home);
  const recorder = path.join(dir, 'recorder.js');
  fs.writeFileSync(recorder, SIGNAL_RECORDER);
  const env = baseEnv(home, { CLAUDE_CREDENTIALS_JSON: JSON.stringify(credentialsJson()) });
  return { dir, home, recorder, out: path.join(dir, 'signals'), env };
}

const recorderCommand = (s: Scene, mode = '') => ['--', process.execPath, s.recorder, s.out, ...(mode ? [mode] : [])];
const count = (lines: string[], signal: string) => lines.filter((l) => l === signal).length;
const errorLines = (r: RunResult) => r.stderr.split('\n').filter((l) => l.startsWith('claude-entry: error:'));
const PID1_HINT = /running as PID 1: orphaned processes will not be reaped; use `docker run --init`/;

async function untilRecorded(s: Scene, line: string, times = 1): Promise<void> {
  await waitFor(() => count(readLines(s.out), line) >= times, 30_000, `${line} in ${s.out}`);
}

/** Start bundle+recorder as PID 1 of a new PID namespace; resolve once the recorder is up. */
async function startAsPid1(s: Scene, node = process.execPath) {
  const started = startProcess([...PID_NAMESPACE, node, BUNDLE, ...recorderCommand(s)], {
    env: s.env,
    // A new session: no controlling terminal, whatever the test runner was started from.
    detached: true,
  });
  const init = await namespaceInit(started.pid);
  await untilRecorded(s, 'ready');
  return { ...started, init };
}

describe('as PID 1 of a PID namespace', needs(needs.unshare()), () => {
  it('forwards SIGTERM once and exits 143 when the child dies of it', async () => {
    const s = scene();
    const p = await startAsPid1(s);
    process.kill(p.init, 'SIGTERM');
    const r = await p.result;

    expect(r.code).toBe(143);
    expect(count(readLines(s.out), 'SIGTERM')).toBe(1);
    expect(r.stderr).toMatch(PID1_HINT);
    expect(r.stderr.match(new RegExp(PID1_HINT.source, 'g'))).toHaveLength(1);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
  });

  // Every supported Node: the shim supervises as PID 1 on all of them (no execve there).
  it.for([18, 20, 22, 24] as const)(
    'on Node %i, forwards SIGUSR1 without opening the debugger, and SIGINT, SIGHUP, SIGUSR2, SIGQUIT, SIGWINCH',
    async (major, ctx) => {
      needs.now(ctx, needs.node(major));
      const node = nodeBinary(major)!;
      const s = scene();
      const p = await startAsPid1(s, node);
      for (const signal of ['SIGUSR1', 'SIGINT', 'SIGHUP', 'SIGUSR2', 'SIGQUIT', 'SIGWINCH', 'SIGUSR1'] as const) {
        const before = count(readLines(s.out), signal);
        process.kill(p.init, signal);
        await untilRecorded(s, signal, before + 1);
      }
      // Anything that would have been a duplicate has had time to land.
      await sleep(100);
      process.kill(p.init, 'SIGTERM');
      const r = await p.result;

      expect(r.code).toBe(143);
      expect(readLines(s.out)).toEqual(['ready', 'SIGUSR1', 'SIGINT', 'SIGHUP', 'SIGUSR2', 'SIGQUIT', 'SIGWINCH', 'SIGUSR1', 'SIGTERM']);
      expect(r.stderr).not.toMatch(/Debugger listening|inspector/i);
      expectNoSecret(r.stdout + r.stderr, SECRETS);
    },
  );

  /**
   * A SIGUSR1 that lands while Node starts, before the bundle's first statement, makes Node open
   * its inspector (as root, on 127.0.0.1:9229). The shim closes it and parks the port Node would
   * open it on again: by the time the command runs, nothing of PID 1's answers. (Earlier still, before Node's own handler,
   * PID 1 of a namespace drops the signal.)
   */
  it.for([18, 20, 22, 24] as const)('on Node %i, closes an inspector a SIGUSR1 opened during start-up', needs(needs.tool('ss')), async (major, ctx) => {
    needs.now(ctx, needs.node(major));
    const node = nodeBinary(major)!;
    const s = scene();
    const started = startProcess([...PID_NAMESPACE, node, BUNDLE, ...recorderCommand(s)], { env: s.env, detached: true });
    const init = await namespaceInit(started.pid);
    process.kill(init, 'SIGUSR1');
    await untilRecorded(s, 'ready');
    await sleep(50);
    const ports = listeningPorts(init);
    const answered: number[] = [];
    for (const port of ports) if (await answersHttp(port)) answered.push(port);
    process.kill(init, 'SIGTERM');
    const r = await started.result;

    // What may listen: the socket the shim parks the inspector's port on, which never answers.
    expect(ports).not.toContain(9229);
    expect(ports.length).toBeLessThanOrEqual(1);
    expect(answered).toEqual([]);
    expect(r.code).toBe(143);
    expect(readLines(s.out)).toEqual(['ready', 'SIGTERM']);
    if (/Debugger listening/.test(r.stderr)) console.log(`Node ${major}: the SIGUSR1 landed before the shim's handler; inspector opened and closed`);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
  });

  it.each([
    ['exit 3', 3],
    ['exit 0', 0],
    ['kill -USR2 $$', 128 + 12],
    ['kill -KILL $$', 128 + 9],
    ['kill -TERM $$', 128 + 15],
  ])('passes the exit status through: sh -c "%s" -> %i', async (script, code) => {
    const s = scene();
    const r = await runBundle(['--', 'sh', '-c', script], { env: s.env, prefix: PID_NAMESPACE });
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(PID1_HINT);
    expect(errorLines(r)).toEqual([]);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
  });

  it.each([
    ['not on PATH', () => 'claude-entry-no-such-command', 127],
    ['a file without execute permission', (dir: string) => plainFile(dir), 126],
    ['a directory', (dir: string) => dir, 126],
  ])('fails clearly for a command %s', async (_what, command, code) => {
    const s = scene();
    const r = await runBundle(['--', command(s.dir), 'arg'], { env: s.env, prefix: PID_NAMESPACE });
    expect(r.code).toBe(code);
    expect(errorLines(r)).toHaveLength(1);
    expect(errorLines(r)[0]).toMatch(code === 127 ? /command not found/ : /cannot run/);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
  });

  // The command is resolved before any file is written: a typo in CMD leaves no credentials behind.
  it('writes nothing when the command cannot run', async () => {
    const s = scene();
    const r = await runBundle(['--', 'claude-entry-no-such-command'], { env: s.env, prefix: PID_NAMESPACE });
    expect(r.code).toBe(127);
    expect(fs.readdirSync(s.home)).toEqual([]);
  });
});

/** The status a shell would show: the code, or 128+N for death by signal N. */
function shellStatus(r: RunResult): number | null {
  return r.signal ? 128 + os.constants.signals[r.signal] : r.code;
}

function plainFile(dir: string): string {
  const file = path.join(dir, 'not-executable.sh');
  fs.writeFileSync(file, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
  return file;
}

describe('not PID 1, no terminal', () => {
  // Node 20 supervises; 22 and 24 replace themselves with the command (execve): either way
  // the command sees one SIGINT.
  it.for([18, 20, 22, 24] as const)('on Node %i, a kill -INT of the shim reaches the child once', async (major, ctx) => {
    needs.now(ctx, needs.node(major));
    const node = nodeBinary(major)!;
    const s = scene();
    const p = startProcess([node, BUNDLE, ...recorderCommand(s)], { env: s.env, detached: true });
    await untilRecorded(s, 'ready');
    process.kill(p.pid, 'SIGINT');
    await untilRecorded(s, 'SIGINT');
    await sleep(100);
    process.kill(p.pid, 'SIGTERM');
    const r = await p.result;

    expect(count(readLines(s.out), 'SIGINT')).toBe(1);
    // Supervising, the shim exits 143; after execve, the process *is* the child and dies of it.
    expect(shellStatus(r)).toBe(143);
    expect(r.stderr).not.toMatch(PID1_HINT);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
  });
});

describe('in a terminal (tmux)', needs(needs.tool('tmux')), () => {
  /**
   * Ctrl-C makes the kernel signal the terminal's whole foreground process group: the shim
   * and its child both. The shim must not forward it a second time.
   */
  // Node 20 has no process.execve: the shim stays and supervises. As PID 1 it always does.
  it.for([
    { what: 'supervising (Node 20)', prefix: [] as string[], node: () => nodeBinary(20)!, needs: [needs.node(20)] },
    { what: 'as PID 1 of a PID namespace', prefix: PID_NAMESPACE, node: () => process.execPath, needs: [needs.unshare()] },
  ])('one Ctrl-C is one SIGINT for the child, $what', async ({ prefix, node, needs: required }, ctx) => {
    needs.now(ctx, ...required);
    const s = scene();
    const tmux = tmuxServer(s.env);

    const rc = path.join(s.dir, 'rc');
    const stderr = path.join(s.dir, 'stderr');
    const argv = [...prefix, node(), BUNDLE, ...recorderCommand(s, 'int-exits')];
    const script = path.join(s.dir, 'run.sh');
    fs.writeFileSync(
      script,
      [
        // The pane's shell shares the foreground group: it must outlive the Ctrl-C to report.
        'trap : INT',
        ...Object.entries(s.env).map(([k, v]) => `export ${k}=${shellQuote(v ?? '')}`),
        `${argv.map(shellQuote).join(' ')} 2>${shellQuote(stderr)}`,
        `echo $? > ${shellQuote(rc)}`,
      ].join('\n'),
    );
    const started = tmux('new-session', '-d', '-s', 'test', '-x', '80', '-y', '24', `exec /bin/sh ${shellQuote(script)}`);
    expect(started.status, started.stderr?.toString()).toBe(0);
    await untilRecorded(s, 'ready');

    tmux('send-keys', '-t', 'test', 'C-c');
    await waitFor(() => fs.existsSync(rc) && fs.readFileSync(rc, 'utf8').endsWith('\n'), 30_000, 'the exit status');

    expect(count(readLines(s.out), 'SIGINT')).toBe(1);
    expect(fs.readFileSync(rc, 'utf8').trim()).toBe('130');
    expectNoSecret(fs.readFileSync(stderr, 'utf8'), SECRETS);
  });
});

// On Node 20 (no process.execve) the shim stays as the child's parent and must forward it.
describe('in a terminal whose ISIG is off (as Claude Code sets it)', needs(needs.tool('tmux'), needs.node(20)), () => {
  it('a SIGINT sent on purpose (docker kill -s INT) reaches the child once', async () => {
    const s = scene();
    const tmux = tmuxServer(s.env);
    const rc = path.join(s.dir, 'rc');
    const argv = [nodeBinary(20)!, BUNDLE, ...recorderCommand(s, 'raw-int-exits')];
    const script = path.join(s.dir, 'run.sh');
    fs.writeFileSync(
      script,
      [
        'trap : INT',
        ...Object.entries(s.env).map(([k, v]) => `export ${k}=${shellQuote(v ?? '')}`),
        `${argv.map(shellQuote).join(' ')} 2>/dev/null`,
        `echo $? > ${shellQuote(rc)}`,
      ].join('\n'),
    );
    expect(tmux('new-session', '-d', '-s', 'test', '-x', '80', '-y', '24', `exec /bin/sh ${shellQuote(script)}`).status).toBe(0);
    await untilRecorded(s, 'ready');
    const shim = Number(
      readLines(s.out)
        .find((l) => l.startsWith('ppid '))!
        .slice(5),
    );
    process.kill(shim, 'SIGINT');
    await waitFor(() => fs.existsSync(rc) && fs.readFileSync(rc, 'utf8').endsWith('\n'), 30_000, 'the exit status');
    expect(count(readLines(s.out), 'SIGINT')).toBe(1);
    expect(fs.readFileSync(rc, 'utf8').trim()).toBe('130');
  });
});

/** A private tmux server (its own -L socket), killed and its socket removed when the test ends. */
function tmuxServer(env: NodeJS.ProcessEnv): (...args: string[]) => ReturnType<typeof spawnSync> {
  const socket = `claude-entry-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const tmux = (...args: string[]) => spawnSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { env });
  onTestFinished(() => {
    tmux('kill-server');
    // The server leaves its socket behind when its last pane has exited on its own.
    fs.rmSync(path.join(process.env.TMUX_TMPDIR ?? '/tmp', `tmux-${process.getuid!()}`, socket), { force: true });
  });
  return tmux;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

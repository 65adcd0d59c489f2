/**
 * The bundle on every supported Node: 18, 20, 22 and 24. Where process.execve exists
 * (22.15+ / 23.11+) the shim replaces itself with the command, so the command has the
 * bundle's pid; elsewhere it supervises, so the command is its child. A missing or
 * non-executable command is refused before execve (a failed execve aborts Node with 134).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLE, FAKE, ROOT, baseEnv, expectNoSecret, nodeBinary, runBundle, tempDir } from '../helpers';
import { needs } from '../needs';

const VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;

/** What the contract says each Node does: exec where process.execve exists. */
function hasExecve(version: string): boolean {
  const [major, minor] = version.replace(/^v/, '').split('.').map(Number) as [number, number];
  return major >= 24 || (major === 23 && minor >= 11) || (major === 22 && minor >= 15);
}

interface Spawned {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Like runBundle, but also gives the pid of the process it started. */
function spawnBundle(node: string, args: string[], env: NodeJS.ProcessEnv): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [BUNDLE, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ pid: child.pid!, code, signal, stdout, stderr });
    });
  });
}

for (const major of [18, 20, 22, 24] as const) {
  const node = nodeBinary(major);
  const version = node ? spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim() : '';
  const execs = version.startsWith(`v${major}.`) && hasExecve(version);

  describe(`Node ${major} (${version || 'binary missing'})`, needs(needs.node(major)), () => {
    const tokenEnv = (home: string, extra: NodeJS.ProcessEnv = {}) => baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken, ...extra });

    it('prints its version', async () => {
      const r = await runBundle(['--version'], { node, env: baseEnv(tempDir()) });
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe(`claude-entry ${VERSION}`);
      expect(r.code).toBe(0);
    });

    it("runs the command with the token in its environment and exits with the command's code", async () => {
      const home = tempDir();
      const r = await runBundle(['--', 'sh', '-c', 'printf "%s" "$CLAUDE_CODE_OAUTH_TOKEN"; exit 7'], {
        node,
        env: tokenEnv(home),
      });
      expect(r.code, r.stderr).toBe(7);
      expect(r.stdout).toBe(FAKE.oauthToken);
      expectNoSecret(r.stderr, [FAKE.oauthToken]);
      expect(r.stderr).toMatch(/OAuth token from CLAUDE_CODE_OAUTH_TOKEN/);
      expect(fs.existsSync(path.join(home, '.claude.json'))).toBe(true);
    });

    it(
      execs
        ? 'replaces itself with the command (process.execve): the command has its pid'
        : 'supervises the command (no process.execve): the command is its child',
      async () => {
        // $$ is the command's pid, $PPID its parent's.
        const r = await spawnBundle(node!, ['--', 'sh', '-c', 'echo "$$ $PPID"'], tokenEnv(tempDir()));
        expect(r.code, r.stderr).toBe(0);
        const [pid, ppid] = r.stdout.trim().split(' ').map(Number);
        if (execs) {
          expect(pid).toBe(r.pid);
          expect(ppid).toBe(process.pid);
        } else {
          expect(pid).not.toBe(r.pid);
          expect(ppid).toBe(r.pid);
        }
      },
    );

    it('starts the command with the signal dispositions and mask it would have had if started directly', async () => {
      // Node ignores SIGPIPE and SIGXFSZ; execve keeps ignored signals ignored (spawn resets
      // them), and a shell cannot undo an ignore it inherited: `yes | head -1` would then
      // print "Broken pipe" errors instead of ending quietly.
      const probe = 'grep -E "^Sig(Ign|Blk):" /proc/self/status';
      const direct = spawnSync('sh', ['-c', probe], { encoding: 'utf8' }).stdout;
      const r = await runBundle(['--', 'sh', '-c', probe], { node, env: tokenEnv(tempDir()) });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(direct);
    });

    it('exits 127 for a command not found, on PATH or by path, before any execve', async () => {
      for (const command of ['claude-entry-no-such-command', '/claude-entry-no-such-dir/claude-entry-command']) {
        const r = await runBundle(['--', command], { node, env: tokenEnv(tempDir()) });
        expect(r.signal).toBeNull();
        expect(r.code, r.stderr).toBe(127);
        expect(r.stderr).toMatch(/command not found/);
        expect(r.stderr).not.toMatch(/Aborted|core dumped|ENOENT.*execve/i);
      }
    });

    it('exits 126 for a file that is not executable, before any execve', async () => {
      const dir = tempDir();
      const script = path.join(dir, 'not-executable.sh');
      fs.writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
      const r = await runBundle(['--', script], { node, env: tokenEnv(dir) });
      expect(r.signal).toBeNull();
      expect(r.code, r.stderr).toBe(126);
    });
  });
}

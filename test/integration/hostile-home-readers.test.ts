/**
 * Class 4 of issue 8 for `check` and `doctor`, which HEALTHCHECK runs as root: whatever the
 * target user put at the files they read in its home (a FIFO, a link to /dev/zero, a device,
 * a huge file), they neither hang nor grow, and say what is wrong. Through the built bundle,
 * each run guarded by a timeout far above its normal time (a hang shows as a kill).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { needs } from '../needs.js';
import { FAKE, baseEnv, credentialsJson, expectNoSecret, runBundle, tempDir } from '../helpers.js';

const NOBODY = 65534;

type Plant = (file: string) => void;
const PLANTS: [string, Plant][] = [
  ['a FIFO', (f) => execFileSync('mkfifo', [f])],
  ['a symbolic link to /dev/zero', (f) => fs.symlinkSync('/dev/zero', f)],
  [
    'a symbolic link to a FIFO',
    (f) => {
      execFileSync('mkfifo', [`${f}.fifo`]);
      fs.symlinkSync(`${f}.fifo`, f);
    },
  ],
  ["a character device (/dev/zero's numbers)", (f) => execFileSync('mknod', [f, 'c', '1', '5'])],
  ['a 64 MB file', (f) => fs.writeFileSync(f, Buffer.alloc(64 * 1024 * 1024, 0x20))],
];

/** A home owned by the target user, logged in, with `name` in ~/.claude replaced by `plant`. */
function hostileHome(name: string, plant: Plant): string {
  const dir = tempDir();
  fs.chmodSync(dir, 0o755);
  const home = path.join(dir, 'home');
  const config = path.join(home, '.claude');
  fs.mkdirSync(config, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(config, '.credentials.json'), JSON.stringify(credentialsJson()), { mode: 0o600 });
  fs.writeFileSync(
    path.join(config, '.claude-entry-state.json'),
    JSON.stringify({ source: 'CLAUDE_CREDENTIALS_B64', kind: 'credentials-json', deliveredAs: 'x', startedAt: new Date().toISOString(), version: 't' }),
    { mode: 0o600 },
  );
  const target = path.join(config, name);
  fs.rmSync(target, { force: true });
  plant(target);
  for (const p of [home, config, ...fs.readdirSync(config).map((f) => path.join(config, f))]) fs.lchownSync(p, NOBODY, NOBODY);
  return home;
}

// check and doctor run as root by HEALTHCHECK: these plant what the user could, as root.
describe('as root', needs(needs.root()), () => {
  describe.each([
    ['the state file', '.claude-entry-state.json'],
    ['the credentials file', '.credentials.json'],
  ])('%s replaced by the user', (_what, name) => {
    it.each(PLANTS)('%s: check and doctor as root finish, bounded, and say so', async (_plant, plant) => {
      const home = hostileHome(name, plant);
      for (const args of [['check'], ['check', '--json'], ['doctor']]) {
        const r = await runBundle(args, { env: baseEnv(home), timeoutMs: 20_000 });
        expect(r.signal).toBeNull(); // killed by the guard: it hung, or grew until it was slow
        expect([0, 1]).toContain(r.code);
        expectNoSecret(r.stdout + r.stderr, Object.values(FAKE));
        if (name === '.credentials.json') {
          expect(r.code).toBe(1);
          expect(r.stdout).toMatch(/is a symbolic link, which is not followed here|is not a regular file|more than a credential can be/);
        }
      }
      // The state file is optional: check still reports on the login.
      if (name === '.claude-entry-state.json') {
        const r = await runBundle(['check'], { env: baseEnv(home), timeoutMs: 20_000 });
        expect(r.stdout).toMatch(/OAuth login \(max\)/);
      }
    });
  });

  it("CLAUDE_CONFIG_DIR's parent on the user's volume swapped for a link to a root directory: check and doctor as root read nothing through it", async () => {
    const dir = tempDir();
    fs.chmodSync(dir, 0o755);
    const rootDir = path.join(dir, 'root-only');
    fs.mkdirSync(path.join(rootDir, 'claude'), { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(rootDir, 'claude', '.credentials.json'), JSON.stringify(credentialsJson({ subscriptionType: 'rootonly' })), { mode: 0o600 });
    fs.writeFileSync(
      path.join(rootDir, 'claude', '.claude-entry-state.json'),
      JSON.stringify({ source: 'ROOT-ONLY-SOURCE', kind: 'credentials-json', deliveredAs: 'x', startedAt: 'ROOT-ONLY-TIME', version: 't' }),
      { mode: 0o600 },
    );
    // The user's volume (/data, say), where the deployment points CLAUDE_CONFIG_DIR at /data/u/claude.
    const volume = path.join(dir, 'data');
    fs.mkdirSync(volume);
    fs.symlinkSync(rootDir, path.join(volume, 'u'));
    for (const p of [volume, path.join(volume, 'u')]) fs.lchownSync(p, NOBODY, NOBODY);
    const env = baseEnv(dir, { CLAUDE_ENTRY_USER: 'nobody', CLAUDE_CONFIG_DIR: path.join(volume, 'u', 'claude') });
    for (const args of [['check'], ['check', '--json'], ['doctor']]) {
      const r = await runBundle(args, { env, timeoutMs: 20_000 });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout + r.stderr).not.toMatch(/rootonly|ROOT-ONLY|expires in|expiresAt|refresh token/);
      expectNoSecret(r.stdout + r.stderr, Object.values(FAKE));
    }
  });

  describe('~/.claude swapped for a link to a directory root keeps', () => {
    it('check and doctor as root read nothing through it', async () => {
      const dir = tempDir();
      fs.chmodSync(dir, 0o755);
      // Root's own login, in a directory only root can read.
      const rootDir = path.join(dir, 'root-claude');
      fs.mkdirSync(rootDir, { mode: 0o700 });
      fs.writeFileSync(path.join(rootDir, '.credentials.json'), JSON.stringify(credentialsJson({ subscriptionType: 'rootonly' })), { mode: 0o600 });
      fs.writeFileSync(
        path.join(rootDir, '.claude-entry-state.json'),
        JSON.stringify({ source: 'ROOT-ONLY-SOURCE', kind: 'credentials-json', deliveredAs: 'x', startedAt: 'ROOT-ONLY-TIME', version: 't' }),
        { mode: 0o600 },
      );
      const home = path.join(dir, 'home');
      fs.mkdirSync(home, { mode: 0o700 });
      fs.symlinkSync(rootDir, path.join(home, '.claude'));
      for (const p of [home, path.join(home, '.claude')]) fs.lchownSync(p, NOBODY, NOBODY);

      const check = await runBundle(['check'], { env: baseEnv(home), timeoutMs: 20_000 });
      expect(check.code).toBe(1);
      expect(check.stdout).toMatch(/is reached through a symbolic link below/);
      const doctor = await runBundle(['doctor'], { env: baseEnv(home), timeoutMs: 20_000 });
      expect(doctor.stdout).toMatch(/is reached through a symbolic link below/);
      for (const out of [check.stdout + check.stderr, doctor.stdout + doctor.stderr]) {
        expect(out).not.toMatch(/rootonly|ROOT-ONLY|expires in/);
        expectNoSecret(out, Object.values(FAKE));
      }
    });
  });
});

/**
 * The threat model (DESIGN.md), tried the way an attacker and an unlucky operator would:
 * the shim runs as root, the target user `agent` (1000:1000, real uid via made-up
 * /etc/passwd bound in a private mount namespace) owns its home and runs processes that race
 * the start; the disk is nearly full; the deployment has a typo. Every case goes through the
 * built bundle.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { needs, nodeBinaryOf } from '../needs.js';
import { FAKE, b64, baseEnv, credentialsJson, expectNoSecret, fileMode, tempDir } from '../helpers.js';
import { AGENT, agentWorld, answersHttp, listeningPorts, runInWorld as run, startProcess, waitFor, writeUserDatabase, type AgentWorld } from './ns.js';

const SECRETS = [FAKE.accessToken, FAKE.refreshToken, FAKE.apiKey, FAKE.oauthToken];

type World = AgentWorld;

/** agent as CLAUDE_ENTRY_USER, the login in CLAUDE_CREDENTIALS_JSON. */
function world(options: { groupLines?: string[]; homeField?: string } = {}): World {
  return agentWorld({ ...options, env: { CLAUDE_ENTRY_USER: 'agent', CLAUDE_CREDENTIALS_JSON: JSON.stringify(credentialsJson()) } });
}

/** Every path under dir with owner, mode, link count and content hash: proves nothing changed. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    const content = st.isFile() ? fs.readFileSync(p).toString('base64') : st.isSymbolicLink() ? fs.readlinkSync(p) : '';
    out.push(`${path.relative(dir, p) || '.'} ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)} n${st.nlink} ${content}`);
    if (st.isDirectory()) for (const name of fs.readdirSync(p).sort()) walk(path.join(p, name));
  };
  walk(dir);
  return out;
}

/** A directory root owns and the user must never touch: the target of every planted link. */
function victim(w: World): string {
  const dir = path.join(w.dir, 'victim');
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(path.join(dir, 'keep'), 'root data\n', { mode: 0o644 });
  fs.writeFileSync(path.join(dir, '.credentials.json'), JSON.stringify({ root: 'only' }), { mode: 0o600 });
  return dir;
}

/** renameat2(RENAME_EXCHANGE) in a loop, as the target user: swaps two names atomically. */
const RACER = `
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = sys.argv[1].encode(), sys.argv[2].encode()
n = 0
while True:
    libc.renameat2(-100, a, -100, b, 2)
    n += 1
    if n == 1:
        print("racing", flush=True)
`;

function startRacer(a: string, b: string) {
  const racer = spawn('setpriv', [`--reuid=${AGENT.uid}`, `--regid=${AGENT.gid}`, '--clear-groups', '/usr/bin/python3', '-c', RACER, a, b], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  onTestFinished(() => void racer.kill('SIGKILL'));
  return new Promise<typeof racer>((resolve, reject) => {
    racer.stdout.once('data', () => resolve(racer));
    racer.once('exit', (code) => reject(new Error(`racer exited ${code}`)));
  });
}

function asAgentSync(fn: () => void): void {
  // The planting a user would do: created with the user's uid, as in a real home.
  const euid = process.geteuid!();
  process.setegid!(AGENT.gid);
  process.seteuid!(AGENT.uid);
  try {
    fn();
  } finally {
    process.seteuid!(euid);
    process.setegid!(0);
  }
}

describe('hardening: root over a home the user controls', needs(needs.root(), needs.unshare(), needs.tool('setpriv'), needs.tool('ss')), () => {
  describe('class 1: short writes on a nearly full disk', () => {
    function smallDisk(w: World, kib: number): string {
      const mnt = path.join(w.dir, 'small');
      fs.mkdirSync(mnt);
      const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k,mode=0755`, 'tmpfs', mnt]);
      if (m.status !== 0) throw new Error(`mount tmpfs: ${m.stderr}`);
      onTestFinished(() => void spawnSync('umount', ['-l', mnt]));
      const home = path.join(mnt, 'agent');
      fs.mkdirSync(home);
      fs.chownSync(home, AGENT.uid, AGENT.gid);
      return home;
    }

    function fill(dir: string, leaveBytes: number): void {
      const free = () => {
        const s = fs.statfsSync(dir);
        return s.bavail * s.bsize;
      };
      const filler = path.join(dir, 'filler');
      fs.writeFileSync(filler, Buffer.alloc(Math.max(0, free() - leaveBytes)));
    }

    it('a .claude.json that no longer fits: exit 73, the old file whole, no temp file', async () => {
      const w = world();
      const home = smallDisk(w, 512);
      const projects: Record<string, unknown> = {};
      for (let i = 0; i < 1500; i++) projects[`/workspace/project-${i}`] = { hasTrustDialogAccepted: false, history: [] };
      const old = JSON.stringify({ projects, numStartups: 7 }, null, 2) + '\n';
      fs.writeFileSync(path.join(home, '.claude.json'), old, { mode: 0o600 });
      fs.chownSync(path.join(home, '.claude.json'), AGENT.uid, AGENT.gid);
      fill(home, 16 * 1024); // room for the credentials, not for a second .claude.json
      const before = fs.readFileSync(path.join(home, '.claude.json'), 'utf8');
      const users = writeUserDatabase(path.join(w.dir, 'etc'), [`agent:x:1000:1000::${home}:/bin/sh`], ['agent:x:1000:']);
      const r = await run({ ...w, users }, ['--', '/bin/true']);
      expect(r.code, r.stderr).toBe(73);
      expect(r.stderr).toMatch(/no space left on device/);
      expect(fs.readFileSync(path.join(home, '.claude.json'), 'utf8')).toBe(before);
      expect(fs.readdirSync(home).sort()).toEqual(['.claude.json', 'filler']); // no .claude, no temp file
      expectNoSecret(r.stdout + r.stderr, SECRETS);
    });

    it('a new login that no longer fits: exit 73, the old login whole, no temp file', async () => {
      const w = world();
      const home = smallDisk(w, 256);
      const config = path.join(home, '.claude');
      fs.mkdirSync(config, { mode: 0o700 });
      fs.chownSync(config, AGENT.uid, AGENT.gid);
      const oldLogin = JSON.stringify(credentialsJson({ accessToken: `${FAKE.accessToken}-OLD`, expiresAt: Date.now() - 1000 }), null, 2) + '\n';
      fs.writeFileSync(path.join(config, '.credentials.json'), oldLogin, { mode: 0o600 });
      fs.chownSync(path.join(config, '.credentials.json'), AGENT.uid, AGENT.gid);
      fill(home, 0);
      const users = writeUserDatabase(path.join(w.dir, 'etc'), [`agent:x:1000:1000::${home}:/bin/sh`], ['agent:x:1000:']);
      const r = await run({ ...w, users }, ['--', '/bin/true']);
      expect(r.code, r.stderr).toBe(73);
      expect(fs.readFileSync(path.join(config, '.credentials.json'), 'utf8')).toBe(oldLogin);
      expect(fs.readdirSync(config)).toEqual(['.credentials.json']);
      expect(fs.readdirSync(home).sort()).toEqual(['.claude', 'filler']);
    });
  });

  describe('class 1 and 11: a start that fails leaves nothing new', () => {
    it('a home that does not exist yet, on a full disk: 73, and the directories it made are removed again', async () => {
      const w = world();
      const mnt = path.join(w.dir, 'full');
      fs.mkdirSync(mnt);
      expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', mnt]).status).toBe(0);
      onTestFinished(() => void spawnSync('umount', ['-l', mnt]));
      fs.writeFileSync(path.join(mnt, 'filler'), Buffer.alloc(0));
      try {
        for (;;) fs.appendFileSync(path.join(mnt, 'filler'), Buffer.alloc(4096));
      } catch {
        // full
      }
      const home = path.join(mnt, 'agent');
      const users = writeUserDatabase(path.join(w.dir, 'etc'), [`agent:x:1000:1000::${home}:/bin/sh`], ['agent:x:1000:']);
      const r = await run({ ...w, users }, ['--', '/bin/true']);
      expect(r.code, r.stderr).toBe(73);
      expect(fs.readdirSync(mnt)).toEqual(['filler']);
    });
  });

  describe('class 2: links and hard links swapped in while root works', () => {
    /**
     * agent makes ~/NAME (`make`) and a link ~/NAME-swap to `linkTo(victim)`, then swaps the two
     * in a loop. Each start of the race must exit 0 or 73, print no secret, and leave the victim
     * as it was.
     */
    async function raceInHome(name: string, make: (real: string) => void, linkTo: (victim: string) => string) {
      const w = world();
      const target = victim(w);
      const before = snapshot(target);
      const real = path.join(w.home, name);
      const link = path.join(w.home, `${name}-swap`);
      asAgentSync(() => {
        make(real);
        fs.symlinkSync(linkTo(target), link);
      });
      await startRacer(real, link);
      return async function startDuringRace() {
        const r = await run(w, ['--', '/bin/true']);
        expect([0, 73], r.stderr).toContain(r.code);
        expectNoSecret(r.stdout + r.stderr, SECRETS);
        expect(snapshot(target)).toEqual(before);
        return r;
      };
    }

    it('~/.claude swapped with a link to a root directory in a loop: root never changes or creates anything there', async () => {
      const start = await raceInHome(
        '.claude',
        (real) => fs.mkdirSync(real, { mode: 0o700 }),
        (target) => target,
      );
      const codes = new Map<number | null, number>();
      const deadline = Date.now() + 12_000;
      let starts = 0;
      while (starts < 60 && (Date.now() < deadline || starts < 10)) {
        const r = await start();
        codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
        starts++;
      }
      console.log(`~/.claude race: ${starts} starts, exit codes ${JSON.stringify([...codes])}`);
    });

    it('~/.claude.json swapped with a link to a root file in a loop: the root file never changes', async () => {
      const start = await raceInHome(
        '.claude.json',
        (real) => fs.writeFileSync(real, '{"numStartups": 1}\n', { mode: 0o600 }),
        (target) => path.join(target, 'keep'),
      );
      for (let i = 0; i < 25; i++) await start();
    });

    it('a hard link to a root file as the credentials in place is never chmodded, chowned or rewritten', async () => {
      const w = world();
      const target = victim(w);
      const config = path.join(w.home, '.claude');
      asAgentSync(() => fs.mkdirSync(config, { mode: 0o700 }));
      // What protected_hardlinks=0 would let the user do; made here by root for the test.
      const rootLogin = path.join(target, 'root-login.json');
      fs.writeFileSync(rootLogin, JSON.stringify(credentialsJson()), { mode: 0o640 });
      fs.linkSync(rootLogin, path.join(config, '.credentials.json'));
      const before = snapshot(target);
      const inPlace = await run({ ...w, env: { ...w.env, CLAUDE_CREDENTIALS_JSON: undefined } }, ['--', '/bin/true']);
      // Unreadable by the user (78), or readable but hard-linked (73): either way left alone.
      expect([73, 78], inPlace.stderr).toContain(inPlace.code);
      expect(snapshot(target)).toEqual(before);
      // A new login replaces the link by rename: the root file keeps its content and mode.
      const copied = await run(w, ['--', '/bin/true']);
      expect(copied.code, copied.stderr).toBe(0);
      // The link in the home was replaced (the root file has one link less), nothing else.
      expect(snapshot(target)).toEqual(before.map((line) => line.replace(/^(root-login\.json .*) n2 /, '$1 n1 ')));
      expect(fs.statSync(path.join(config, '.credentials.json')).uid).toBe(AGENT.uid);
    });
  });

  describe("class 3: directories that are not the shim's to take", () => {
    it.each([
      [
        'a 1777 scratch dir',
        (w: World) => {
          const d = path.join(w.dir, 'scratch');
          fs.mkdirSync(d);
          fs.chmodSync(d, 0o1777);
          return d;
        },
      ],
      [
        'a root-owned shared volume',
        (w: World) => {
          const d = path.join(w.dir, 'volume');
          fs.mkdirSync(d, { mode: 0o755 });
          fs.writeFileSync(path.join(d, 'data'), 'x');
          return d;
        },
      ],
      [
        "another user's directory",
        (w: World) => {
          const d = path.join(w.dir, 'other');
          fs.mkdirSync(d, { mode: 0o750 });
          fs.chownSync(d, 1003, 1003);
          return d;
        },
      ],
    ])('CLAUDE_CONFIG_DIR at %s: exit 73 with the fix, nothing changed', async (_name, make) => {
      const w = world();
      const dir = make(w);
      const before = snapshot(dir);
      const homeBefore = snapshot(w.home);
      const r = await run({ ...w, env: { ...w.env, CLAUDE_CONFIG_DIR: dir } }, ['--', '/bin/true']);
      expect(r.code, r.stderr).toBe(73);
      expect(r.stderr).toMatch(/only takes over a directory it created or one the user owns/);
      expect(
        r.stderr
          .trim()
          .split('\n')
          .filter((l) => l.includes('error')),
      ).toHaveLength(1);
      expect(snapshot(dir)).toEqual(before);
      expect(snapshot(w.home)).toEqual(homeBefore);
    });

    it('CLAUDE_CONFIG_DIR=/etc is refused and /etc is untouched', async () => {
      const w = world();
      const before = fs.statSync('/etc');
      const r = await run({ ...w, env: { ...w.env, CLAUDE_CONFIG_DIR: '/etc' } }, ['--', '/bin/true']);
      expect(r.code, r.stderr).toBe(73);
      const after = fs.statSync('/etc');
      expect([after.uid, after.mode]).toEqual([before.uid, before.mode]);
      expect(fs.existsSync('/etc/.credentials.json')).toBe(false);
    });

    it('a CLAUDE_CONFIG_DIR that does not exist yet is created for the user; one the user owns is used', async () => {
      const w = world();
      const fresh = path.join(w.dir, 'srv', 'claude');
      const r = await run({ ...w, env: { ...w.env, CLAUDE_CONFIG_DIR: fresh } }, ['--', '/bin/true']);
      expect(r.code, r.stderr).toBe(0);
      expect(fs.statSync(fresh).uid).toBe(AGENT.uid);
      expect(fileMode(fresh)).toBe(0o700);
      expect(fs.statSync(path.join(fresh, '.credentials.json')).uid).toBe(AGENT.uid);
      const owned = path.join(w.dir, 'owned');
      fs.mkdirSync(owned, { mode: 0o755 });
      fs.chownSync(owned, AGENT.uid, AGENT.gid);
      const again = await run({ ...w, env: { ...w.env, CLAUDE_CONFIG_DIR: owned } }, ['--', '/bin/true']);
      expect(again.code, again.stderr).toBe(0);
      expect(fileMode(owned)).toBe(0o700);
    });

    it('not root, CLAUDE_CONFIG_DIR at a shared 0777 volume (a Kubernetes emptyDir): used as it is, its mode left alone', async () => {
      const w = world();
      const shared = path.join(w.dir, 'shared');
      fs.mkdirSync(shared);
      fs.chmodSync(shared, 0o777);
      const r = await run({ ...w, env: { ...w.env, CLAUDE_ENTRY_USER: undefined, HOME: w.home, CLAUDE_CONFIG_DIR: shared } }, ['--', '/bin/true'], {
        asAgent: true,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(fileMode(shared)).toBe(0o777);
      expect(fs.statSync(path.join(shared, '.credentials.json')).uid).toBe(AGENT.uid);
    });

    it('not root, a home on a read-only mount (--read-only without a tmpfs): 73 that says the file system is read-only', async () => {
      const w = world();
      const r = await run({ ...w, env: { ...w.env, CLAUDE_ENTRY_USER: undefined, HOME: w.home } }, ['--', '/bin/true'], {
        asAgent: true,
        mounts: [{ bind: w.home, at: w.home, readOnly: true }],
      });
      expect(r.code, r.stderr).toBe(73);
      expect(r.stderr).toMatch(/read-only file system/);
    });

    it.each([
      ['a relative CLAUDE_CONFIG_DIR', { CLAUDE_CONFIG_DIR: 'claude-config' }, undefined, /CLAUDE_CONFIG_DIR must be an absolute path/],
      ['an empty home field in passwd', {}, '', /home is empty/],
      ['a relative home in passwd', {}, 'home/agent', /not an absolute path/],
    ])('%s is a configuration error (78), nothing written', async (_name, env, homeField, message) => {
      const w = world({ homeField });
      const before = snapshot(w.dir);
      const r = await run({ ...w, env: { ...w.env, ...env } }, ['--', '/bin/true'], { cwd: w.dir });
      expect(r.code, r.stderr).toBe(78);
      expect(r.stderr).toMatch(message);
      expect(snapshot(w.dir)).toEqual(before);
    });
  });

  describe('class 4: files that block or never end', () => {
    it.each([
      ['a FIFO at ~/.claude.json', (w: World) => spawnSync('mkfifo', [path.join(w.home, '.claude.json')])],
      [
        'a FIFO at ~/.claude/.credentials.json (in place)',
        (w: World) => {
          fs.mkdirSync(path.join(w.home, '.claude'), { mode: 0o700 });
          fs.chownSync(path.join(w.home, '.claude'), AGENT.uid, AGENT.gid);
          spawnSync('mkfifo', [path.join(w.home, '.claude', '.credentials.json')]);
        },
      ],
      [
        'a 100 GB sparse file at ~/.claude.json',
        (w: World) => {
          fs.writeFileSync(path.join(w.home, '.claude.json'), '');
          fs.truncateSync(path.join(w.home, '.claude.json'), 100 * 1024 ** 3);
        },
      ],
      ['a directory at ~/.claude.json', (w: World) => fs.mkdirSync(path.join(w.home, '.claude.json'))],
      [
        'a socket at ~/.claude.json',
        (w: World) => {
          spawnSync('python3', ['-c', `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(path.join(w.home, '.claude.json'))})`]);
        },
      ],
    ])('%s: the start ends at once with an error, no hang', async (_name, plant) => {
      const w = world();
      plant(w);
      const r = await run(w, ['--', '/bin/true'], { timeoutMs: 20_000 });
      expect(r.signal).toBeNull();
      expect([73, 0], r.stderr).toContain(r.code);
      if (r.code === 73) expect(r.stderr).toMatch(/not a regular file|larger than/);
      expect(r.stderr.split('\n').filter((l) => l.includes('error'))).toHaveLength(r.code === 73 ? 1 : 0);
    });

    it('not root, ~/.claude.json a link to /dev/zero: an error, not a read that never ends', async () => {
      const w = world();
      asAgentSync(() => fs.symlinkSync('/dev/zero', path.join(w.home, '.claude.json')));
      const r = await run({ ...w, env: { ...w.env, CLAUDE_ENTRY_USER: undefined, HOME: w.home } }, ['--', '/bin/true'], {
        asAgent: true,
        timeoutMs: 20_000,
      });
      expect(r.signal).toBeNull();
      expect(r.code, r.stderr).toBe(73);
      expect(r.stderr).toMatch(/not a regular file \(a character device\)/);
    });
  });

  describe('class 5: a file source where the user can write', () => {
    function sourceDir(w: World): string {
      const dir = path.join(w.dir, 'shared');
      fs.mkdirSync(dir, { mode: 0o755 });
      fs.chownSync(dir, AGENT.uid, AGENT.gid);
      return dir;
    }

    it.each([
      [
        'the file replaced by a link to a root-only file',
        (_w: World, dir: string, secret: string) => asAgentSync(() => fs.symlinkSync(secret, path.join(dir, 'login.json'))),
      ],
      [
        'its directory replaced by a link to a root-only directory',
        (_w: World, dir: string, secret: string) => asAgentSync(() => fs.symlinkSync(path.dirname(secret), path.join(dir, 'sub'))),
      ],
    ])('%s: refused (78), the root file never installed', async (_name, plant) => {
      const w = world();
      const dir = sourceDir(w);
      const rootOnly = path.join(w.dir, 'root-only');
      fs.mkdirSync(rootOnly, { mode: 0o700 });
      const rootLogin = credentialsJson({ accessToken: `${FAKE.accessToken}-ROOT` });
      fs.writeFileSync(path.join(rootOnly, 'login.json'), JSON.stringify(rootLogin), { mode: 0o600 });
      plant(w, dir, path.join(rootOnly, 'login.json'));
      const source = fs.existsSync(path.join(dir, 'sub')) ? path.join(dir, 'sub', 'login.json') : path.join(dir, 'login.json');
      const r = await run({ ...w, env: { ...w.env, CLAUDE_CREDENTIALS_JSON: undefined, CLAUDE_ENTRY_SOURCE: source } }, ['--', '/bin/true']);
      expect(r.code, r.stderr).toBe(78);
      expect(r.stderr).toMatch(/read with that user's rights/);
      expect(fs.existsSync(path.join(w.home, '.claude', '.credentials.json'))).toBe(false);
      expectNoSecret(r.stdout + r.stderr, [`${FAKE.accessToken}-ROOT`]);
    });

    it('a source the user can write and read is used (sync push needs one)', async () => {
      const w = world();
      const dir = sourceDir(w);
      const source = path.join(dir, 'login.json');
      asAgentSync(() => fs.writeFileSync(source, JSON.stringify(credentialsJson()), { mode: 0o600 }));
      const r = await run({ ...w, env: { ...w.env, CLAUDE_CREDENTIALS_JSON: undefined, CLAUDE_ENTRY_SOURCE: source } }, ['--', '/bin/true']);
      expect(r.code, r.stderr).toBe(0);
    });

    it('a root-only mounted secret in a root directory is still read as root (Kubernetes ..data links too)', async () => {
      const w = world();
      const secrets = path.join(w.dir, 'secrets');
      fs.mkdirSync(path.join(secrets, '..2026_data'), { recursive: true, mode: 0o755 });
      fs.writeFileSync(path.join(secrets, '..2026_data', 'credentials'), JSON.stringify(credentialsJson()), { mode: 0o400 });
      fs.symlinkSync('..2026_data', path.join(secrets, '..data'));
      fs.symlinkSync('..data/credentials', path.join(secrets, 'credentials'));
      const r = await run({ ...w, env: { ...w.env, CLAUDE_CREDENTIALS_JSON: undefined, CLAUDE_CREDENTIALS_FILE: path.join(secrets, 'credentials') } }, [
        '--',
        '/bin/true',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(fs.statSync(path.join(w.home, '.claude', '.credentials.json')).uid).toBe(AGENT.uid);
    });
  });

  describe('class 7: the inspector', () => {
    it('SIGUSR1 storms during a slow cloud fetch never open a listening inspector', async () => {
      // A "secrets manager" that accepts and never answers: the fetch waits for its deadline.
      const sockets: net.Socket[] = [];
      const server = net.createServer((s) => sockets.push(s));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      onTestFinished(() => {
        for (const s of sockets) s.destroy();
        server.close();
      });
      const port = (server.address() as net.AddressInfo).port;
      const dir = tempDir();
      const started = startProcess([process.execPath, path.resolve(__dirname, '../../dist/claude-entry'), '--', '/bin/true'], {
        env: baseEnv(dir, {
          CLAUDE_ENTRY_SOURCE: 'aws-sm:claude',
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKE0001',
          AWS_SECRET_ACCESS_KEY: 'fakeSecretAccessKey/0000/0000/0000/0000+00',
          AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${port}`,
          CLAUDE_ENTRY_TIMEOUT: '4s',
        }),
        timeoutMs: 30_000,
      });
      const caught = () => {
        try {
          const mask = /SigCgt:\s*([0-9a-f]+)/.exec(fs.readFileSync(`/proc/${started.pid}/status`, 'utf8'))?.[1];
          return mask !== undefined && (BigInt(`0x${mask}`) & (1n << 9n)) !== 0n;
        } catch {
          return false;
        }
      };
      const storm = () => {
        if (!caught()) return; // before Node has a handler, SIGUSR1 ends any process: not the case here
        try {
          process.kill(started.pid, 'SIGUSR1');
        } catch {
          // exited
        }
      };
      // From the first moment: some of these land while Node itself starts, before any code of
      // ours; the shim must have closed what they opened before it fetches anything.
      await waitFor(
        () => {
          storm();
          return sockets.length > 0;
        },
        20_000,
        'the fetch to reach the fake store',
      );
      // The shim parks the inspector's port on a socket of its own that never answers; what must
      // never be there is something that answers the inspector's HTTP (the /json/list a client
      // reads the debugger's address from).
      const seen = new Set<number>();
      for (let i = 0; i < 100; i++) {
        storm();
        for (const port of listeningPorts(started.pid)) seen.add(port);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(seen.has(9229)).toBe(false);
      for (const port of seen) expect(await answersHttp(port), `port ${port}`).toBe(false);
      const r = await started.result;
      // Node itself may open it for a signal that lands before the bundle's first statement;
      // then the first statement closed it, and says so.
      if (/Debugger listening/.test(r.stderr)) expect(r.stderr).toMatch(/closed the Node inspector/);
      expect(r.code).toBe(69); // the fetch timed out: the signals did not end or divert the start
    });
  });

  describe('class 8: a supervisor of the same uid keeps no secrets', () => {
    // On Node 18 and 20 (no execve) and wherever sync runs, the shim stays as the supervisor: the
    // command reads its parent's environment. Run with Node 20 whatever Node runs the tests.
    const READ_PARENT = `cat /proc/$PPID/environ 2>&1 | tr '\\0' '\\n'; echo; echo "child-key=$ANTHROPIC_API_KEY"`;

    it('started as the user (runAsNonRoot), the command finds no removed secret in /proc of the supervisor', needs(needs.node(20)), async () => {
      const w = world();
      const r = await run(
        {
          ...w,
          env: {
            ...w.env,
            CLAUDE_ENTRY_USER: undefined,
            HOME: w.home,
            CLAUDE_CREDENTIALS_JSON: undefined,
            CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())),
            ANTHROPIC_API_KEY: FAKE.apiKey,
            CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken,
            KEEP_ME: 'visible',
          },
        },
        ['--', 'sh', '-c', READ_PARENT],
        { asAgent: true, node: nodeBinaryOf(20) },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/KEEP_ME=visible/); // it did read the supervisor's environment
      expect(r.stdout).toMatch(/child-key=\n/); // the credentials JSON won: the key was removed
      expectNoSecret(r.stdout + r.stderr, SECRETS);
      expect(r.stdout).not.toMatch(/CLAUDE_CREDENTIALS_B64|ANTHROPIC_API_KEY=|CLAUDE_CODE_OAUTH_TOKEN=/);
    });

    it('started as root, the command cannot read the supervisor at all', needs(needs.node(20)), async () => {
      const w = world();
      const r = await run({ ...w, env: { ...w.env, ANTHROPIC_API_KEY: FAKE.apiKey } }, ['--', 'sh', '-c', READ_PARENT], { node: nodeBinaryOf(20) });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/Permission denied/);
      expectNoSecret(r.stdout + r.stderr, SECRETS);
    });
  });

  describe('class 10: concurrent starts on one home', () => {
    it('two starts at the same moment both succeed and both trust entries survive (30 rounds)', async () => {
      let lost = 0;
      for (let round = 0; round < 30; round++) {
        const w = world();
        const [a, b] = await Promise.all([
          run({ ...w, env: { ...w.env, CLAUDE_ENTRY_TRUST: '/workspace/a' } }, ['--', '/bin/true']),
          run({ ...w, env: { ...w.env, CLAUDE_ENTRY_TRUST: '/workspace/b' } }, ['--', '/bin/true']),
        ]);
        expect(a.code, a.stderr).toBe(0);
        expect(b.code, b.stderr).toBe(0);
        const json = JSON.parse(fs.readFileSync(path.join(w.home, '.claude.json'), 'utf8'));
        if (!json.projects?.['/workspace/a'] || !json.projects?.['/workspace/b']) lost++;
        expect(fs.readdirSync(path.join(w.home, '.claude')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
        expect(fs.readdirSync(w.home).filter((n) => n.endsWith('.lock') || n.endsWith('.tmp'))).toEqual([]);
      }
      expect(lost).toBe(0);
    });
  });

  describe('class 11: every failure has its code, and leaves nothing behind', () => {
    it('a directory where a file of the start belongs (the state file): 73 before the login is replaced', async () => {
      const w = world();
      const config = path.join(w.home, '.claude');
      const old = JSON.stringify(credentialsJson({ accessToken: `${FAKE.accessToken}-old`, expiresAt: Date.now() + 3600_000 }));
      asAgentSync(() => {
        fs.mkdirSync(path.join(config, '.claude-entry-state.json', 'inside'), { recursive: true, mode: 0o700 });
        fs.writeFileSync(path.join(config, '.credentials.json'), old, { mode: 0o600 });
      });
      const before = snapshot(w.home);
      const r = await run(w, ['--', '/bin/true']);
      expect(r.code, r.stderr).toBe(73);
      expect(r.stderr).toMatch(/\.claude-entry-state\.json is a directory/);
      expect(snapshot(w.home)).toEqual(before);
    });
    it('a user in more groups than the kernel allows: 78 before anything is written', async () => {
      const groupLines = ['agent:x:1000:'];
      for (let gid = 2000; gid < 2000 + 65_540; gid++) groupLines.push(`g${gid}:x:${gid}:agent`);
      const w = world({ groupLines });
      const before = snapshot(w.home);
      const r = await run(w, ['--', '/bin/true']);
      expect(r.code, r.stderr).toBe(78);
      expect(r.stderr).toMatch(/cannot take the groups of agent/);
      expect(snapshot(w.home)).toEqual(before);
    });

    it('a command the user cannot run (root-only): 126 before anything is written', async () => {
      const w = world();
      const tool = path.join(w.dir, 'root-tool');
      fs.writeFileSync(tool, '#!/bin/sh\nexit 0\n', { mode: 0o700 });
      const before = snapshot(w.home);
      const r = await run(w, ['--', tool]);
      expect(r.code, r.stderr).toBe(126);
      expect(snapshot(w.home)).toEqual(before);
    });
  });
});

describe('hardening: the real Claude Code CLI behind the hardened start', needs(needs.root(), needs.unshare(), needs.claude()), () => {
  it("root drops to agent, writes with agent's rights, and the real claude -p answers with the installed login", async () => {
    const { startFakeAnthropic } = await import('../fakes/anthropic');
    const fake = await startFakeAnthropic({ replyText: 'hardened hello' });
    onTestFinished(() => fake.close());
    const w = world();
    const bin = path.resolve(__dirname, '../../node_modules/.bin');
    const r = await run(
      {
        ...w,
        env: {
          ...w.env,
          PATH: `${bin}:${process.env.PATH}`,
          ANTHROPIC_BASE_URL: fake.url,
          DISABLE_AUTOUPDATER: '1',
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
          DISABLE_TELEMETRY: '1',
          DISABLE_ERROR_REPORTING: '1',
        },
      },
      ['--', 'claude', '-p', 'say hi'],
      { cwd: w.home, timeoutMs: 120_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('hardened hello');
    const request = fake.requests.find((q) => q.path.startsWith('/v1/messages'));
    expect(request?.headers.authorization).toBe(`Bearer ${FAKE.accessToken}`);
    for (const file of ['.claude', '.claude/.credentials.json', '.claude.json']) {
      expect(fs.statSync(path.join(w.home, file)).uid, file).toBe(AGENT.uid);
    }
    expectNoSecret(r.stdout + r.stderr, SECRETS);
  });
});

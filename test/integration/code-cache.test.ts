/**
 * V8's code cache (issue 13): `claude-entry warm` writes FILE.v8cache beside the bundle; a start
 * compiles from it only when it is trustworthy (the bundle owner's alone, a regular file, made
 * for this build and this Node). Each case runs a copy of the built bundle in a directory of its
 * own, and reads what the start did from doctor, which reports its own start's cache.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLE, FAKE, baseEnv, nodeBinary, runProcess, tempDir } from '../helpers.js';
import { needs } from '../needs.js';

/** A copy of the bundle of our own, so that its cache is ours too. */
function bundleCopy(): string {
  const file = path.join(tempDir(), 'claude-entry');
  fs.copyFileSync(BUNDLE, file);
  fs.chmodSync(file, 0o755);
  return file;
}

const env = () => baseEnv(tempDir(), { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken });

const run = (bundle: string, args: string[], node = process.execPath, e = env()) => runProcess([node, bundle, ...args], { env: e, timeoutMs: 60_000 });

async function warmed(node = process.execPath): Promise<string> {
  const bundle = bundleCopy();
  const r = await run(bundle, ['warm'], node);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toContain(`code cache for Node ${spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()} written to ${bundle}.v8cache`);
  return bundle;
}

async function cacheLine(bundle: string, node = process.execPath): Promise<string> {
  const r = await run(bundle, ['doctor'], node);
  const line = r.stdout.split('\n').find((l) => l.includes('code cache'));
  expect(line, r.stdout).toBeDefined();
  return line!;
}

/** The start still works, whatever became of the cache. */
async function expectStartWorks(bundle: string, node = process.execPath): Promise<void> {
  const r = await run(bundle, ['--', 'sh', '-c', 'echo ran'], node);
  expect(r.stdout).toBe('ran\n');
  expect(r.code, r.stderr).toBe(0);
}

describe('code cache', () => {
  it('without warm there is none, and doctor says how to make one', async () => {
    const bundle = bundleCopy();
    expect(await cacheLine(bundle)).toMatch(/code cache: none; `claude-entry warm` at image build/);
    expect(fs.existsSync(`${bundle}.v8cache`)).toBe(false);
  });

  it('warm writes FILE.v8cache, the owner-only-writable file a start then compiles from', async () => {
    const bundle = await warmed();
    const st = fs.statSync(`${bundle}.v8cache`);
    expect(st.mode & 0o777).toBe(0o644);
    expect(st.uid).toBe(process.getuid!());
    expect(fs.readFileSync(`${bundle}.v8cache`, 'latin1')).toMatch(new RegExp(`^claude-entry code cache [0-9a-f]{32} node ${process.version}\n`));
    expect(await cacheLine(bundle)).toContain(`code cache: ${bundle}.v8cache, made by claude-entry warm for this build and Node ${process.version}`);
    expect(fs.readdirSync(path.dirname(bundle)).sort()).toEqual(['claude-entry', 'claude-entry.v8cache']);
    await expectStartWorks(bundle);
  });

  it('a start and check that use the cache print what they print without it', async () => {
    const plain = bundleCopy();
    const bundle = await warmed();
    const homes = [tempDir(), tempDir()];
    const result = async (file: string, args: string[], home: string) => {
      const r = await run(file, args, process.execPath, baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }));
      return { code: r.code, stdout: r.stdout.replaceAll(home, 'HOME'), stderr: r.stderr.replaceAll(home, 'HOME') };
    };
    for (const args of [['--', 'sh', '-c', 'echo ran'], ['check']]) {
      const [a, b] = [await result(plain, args, homes[0]!), await result(bundle, args, homes[1]!)];
      expect(a.code).toBe(0);
      expect(b).toEqual(a);
    }
  });

  it.each([
    ['writable by group or others', (file: string) => fs.chmodSync(file, 0o664), /is not used: writable by group or others/],
    [
      'a symbolic link to a good cache',
      (file: string) => {
        fs.renameSync(file, `${file}.real`);
        fs.symlinkSync(`${file}.real`, file);
      },
      /is not used: a symbolic link/,
    ],
    [
      'a FIFO',
      (file: string) => {
        fs.rmSync(file);
        spawnSync('mkfifo', [file]);
      },
      /is not used: not a regular file/,
    ],
    ['a directory', (file: string) => (fs.rmSync(file), fs.mkdirSync(file)), /is not used: not a regular file/],
  ])('a cache that is %s is not used, and the start works', async (_name, plant, why) => {
    const bundle = await warmed();
    plant(`${bundle}.v8cache`);
    expect(await cacheLine(bundle)).toMatch(why);
    await expectStartWorks(bundle);
  });

  it('a cache made for another build is not used', async () => {
    const bundle = await warmed();
    const file = `${bundle}.v8cache`;
    const bytes = fs.readFileSync(file);
    const other = Buffer.from(bytes.toString('latin1', 0, 64).replace(/cache [0-9a-f]{8}/, 'cache 00000000'), 'latin1');
    fs.writeFileSync(file, Buffer.concat([other, bytes.subarray(64)]), { mode: 0o644 });
    expect(await cacheLine(bundle)).toMatch(/was made for another build or Node version and is not used: run claude-entry warm again/);
    await expectStartWorks(bundle);
  });

  // Bytes changed inside a cache of the right length are not caught: V8 checks a code cache's
  // checksum only with --verify-snapshot-checksum, and node:v8, which could set it, costs a
  // third of what the cache saves. Only the bundle's owner can write the file (see the loader).
  it.each([
    ['cut short', (data: Buffer) => data.subarray(0, data.length >> 1)],
    ['cut to nothing', (data: Buffer) => data.subarray(0, 0)],
  ])('a cache %s is refused by V8, and the start works', async (_name, damage) => {
    const bundle = await warmed();
    const file = `${bundle}.v8cache`;
    const bytes = fs.readFileSync(file);
    const tagEnd = bytes.indexOf(0x0a) + 1;
    fs.writeFileSync(file, Buffer.concat([bytes.subarray(0, tagEnd), damage(bytes.subarray(tagEnd))]), { mode: 0o644 });
    expect(await cacheLine(bundle)).toMatch(/was refused by V8/);
    await expectStartWorks(bundle);
  });

  // Another major than the one running the tests (npm test runs on Node 22, `npx vitest` may not).
  const otherMajor = process.versions.node.startsWith('18.') ? 24 : 18;
  it(`a cache made by another Node version (${otherMajor}) is not used`, needs(needs.node(otherMajor)), async () => {
    const other = nodeBinary(otherMajor)!;
    const bundle = await warmed(other);
    expect(await cacheLine(bundle, other)).toMatch(/made by claude-entry warm/);
    expect(await cacheLine(bundle)).toMatch(/made for another build or Node version/);
    await expectStartWorks(bundle);
  });

  it('CLAUDE_ENTRY_WARMING set by hand to something else writes no cache', async () => {
    const bundle = bundleCopy();
    const r = await run(bundle, ['--', 'true'], process.execPath, { ...env(), CLAUDE_ENTRY_WARMING: '1' });
    expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(`${bundle}.v8cache`)).toBe(false);
  });

  describe('as root', needs(needs.root(), needs.tool('setpriv')), () => {
    it("a cache that is not the bundle owner's is not used", async () => {
      const bundle = await warmed();
      fs.chownSync(`${bundle}.v8cache`, 1001, 1001);
      expect(await cacheLine(bundle)).toMatch(/is not used: not owned by the owner of/);
      await expectStartWorks(bundle);
    });

    it('warm by a user who does not own the bundle: 73, and no cache', async () => {
      const bundle = bundleCopy();
      fs.chmodSync(path.dirname(bundle), 0o777);
      const r = await runProcess(['setpriv', '--reuid=1001', '--regid=1001', '--clear-groups', process.execPath, bundle, 'warm'], { env: env() });
      expect(r.code).toBe(73);
      expect(r.stderr).toMatch(/warm: .* belongs to uid 0, and a start uses only a cache of the same owner: run warm as uid 0/);
      expect(fs.readdirSync(path.dirname(bundle))).toEqual(['claude-entry']);
    });
  });
});

/**
 * Class 9 of issue 8, sync poisoning, through the built bundle: a pair whose `expiresAt` is
 * outside the plausible range (1e300, ten years ahead, seconds instead of milliseconds) is
 * never pushed, never pulled, never kept over a real pair, and is reported with a warning.
 * A file source, and AWS Secrets Manager (the fake, SigV4 verified).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeAwsEnv, startFakeSecretsManager, type FakeSecretsManager } from '../fakes/aws.js';
import { FAKE, baseEnv, expectNoSecret, loginPair as pair, runBundle, tempDir, tokenOf, HOUR, writeLikeCli } from '../helpers.js';

const YEAR = 365 * 24 * HOUR;
const localOf = (home: string) => path.join(home, '.claude', '.credentials.json');
const BLANK = JSON.stringify({ claudeAiOauth: { accessToken: '', refreshToken: '', expiresAt: 0, scopes: ['user:inference'] } });

/** The implausible `expiresAt` values, each with what the warning says. */
const POISONS: [string, () => number, RegExp][] = [
  ['1e300', () => 1e300, /its expiresAt is absurdly far ahead/],
  ['ten years ahead', () => Date.now() + 10 * YEAR, /its expiresAt is 365\d days ahead, more than a real login can claim/],
  ['seconds, not milliseconds', () => Math.floor(Date.now() / 1000) + 8 * 3600, /its expiresAt is before 2020 \(seconds instead of milliseconds\?\)/],
];

describe('file source', () => {
  function world(initial: string) {
    const dir = tempDir();
    const home = path.join(dir, 'home');
    const source = path.join(dir, 'secrets', 'claude.json');
    fs.mkdirSync(path.dirname(source));
    fs.writeFileSync(source, initial, { mode: 0o600 });
    return { home, source, local: localOf(home) };
  }
  const run = (w: { home: string; source: string }, script: string, args: string[], extra: NodeJS.ProcessEnv = {}) =>
    runBundle(['--', 'sh', '-c', script, 'sh', ...args], {
      env: baseEnv(w.home, { CLAUDE_ENTRY_SOURCE: w.source, CLAUDE_ENTRY_SYNC: 'both', CLAUDE_ENTRY_TIMEOUT: '2s', ...extra }),
      timeoutMs: 30_000,
    });

  it.each(POISONS)('push: a local pair with expiresAt %s is not pushed, and is reported', async (_name, expiresAt, why) => {
    const A = pair(Date.now() + HOUR);
    const poison = pair(expiresAt());
    const w = world(A);
    const r = await run(w, `sleep 0.5; ${writeLikeCli(w.local)}; sleep 1.5; exit 5`, [poison]);
    expect(r.code).toBe(5);
    expect(fs.readFileSync(w.source, 'utf8')).toBe(A);
    expect(r.stderr).toMatch(
      new RegExp(`claude-entry: warning: sync push: not pushing to file:${w.source} \\(.*\\): the pair is not plausible: ${why.source}`),
    );
    // Neither "pushed" nor "failed": nothing was written, and nothing said it was.
    expect(r.stderr).not.toMatch(/sync push: pushed|cannot write/);
    expectNoSecret(r.stderr, [tokenOf(A), tokenOf(poison)]);
  });

  it('push: a real refreshed pair replaces a poisoned source, and says so', async () => {
    const A = pair(Date.now() + HOUR);
    const B = pair(Date.now() + 8 * HOUR);
    const poison = pair(1e300);
    const w = world(A);
    // Someone poisons the source after the start; then the CLI refreshes.
    const script = `sleep 0.3; printf '%s' "$1" > "${w.source}"; sleep 0.5; ${writeLikeCli(w.local).replaceAll('"$1"', '"$2"')}; sleep 1.5`;
    const r = await run(w, script, [poison, B], { CLAUDE_ENTRY_SYNC: 'push' });
    expect(r.code, r.stderr).toBe(0);
    expect(tokenOf(fs.readFileSync(w.source, 'utf8'))).toBe(tokenOf(B));
    expect(r.stderr).toMatch(/sync push: pushed the refreshed login to file:.* \(it replaced an implausible pair: its expiresAt is absurdly far ahead/);
    expectNoSecret(r.stderr, [tokenOf(A), tokenOf(B), tokenOf(poison)]);
  });

  it.each(POISONS)('pull: a source pair with expiresAt %s is not pulled over a blanked file, and is reported', async (_name, expiresAt, why) => {
    const A = pair(Date.now() + HOUR);
    const poison = pair(expiresAt());
    const w = world(A);
    // The source is poisoned, then the CLI blanks the local file (a failed refresh): pull looks at once.
    const script = `sleep 0.3; printf '%s' "$1" > "${w.source}"; sleep 0.3; ${writeLikeCli(w.local).replaceAll('"$1"', '"$2"')}; sleep 1.5`;
    const r = await run(w, script, [poison, BLANK], { CLAUDE_ENTRY_SYNC: 'pull' });
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(w.local, 'utf8')).toBe(BLANK);
    expect(r.stderr).toMatch(
      new RegExp(
        `claude-entry: warning: sync pull: nothing newer in file:${w.source} \\(the local file was blanked\\): the pair is not plausible: ${why.source}`,
      ),
    );
    expectNoSecret(r.stderr, [tokenOf(A), tokenOf(poison)]);
  });

  it("pull: a poisoned local pair is replaced by the source's real one at once", async () => {
    const A = pair(Date.now() + HOUR);
    const poison = pair(Date.now() + 10 * YEAR);
    const w = world(A);
    const r = await run(w, `sleep 0.3; ${writeLikeCli(w.local)}; sleep 1.5`, [poison], { CLAUDE_ENTRY_SYNC: 'pull' });
    expect(r.code, r.stderr).toBe(0);
    expect(tokenOf(fs.readFileSync(w.local, 'utf8'))).toBe(tokenOf(A));
    expect(r.stderr).toMatch(/sync pull: replaced .* with the newer login from file:.*\(it replaced an implausible pair: its expiresAt is 365\d days ahead/);
  });

  it('check calls a poisoned login unhealthy, without printing its expiry', async () => {
    const w = world(pair(Date.now() + HOUR));
    fs.mkdirSync(path.dirname(w.local), { recursive: true, mode: 0o700 });
    fs.writeFileSync(w.local, pair(1e300), { mode: 0o600 });
    const r = await runBundle(['check'], { env: baseEnv(w.home) });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^unhealthy: the login is not plausible \(its expiresAt is absurdly far ahead/);
    expect(r.stdout).not.toMatch(/expires in/);
  });

  it("a start: a poisoned pair in place does not win over the source's real pair", async () => {
    const real = pair(Date.now() + 8 * HOUR);
    const w = world(real);
    fs.mkdirSync(path.dirname(w.local), { recursive: true, mode: 0o700 });
    fs.writeFileSync(w.local, pair(1e300), { mode: 0o600 });
    const r = await runBundle(['--', 'true'], { env: baseEnv(w.home, { CLAUDE_ENTRY_SOURCE: w.source }) });
    expect(r.code, r.stderr).toBe(0);
    expect(tokenOf(fs.readFileSync(w.local, 'utf8'))).toBe(tokenOf(real));
  });

  it('a start from a poisoned source warns', async () => {
    const w = world(pair(Date.now() + 10 * YEAR));
    const r = await runBundle(['--', 'true'], { env: baseEnv(w.home, { CLAUDE_ENTRY_SOURCE: w.source }) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /warning: file:.*: the login is not plausible \(its expiresAt is 365\d days ahead.*\); it will not be synced or preferred over another pair/,
    );
  });
});

describe('AWS Secrets Manager', () => {
  let fake: FakeSecretsManager;
  beforeAll(async () => {
    fake = await startFakeSecretsManager({ region: 'eu-west-3' });
  });
  afterAll(async () => {
    await fake?.close();
  });
  let serial = 0;
  const supervise = (home: string, ref: string, script: string, args: string[], extra: NodeJS.ProcessEnv = {}) =>
    runBundle(['--', 'sh', '-c', script, 'sh', ...args], {
      env: baseEnv(home, {
        ...fakeAwsEnv(fake.url, 'eu-west-3'),
        CLAUDE_ENTRY_SOURCE: ref,
        CLAUDE_ENTRY_SYNC: 'both',
        CLAUDE_ENTRY_TIMEOUT: '3s',
        ...extra,
      }),
      timeoutMs: 60_000,
    });

  it('a 1e300 local pair is never pushed: no PutSecretValue, reported as not plausible', async () => {
    const name = `poison/push-${++serial}`;
    const A = pair(Date.now() + HOUR);
    fake.putSecret(name, A);
    const poison = pair(1e300);
    const home = tempDir();
    const before = fake.requests.length;
    const r = await supervise(home, `aws-sm:${name}`, `sleep 0.5; ${writeLikeCli(localOf(home))}; sleep 2`, [poison], { CLAUDE_ENTRY_SYNC: 'push' });
    expect(r.code, r.stderr).toBe(0);
    expect(fake.valueOf(name)).toBe(A);
    expect(fake.versionsOf(name)).toHaveLength(1);
    expect(fake.requests.slice(before).map((q) => q.operation)).not.toContain('PutSecretValue');
    expect(r.stderr).toMatch(/warning: sync push: not pushing to aws-sm:.*the pair is not plausible: its expiresAt is absurdly far ahead/);
    expect(r.stderr).not.toMatch(/sync push: pushed|cannot write/);
    expectNoSecret(r.stderr, [tokenOf(A), tokenOf(poison), FAKE.accessToken]);
  });

  it('a poisoned secret is replaced by the next real refresh', async () => {
    const name = `poison/replace-${++serial}`;
    const A = pair(Date.now() + HOUR);
    fake.putSecret(name, A);
    const B = pair(Date.now() + 8 * HOUR);
    const home = tempDir();
    // The store is poisoned once the start has read it; then the CLI refreshes.
    fake.onRequest((operation) => {
      if (operation === 'GetSecretValue' && fake.valueOf(name) === A && fs.existsSync(localOf(home))) fake.putSecret(name, pair(Date.now() + 10 * YEAR));
    });
    try {
      const r = await supervise(home, `aws-sm:${name}`, `sleep 0.5; ${writeLikeCli(localOf(home))}; sleep 2`, [B], { CLAUDE_ENTRY_SYNC: 'push' });
      expect(r.code, r.stderr).toBe(0);
      expect(tokenOf(fake.valueOf(name))).toBe(tokenOf(B));
      expect(r.stderr).toMatch(/sync push: pushed the refreshed login to aws-sm:.*\(it replaced an implausible pair: its expiresAt is 365\d days ahead/);
    } finally {
      fake.onRequest(undefined);
    }
  });
});

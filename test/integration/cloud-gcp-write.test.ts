/**
 * GCP Secret Manager as a writable store, through the built bundle against the local fake
 * (test/fakes/gcp.ts, the real gRPC protocol to the real SDK): `export --to` (AddSecretVersion,
 * CreateSecret when missing, `#key` keeping the other keys, denials), read back through the
 * chain; and CLAUDE_ENTRY_SYNC with a GCP source, mirroring test/integration/sync-file.test.ts.
 * The fake answers with the project as its number (projects/123456789012/...), as the service
 * does, so versions are compared the way they must be against the real one.
 * The SDK module's own contract (readSecret, writeSecret): test/contract/cloud-gcp-sdk.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startFakeMetadata, startFakeSecretManager, Status, type FakeSecretManager } from '../fakes/gcp.js';
import {
  FAKE,
  baseEnv,
  credentialsJson,
  expectNoSecret,
  runBundle,
  runSupervised,
  shWaitFor,
  tempDir,
  type RunResult,
  loginPair as pair,
  tokenOf,
  HOUR,
  writeLikeCli,
} from '../helpers.js';
import { pullRows, pushRows } from './sync-rows.js';

const SECRETS = Object.values(FAKE);
const CREDS = 'projects/p/secrets/creds';

/** A stand-in GCE metadata server, so that no run ever waits on 169.254.169.254. */
let metadata: Awaited<ReturnType<typeof startFakeMetadata>>;
beforeAll(async () => {
  metadata = await startFakeMetadata();
});
afterAll(() => metadata?.close());

async function fakeGcp(): Promise<FakeSecretManager> {
  const fake = await startFakeSecretManager({ projectNumbers: { p: '123456789012' } });
  onTestFinished(() => fake.close());
  return fake;
}

function gcpEnv(home: string, fake: FakeSecretManager, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return baseEnv(home, { CLAUDE_ENTRY_GCP_ENDPOINT: fake.endpoint, GCE_METADATA_HOST: metadata.host, ...extra });
}

/** A developer's machine: HOME with ~/.claude/.credentials.json. */
function devHome(oauth: Record<string, unknown> = {}): { home: string; text: string } {
  const home = tempDir();
  fs.mkdirSync(path.join(home, '.claude'), { mode: 0o700 });
  const text = JSON.stringify(credentialsJson({ expiresAt: 1_900_000_000_000, ...oauth }));
  fs.writeFileSync(path.join(home, '.claude', '.credentials.json'), text, { mode: 0o600 });
  return { home, text };
}

function oneErrorLine(r: RunResult): string {
  const lines = r.stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('claude-entry: warning: this login holds a refresh token'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^claude-entry: error: /);
  return lines[0]!.slice('claude-entry: error: '.length);
}

/** A start reading `ref` through the chain: the .credentials.json it writes. */
async function readBack(fake: FakeSecretManager, ref: string): Promise<unknown> {
  const home = tempDir();
  const r = await runBundle(['--', 'true'], { env: gcpEnv(home, fake, { CLAUDE_ENTRY_SOURCE: ref }) });
  expect(r.stderr).toContain(`using Claude Code credentials JSON from ${ref}`);
  expect(r.code).toBe(0);
  return JSON.parse(fs.readFileSync(path.join(home, '.claude', '.credentials.json'), 'utf8'));
}

describe('export --to a GCP secret', () => {
  it('adds a version to an existing secret; a start from it writes the same .credentials.json', async () => {
    const fake = await fakeGcp();
    fake.addVersion(CREDS, JSON.stringify(credentialsJson({ subscriptionType: 'pro' })));
    const dev = devHome();
    const r = await runBundle(['export', '--to', CREDS], { env: gcpEnv(dev.home, fake) });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`claude-entry: stored the login from `);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
    expect(fake.versions(CREDS)).toHaveLength(2);
    expect(fake.calls.map((c) => c.method)).toEqual(['AddSecretVersion']); // no read, no create
    expect(fake.calls[0]!.metadata['x-goog-request-params']).toBe(`parent=${encodeURIComponent(CREDS)}`);
    expect(JSON.parse(fake.latest(CREDS)!)).toEqual(JSON.parse(dev.text));
    expect(await readBack(fake, CREDS)).toEqual(JSON.parse(dev.text));
  });

  it('#key writes that key of an existing JSON secret and keeps the others', async () => {
    const fake = await fakeGcp();
    const old = credentialsJson({ subscriptionType: 'pro' });
    fake.addVersion('projects/p/secrets/bundle', JSON.stringify({ claude: old, token: FAKE.oauthToken, other: 'x' }));
    const dev = devHome();
    const r = await runBundle(['export', '--to', 'gcp-sm:projects/p/secrets/bundle#claude'], { env: gcpEnv(dev.home, fake) });
    expect(r.code).toBe(0);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
    const stored = JSON.parse(fake.latest('projects/p/secrets/bundle')!);
    expect(stored).toEqual({ claude: JSON.parse(dev.text), token: FAKE.oauthToken, other: 'x' });
    expect(fake.versions('projects/p/secrets/bundle')).toHaveLength(2);
    expect(await readBack(fake, 'projects/p/secrets/bundle#claude')).toEqual(JSON.parse(dev.text));
  });

  it.each([
    ['a global secret, with automatic replication', CREDS],
    ['a regional secret, without a replication policy', 'projects/p/locations/europe-west1/secrets/creds'],
  ])('creates %s that does not exist', async (_name, ref) => {
    const fake = await fakeGcp();
    const dev = devHome();
    const r = await runBundle(['export', '--to', ref], { env: gcpEnv(dev.home, fake, { CLAUDE_ENTRY_LOG: 'debug' }) });
    expect(r.code).toBe(0);
    expect(fake.calls.map((c) => c.method)).toEqual(['AddSecretVersion', 'CreateSecret', 'AddSecretVersion']);
    expect(fake.calls[1]!.resource).toBe(ref.replace(/\/secrets\/.*/, ''));
    expect(r.stderr).toContain(`${ref}: created the secret ${ref}`);
    expect(fake.versions(ref)).toHaveLength(1);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
    expect(await readBack(fake, ref)).toEqual(JSON.parse(dev.text));
  });

  it('denied adding a version: 69, one line naming the role, no secret', async () => {
    const fake = await fakeGcp();
    fake.addVersion(CREDS, 'old');
    fake.deny(CREDS, ['add']);
    const dev = devHome();
    const r = await runBundle(['export', '--to', CREDS], { env: gcpEnv(dev.home, fake) });
    expect(r.code).toBe(69);
    expect(oneErrorLine(r)).toMatch(
      /^projects\/p\/secrets\/creds: GCP Secret Manager: permission denied adding a version \(PERMISSION_DENIED: Permission 'secretmanager\.versions\.add' denied .*\); grant the workload's service account roles\/secretmanager\.secretVersionAdder/,
    );
    expect(fake.versions(CREDS)).toHaveLength(1);
    expectNoSecret(r.stdout + r.stderr, [...SECRETS, dev.text]);
  });

  it('denied creating a missing secret: 69, one line naming secretmanager.secrets.create, no secret', async () => {
    const fake = await fakeGcp();
    fake.deny('projects/p/secrets/new', ['create']);
    const dev = devHome();
    const r = await runBundle(['export', '--to', 'projects/p/secrets/new'], { env: gcpEnv(dev.home, fake) });
    expect(r.code).toBe(69);
    expect(oneErrorLine(r)).toMatch(
      /^projects\/p\/secrets\/new: GCP Secret Manager: the secret does not exist and creating it was denied \(PERMISSION_DENIED: .*\); create it first .*secretmanager\.secrets\.create/,
    );
    expect(fake.versions('projects/p/secrets/new')).toBeUndefined();
    expectNoSecret(r.stdout + r.stderr, [...SECRETS, dev.text]);
  });

  it('a reference pinned to a version is not writable: 78, nothing called', async () => {
    const fake = await fakeGcp();
    fake.addVersion(CREDS, 'old');
    const dev = devHome();
    const r = await runBundle(['export', '--to', `${CREDS}/versions/1`], { env: gcpEnv(dev.home, fake) });
    expect(r.code).toBe(78);
    expect(oneErrorLine(r)).toMatch(/^projects\/p\/secrets\/creds\/versions\/1: a reference pinned to version "1" cannot be written/);
    expect(fake.calls).toEqual([]);
  });

  it('UNAVAILABLE once on AddSecretVersion is retried', async () => {
    const fake = await fakeGcp();
    fake.addVersion(CREDS, 'old');
    fake.failNext({ code: Status.UNAVAILABLE }, 1, ['AddSecretVersion']);
    const dev = devHome();
    const r = await runBundle(['export', '--to', CREDS], { env: gcpEnv(dev.home, fake) });
    expect(r.code).toBe(0);
    expect(fake.calls.map((c) => c.method)).toEqual(['AddSecretVersion', 'AddSecretVersion']);
    expect(JSON.parse(fake.latest(CREDS)!)).toEqual(JSON.parse(dev.text));
  });
});

// ---- sync ----

/**
 * A supervisor started from CREDS; its command (script, $LOCAL its credentials file) starts
 * once the sync watches, after `whenStarted` (see runSupervised).
 */
function replica(fake: FakeSecretManager, script: string, args: string[] = [], extra: NodeJS.ProcessEnv = {}, whenStarted?: () => unknown) {
  const home = path.join(tempDir(), 'home');
  const local = path.join(home, '.claude', '.credentials.json');
  const run = runSupervised(script.replaceAll('$LOCAL', local), args, {
    env: gcpEnv(home, fake, { CLAUDE_ENTRY_SOURCE: CREDS, CLAUDE_ENTRY_SYNC: 'both', CLAUDE_ENTRY_TIMEOUT: '10s', ...extra }),
    whenStarted,
  });
  return { home, local, run };
}

/** A file the command can wait for (shWaitFor(file, 'x')), written by the test at an event. */
function signal(): { file: string; raise: () => void } {
  const file = path.join(tempDir(), 'signal');
  return { file, raise: () => fs.writeFileSync(file, 'x') };
}

async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** CREDS in a fake of its own, for the rows every store keeps (sync-rows.ts). */
async function gcpSecret(initial: string) {
  const fake = await fakeGcp();
  fake.addVersion(CREDS, initial);
  return {
    env: { CLAUDE_ENTRY_GCP_ENDPOINT: fake.endpoint, GCE_METADATA_HOST: metadata.host, CLAUDE_ENTRY_SOURCE: CREDS, CLAUDE_ENTRY_TIMEOUT: '10s' },
    value: () => fake.latest(CREDS),
    write: (text: string) => fake.addVersion(CREDS, text),
    versions: () => fake.versions(CREDS)!.length,
  };
}

describe('sync with a GCP secret', () => {
  it('push: a pair the command writes by rename becomes a new version', async () => {
    const fake = await fakeGcp();
    const A = pair(Date.now() + HOUR);
    const B = pair(Date.now() + 8 * HOUR);
    fake.addVersion(CREDS, A);
    const stamp = path.join(tempDir(), 'written-at');
    // Pushed while the command runs (not only when it exits): the command waits for the add.
    const added = signal();
    fake.beforeCall((call) => {
      if (call.method === 'AddSecretVersion') added.raise();
    });
    const script = `${writeLikeCli('$LOCAL')}; date +%s%3N > ${stamp}; ${shWaitFor(added.file, 'x', 60)}; [ -e ${added.file} ] && echo pushed while running; exit 7`;
    const { run } = replica(fake, script, [B]);
    const r = await run;
    fake.beforeCall(undefined);
    expect(r.code).toBe(7);
    expect(r.stdout).toBe('pushed while running\n');
    // from the command's rename to the store's AddSecretVersion: the 300 ms debounce, a read, the add
    const latency = fake.calls.find((c) => c.method === 'AddSecretVersion')!.at - Number(fs.readFileSync(stamp, 'utf8'));
    console.log(`GCP push: ${latency} ms from the command's write to AddSecretVersion`);
    expect(fake.versions(CREDS)!.map((v) => tokenOf(v.data))).toEqual([tokenOf(A), tokenOf(B)]);
    expect(r.stderr).toMatch(/claude-entry: sync push: pushed the refreshed login to projects\/p\/secrets\/creds \(access token valid until /);
    expectNoSecret(r.stderr, [tokenOf(A), tokenOf(B), FAKE.accessToken]);
    // the conditional write: read latest, add, read latest again
    const pushCalls = fake.calls.slice(1).map((c) => `${c.method} ${c.resource}`);
    expect(pushCalls).toContain(`AddSecretVersion ${CREDS}`);
    expect(pushCalls.filter((c) => c.startsWith('AddSecretVersion'))).toHaveLength(1);
  });

  pushRows(gcpSecret);
  pullRows(gcpSecret);

  it('two supervisors, the older one pushing later: it sees the newer pair in the store and skips', async () => {
    const fake = await fakeGcp();
    const A = pair(Date.now() + HOUR);
    fake.addVersion(CREDS, A);
    const newer = pair(Date.now() + 8 * HOUR, 'newer');
    const newest = pair(Date.now() + 9 * HOUR, 'newest');
    // the newest is pushed first; the newer one's command writes once that push is in the store
    const newestIn = signal();
    const one = replica(fake, `${writeLikeCli('$LOCAL')}; sleep 1`, [newest], { CLAUDE_ENTRY_SYNC: 'push' });
    const two = replica(fake, `${shWaitFor(newestIn.file, 'x', 60)}; ${writeLikeCli('$LOCAL')}; sleep 1`, [newer], { CLAUDE_ENTRY_SYNC: 'push' });
    await until(() => fake.latest(CREDS) !== undefined && tokenOf(fake.latest(CREDS)!) === tokenOf(newest), 60_000);
    newestIn.raise();
    const [r1, r2] = await Promise.all([one.run, two.run]);
    expect([r1.code, r2.code]).toEqual([0, 0]);
    expect(tokenOf(fake.latest(CREDS)!)).toBe(tokenOf(newest));
    expect(fake.versions(CREDS)!.map((v) => tokenOf(v.data))).toEqual([tokenOf(A), tokenOf(newest)]);
  });

  /**
   * The compare-and-swap's second half, end to end: another writer's version lands right
   * after ours (between our AddSecretVersion and the read that follows it).
   */
  it.each([
    ['an older pair lands after ours: conflict, read again, ours pushed again on top', 1, 'older'],
    ['a newer pair lands after ours: conflict, read again, the newer one stays', 9, 'newer'],
  ])('%s', async (_name, otherHours, expected) => {
    const fake = await fakeGcp();
    const A = pair(Date.now() + HOUR);
    fake.addVersion(CREDS, A);
    const ours = pair(Date.now() + 8 * HOUR, 'ours');
    const other = pair(Date.now() + otherHours * HOUR + 60_000, 'other');
    let added = false;
    let landed = false;
    fake.beforeCall((call) => {
      if (call.method === 'AddSecretVersion') added = true;
      else if (added && !landed && call.method === 'AccessSecretVersion') {
        landed = true;
        fake.addVersion(CREDS, other);
      }
    });
    const { run } = replica(fake, `${writeLikeCli('$LOCAL')}; sleep 1.5`, [ours], { CLAUDE_ENTRY_SYNC: 'push', CLAUDE_ENTRY_LOG: 'debug' });
    const r = await run;
    expect(r.code).toBe(0);
    expect(landed).toBe(true);
    expect(r.stderr).toMatch(/landed after ours \(2\): conflict, to be decided again/);
    const tokens = fake.versions(CREDS)!.map((v) => tokenOf(v.data));
    if (expected === 'older') {
      expect(tokens).toEqual([tokenOf(A), tokenOf(ours), tokenOf(other), tokenOf(ours)]);
    } else {
      expect(tokens).toEqual([tokenOf(A), tokenOf(ours), tokenOf(other)]);
      expect(r.stderr).toMatch(/not pushing to projects\/p\/secrets\/creds .*the other side holds a pair as new or newer/);
    }
  });

  it('a store failing throughout leaves the command running, exiting with its own code', async () => {
    const fake = await fakeGcp();
    const A = pair(Date.now() + HOUR);
    const B = pair(Date.now() + 8 * HOUR);
    fake.addVersion(CREDS, A);
    // UNAVAILABLE from the moment the supervisor has started (its start read A), before the command writes.
    const r1 = replica(
      fake,
      `${writeLikeCli('$LOCAL')}; sleep 1; echo still running; exit 5`,
      [B],
      {
        CLAUDE_ENTRY_SYNC: 'both',
        CLAUDE_ENTRY_TIMEOUT: '3s', // for the start and each sync call
      },
      () => fake.failNext({ code: Status.UNAVAILABLE }, Infinity, ['AccessSecretVersion', 'AddSecretVersion', 'CreateSecret']),
    );
    const r = await r1.run;
    expect(r.code).toBe(5);
    expect(r.stdout).toBe('still running\n');
    // The syncer's own per-call deadline (CLAUDE_ENTRY_TIMEOUT) ends at the same moment as the
    // SDK's retries, so the line says either.
    expect(r.stderr).toMatch(/claude-entry: warning: sync push: cannot read projects\/p\/secrets\/creds: .*(UNAVAILABLE|no answer within 3s)/);
    expect(fake.calls.filter((c) => c.method === 'AccessSecretVersion').length).toBeGreaterThan(2); // the start's read, then retried, with backoff
    expect(fake.versions(CREDS)).toHaveLength(1);
    expectNoSecret(r.stderr, [tokenOf(A), tokenOf(B), FAKE.accessToken]);
  });
});

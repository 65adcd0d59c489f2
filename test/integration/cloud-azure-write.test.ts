/**
 * Azure Key Vault as a writable store, through the built bundle: `export --to` a secret
 * identifier URL (setSecret), then read back through the chain; and CLAUDE_ENTRY_SYNC with
 * the fake vault as the source. The real SDK (SecretClient + DefaultAzureCredential) against
 * the fake vault over HTTPS (test CA in NODE_EXTRA_CA_CERTS), with the 401 challenge and a
 * managed identity token endpoint. The command stands in for Claude Code: it rewrites the
 * credentials file the way the CLI does (temp file + rename).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAzure, type FakeAzure } from '../fakes/azure.js';
import { makeTestCa, type TestCa } from '../fakes/tls.js';
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

let ca: TestCa;
let fake: FakeAzure;

beforeAll(async () => {
  ca = makeTestCa();
  fake = await startFakeAzure({ ca });
});
afterAll(async () => {
  await fake?.close();
  ca?.cleanup();
});
afterEach(() => {
  fake.onAnswered(undefined);
});

let counter = 0;
const uniqueName = (prefix: string) => `${prefix}-${++counter}-${randomBytes(3).toString('hex')}`;

/** The vault's trust and identity: what a container on Azure would have. */
const azureEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ NODE_EXTRA_CA_CERTS: ca.caFile, ...fake.identityEnv, ...extra });

/** Every secret the fake holds or issued, and the fixture's tokens: none may appear in any output. */
function allSecrets(...more: string[]): string[] {
  return [FAKE.accessToken, FAKE.refreshToken, ...fake.issuedTokens(), fake.identityEnv.IDENTITY_HEADER!, ...more];
}

/** A developer's machine: HOME with ~/.claude/.credentials.json. */
function devHome(creds: Record<string, unknown> = credentialsJson({ expiresAt: 1_900_000_000_000 })): { home: string; text: string } {
  const home = tempDir();
  fs.mkdirSync(path.join(home, '.claude'), { mode: 0o700 });
  const text = JSON.stringify(creds);
  fs.writeFileSync(path.join(home, '.claude', '.credentials.json'), text, { mode: 0o600 });
  return { home, text };
}

function exportTo(home: string, ref: string, extra: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return runBundle(['export', '--to', ref], { env: baseEnv(home, azureEnv({ CLAUDE_ENTRY_TIMEOUT: '10s', ...extra })), timeoutMs: 30_000 });
}

/** A start in a fresh container from `ref`: the .credentials.json it writes. */
async function startFrom(ref: string): Promise<unknown> {
  const container = tempDir();
  const r = await runBundle(['--', 'true'], { env: baseEnv(container, azureEnv({ CLAUDE_ENTRY_SOURCE: ref })), timeoutMs: 30_000 });
  expect(r.code, r.stderr).toBe(0);
  expectNoSecret(r.stdout + r.stderr, allSecrets());
  return JSON.parse(fs.readFileSync(path.join(container, '.claude', '.credentials.json'), 'utf8'));
}

/** stderr of a failed export: the refresh-token warning, then exactly one error line. */
function errorLine(r: RunResult): string {
  const lines = r.stderr.split('\n').filter(Boolean);
  const errors = lines.filter((l) => l.startsWith('claude-entry: error: '));
  expect(errors, r.stderr).toHaveLength(1);
  expect(
    lines.filter((l) => !l.startsWith('claude-entry: warning: this login holds a refresh token')),
    r.stderr,
  ).toEqual(errors);
  return errors[0]!;
}

describe('export --to an Azure Key Vault secret', () => {
  it('adds a new version to an existing secret; a start from it writes the same .credentials.json', async () => {
    const name = uniqueName('export');
    const first = fake.setSecret(name, 'an older value');
    const dev = devHome();
    const r = await exportTo(dev.home, fake.secretUrl(name));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`stored the login from ${path.join(dev.home, '.claude', '.credentials.json')} at ${fake.secretUrl(name)}`);
    expectNoSecret(r.stdout + r.stderr, allSecrets());
    const versions = fake.versions(name);
    expect(versions.map((v) => v.version)[0]).toBe(first);
    expect(versions).toHaveLength(2);
    expect(JSON.parse(versions[1]!.value)).toEqual(JSON.parse(dev.text));
    // PUT /secrets/NAME: the challenge first, then with the managed identity's Key Vault token
    expect(fake.requests.filter((q) => q.method === 'PUT' && q.path === `/secrets/${name}`).map((q) => [q.authorized, q.status])).toEqual([
      [false, 401],
      [true, 200],
    ]);
    expect(await startFrom(fake.secretUrl(name))).toEqual(JSON.parse(dev.text));
  });

  it('creates a secret that does not exist', async () => {
    const name = uniqueName('created');
    const dev = devHome();
    const r = await exportTo(dev.home, fake.secretUrl(name));
    expect(r.code, r.stderr).toBe(0);
    expect(fake.versions(name)).toHaveLength(1);
    expect(await startFrom(fake.secretUrl(name))).toEqual(JSON.parse(dev.text));
  });

  it('#key: into an existing JSON secret, keeping its other keys', async () => {
    const name = uniqueName('multi');
    fake.setSecret(name, JSON.stringify({ database: 'postgres://not-this', claude: 'an old login' }));
    const dev = devHome();
    const r = await exportTo(dev.home, `${fake.secretUrl(name)}#claude`);
    expect(r.code, r.stderr).toBe(0);
    const stored = JSON.parse(fake.versions(name).at(-1)!.value);
    expect(stored.database).toBe('postgres://not-this');
    expect(Object.keys(stored).sort()).toEqual(['claude', 'database']);
    expect(await startFrom(`${fake.secretUrl(name)}#claude`)).toEqual(JSON.parse(dev.text));
  });

  it('#key into a secret that does not exist: an object holding the key', async () => {
    const name = uniqueName('multi-new');
    const dev = devHome();
    const r = await exportTo(dev.home, `${fake.secretUrl(name)}#claude`);
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(JSON.parse(fake.versions(name).at(-1)!.value))).toEqual(['claude']);
    expect(await startFrom(`${fake.secretUrl(name)}#claude`)).toEqual(JSON.parse(dev.text));
  });

  it.each([
    ['a read-only identity (Secrets User role: reads allowed, setSecret forbidden)', ['PUT'] as ('GET' | 'PUT')[]],
    ['an identity with no access at all', undefined],
  ])('forbidden, %s: 69, one line naming what the identity needs, no secret', async (_title, methods) => {
    const name = uniqueName('forbidden');
    fake.setSecret(name, 'an older value');
    fake.script(name, { kind: 'forbidden', methods });
    try {
      const dev = devHome();
      const r = await exportTo(dev.home, fake.secretUrl(name));
      expect(r.code, r.stderr).toBe(69);
      expect(r.stdout).toBe('');
      const line = errorLine(r);
      expect(line).toContain(fake.secretUrl(name));
      expect(line).toContain('HTTP 403 Forbidden/ForbiddenByRbac');
      expect(line).toContain('Key Vault Secrets Officer role');
      expect(line).toContain('Set secret access polic');
      expectNoSecret(r.stdout + r.stderr, allSecrets('an older value'));
      expect(fake.versions(name)).toHaveLength(1);
    } finally {
      fake.script(name, undefined);
    }
  });

  it('a reference pinned to one version is not writable: 78, nothing sent', async () => {
    const name = uniqueName('pinned');
    const version = fake.setSecret(name, 'an older value');
    const before = fake.requests.length;
    const dev = devHome();
    const r = await exportTo(dev.home, fake.secretUrl(name, version));
    expect(r.code, r.stderr).toBe(78);
    expect(errorLine(r)).toMatch(/names one version .*cannot be written: a write adds a new version; leave the version out/);
    expect(fake.requests.length).toBe(before);
    expect(fake.versions(name)).toHaveLength(1);
  });

  it('a vault that never answers: 69 at the deadline', async () => {
    const name = uniqueName('hang');
    fake.script(name, { kind: 'hang' });
    try {
      const dev = devHome();
      const started = Date.now();
      const r = await exportTo(dev.home, fake.secretUrl(name), { CLAUDE_ENTRY_TIMEOUT: '1500ms' });
      expect(r.code, r.stderr).toBe(69);
      expect(Date.now() - started).toBeLessThan(1500 + 15_000); // the deadline, not the hang: generous for a busy machine
      expect(errorLine(r)).toContain('before the deadline (CLAUDE_ENTRY_TIMEOUT)');
    } finally {
      fake.script(name, undefined);
    }
  });
});

// ---- sync ----

const current = (name: string) => fake.versions(name).at(-1)!;

interface World {
  name: string;
  home: string;
  local: string;
}

function world(initial: string): World {
  const name = uniqueName('sync');
  fake.setSecret(name, initial);
  const home = path.join(tempDir(), 'home');
  return { name, home, local: path.join(home, '.claude', '.credentials.json') };
}

/** A supervisor started from w's secret; its command starts once the sync watches (see runSupervised). */
function run(w: World, script: string, args: string[] = [], extra: NodeJS.ProcessEnv = {}, home = w.home) {
  return runSupervised(script, args, {
    env: baseEnv(home, azureEnv({ CLAUDE_ENTRY_SOURCE: fake.secretUrl(w.name), CLAUDE_ENTRY_SYNC: 'both', CLAUDE_ENTRY_TIMEOUT: '5s', ...extra })),
  });
}

/** Once the start has fetched the secret: `then` (another replica's write, an outage...). */
function afterStartFetched(name: string, then: () => void): void {
  fake.onAnswered((request, secret) => {
    if (secret === name && request.method === 'GET' && request.status === 200) {
      fake.onAnswered(undefined);
      then();
    }
  });
}

/** A Key Vault secret for the rows every store keeps (sync-rows.ts). */
function vaultSecret(initial: string) {
  const name = uniqueName('sync');
  fake.setSecret(name, initial);
  return {
    env: azureEnv({ CLAUDE_ENTRY_SOURCE: fake.secretUrl(name) }),
    value: () => current(name).value,
    write: (text: string) => fake.setSecret(name, text),
    versions: () => fake.versions(name).length,
  };
}

describe('sync with Azure Key Vault: push', () => {
  it('a refreshed pair written by the command becomes a new version of the secret', async () => {
    const A = pair(Date.now() + HOUR);
    const B = pair(Date.now() + 8 * HOUR);
    const w = world(A);
    const stamp = path.join(path.dirname(w.home), 'written-at');
    // Pushed while the command runs (not only when it exits): the command waits for the PUT.
    const put = path.join(path.dirname(w.home), 'put');
    let putAt = 0;
    fake.onAnswered((request, secret) => {
      if (secret === w.name && request.method === 'PUT' && request.status === 200 && putAt === 0) {
        putAt = Date.now();
        fs.writeFileSync(put, 'x');
      }
    });
    const r = await run(
      w,
      `${writeLikeCli(w.local)}; node -e 'process.stdout.write(String(Date.now()))' > "${stamp}"; ${shWaitFor(put, 'x', 60)}; [ -e "${put}" ] && echo pushed while running; exit 7`,
      [B],
    );
    fake.onAnswered(undefined);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stdout).toBe('pushed while running\n');
    expect(fake.versions(w.name)).toHaveLength(2);
    expect(tokenOf(current(w.name).value)).toBe(tokenOf(B));
    expect(r.stderr).toContain(`claude-entry: sync push: pushed the refreshed login to ${fake.secretUrl(w.name)} (access token valid until `);
    expectNoSecret(r.stdout + r.stderr, allSecrets(tokenOf(A), tokenOf(B)));
    const writeToVersionMs = putAt - Number(fs.readFileSync(stamp, 'utf8'));
    // A figure, not an assertion: the stamp is taken after the write (node's start), so a busy
    // machine can even make it negative. "pushed while running" above is the check.
    console.log(`azure sync: the command's write to the vault's new version: ${writeToVersionMs} ms`);
    const check = await runBundle(['check', '--json'], { env: baseEnv(w.home) });
    expect(JSON.parse(check.stdout).lastSync).toMatchObject({ direction: 'push', result: 'copied' });
  });

  pushRows(vaultSecret);

  it('another writer between the read and the write: conflict, re-read, re-decided', async () => {
    const A = pair(Date.now() + HOUR);
    const mine = pair(Date.now() + 8 * HOUR, 'mine');
    const theirs = pair(Date.now() + 9 * HOUR, 'theirs');
    const w = world(A);
    // The start's fetch, then the push's read: right after that read, the other replica writes.
    let gets = 0;
    fake.onAnswered((request, secret) => {
      if (secret !== w.name || request.method !== 'GET' || request.status !== 200) return;
      if (++gets === 2) {
        fake.onAnswered(undefined);
        fake.setSecret(w.name, theirs);
      }
    });
    const r = await run(w, `${writeLikeCli(w.local)}; sleep 1.5`, [mine], { CLAUDE_ENTRY_SYNC: 'push', CLAUDE_ENTRY_LOG: 'debug' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/the current version is [0-9a-f]{32}, not [0-9a-f]{32}; not writing/);
    expect(r.stderr).toMatch(/sync push: not pushing to .*: the other side holds a pair as new or newer/);
    expect(fake.versions(w.name).map((v) => tokenOf(v.value))).toEqual([tokenOf(A), tokenOf(theirs)]);
  });
  it('another writer right after the write, with an older pair: seen by the check after the write, pushed again', async () => {
    const A = pair(Date.now() + HOUR);
    const mine = pair(Date.now() + 9 * HOUR, 'mine');
    const theirs = pair(Date.now() + 8 * HOUR, 'theirs');
    const w = world(A);
    fake.onAnswered((request, secret) => {
      if (secret !== w.name || request.method !== 'PUT' || request.status !== 200) return;
      fake.onAnswered(undefined);
      fake.setSecret(w.name, theirs); // lands between our setSecret and our check of it
    });
    const r = await run(w, `${writeLikeCli(w.local)}; sleep 1.5`, [mine], { CLAUDE_ENTRY_SYNC: 'push', CLAUDE_ENTRY_LOG: 'debug' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/another version \([0-9a-f]{32}\) became current right after ours/);
    expect(fake.versions(w.name).map((v) => tokenOf(v.value))).toEqual([tokenOf(A), tokenOf(mine), tokenOf(theirs), tokenOf(mine)]);
  });
});

describe('sync with Azure Key Vault: pull', () => {
  pullRows(vaultSecret);
});

describe('sync with Azure Key Vault: failures', () => {
  it('the vault failing throughout leaves the command running; it exits with its own code', async () => {
    const A = pair(Date.now() + HOUR);
    const B = pair(Date.now() + 8 * HOUR);
    const w = world(A);
    afterStartFetched(w.name, () => fake.script(w.name, { kind: 'status', status: 500 }));
    try {
      const started = Date.now();
      const r = await run(w, `${writeLikeCli(w.local)}; sleep 1; echo still running; exit 5`, [B], { CLAUDE_ENTRY_SYNC: 'push', CLAUDE_ENTRY_TIMEOUT: '2s' });
      expect(r.code, r.stderr).toBe(5);
      expect(r.stdout).toBe('still running\n');
      expect(r.stderr).toMatch(new RegExp(`claude-entry: warning: sync push: cannot read ${fake.secretUrl(w.name).replace(/[.]/g, '\\.')}: `));
      expect(fake.versions(w.name)).toHaveLength(1);
      expectNoSecret(r.stdout + r.stderr, allSecrets(tokenOf(A), tokenOf(B)));
      console.log(`azure sync: a start with the vault failing throughout took ${Date.now() - started} ms to end`);
    } finally {
      fake.script(w.name, undefined);
    }
  });

  it('a reference pinned to one version: the push fails with a clear warning, the command is unaffected', async () => {
    const A = pair(Date.now() + HOUR);
    const B = pair(Date.now() + 8 * HOUR);
    const name = uniqueName('sync-pinned');
    const version = fake.setSecret(name, A);
    const home = path.join(tempDir(), 'home');
    const local = path.join(home, '.claude', '.credentials.json');
    const r = await runSupervised(`${writeLikeCli(local)}; exit 3`, [B], {
      env: baseEnv(home, azureEnv({ CLAUDE_ENTRY_SOURCE: fake.secretUrl(name, version), CLAUDE_ENTRY_SYNC: 'push', CLAUDE_ENTRY_TIMEOUT: '5s' })),
    });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/warning: sync push: cannot write .*names one version/);
    expect(fake.versions(name)).toHaveLength(1);
  });
});

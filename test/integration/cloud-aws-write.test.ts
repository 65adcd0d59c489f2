/**
 * AWS Secrets Manager as a writable store, through the built bundle and the real SDK against
 * the fake Secrets Manager (SigV4 verified): `export --to`, and CLAUDE_ENTRY_SYNC with its
 * conditional write (a new version staged under CLAUDE_ENTRY_PENDING, then AWSCURRENT moved
 * to it from the version read, which fails when another writer moved it first).
 * The SDK module's own contract (readSecret, writeSecret): test/contract/cloud-aws-sdk.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_AWS_CREDENTIALS, fakeAwsEnv, startFakeSecretsManager, type FakeSecretsManager } from '../fakes/aws.js';
import {
  FAKE,
  baseEnv,
  credentialsJson,
  expectNoSecret,
  loginPair as pair,
  runBundle,
  runSupervised,
  tempDir,
  tokenOf,
  HOUR,
  writeLikeCli,
} from '../helpers.js';
import { pullRows, pushRows } from './sync-rows.js';

const REGION = 'eu-west-3';
let fake: FakeSecretsManager;
let names = 0;
const unique = (prefix: string) => `${prefix}-${++names}`;

beforeAll(async () => {
  fake = await startFakeSecretsManager({ region: REGION });
});
afterAll(async () => {
  await fake?.close();
});

function awsEnv(extra: NodeJS.ProcessEnv = {}, url = fake.url): NodeJS.ProcessEnv {
  return { ...fakeAwsEnv(url, REGION), ...extra };
}

const SECRETS = [FAKE.accessToken, FAKE.refreshToken, FAKE_AWS_CREDENTIALS.secretAccessKey];

/** A developer's machine: a login in ~/.claude/.credentials.json. */
function devHome(oauth: Record<string, unknown> = {}): { home: string; login: Record<string, unknown> } {
  const home = tempDir();
  const login = credentialsJson({ expiresAt: 1_900_000_000_000, ...oauth });
  fs.mkdirSync(path.join(home, '.claude'), { mode: 0o700 });
  fs.writeFileSync(path.join(home, '.claude', '.credentials.json'), JSON.stringify(login), { mode: 0o600 });
  return { home, login };
}

const exportTo = (home: string, ref: string, extra: NodeJS.ProcessEnv = {}) =>
  runBundle(['export', '--to', ref], { env: baseEnv(home, awsEnv({ CLAUDE_ENTRY_TIMEOUT: '5s', ...extra })), timeoutMs: 30_000 });

/** A container started from the reference: the .credentials.json it wrote. */
async function startFrom(ref: string): Promise<unknown> {
  const home = tempDir();
  const r = await runBundle(['--', 'sh', '-c', 'cat "$HOME/.claude/.credentials.json"'], {
    env: baseEnv(home, awsEnv({ CLAUDE_ENTRY_SOURCE: ref })),
    timeoutMs: 30_000,
  });
  expect(r.code, r.stderr).toBe(0);
  expect(fs.statSync(path.join(home, '.claude', '.credentials.json')).mode & 0o777).toBe(0o600);
  return JSON.parse(r.stdout);
}

describe('export --to aws-sm', () => {
  it('aws-sm:NAME of an existing secret: a new AWSCURRENT version, read back through the chain', async () => {
    const name = unique('prod/claude');
    const { versionId: old } = fake.putSecret(name, 'placeholder');
    const { home, login } = devHome();
    const before = fake.requests.length;
    const r = await exportTo(home, `aws-sm:${name}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expectNoSecret(r.stdout + r.stderr, SECRETS);
    expect(fake.requests.slice(before).map((q) => [q.operation, q.status])).toEqual([['PutSecretValue', 200]]);
    expect(JSON.parse(String(fake.valueOf(name)))).toEqual(login);
    expect(fake.valueOf(name, 'AWSPREVIOUS')).toBe('placeholder');
    expect(fake.versionsOf(name).find((v) => v.id === old)!.stages).toEqual(['AWSPREVIOUS']);
    expect(await startFrom(`aws-sm:${name}`)).toEqual(login);
  });

  it('a full ARN', async () => {
    const name = unique('by-arn');
    const { arn } = fake.putSecret(name, 'placeholder');
    const { home, login } = devHome();
    const r = await exportTo(home, arn, { AWS_REGION: 'us-west-2' });
    expect(r.code, r.stderr).toBe(0);
    expect(fake.requests.at(-1)).toMatchObject({ operation: 'PutSecretValue', region: REGION, status: 200 });
    expect(await startFrom(arn)).toEqual(login);
  });

  it('a secret that does not exist is created (CreateSecret)', async () => {
    const name = unique('new/claude');
    const { home, login } = devHome();
    const before = fake.requests.length;
    const r = await exportTo(home, `aws-sm:${name}`);
    expect(r.code, r.stderr).toBe(0);
    expect(fake.requests.slice(before).map((q) => [q.operation, q.status])).toEqual([
      ['PutSecretValue', 400],
      ['CreateSecret', 200],
    ]);
    expect(fake.requests.at(-1)!.body).toMatchObject({ Name: name, ClientRequestToken: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(await startFrom(`aws-sm:${name}`)).toEqual(login);
  });

  it('#key into an existing JSON secret keeps its other keys', async () => {
    const name = unique('app/config');
    fake.putSecret(name, JSON.stringify({ db: 'postgres://x', claude: 'old' }));
    const { home, login } = devHome();
    const r = await exportTo(home, `aws-sm:${name}#claude`);
    expect(r.code, r.stderr).toBe(0);
    const stored = JSON.parse(String(fake.valueOf(name)));
    expect(stored.db).toBe('postgres://x');
    expect(JSON.parse(stored.claude)).toEqual(login);
    expect(await startFrom(`aws-sm:${name}#claude`)).toEqual(login);
  });

  it('a reference pinned to a version stage cannot be written: 78', async () => {
    const name = unique('pinned');
    fake.putSecret(name, 'placeholder');
    const { home } = devHome();
    const r = await exportTo(home, `aws-sm:${name}?versionStage=AWSPREVIOUS`);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/pinned to the stage AWSPREVIOUS cannot be written/);
    expect(fake.valueOf(name)).toBe('placeholder');
  });

  it('access denied: 69, one line naming the IAM actions, no secret', async () => {
    const name = unique('denied');
    fake.putSecret(name, 'placeholder');
    fake.deny(name, ['PutSecretValue', 'CreateSecret', 'UpdateSecretVersionStage']);
    const { home } = devHome();
    const r = await exportTo(home, `aws-sm:${name}`);
    expect(r.code).toBe(69);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('claude-entry: error:'));
    expect(errors, r.stderr).toHaveLength(1);
    expect(errors[0]).toMatch(/AccessDeniedException/);
    for (const action of ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage', 'secretsmanager:CreateSecret', 'kms:GenerateDataKey'])
      expect(errors[0]).toContain(action);
    expect(r.stdout).toBe('');
    expectNoSecret(r.stdout + r.stderr, SECRETS);
    expect(fake.valueOf(name)).toBe('placeholder');
  });
});

// ---------------------------------------------------------------------------------------
// sync

const localOf = (home: string) => path.join(home, '.claude', '.credentials.json');

/** The bundle supervising `script`, which starts once the sync watches (see runSupervised). */
function supervise(home: string, ref: string, script: string, args: string[] = [], extra: NodeJS.ProcessEnv = {}, whenStarted?: () => unknown) {
  return runSupervised(script, args, {
    env: baseEnv(home, awsEnv({ CLAUDE_ENTRY_SOURCE: ref, CLAUDE_ENTRY_SYNC: 'both', CLAUDE_ENTRY_TIMEOUT: '3s', ...extra })),
    whenStarted,
  });
}

/** A Secrets Manager secret for the rows every store keeps (sync-rows.ts). */
function awsSecret(initial: string) {
  const name = unique('sync/rows');
  fake.putSecret(name, initial);
  return {
    env: awsEnv({ CLAUDE_ENTRY_SOURCE: `aws-sm:${name}`, CLAUDE_ENTRY_TIMEOUT: '3s' }),
    value: () => fake.valueOf(name),
    write: (text: string) => fake.putSecret(name, text),
    versions: () => fake.versionsOf(name).length,
  };
}

describe('sync with aws-sm', () => {
  it('a refreshed pair written by the command is pushed as a new AWSCURRENT version, conditionally', async () => {
    const name = unique('sync/push');
    const A = pair(Date.now() + HOUR);
    const B = pair(Date.now() + 8 * HOUR);
    const { versionId: v1 } = fake.putSecret(name, A);
    const home = tempDir();
    const before = fake.requests.length;
    const r = await supervise(home, `aws-sm:${name}`, `${writeLikeCli(localOf(home))}; sleep 2; exit 7`, [B]);
    expect(r.code, r.stderr).toBe(7);
    expect(tokenOf(fake.valueOf(name))).toBe(tokenOf(B));
    expect(tokenOf(fake.valueOf(name, 'AWSPREVIOUS'))).toBe(tokenOf(A));
    expect(r.stderr).toMatch(new RegExp(`claude-entry: sync push: pushed the refreshed login to aws-sm:${name} \\(access token valid until `));
    expectNoSecret(r.stderr, [tokenOf(A), tokenOf(B), FAKE.accessToken]);
    // The conditional write: staged, then AWSCURRENT moved from the version read.
    const ops = fake.requests.slice(before).filter((q) => q.operation !== 'GetSecretValue');
    const put = ops.find((q) => q.operation === 'PutSecretValue')!;
    expect(put.body).toMatchObject({ VersionStages: ['CLAUDE_ENTRY_PENDING'] });
    const move = ops.find((q) => q.operation === 'UpdateSecretVersionStage')!;
    expect(move.body).toMatchObject({ VersionStage: 'AWSCURRENT', RemoveFromVersionId: v1, MoveToVersionId: put.body.ClientRequestToken });
    expect(move.status).toBe(200);
    // check shows the last sync
    const check = await runBundle(['check', '--json'], { env: baseEnv(home) });
    expect(JSON.parse(check.stdout).lastSync).toMatchObject({ direction: 'push', result: 'copied' });
  });

  pushRows(awsSecret);
  pullRows(awsSecret);

  it('the conditional write: a writer whose read went stale is refused, reads again, and does not overwrite', async () => {
    const name = unique('sync/stale-writer');
    const A = pair(Date.now() + HOUR);
    const older = pair(Date.now() + 2 * HOUR, 'older');
    const newest = pair(Date.now() + 9 * HOUR, 'other-replica');
    const { versionId: v1 } = fake.putSecret(name, A);
    const home = tempDir();
    // Another replica's pair lands between this supervisor's staged put and its AWSCURRENT move.
    let slipped = false;
    fake.onRequest((operation, body) => {
      if (operation === 'UpdateSecretVersionStage' && body.SecretId === name && !slipped) {
        slipped = true;
        fake.putSecret(name, newest);
      }
    });
    const before = fake.requests.length;
    try {
      const r = await supervise(home, `aws-sm:${name}`, `${writeLikeCli(localOf(home))}; sleep 2`, [older], {
        CLAUDE_ENTRY_SYNC: 'push',
        CLAUDE_ENTRY_LOG: 'debug',
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/not pushing to aws-sm:.*: the other side holds a pair as new or newer/);
    } finally {
      fake.onRequest(undefined);
    }
    expect(slipped).toBe(true);
    expect(tokenOf(fake.valueOf(name))).toBe(tokenOf(newest));
    const move = fake.requests.slice(before).find((q) => q.operation === 'UpdateSecretVersionStage')!;
    expect(move).toMatchObject({ status: 400, errorType: 'InvalidParameterException', body: { RemoveFromVersionId: v1 } });
    // The refused version keeps only the pending label: never AWSCURRENT.
    expect(fake.versionsOf(name).find((v) => v.stages.includes('CLAUDE_ENTRY_PENDING'))!.stages).toEqual(['CLAUDE_ENTRY_PENDING']);
  });

  it('the store failing throughout leaves the command running, with its own exit code', async () => {
    const name = unique('sync/outage');
    const A = pair(Date.now() + HOUR);
    const B = pair(Date.now() + 8 * HOUR);
    fake.putSecret(name, A);
    const home = tempDir();
    // 500s from the moment the supervisor has started (the start itself read A), before the
    // command rewrites its file: every push meets them.
    const script = `${writeLikeCli(localOf(home))}; sleep 1.5; echo still running; exit 5`;
    try {
      const r = await supervise(home, `aws-sm:${name}`, script, [B], { CLAUDE_ENTRY_SYNC: 'push', CLAUDE_ENTRY_TIMEOUT: '2s' }, () =>
        fake.failNext('internal'),
      );
      expect(r.code, r.stderr).toBe(5);
      expect(r.stdout).toBe('still running\n');
      expect(r.stderr).toMatch(new RegExp(`claude-entry: warning: sync push: cannot (read|write) aws-sm:${name}`));
      expectNoSecret(r.stderr, [tokenOf(A), tokenOf(B)]);
    } finally {
      fake.clearFailures();
    }
    expect(fake.valueOf(name)).toBe(A);
  });

  it('the store gone (nothing listening) leaves the command running too', async () => {
    const gone = await startFakeSecretsManager({ region: REGION });
    const name = unique('sync/gone');
    const A = pair(Date.now() + HOUR);
    const B = pair(Date.now() + 8 * HOUR);
    gone.putSecret(name, A);
    const home = tempDir();
    const script = `${writeLikeCli(localOf(home))}; sleep 1.5; echo still running; exit 6`;
    // Closed once the supervisor has started, before the command writes: every sync call fails.
    const r = await runSupervised(script, [B], {
      env: baseEnv(home, awsEnv({ CLAUDE_ENTRY_SOURCE: `aws-sm:${name}`, CLAUDE_ENTRY_SYNC: 'push', CLAUDE_ENTRY_TIMEOUT: '2s' }, gone.url)),
      whenStarted: () => gone.close(),
    });
    expect(r.code, r.stderr).toBe(6);
    expect(r.stdout).toBe('still running\n');
    expect(r.stderr).toMatch(/claude-entry: warning: sync push: cannot (read|write) aws-sm:/);
  });
});

// ---------------------------------------------------------------------------------------

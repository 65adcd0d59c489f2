/**
 * src/cloud/aws-sdk.ts's contract (readSecret, writeSecret), imported from src and run against
 * the fake Secrets Manager (SigV4 verified): the cases a bundle test cannot stage (a write racing
 * another writer at a given moment, a secret with only AWSPENDING, a hung write and the deadline).
 * Through the bundle: test/integration/cloud-aws-write.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readSecret, writeSecret } from '../../src/cloud/aws-sdk.js';
import { ConfigError, SourceUnavailableError } from '../../src/errors.js';
import { StoreConflictError } from '../../src/sync/store.js';
import { createLogger } from '../../src/log.js';
import type { AwsSecretRef } from '../../src/sources/aws.js';
import { FAKE_AWS_CREDENTIALS, fakeAwsEnv, startFakeSecretsManager, type FakeSecretsManager } from '../fakes/aws.js';

const REGION = 'eu-west-3';

describe('readSecret / writeSecret', () => {
  let fake: FakeSecretsManager;
  beforeAll(async () => {
    fake = await startFakeSecretsManager({ region: REGION });
    // The SDK's credential chain reads process.env itself.
    vi.stubEnv('AWS_ACCESS_KEY_ID', FAKE_AWS_CREDENTIALS.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', FAKE_AWS_CREDENTIALS.secretAccessKey);
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await fake?.close();
  });
  let serial = 0;
  /** A secret name no other test of the file uses. */
  const unique = (prefix: string) => `${prefix}-${++serial}`;
  const options = (ms = 5000) => ({ env: fakeAwsEnv(fake.url, REGION), log: createLogger({ level: 'silent' }), deadline: Date.now() + ms });
  const ref = (secretId: string, extra: Partial<AwsSecretRef> = {}): AwsSecretRef => ({ secretId, region: REGION, ...extra });

  it('read: the AWSCURRENT value and its VersionId; a missing secret is payload undefined', async () => {
    const name = unique('direct/read');
    const { versionId } = fake.putSecret(name, 'v1');
    expect(await readSecret(ref(name), options())).toEqual({ payload: 'v1', version: versionId });
    const missing = await readSecret(ref(unique('direct/none')), options());
    expect(missing.payload).toBeUndefined();
  });

  it('ifVersion current: staged, then moved; stale: StoreConflictError and AWSCURRENT untouched', async () => {
    const name = unique('direct/cas');
    const { versionId: v1 } = fake.putSecret(name, 'v1');
    await writeSecret(ref(name), 'v2', { ...options(), ifVersion: v1 });
    expect(fake.valueOf(name)).toBe('v2');
    expect(fake.valueOf(name, 'AWSPREVIOUS')).toBe('v1');
    await expect(writeSecret(ref(name), 'v3', { ...options(), ifVersion: v1 })).rejects.toBeInstanceOf(StoreConflictError);
    expect(fake.valueOf(name)).toBe('v2');
  });

  it('a secret read as missing: created; created by someone else meanwhile: StoreConflictError', async () => {
    const name = unique('direct/absent');
    const read = await readSecret(ref(name), options());
    await writeSecret(ref(name), 'mine', { ...options(), ifVersion: read.version });
    expect(fake.valueOf(name)).toBe('mine');

    const raced = unique('direct/raced');
    const before = await readSecret(ref(raced), options());
    fake.putSecret(raced, 'theirs');
    await expect(writeSecret(ref(raced), 'mine', { ...options(), ifVersion: before.version })).rejects.toBeInstanceOf(StoreConflictError);
    expect(fake.valueOf(raced)).toBe('theirs');
  });

  it('a secret that exists with no AWSCURRENT (only AWSPENDING) gets its first current value', async () => {
    const name = unique('direct/pending-only');
    fake.putSecret(name, 'rotation in progress', { stages: ['AWSPENDING'] });
    const read = await readSecret(ref(name), options());
    expect(read.payload).toBeUndefined();
    await writeSecret(ref(name), 'first', { ...options(), ifVersion: read.version });
    expect(fake.valueOf(name)).toBe('first');
    expect(fake.valueOf(name, 'AWSPENDING')).toBe('rotation in progress');
  });

  it('pinned references and a missing ARN are ConfigError; nothing is sent', async () => {
    const before = fake.requests.length;
    await expect(writeSecret(ref('x', { versionId: 'a'.repeat(32) }), 'v', options())).rejects.toBeInstanceOf(ConfigError);
    await expect(writeSecret(ref('x', { versionStage: 'AWSPENDING' }), 'v', options())).rejects.toBeInstanceOf(ConfigError);
    expect(fake.requests.length).toBe(before);
    await writeSecret(ref('x-current', { versionStage: 'AWSCURRENT' }), 'v', options()); // AWSCURRENT is what is written
    const arn = `arn:aws:secretsmanager:${REGION}:${fake.accountId}:secret:${unique('direct/nope')}`;
    await expect(writeSecret(ref(arn), 'v', options())).rejects.toThrow(/an ARN cannot be created/);
  });

  it('the deadline holds: a hung write fails with SourceUnavailableError at the deadline', async () => {
    const name = unique('direct/hang');
    fake.putSecret(name, 'v1');
    fake.failNext('hang', 1);
    const started = Date.now();
    try {
      await expect(writeSecret(ref(name), 'v2', options(1000))).rejects.toBeInstanceOf(SourceUnavailableError);
    } finally {
      fake.clearFailures();
    }
    // The deadline ended it, not the hang (which never ends): generous for a busy machine.
    expect(Date.now() - started).toBeLessThan(1000 + 10_000);
    expect(fake.valueOf(name)).toBe('v1');
  });
});

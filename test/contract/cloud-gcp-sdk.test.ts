/**
 * src/cloud/gcp-sdk.ts's contract (readSecret, writeSecret), imported from src and run against
 * the fake Secret Manager (test/fakes/gcp.ts, the real gRPC protocol to the real SDK): the
 * versions it resolves, the calls a conditional write makes, and the races a bundle test cannot
 * stage. Through the bundle: test/integration/cloud-gcp-write.test.ts.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { readSecret, writeSecret } from '../../src/cloud/gcp-sdk.js';
import { StoreConflictError } from '../../src/sync/store.js';
import { createLogger } from '../../src/log.js';
import { parseGcpReference } from '../../src/sources/gcp.js';
import { startFakeMetadata, startFakeSecretManager } from '../fakes/gcp.js';

const CREDS = 'projects/p/secrets/creds';

/**
 * For one test: the fake (answering with the project as its number) and the options that point
 * the SDK at it, with a stand-in GCE metadata server so that no call waits on 169.254.169.254.
 */
async function fakeGcp() {
  const fake = await startFakeSecretManager({ projectNumbers: { p: '123456789012' } });
  const metadata = await startFakeMetadata();
  onTestFinished(async () => {
    await Promise.all([fake.close(), metadata.close()]);
  });
  const options = () => ({
    env: { CLAUDE_ENTRY_GCP_ENDPOINT: fake.endpoint, GCE_METADATA_HOST: metadata.host },
    log: createLogger({ level: 'silent' }),
    deadline: Date.now() + 5000,
  });
  return { fake, options };
}

describe('the SDK module: readSecret and writeSecret against the fake', () => {
  const ref = (text: string) => parseGcpReference(text, {});

  it('readSecret: the resolved version name (the project as its number); a missing secret, or one without versions, is undefined', async () => {
    const { fake, options } = await fakeGcp();
    fake.addVersion(CREDS, 'one');
    fake.addVersion(CREDS, 'two');
    expect(await readSecret(ref(CREDS), options())).toEqual({ payload: 'two', version: 'projects/123456789012/secrets/creds/versions/2' });
    expect(await readSecret(ref(`${CREDS}/versions/1`), options())).toEqual({ payload: 'one', version: 'projects/123456789012/secrets/creds/versions/1' });
    expect(await readSecret(ref('projects/p/secrets/missing'), options())).toEqual({ payload: undefined });
    fake.setAlias('projects/p/secrets/empty', 'x', 1); // creates the secret, no versions
    expect(await readSecret(ref('projects/p/secrets/empty'), options())).toEqual({ payload: undefined });
  });

  it('writeSecret with ifVersion: adds when latest is still that version, reading latest before and after', async () => {
    const { fake, options } = await fakeGcp();
    fake.addVersion(CREDS, 'one');
    const { version } = await readSecret(ref(CREDS), options());
    fake.calls.length = 0;
    await writeSecret(ref(CREDS), 'two', { ...options(), ifVersion: version });
    expect(fake.calls.map((c) => `${c.method} ${c.resource}`)).toEqual([
      `AccessSecretVersion ${CREDS}/versions/latest`,
      `AddSecretVersion ${CREDS}`,
      `AccessSecretVersion ${CREDS}/versions/latest`,
    ]);
    expect(fake.latest(CREDS)).toBe('two');
  });

  it('writeSecret with a stale ifVersion: StoreConflictError, nothing added', async () => {
    const { fake, options } = await fakeGcp();
    fake.addVersion(CREDS, 'one');
    const { version } = await readSecret(ref(CREDS), options());
    fake.addVersion(CREDS, 'someone else');
    const error = await writeSecret(ref(CREDS), 'mine', { ...options(), ifVersion: version }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreConflictError);
    expect(fake.versions(CREDS)!.map((v) => v.data)).toEqual(['one', 'someone else']);
  });

  it('writeSecret: a version landing after ours is a StoreConflictError (ours stays added)', async () => {
    const { fake, options } = await fakeGcp();
    fake.addVersion(CREDS, 'one');
    const { version } = await readSecret(ref(CREDS), options());
    let adds = 0;
    fake.beforeCall((call) => {
      if (call.method === 'AddSecretVersion' && adds++ === 0) setImmediate(() => fake.addVersion(CREDS, 'racer'));
    });
    // the racer's version is added once ours was served; the read that follows sees it
    const error = await writeSecret(ref(CREDS), 'mine', { ...options(), ifVersion: version }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreConflictError);
    expect(fake.versions(CREDS)!.map((v) => v.data)).toEqual(['one', 'mine', 'racer']);
  });

  it('writeSecret on a missing secret with ifVersion undefined (read as missing): creates it', async () => {
    const { fake, options } = await fakeGcp();
    await writeSecret(ref('projects/p/secrets/fresh'), 'first', { ...options(), ifVersion: undefined });
    expect(fake.latest('projects/p/secrets/fresh')).toBe('first');
    // another writer created it meanwhile: ALREADY_EXISTS is as good
    const { fake: fake2, options: options2 } = await fakeGcp();
    fake2.beforeCall((call) => {
      if (call.method === 'CreateSecret') fake2.setAlias('projects/p/secrets/fresh', 'x', 1);
    });
    await writeSecret(ref('projects/p/secrets/fresh'), 'first', options2());
    expect(fake2.calls.map((c) => c.method)).toEqual(['AddSecretVersion', 'CreateSecret', 'AddSecretVersion']);
    expect(fake2.latest('projects/p/secrets/fresh')).toBe('first');
  });
});

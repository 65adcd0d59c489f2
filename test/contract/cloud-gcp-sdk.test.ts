/**
 * src/cloud/gcp-sdk.ts's contract (readSecret, writeSecret), imported from src and run against
 * the fake Secret Manager (test/fakes/gcp.ts, the real gRPC protocol to the real SDK): the
 * versions it resolves, the calls a conditional write makes, and the races a bundle test cannot
 * stage. Through the bundle: test/integration/cloud-gcp-write.test.ts.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { CURRENT_ANNOTATION, fetchSecret, readSecret, writeSecret } from '../../src/cloud/gcp-sdk.js';
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

describe("the SDK module: a fleet's document is written with an exact compare-and-swap (the annotation moved with the Secret's etag)", () => {
  const ref = (text: string) => parseGcpReference(text, {});
  /** A fleet's document: a payload carrying the fleet record (src/fleet/setup.ts FLEET_KEY). */
  const doc = (by: string) => JSON.stringify({ claudeAiOauth: { accessToken: 'sk-ant-oat01-TEST' }, claudeEntryFleet: { holder: by, generation: 1 } });
  const holder = (text: string | undefined) => (JSON.parse(String(text)) as { claudeEntryFleet: { holder: string } }).claudeEntryFleet.holder;

  it('a conditional write: GetSecret, latest, add, then UpdateSecret moving the annotation; the new version is current', async () => {
    const { fake, options } = await fakeGcp();
    fake.addVersion(CREDS, doc('seed'));
    const { version } = await readSecret(ref(CREDS), options());
    fake.calls.length = 0;
    await writeSecret(ref(CREDS), doc('A'), { ...options(), ifVersion: version });
    // The first one names the current version first (nothing added can shadow it after that).
    expect(fake.calls.map((c) => `${c.method} ${c.resource}`)).toEqual([
      `GetSecret ${CREDS}`,
      `AccessSecretVersion ${CREDS}/versions/latest`,
      `UpdateSecret ${CREDS}`,
      `AddSecretVersion ${CREDS}`,
      `UpdateSecret ${CREDS}`,
    ]);
    expect(fake.annotations(CREDS)).toEqual({ [CURRENT_ANNOTATION]: '2' });
    const read = await readSecret(ref(CREDS), options());
    expect(read).toEqual({ payload: doc('A'), version: 'projects/123456789012/secrets/creds/versions/2' });
    fake.calls.length = 0;
    await writeSecret(ref(CREDS), doc('B'), { ...options(), ifVersion: read.version });
    expect(fake.calls.map((c) => `${c.method} ${c.resource}`)).toEqual([
      `GetSecret ${CREDS}`,
      `AccessSecretVersion ${CREDS}/versions/latest`,
      `AddSecretVersion ${CREDS}`,
      `UpdateSecret ${CREDS}`,
    ]);
    expect(fake.annotations(CREDS)).toEqual({ [CURRENT_ANNOTATION]: '3' });
  });

  it('two writers from the same read: the one that commits first wins; the other gets StoreConflictError, its version is never current', async () => {
    const { fake, options } = await fakeGcp();
    fake.addVersion(CREDS, doc('seed'));
    const { version } = await readSecret(ref(CREDS), options());
    // B has passed its check (GetSecret, latest); A's whole write commits before B's UpdateSecret.
    let staged = false;
    fake.beforeCall((call) => {
      if (call.method !== 'AddSecretVersion' || staged) return;
      staged = true;
      fake.addVersion(CREDS, doc('A'));
      fake.annotate(CREDS, CURRENT_ANNOTATION, '2');
    });
    const error = await writeSecret(ref(CREDS), doc('B'), { ...options(), ifVersion: version }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreConflictError);
    expect(fake.versions(CREDS)!.map((v) => `${holder(v.data)} ${v.state}`)).toEqual(['seed ENABLED', 'A ENABLED', 'B ENABLED']);
    expect(fake.annotations(CREDS)).toEqual({ [CURRENT_ANNOTATION]: '2' });
    expect(holder((await readSecret(ref(CREDS), options())).payload)).toBe('A');
    expect(holder((await fetchSecret(ref(CREDS), options())).toString('utf8'))).toBe('A');
    // the next write from what was read wins over the stray version
    fake.beforeCall(undefined);
    await writeSecret(ref(CREDS), doc('C'), { ...options(), ifVersion: (await readSecret(ref(CREDS), options())).version });
    expect(holder((await readSecret(ref(CREDS), options())).payload)).toBe('C');
  });

  it('racing for real, ten rounds of two writers with the same read: exactly one wins each round, and the store holds the winner', async () => {
    const { fake, options } = await fakeGcp();
    fake.addVersion(CREDS, doc('seed'));
    for (let round = 0; round < 10; round++) {
      const { version } = await readSecret(ref(CREDS), options());
      const results = await Promise.allSettled(['A', 'B'].map((w) => writeSecret(ref(CREDS), doc(`${w}${round}`), { ...options(), ifVersion: version })));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [`${'AB'[i]}${round}`] : []));
      expect(won, JSON.stringify(results)).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(StoreConflictError);
      expect(holder((await readSecret(ref(CREDS), options())).payload)).toBe(won[0]);
    }
  });

  it('an unconditional write of a fleet document moves the annotation too; a plain version added by someone else (gcloud) is current, and a fenced write from it wins', async () => {
    const { fake, options } = await fakeGcp();
    fake.addVersion(CREDS, doc('seed'));
    await writeSecret(ref(CREDS), doc('A'), { ...options(), ifVersion: (await readSecret(ref(CREDS), options())).version });
    await writeSecret(ref(CREDS), doc('exported'), options());
    expect(fake.annotations(CREDS)).toEqual({ [CURRENT_ANNOTATION]: '3' });
    expect(holder((await readSecret(ref(CREDS), options())).payload)).toBe('exported');
    fake.addVersion(CREDS, JSON.stringify({ claudeAiOauth: { accessToken: 'sk-ant-oat01-TEST-new' } }));
    const plain = await readSecret(ref(CREDS), options());
    expect(plain.version).toBe('projects/123456789012/secrets/creds/versions/4');
    await writeSecret(ref(CREDS), doc('B'), { ...options(), ifVersion: plain.version });
    expect(fake.annotations(CREDS)).toEqual({ [CURRENT_ANNOTATION]: '5' });
  });

  it('plain payloads make the calls they always made: no GetSecret, no UpdateSecret (those permissions are not needed)', async () => {
    const { fake, options } = await fakeGcp();
    fake.addVersion(CREDS, 'one');
    fake.deny(CREDS, ['get', 'update']);
    await writeSecret(ref(CREDS), 'two', { ...options(), ifVersion: (await readSecret(ref(CREDS), options())).version });
    await writeSecret(ref(CREDS), 'three', options());
    expect(await readSecret(ref(CREDS), options())).toMatchObject({ payload: 'three' });
    expect(fake.calls.map((c) => c.method)).not.toContain('GetSecret');
    expect(fake.calls.map((c) => c.method)).not.toContain('UpdateSecret');
  });

  it("a fleet's write without secrets.update: a denial naming the permissions, nothing added", async () => {
    const { fake, options } = await fakeGcp();
    fake.addVersion(CREDS, doc('seed'));
    fake.deny(CREDS, ['update']);
    const error = await writeSecret(ref(CREDS), doc('A'), { ...options(), ifVersion: (await readSecret(ref(CREDS), options())).version }).catch(
      (e: unknown) => e as Error,
    );
    expect(String(error)).toMatch(/permission denied updating the secret .*secretmanager\.secrets\.get and secretmanager\.secrets\.update/);
    expect(fake.versions(CREDS)!.map((v) => v.state)).toEqual(['ENABLED']);
    expect(holder((await readSecret(ref(CREDS), options())).payload)).toBe('seed');
  });
});

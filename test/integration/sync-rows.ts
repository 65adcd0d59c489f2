/**
 * The sync rules every writable store keeps, through the built bundle: the same rows for the
 * file source (sync-file.test.ts) and the AWS, GCP and Azure stores (cloud-*-write.test.ts).
 * A store says how to make one that holds a login, how another replica writes it, and how to
 * read it back; what only one store does (AWS's staged version, GCP's read after the add,
 * Azure's conflicts) stays in its file.
 */
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { FAKE, HOUR, baseEnv, expectNoSecret, fileMode, loginPair as pair, runSupervised, shWaitFor, tempDir, tokenOf, writeLikeCli } from '../helpers.js';

export interface HeldStore {
  /** CLAUDE_ENTRY_SOURCE, and whatever reaching the store takes (endpoints, keys, a deadline). */
  env: NodeJS.ProcessEnv;
  /** The login the store holds now (its current or latest version). */
  value(): string | Buffer | undefined;
  /** Another replica writes `text` into the store. */
  write(text: string): unknown;
  /** How many versions it holds, for a store that keeps versions. */
  versions?(): number;
}

/** A store holding `initial`. */
export type StoreHolding = (initial: string) => HeldStore | Promise<HeldStore>;

const BLANK = JSON.stringify({ claudeAiOauth: { accessToken: '', refreshToken: '', expiresAt: 0, scopes: ['user:inference'] } });

/**
 * A supervisor started from the store in a fresh home; its command (`script` of its credentials
 * file) starts once the sync watches, after `whenStarted`.
 */
async function supervise(store: HeldStore, script: (local: string) => string, args: string[], extra: NodeJS.ProcessEnv, whenStarted?: () => unknown) {
  const home = path.join(tempDir(), 'home');
  const local = path.join(home, '.claude', '.credentials.json');
  const r = await runSupervised(script(local), args, {
    env: baseEnv(home, { CLAUDE_ENTRY_SYNC: 'both', CLAUDE_ENTRY_TIMEOUT: '5s', ...store.env, ...extra }),
    whenStarted,
  });
  return { ...r, local };
}

/** Push: what the command writes goes to the store, unless it is not a newer, valid login. */
export function pushRows(holding: StoreHolding): void {
  it('a pair written just before exit is pushed at exit', async () => {
    const A = pair(Date.now() + HOUR);
    const B = pair(Date.now() + 8 * HOUR);
    const store = await holding(A);
    const r = await supervise(store, (local) => `${writeLikeCli(local)}; exit 0`, [B], { CLAUDE_ENTRY_SYNC: 'push' });
    expect(r.code, r.stderr).toBe(0);
    expect(tokenOf(store.value())).toBe(tokenOf(B));
  });

  it.each([
    ['a blanked file', BLANK, /blanked by a failed refresh/],
    ['an older pair', pair(Date.now() + 60_000), /the other side holds a pair as new or newer/],
    ['an invalid file', '{"claudeAiOauth": {}}', /not a valid login/],
  ])('%s is never pushed', async (_what, written, reason) => {
    const A = pair(Date.now() + HOUR);
    const store = await holding(A);
    const r = await supervise(store, (local) => `${writeLikeCli(local)}; sleep 1`, [written], { CLAUDE_ENTRY_SYNC: 'push', CLAUDE_ENTRY_LOG: 'debug' });
    expect(r.code, r.stderr).toBe(0);
    expect(String(store.value())).toBe(A);
    if (store.versions) expect(store.versions()).toBe(1);
    expect(r.stderr).toMatch(reason);
    expectNoSecret(r.stdout + r.stderr, [tokenOf(A), FAKE.accessToken]);
  });

  it('two supervisors pushing at once end with the newest pair in the store', async () => {
    const A = pair(Date.now() + HOUR);
    const newer = pair(Date.now() + 8 * HOUR, 'newer');
    const newest = pair(Date.now() + 9 * HOUR, 'newest');
    const store = await holding(A);
    const push = (written: string) =>
      supervise(store, (local) => `${writeLikeCli(local)}; sleep 1.5`, [written], { CLAUDE_ENTRY_SYNC: 'push', CLAUDE_ENTRY_LOG: 'debug' });
    const [r1, r2] = await Promise.all([push(newest), push(newer)]);
    expect([r1.code, r2.code], r1.stderr + r2.stderr).toEqual([0, 0]);
    expect(tokenOf(store.value())).toBe(tokenOf(newest));
  });
}

/** Pull: another replica's newer pair reaches this one's file, and a pull never writes the store. */
export function pullRows(holding: StoreHolding): void {
  it('before the refresh window, a stale local pair is replaced by the newer one in the store', { timeout: 150_000 }, async () => {
    // local expires in 7 min + 3 s: a pull is due 3 s from now (5 min window + 2 min lead), then
    // each minute while inside that window (on a slow start, the first one may find nothing).
    const A = pair(Date.now() + 7 * 60_000 + 3000);
    const B = pair(Date.now() + 8 * HOUR);
    const store = await holding(A);
    // The other replica's newer pair reaches the store once this one has started (it read A);
    // the command ends once the pull has brought it.
    const r = await supervise(
      store,
      (local) => `${shWaitFor(local, tokenOf(B))}; cat "${local}"`,
      [],
      { CLAUDE_ENTRY_SYNC: 'pull' },
      () => store.write(B),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(tokenOf(r.stdout)).toBe(tokenOf(B));
    expect(r.stderr).toMatch(/sync pull: replaced .*\.credentials\.json with the newer login from /);
    expect(fileMode(r.local)).toBe(0o600);
    if (store.versions) expect(store.versions()).toBe(2);
    expectNoSecret(r.stderr, [tokenOf(A), tokenOf(B), FAKE.accessToken]);
  });

  it('when the command blanks the file, a newer pair from the store replaces it (and the blank is not pushed)', async () => {
    const A = pair(Date.now() + HOUR);
    const B = pair(Date.now() + 8 * HOUR);
    const store = await holding(A);
    // The other replica's refresh reaches the store; then this one's refresh fails (the blank).
    const r = await supervise(
      store,
      (local) => `${writeLikeCli(local)}; ${shWaitFor(local, tokenOf(B))}; cat "${local}"`,
      [BLANK],
      {},
      () => store.write(B),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(tokenOf(r.stdout)).toBe(tokenOf(B));
    expect(r.stderr).toMatch(/sync pull: replaced .*\.credentials\.json with the newer login from /);
    expect(tokenOf(store.value())).toBe(tokenOf(B));
    if (store.versions) expect(store.versions()).toBe(2);
  });
}

/**
 * The push rules every writable store keeps, through the built bundle: the same rows for the
 * file source (sync-file.test.ts) and the AWS, GCP and Azure stores (cloud-*-write.test.ts).
 * A store says how to make one that holds a login, and how to read it back; what only one
 * store does (AWS's staged version, GCP's read after the add, Azure's versions) stays in its file.
 */
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { FAKE, HOUR, baseEnv, expectNoSecret, loginPair as pair, runSupervised, tempDir, tokenOf, writeLikeCli } from '../helpers.js';

export interface HeldStore {
  /** CLAUDE_ENTRY_SOURCE, and whatever reaching the store takes (endpoints, keys, a deadline). */
  env: NodeJS.ProcessEnv;
  /** The login the store holds now (its current or latest version). */
  value(): string | Buffer | undefined;
  /** How many versions it holds, for a store that keeps versions. */
  versions?(): number;
}

/** A store holding `initial`. */
export type StoreHolding = (initial: string) => HeldStore | Promise<HeldStore>;

const BLANK = JSON.stringify({ claudeAiOauth: { accessToken: '', refreshToken: '', expiresAt: 0, scopes: ['user:inference'] } });

/** A supervisor started from the store in a fresh home; its command writes $1 as Claude Code does, once the sync watches. */
function supervise(store: HeldStore, then: string, written: string, extra: NodeJS.ProcessEnv) {
  const home = path.join(tempDir(), 'home');
  const local = path.join(home, '.claude', '.credentials.json');
  return runSupervised(`${writeLikeCli(local)}; ${then}`, [written], {
    env: baseEnv(home, { CLAUDE_ENTRY_SYNC: 'both', CLAUDE_ENTRY_TIMEOUT: '5s', ...store.env, ...extra }),
  });
}

export function pushRows(holding: StoreHolding): void {
  it('a pair written just before exit is pushed at exit', async () => {
    const A = pair(Date.now() + HOUR);
    const B = pair(Date.now() + 8 * HOUR);
    const store = await holding(A);
    const r = await supervise(store, 'exit 0', B, { CLAUDE_ENTRY_SYNC: 'push' });
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
    const r = await supervise(store, 'sleep 1', written, { CLAUDE_ENTRY_SYNC: 'push', CLAUDE_ENTRY_LOG: 'debug' });
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
    const push = (written: string) => supervise(store, 'sleep 1.5', written, { CLAUDE_ENTRY_SYNC: 'push', CLAUDE_ENTRY_LOG: 'debug' });
    const [r1, r2] = await Promise.all([push(newest), push(newer)]);
    expect([r1.code, r2.code], r1.stderr + r2.stderr).toEqual([0, 0]);
    expect(tokenOf(store.value())).toBe(tokenOf(newest));
  });
}

/**
 * The fleet's lease in the store's document (src/fleet/lease.ts): taken and given back only by
 * compare-and-swap, a generation that fences a holder that lost it, and the in-flight marker
 * that blocks every refresh of a refresh token that may be spent. On a file store (a lock
 * beside the file plus the version check) and on a store with a compare-and-swap of its own.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FLEET_KEY,
  LeaseLost,
  acquireLease,
  blockingInflight,
  casWrite,
  composeDoc,
  leaseState,
  lockFileOf,
  parseDoc,
  readDoc,
  releaseLease,
  tokenHash,
  type FleetDoc,
} from '../../src/fleet/lease.js';
import { StoreConflictError, type SyncStore } from '../../src/sync/store.js';
import { fileStore } from '../../src/sync/stores.js';
import { loginPair, tempDir } from '../helpers.js';

/** A store with an exact compare-and-swap (as AWSCURRENT's stage move is). */
function memoryStore(initial: string | undefined): SyncStore & { writes: number } {
  let text = initial;
  let version = 1;
  const store = {
    describe: 'memory:test',
    writes: 0,
    async read() {
      return { text, version: String(version) };
    },
    async write(next: string, ifVersion?: string) {
      if (ifVersion !== undefined && ifVersion !== String(version)) throw new StoreConflictError('memory:test');
      text = next;
      version++;
      store.writes++;
    },
  };
  return store;
}

function fileBacked(initial: string): SyncStore {
  const file = path.join(tempDir(), 'login.json');
  fs.writeFileSync(file, initial, { mode: 0o600 });
  return fileStore(file);
}

const HOUR = 3600_000;

describe.each([
  ['file', fileBacked],
  ['compare-and-swap', memoryStore],
] as const)('the lease on a %s store', (_kind, make) => {
  it('is taken by compare-and-swap; a second taker with the same read loses; generation counts hands', async () => {
    const store = make(loginPair(Date.now() + 8 * HOUR));
    const doc = await readDoc(store);
    expect(doc.record).toBeUndefined();
    expect(leaseState(doc.record, 'a')).toBe('free');
    const a = await acquireLease(store, doc, 'a', Date.now() + HOUR);
    expect(a.record).toMatchObject({ holder: 'a', generation: 1, inflight: null });
    // b read before a wrote: its write is refused.
    await expect(acquireLease(store, doc, 'b', Date.now() + HOUR)).rejects.toBeInstanceOf(StoreConflictError);
    // b reads again: held.
    const now = await readDoc(store);
    expect(leaseState(now.record, 'b')).toBe('held');
    await expect(acquireLease(store, now, 'b', Date.now() + HOUR)).rejects.toThrow(/held by a/);
    // a keeps it: same generation.
    const again = await acquireLease(store, now, 'a', Date.now() + 2 * HOUR);
    expect(again.record!.generation).toBe(1);
    // The login itself is untouched by the lease.
    expect(again.login.state).toBe('valid');
    expect(again.object).toEqual(doc.object);
  });

  it('a lapsed lease passes to another replica with a new generation, and fences the old holder out', async () => {
    const store = make(loginPair(Date.now() + 8 * HOUR));
    const first = await acquireLease(store, await readDoc(store), 'a', Date.now() - 1);
    const taken = await acquireLease(store, await readDoc(store), 'b', Date.now() + HOUR);
    expect(taken.record).toMatchObject({ holder: 'b', generation: 2 });
    // a, still holding its old read, tries to mark a refresh: refused.
    await expect(
      casWrite(store, first, first.object!, { ...first.record!, inflight: { holder: 'a', generation: 1, since: Date.now(), rt: 'x' } }),
    ).rejects.toBeInstanceOf(StoreConflictError);
    expect((await readDoc(store)).record!.holder).toBe('b');
  });

  it('an in-flight marker naming the stored refresh token blocks every lease change, until a new login replaces the pair', async () => {
    const store = make(loginPair(Date.now() + 8 * HOUR));
    let doc = await acquireLease(store, await readDoc(store), 'a', Date.now() - 1);
    const rt = doc.login.state === 'valid' ? doc.login.refreshToken : undefined;
    doc = await casWrite(store, doc, doc.object!, { ...doc.record!, inflight: { holder: 'a', generation: 1, since: Date.now(), rt: tokenHash(rt) } });
    expect(blockingInflight(doc)).toMatchObject({ holder: 'a' });
    await expect(acquireLease(store, doc, 'b', Date.now() + HOUR)).rejects.toThrow(/in flight/);
    expect(await releaseLease(store, doc, 'a')).toBeUndefined(); // the marker stays
    // Someone logs in again and stores the new login, record kept: the marker names a token no longer stored.
    const fresh = JSON.parse(loginPair(Date.now() + 8 * HOUR));
    await store.write(composeDoc(fresh, doc.record), doc.version);
    const after = await readDoc(store);
    expect(after.record!.inflight).not.toBeNull();
    expect(blockingInflight(after)).toBeUndefined();
    expect((await acquireLease(store, after, 'b', Date.now() + HOUR)).record).toMatchObject({ holder: 'b', generation: 2 });
  });

  it('is given back at exit; then anyone takes it', async () => {
    const store = make(loginPair(Date.now() + 8 * HOUR));
    const doc = await acquireLease(store, await readDoc(store), 'a', Date.now() + HOUR);
    const released = await releaseLease(store, doc, 'a');
    expect(released!.record).toMatchObject({ holder: null });
    expect(leaseState(released!.record, 'b')).toBe('free');
    expect((await acquireLease(store, released!, 'b', Date.now() + HOUR)).record!.generation).toBe(2);
  });

  it('twenty replicas racing for a free lease: exactly one gets it', async () => {
    const store = make(loginPair(Date.now() + 8 * HOUR));
    const results = await Promise.allSettled(Array.from({ length: 20 }, async (_, i) => acquireLease(store, await readDoc(store), `r${i}`, Date.now() + HOUR)));
    const won = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<FleetDoc>[];
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason instanceof StoreConflictError || r.reason instanceof LeaseLost).toBe(true);
    expect((await readDoc(store)).record!.holder).toBe(won[0]!.value.record!.holder);
  });
});

describe('the document', () => {
  it('keeps the login apart from the record, and the record out of the login', () => {
    const pair = JSON.parse(loginPair(Date.now() + HOUR));
    const record = { v: 1 as const, generation: 3, holder: 'h', leaseUntil: 5, inflight: null };
    const text = composeDoc(pair, record);
    const doc = parseDoc(text, '7', 'x');
    expect(doc.record).toEqual(record);
    expect(doc.object).toEqual(pair);
    expect(doc.login.state).toBe('valid');
    expect(JSON.parse(composeDoc({ ...pair, [FLEET_KEY]: record }, undefined))).toEqual(pair);
  });

  it('a file store locks beside the file', () => {
    expect(lockFileOf(fileStore('/x/y.json'))).toBe('/x/y.json.fleet.lock');
    expect(lockFileOf({ describe: 'aws-sm:prod/x', read: async () => ({ text: undefined }), write: async () => undefined })).toBeUndefined();
  });
});

/**
 * The fleet's lease, kept in the store's own document beside the login:
 *
 *   {"claudeAiOauth": {...the pair...},
 *    "claudeEntryFleet": {"v": 1, "generation": 7, "holder": "host/pid/id", "leaseUntil": ms,
 *                         "inflight": null | {"holder", "generation", "since", "rt", "failed"?},
 *                         "lastRefresh": {"at", "by", "generation"}}}
 *
 * Every change to it is a compare-and-swap on the version read (the store's own: AWSCURRENT's
 * version id, a file's inode/mtime/size under a lock beside the file), followed by a read that
 * must show the record just written. `generation` goes up by one at every acquisition: it is
 * the fencing token. A refresher writes `inflight` (naming the refresh token it is about to
 * spend, by a hash) under its lease before it calls the token endpoint, and publishes the new
 * pair with a compare-and-swap on the version that holds that marker: a refresher that lost
 * its lease cannot publish, and nobody refreshes while a marker names the stored refresh token.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { errnoCode, messageOf } from '../errors.js';
import { classifyLogin, type Login } from '../login.js';
import { StoreConflictError, type SyncStore } from '../sync/store.js';
import { FLEET_KEY } from './setup.js';

export { FLEET_KEY } from './setup.js';

export interface Inflight {
  holder: string;
  generation: number;
  /** When the refresher was about to call the token endpoint (ms). */
  since: number;
  /** A hash of the refresh token being spent (never the token). */
  rt: string;
  /** Set when the refresh failed: the token may be spent, so nobody retries it. */
  failed?: { at: number; message: string };
}

export interface FleetRecord {
  v: 1;
  generation: number;
  holder: string | null;
  leaseUntil: number;
  inflight: Inflight | null;
  lastRefresh?: { at: number; by: string; generation: number };
}

export interface FleetDoc {
  /** The store's version of what was read (for the next compare-and-swap). */
  version?: string;
  /** The whole document as an object (undefined when the store is empty or not JSON). */
  object?: Record<string, unknown>;
  record?: FleetRecord;
  /** The login it holds, as a sync classifies it. */
  login: Login;
}

/** The lease is lost (someone else wrote the store since our own write). */
export class LeaseLost extends Error {}

export function tokenHash(token: string | undefined): string {
  return createHash('sha256')
    .update(token ?? '')
    .digest('hex')
    .slice(0, 16);
}

function parseRecord(value: unknown): FleetRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Partial<FleetRecord>;
  const inflight = r.inflight && typeof r.inflight === 'object' && typeof r.inflight.rt === 'string' ? r.inflight : null;
  // A damaged record keeps its in-flight marker (the token it names may be spent); the rest is read as absent.
  if (typeof r.generation !== 'number' || typeof r.leaseUntil !== 'number') {
    return inflight ? { v: 1, generation: 0, holder: null, leaseUntil: 0, inflight } : undefined;
  }
  return {
    v: 1,
    generation: r.generation,
    holder: typeof r.holder === 'string' ? r.holder : null,
    leaseUntil: r.leaseUntil,
    inflight,
    lastRefresh: r.lastRefresh,
  };
}

/** Split what a store holds into the login and the fleet record. */
export function parseDoc(text: string | undefined, version: string | undefined, describe: string, now = Date.now()): FleetDoc {
  if (text === undefined) return { version, login: { state: 'missing' } };
  let object: Record<string, unknown> | undefined;
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) object = value as Record<string, unknown>;
  } catch {
    // base64 or a token: the login says what it is
  }
  if (!object) return { version, login: classifyLogin(text, describe, now) };
  const { [FLEET_KEY]: raw, ...rest } = object;
  const login = classifyLogin(JSON.stringify(rest), describe, now);
  const record = parseRecord(raw);
  // A holder's lease ends a few minutes past the stored token's expiry at most (refresh time and
  // grace, or the login's bound): one far beyond (a clock far ahead, a hand edit) has lapsed.
  const expiresAt = login.state === 'valid' ? login.expiresAt : undefined;
  if (record && record.leaseUntil > Math.max(expiresAt ?? now, now) + PLAUSIBLE_LEASE_MS) record.leaseUntil = 0;
  return { version, object: rest, record, login };
}

const PLAUSIBLE_LEASE_MS = 10 * 60_000;

export function composeDoc(object: Record<string, unknown>, record: FleetRecord | undefined): string {
  const { [FLEET_KEY]: _old, ...rest } = object;
  return JSON.stringify(record ? { ...rest, [FLEET_KEY]: record } : rest);
}

export type LeaseState = 'mine' | 'free' | 'held';

export function leaseState(record: FleetRecord | undefined, me: string, now = Date.now()): LeaseState {
  if (!record || record.holder === null) return 'free';
  if (record.holder === me) return 'mine';
  return record.leaseUntil <= now ? 'free' : 'held';
}

/**
 * A marker that stops every refresh: it names the refresh token the store holds now, so that
 * token may have been spent by a refresh whose result never reached the store.
 */
export function blockingInflight(doc: FleetDoc): Inflight | undefined {
  const inflight = doc.record?.inflight;
  if (!inflight || doc.login.state !== 'valid') return undefined;
  return inflight.rt === tokenHash(doc.login.refreshToken) ? inflight : undefined;
}

export async function readDoc(store: SyncStore): Promise<FleetDoc> {
  const stored = await store.read();
  return parseDoc(stored.text, stored.version, store.describe);
}

/**
 * Compare-and-swap: write `object` + `record` if the store still holds `from.version`, then
 * read it back; the answer is the document now stored, which must carry our record.
 * Throws StoreConflictError when the store moved on first, LeaseLost when it moved on right
 * after (someone wrote over ours before we could read it back).
 */
export async function casWrite(store: SyncStore, from: FleetDoc, object: Record<string, unknown>, record: FleetRecord): Promise<FleetDoc> {
  if (from.version === undefined) throw new StoreConflictError(`${store.describe} (it has no version to compare with)`);
  const text = composeDoc(object, record);
  await withStoreLock(store, async () => {
    // Under the lock, the version check is exact among fleet members (a file has no compare-and-swap of its own).
    if (lockFileOf(store)) {
      const now = await store.read();
      if (now.version !== from.version) throw new StoreConflictError(store.describe);
    }
    await store.write(text, from.version);
  });
  const after = await readDoc(store);
  if (JSON.stringify(after.record) !== JSON.stringify(record)) throw new LeaseLost(`${store.describe} was written by someone else right after our write`);
  return after;
}

/** The path of a file store (`file:/path`, also `file:/path#key`), whose lock lives beside it. */
export function lockFileOf(store: SyncStore): string | undefined {
  const match = /^file:(.+?)(#[^/]*)?$/.exec(store.describe);
  return match ? `${match[1]}.fleet.lock` : undefined;
}

const LOCK_STALE_MS = 10_000;
const LOCK_WAIT_MS = 15_000;

/**
 * A lock directory beside a file store, held for the read-compare-write of one change (ms).
 * Stale after 10 s (a writer that died holding it). Other stores need none: their write is a
 * compare-and-swap of their own.
 */
async function withStoreLock<T>(store: SyncStore, fn: () => Promise<T>): Promise<T> {
  const lock = lockFileOf(store);
  if (!lock) return fn();
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    try {
      fs.mkdirSync(lock, { mode: 0o700 });
      break;
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw new Error(`cannot lock ${store.describe} (${lock}): ${messageOf(error)}`);
      const stat = fs.lstatSync(lock, { throwIfNoEntry: false });
      if (stat && Date.now() - stat.mtimeMs > LOCK_STALE_MS) fs.rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`${store.describe} stayed locked for ${LOCK_WAIT_MS / 1000} s (${lock})`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Take the lease (or keep it): generation + 1 when it changes hands. Only when nothing is in
 * flight: a marker naming the stored refresh token blocks every lease change until a new
 * login replaces the pair.
 */
export async function acquireLease(store: SyncStore, doc: FleetDoc, me: string, leaseUntil: number, now = Date.now()): Promise<FleetDoc> {
  if (!doc.object) throw new Error(`${store.describe} holds no credentials JSON`);
  const state = leaseState(doc.record, me, now);
  if (state === 'held') throw new StoreConflictError(`${store.describe} (the lease is held by ${doc.record!.holder})`);
  if (blockingInflight(doc)) throw new StoreConflictError(`${store.describe} (a refresh is in flight)`);
  const generation = (doc.record?.generation ?? 0) + (state === 'mine' ? 0 : 1);
  return casWrite(store, doc, doc.object, { v: 1, generation, holder: me, leaseUntil, inflight: null, lastRefresh: doc.record?.lastRefresh });
}

/** Give the lease back (at exit), unless a refresh is in flight: its marker must stay. */
export async function releaseLease(store: SyncStore, doc: FleetDoc, me: string): Promise<FleetDoc | undefined> {
  if (!doc.object || !doc.record || doc.record.holder !== me || doc.record.inflight) return undefined;
  return casWrite(store, doc, doc.object, { ...doc.record, holder: null, leaseUntil: 0 });
}

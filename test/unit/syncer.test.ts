/**
 * The syncer's clock (src/sync/syncer.ts) under vitest's fake timers: the debounce of file
 * events, the pull schedule (before the refresh window, then each minute inside it), retries
 * with backoff, and stop() (the last push, one try per call, the shorter final budget).
 *
 * The credentials file is real (in a temp dir); the directory watch and the store are fakes
 * the tests drive, so that every event happens at a time the test chose.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, SourceUnavailableError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { StoreConflictError, type StoredLogin, type SyncStore } from '../../src/sync/store.js';
import { SYNC_TIMING, startSync, type SyncMode, type SyncResult, type Syncer, type WatchDirectory } from '../../src/sync/syncer.js';
import { loginPair, tempDir, tokenOf } from '../helpers.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** Pulls start this long before a pair expires: the CLI's refresh window and the lead before it. */
const HORIZON = SYNC_TIMING.refreshWindowMs + SYNC_TIMING.pullLeadMs;

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-03-01T12:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

/** A store in memory: its calls are recorded with the fake clock's time; failures are scripted. */
class FakeStore implements SyncStore {
  describe = 'fake:store';
  version = 0;
  reads: number[] = [];
  writes: { at: number; text: string; ifVersion?: string }[] = [];
  /** Thrown by the next reads, one each, before reads succeed again. */
  readFailures: Error[] = [];
  /** Thrown by every write while set. */
  writeFailure: Error | undefined;
  /** While set, reads never answer. */
  hang = false;

  constructor(public text: string | undefined) {}

  async read(): Promise<StoredLogin> {
    this.reads.push(Date.now());
    if (this.hang) return new Promise(() => {});
    const failure = this.readFailures.shift();
    if (failure) throw failure;
    return { text: this.text, version: String(this.version) };
  }

  async write(text: string, ifVersion?: string): Promise<void> {
    this.writes.push({ at: Date.now(), text, ifVersion });
    if (this.writeFailure) throw this.writeFailure;
    if (ifVersion !== undefined && ifVersion !== String(this.version)) throw new StoreConflictError(this.describe);
    this.text = text;
    this.version++;
  }
}

interface Harness {
  file: string;
  store: FakeStore;
  results: SyncResult[];
  syncer: Syncer;
  /** A file event for the credentials file (or another entry of its directory). */
  fire(name?: string): void;
  writeLocal(text: string): void;
  readLocal(): string;
}

function harness(mode: SyncMode, local: string, stored: string | undefined, timeoutMs = 15_000): Harness {
  const dir = tempDir();
  const file = path.join(dir, '.credentials.json');
  fs.writeFileSync(file, local, { mode: 0o600 });
  const store = new FakeStore(stored);
  const results: SyncResult[] = [];
  let onEvent: ((filename: string | null) => void) | undefined;
  const watch: WatchDirectory = (watched, listener) => {
    expect(watched).toBe(dir);
    onEvent = listener;
    return { close: () => (onEvent = undefined) };
  };
  const syncer = startSync({ mode, credentialsPath: file, store, log: createLogger({ level: 'silent' }), timeoutMs, onResult: (r) => results.push(r), watch });
  return {
    file,
    store,
    results,
    syncer,
    fire: (name = '.credentials.json') => onEvent?.(name),
    writeLocal: (text) => fs.writeFileSync(file, text),
    readLocal: () => fs.readFileSync(file, 'utf8'),
  };
}

const t0 = () => Date.now();

describe('debounce', () => {
  it('events closer together than debounceMs are one change: one push, debounceMs after the last event', async () => {
    const h = harness('push', loginPair(t0() + HOUR, 'old'), loginPair(t0() + HOUR, 'old'));
    const start = t0();
    h.writeLocal(loginPair(t0() + 8 * HOUR, 'new'));
    h.fire();
    await vi.advanceTimersByTimeAsync(100);
    h.fire();
    await vi.advanceTimersByTimeAsync(100);
    h.fire();
    await vi.advanceTimersByTimeAsync(SYNC_TIMING.debounceMs - 1);
    expect(h.store.reads).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.store.reads).toEqual([start + 200 + SYNC_TIMING.debounceMs]);
    expect(h.store.writes.map((w) => tokenOf(w.text))).toEqual([expect.stringMatching(/-new$/)]);
    expect(h.results.map((r) => `${r.direction} ${r.result}`)).toEqual(['push copied']);
  });

  it('an event for another file, or one that leaves the file as it was, pushes nothing', async () => {
    const h = harness('push', loginPair(t0() + HOUR, 'old'), loginPair(t0() + HOUR, 'old'));
    h.writeLocal(loginPair(t0() + 8 * HOUR, 'new'));
    h.fire('.claude.json');
    await vi.advanceTimersByTimeAsync(10 * SYNC_TIMING.debounceMs);
    expect(h.store.reads).toEqual([]);
    h.fire();
    await vi.advanceTimersByTimeAsync(SYNC_TIMING.debounceMs);
    h.fire(); // the same text again
    await vi.advanceTimersByTimeAsync(SYNC_TIMING.debounceMs);
    expect(h.store.reads).toHaveLength(1);
  });
});

describe('the pull schedule', () => {
  it('pulls HORIZON before the local pair expires; after copying a newer pair, schedules from its expiry', async () => {
    const start = t0();
    const h = harness('pull', loginPair(start + 10 * MINUTE, 'local'), loginPair(start + 8 * HOUR, 'newer'));
    const due = 10 * MINUTE - HORIZON;
    await vi.advanceTimersByTimeAsync(due - 1);
    expect(h.store.reads).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.store.reads).toEqual([start + due]);
    expect(tokenOf(h.readLocal())).toMatch(/-newer$/);
    expect(h.results.map((r) => `${r.direction} ${r.result}`)).toEqual(['pull copied']);
    // The newer pair expires in 8 hours: nothing until HORIZON before that.
    await vi.advanceTimersByTimeAsync(8 * HOUR - HORIZON - due - 1);
    expect(h.store.reads).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.store.reads).toEqual([start + due, start + 8 * HOUR - HORIZON]);
  });

  it('inside the window with nothing newer in the store: pulls again each pullRepeatMs', async () => {
    const start = t0();
    const pair = loginPair(start + 10 * MINUTE, 'same');
    const h = harness('pull', pair, pair);
    await vi.advanceTimersByTimeAsync(10 * MINUTE - HORIZON + 3 * SYNC_TIMING.pullRepeatMs + 10);
    expect(h.store.reads[0]).toBe(start + 10 * MINUTE - HORIZON);
    // Each repeat asks schedulePull, whose timer of 0 ms Node runs after 1 ms.
    const gaps = h.store.reads.slice(1).map((at, i) => at - h.store.reads[i]!);
    expect(gaps).toEqual([1, 2, 3].map(() => expect.toSatisfy((gap: number) => gap >= SYNC_TIMING.pullRepeatMs && gap <= SYNC_TIMING.pullRepeatMs + 1)));
    expect(h.results.every((r) => r.result === 'skipped')).toBe(true);
  });

  it('a pair already inside the window is pulled for at once; push alone schedules no pull', async () => {
    const pair = loginPair(t0() + 3 * MINUTE, 'soon');
    const pulling = harness('pull', pair, pair);
    const pushing = harness('push', pair, pair);
    await vi.advanceTimersByTimeAsync(0);
    expect(pulling.store.reads).toEqual([t0()]);
    await vi.advanceTimersByTimeAsync(HOUR);
    expect(pushing.store.reads).toEqual([]);
  });

  it('a local file blanked by a failed refresh is replaced at once (pull)', async () => {
    const h = harness('pull', loginPair(t0() + 8 * HOUR, 'local'), loginPair(t0() + 9 * HOUR, 'stored'));
    h.writeLocal(JSON.stringify({ claudeAiOauth: { accessToken: '', refreshToken: '', expiresAt: 0, scopes: [] } }));
    h.fire();
    await vi.advanceTimersByTimeAsync(SYNC_TIMING.debounceMs);
    expect(h.store.reads).toHaveLength(1);
    expect(tokenOf(h.readLocal())).toMatch(/-stored$/);
  });
});

describe('retries', () => {
  async function pushAfterAChange(h: Harness): Promise<number> {
    h.writeLocal(loginPair(t0() + 8 * HOUR, 'new'));
    h.fire();
    await vi.advanceTimersByTimeAsync(SYNC_TIMING.debounceMs);
    return t0();
  }

  it('a failing read is retried with the pause doubling from retryBaseMs; after `retries` retries the push fails', async () => {
    const h = harness('push', loginPair(t0() + HOUR, 'old'), loginPair(t0() + HOUR, 'old'));
    const outage = () => new SourceUnavailableError('fake:store: unavailable');
    h.store.readFailures = [outage(), outage(), outage(), outage()];
    const first = await pushAfterAChange(h);
    await vi.advanceTimersByTimeAsync(HOUR);
    const base = SYNC_TIMING.retryBaseMs;
    expect(h.store.reads.map((at) => at - first)).toEqual([0, base, 3 * base, 7 * base]);
    expect(h.store.writes).toEqual([]);
    expect(h.results).toEqual([expect.objectContaining({ direction: 'push', result: 'failed', detail: 'cannot read fake:store: fake:store: unavailable' })]);
  });

  it('a read that recovers within the retries: the push goes through', async () => {
    const h = harness('push', loginPair(t0() + HOUR, 'old'), loginPair(t0() + HOUR, 'old'));
    h.store.readFailures = [new Error('ECONNRESET'), new Error('ECONNRESET')];
    const first = await pushAfterAChange(h);
    await vi.advanceTimersByTimeAsync(HOUR);
    expect(h.store.writes.map((w) => w.at - first)).toEqual([3 * SYNC_TIMING.retryBaseMs]);
    expect(h.results.map((r) => r.result)).toEqual(['copied']);
  });

  it('a configuration error is not retried', async () => {
    const h = harness('push', loginPair(t0() + HOUR, 'old'), loginPair(t0() + HOUR, 'old'));
    h.store.readFailures = [new ConfigError('fake:store: access denied')];
    await pushAfterAChange(h);
    await vi.advanceTimersByTimeAsync(HOUR);
    expect(h.store.reads).toHaveLength(1);
    expect(h.results.map((r) => r.result)).toEqual(['failed']);
  });

  it('a lost compare-and-swap is decided again, three rounds, without backoff', async () => {
    const h = harness('push', loginPair(t0() + HOUR, 'old'), loginPair(t0() + HOUR, 'old'));
    h.store.writeFailure = new StoreConflictError('fake:store');
    const first = await pushAfterAChange(h);
    await vi.advanceTimersByTimeAsync(HOUR);
    expect(h.store.reads.map((at) => at - first)).toEqual([0, 0, 0]);
    expect(h.results).toEqual([expect.objectContaining({ result: 'failed', detail: 'fake:store kept changing; giving up this push' })]);
  });
});

describe('stop()', () => {
  it('handles a change still in its debounce window, then pushes once more', async () => {
    const h = harness('push', loginPair(t0() + HOUR, 'old'), loginPair(t0() + HOUR, 'old'));
    h.writeLocal(loginPair(t0() + 8 * HOUR, 'new'));
    h.fire(); // not yet debounced when the command exits
    await h.syncer.stop();
    expect(tokenOf(h.store.text)).toMatch(/-new$/);
    expect(h.store.writes).toHaveLength(1);
    expect(h.results.map((r) => `${r.result}: ${r.detail.replace(/ \(access.*/, '')}`)).toEqual([
      'copied: pushed the refreshed login to fake:store',
      'skipped: not pushing to fake:store (the command exited): both hold the same pair',
    ]);
  });

  it('one try per store call once the command has exited', async () => {
    const h = harness('push', loginPair(t0() + 8 * HOUR, 'new'), loginPair(t0() + HOUR, 'old'));
    h.store.readFailures = [new Error('ECONNRESET')];
    await h.syncer.stop();
    expect(h.store.reads).toHaveLength(1);
    expect(h.results.map((r) => r.result)).toEqual(['failed']);
  });

  it('a store that does not answer is given finalCallMs, not the whole CLAUDE_ENTRY_TIMEOUT', async () => {
    const h = harness('push', loginPair(t0() + 8 * HOUR, 'new'), loginPair(t0() + HOUR, 'old'), 15_000);
    h.store.hang = true;
    let stopped = false;
    void h.syncer.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(SYNC_TIMING.finalCallMs - 1);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(stopped).toBe(true);
    expect(h.results).toEqual([expect.objectContaining({ result: 'failed', detail: 'cannot read fake:store: reading fake:store: no answer within 4s' })]);
  });

  it('with a CLAUDE_ENTRY_TIMEOUT shorter than finalCallMs, the store bounds its own calls: the syncer adds no deadline', async () => {
    const h = harness('push', loginPair(t0() + 8 * HOUR, 'new'), loginPair(t0() + HOUR, 'old'), 2000);
    h.store.hang = true;
    let stopped = false;
    void h.syncer.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(HOUR);
    expect(stopped).toBe(false);
  });

  it('pull alone: waits for the pull under way, pushes nothing, schedules nothing more', async () => {
    const start = t0();
    const h = harness('pull', loginPair(start + 10 * MINUTE, 'local'), loginPair(start + 8 * HOUR, 'newer'));
    await vi.advanceTimersByTimeAsync(10 * MINUTE - HORIZON);
    await h.syncer.stop();
    expect(h.store.reads).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(24 * HOUR);
    expect(h.store.reads).toHaveLength(1);
    expect(h.store.writes).toEqual([]);
  });
});

/**
 * Credential sync while the command runs (CLAUDE_ENTRY_SYNC=push|pull|both).
 *
 * push: when Claude Code writes a refreshed pair into the credentials file, copy it back to
 *       the source, unless it is blank, invalid or older than what the source holds now.
 * pull: before the local access token enters the CLI's refresh window, and when the CLI
 *       blanks the file, replace the local file with a newer valid pair from the source.
 *
 * Bounded: file events are debounced, a failed store call is retried a few times with backoff,
 * one operation runs at a time, and nothing here can end the command: a store outage is
 * logged, never thrown. Deadlines: the store bounds each of its calls (CLAUDE_ENTRY_TIMEOUT,
 * src/cloud/call.ts); the syncer owns only the shorter budget of the calls made after the
 * command has exited.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeDeadline } from '../deadline.js';
import { ConfigError, messageOf } from '../errors.js';
import { ownedBySelf, writeFileAtomic } from '../home.js';
import type { Logger } from '../log.js';
import { readSecretFile } from '../secret-file.js';
import { classifyLogin, type Login } from '../login.js';
import { formatDuration } from '../payload.js';
import { backoff, retry } from '../retry.js';
import type { EntryState } from '../state.js';
import { decide, safeIsoTime } from './decide.js';
import { StoreConflictError, type StoredLogin, type SyncStore } from './store.js';

export type SyncMode = 'push' | 'pull' | 'both';

/** One copy, skip or failure, as the state file records it (`lastSync`). */
export type SyncResult = NonNullable<EntryState['lastSync']>;

/** Every delay a sync uses, in one place: the defaults are SYNC_TIMING; unit tests inject their own. */
export interface SyncTiming {
  /** Claude Code refreshes when less than about 5 minutes remain. */
  refreshWindowMs: number;
  /** How long before that window a pull looks for a newer pair. */
  pullLeadMs: number;
  /** Inside the window, how often a pull looks again. */
  pullRepeatMs: number;
  /** File events closer together than this are one change. */
  debounceMs: number;
  /** Retries of a failed store call while the command runs, the pause doubling from retryBaseMs. */
  retries: number;
  retryBaseMs: number;
  /** After the command exited, each store call's budget: inside `docker stop`'s 10 s grace period. */
  finalCallMs: number;
  /** A pull that found Claude Code refreshing looks again after this. */
  cliLockRetryMs: number;
}

export const SYNC_TIMING: SyncTiming = {
  refreshWindowMs: 5 * 60_000,
  pullLeadMs: 2 * 60_000,
  pullRepeatMs: 60_000,
  debounceMs: 300,
  retries: 3,
  retryBaseMs: 1000,
  finalCallMs: 4000,
  cliLockRetryMs: 5000,
};

/** Watches a directory; `onEvent` gets the name of the entry that changed, when known. */
export type WatchDirectory = (dir: string, onEvent: (filename: string | null) => void) => { close(): void };

export interface SyncOptions {
  mode: SyncMode;
  credentialsPath: string;
  store: SyncStore;
  log: Logger;
  /** CLAUDE_ENTRY_TIMEOUT: the store's own deadline for one call. */
  timeoutMs: number;
  onResult?: (result: SyncResult) => void;
  timing?: Partial<SyncTiming>;
  /** fs.watch unless given (unit tests drive the events themselves). */
  watch?: WatchDirectory;
}

export interface Syncer {
  /** Stop watching; push once more when pushing. Never throws. */
  stop(): Promise<void>;
}

export function startSync(options: SyncOptions): Syncer {
  const sync = new CredentialSync(options);
  sync.start(options.watch ?? watchWithFs);
  return { stop: () => sync.stop() };
}

/** How many times a push reads and decides again after losing a compare-and-swap. */
const CONFLICT_ROUNDS = 3;
/** setTimeout's longest delay; a pull due later is scheduled again when its timer fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

type ValidLogin = Extract<Login, { state: 'valid' }>;

/**
 * running:  watching the file, pulls scheduled, failed store calls retried.
 * stopping: the command exited; the last change is handled and pushed, each store call tried
 *           once within SyncTiming.finalCallMs; nothing new is scheduled.
 */
type Phase = 'running' | 'stopping';

class CredentialSync {
  private readonly timing: SyncTiming;
  private readonly push: boolean;
  private readonly pull: boolean;
  private readonly store: SyncStore;
  private readonly log: Logger;
  private readonly file: string;

  private phase: Phase = 'running';
  /** The operations, one at a time, in order. */
  private queue: Promise<void> = Promise.resolve();
  /** The file's text when last seen: an event that leaves it unchanged is no change. */
  private lastLocalText: string | undefined;
  private watcher: { close(): void } | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private pullTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SyncOptions) {
    this.timing = { ...SYNC_TIMING, ...options.timing };
    this.push = options.mode === 'push' || options.mode === 'both';
    this.pull = options.mode === 'pull' || options.mode === 'both';
    this.store = options.store;
    this.log = options.log;
    this.file = options.credentialsPath;
    this.lastLocalText = readLocal(this.file);
  }

  start(watch: WatchDirectory): void {
    const dir = path.dirname(this.file);
    const name = path.basename(this.file);
    try {
      // Claude Code replaces the file by rename: watch the directory, not the inode.
      this.watcher = watch(dir, (filename) => {
        if (filename === null || filename === name) this.debounce();
      });
    } catch (error) {
      this.log.warn(`sync: cannot watch ${dir} (${messageOf(error)}); pushing only when the command exits`);
    }
    this.schedulePull();
    this.log.info(`sync: ${this.options.mode} between ${this.file} and ${this.store.describe}`);
  }

  async stop(): Promise<void> {
    this.phase = 'stopping';
    this.watcher?.close();
    clearTimeout(this.debounceTimer);
    clearTimeout(this.pullTimer);
    // A change still in its debounce window is handled now, then one last push.
    this.onLocalChange();
    if (this.push) await this.enqueue(() => this.pushNow('the command exited'));
    else await this.queue;
  }

  // --- events -------------------------------------------------------------------------------

  private debounce(): void {
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => this.onLocalChange(), this.timing.debounceMs);
  }

  private onLocalChange(): void {
    const text = readLocal(this.file);
    if (text === this.lastLocalText || text === undefined) return;
    this.lastLocalText = text;
    const local = this.classify(text, this.file);
    if (local.state === 'blank') {
      this.log.warn(`${this.file} was blanked by a failed refresh`);
      if (this.pull) void this.enqueue(() => this.pullNow('the local file was blanked'));
      return;
    }
    if (this.push) void this.enqueue(() => this.pushNow('the local file changed'));
    // A pair nobody could have been issued: replace it with the source's real one at once.
    if (this.pull && local.state === 'implausible') void this.enqueue(() => this.pullNow('the local pair is not plausible'));
    this.schedulePull();
  }

  /** Look for a newer pair shortly before Claude Code would refresh; again each pullRepeatMs inside the window. */
  private schedulePull(): void {
    if (!this.pull || this.phase !== 'running') return;
    const local = classifyLogin(readLocal(this.file), this.file);
    const dueIn = local.state === 'valid' && local.expiresAt !== undefined ? Math.max(local.expiresAt - this.pullHorizonMs() - Date.now(), 0) : undefined;
    this.setPullTimer(dueIn, () => void this.scheduledPull());
  }

  private async scheduledPull(): Promise<void> {
    await this.enqueue(() => this.pullNow('the access token is about to be refreshed'));
    const after = classifyLogin(readLocal(this.file), this.file);
    const insideWindow = after.state === 'valid' && after.expiresAt !== undefined && after.expiresAt - Date.now() <= this.pullHorizonMs();
    if (insideWindow) this.setPullTimer(this.timing.pullRepeatMs, () => this.schedulePull());
    else this.schedulePull();
  }

  /** How long before a pair's expiry the pulls start. */
  private pullHorizonMs(): number {
    return this.timing.refreshWindowMs + this.timing.pullLeadMs;
  }

  /** Replaces the pending pull; none when `dueIn` is undefined or the command has exited. */
  private setPullTimer(dueIn: number | undefined, run: () => void): void {
    clearTimeout(this.pullTimer);
    this.pullTimer = undefined;
    if (dueIn === undefined || this.phase !== 'running') return;
    this.pullTimer = setTimeout(run, Math.min(dueIn, MAX_TIMER_MS));
    this.pullTimer.unref();
  }

  // --- operations -----------------------------------------------------------------------------

  /** Runs operations one at a time, in order; an error never escapes. */
  private enqueue(op: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(op).catch((error) => this.log.warn(`sync: ${messageOf(error)}`));
    return this.queue;
  }

  private async pushNow(reason: string): Promise<void> {
    const local = this.classify(readLocal(this.file), this.file);
    for (let round = 0; round < CONFLICT_ROUNDS; round++) {
      if ((await this.pushOnce(local, reason)) === 'done') return;
    }
    this.report('push', 'failed', `${this.store.describe} kept changing; giving up this push`);
  }

  /** One read, decision and conditional write; 'conflict' when the store moved on in between. */
  private async pushOnce(local: Login, reason: string): Promise<'done' | 'conflict'> {
    const where = this.store.describe;
    const current = await this.readStore('push');
    if (!current) return 'done';
    const stored = this.classify(current.text, where);
    const decision = decide(local, stored);
    if (decision.action === 'skip') {
      this.report('push', 'skipped', `not pushing to ${where} (${reason}): ${decision.reason}`, decision.warn);
      return 'done';
    }
    try {
      await this.callStore(`writing ${where}`, () => this.store.write((local as ValidLogin).text, current.version));
    } catch (error) {
      if (error instanceof StoreConflictError) return 'conflict'; // someone else pushed: decide again
      this.report('push', 'failed', `cannot write ${where}: ${messageOf(error)}`);
      return 'done';
    }
    this.report('push', 'copied', `pushed the refreshed login to ${where}${expiryNote(local)}${replacing(stored)}`);
    return 'done';
  }

  private async pullNow(reason: string): Promise<void> {
    const where = this.store.describe;
    const current = await this.readStore('pull');
    if (!current) return;
    const source = this.classify(current.text, where);
    const local = this.classify(readLocal(this.file), this.file);
    const decision = decide(source, local);
    if (decision.action === 'skip') {
      this.report('pull', 'skipped', `nothing newer in ${where} (${reason}): ${decision.reason}`, decision.warn);
      return;
    }
    try {
      writeLocal(this.file, (source as ValidLogin).text, this.log);
    } catch (error) {
      if (error instanceof CliRefreshing) {
        // Its result lands in the file and is judged then; look again shortly in case it fails.
        const again = this.timing.cliLockRetryMs;
        this.report('pull', 'skipped', `Claude Code is refreshing right now; looking again in ${formatDuration(again)}`);
        if (this.phase === 'running') setTimeout(() => void this.enqueue(() => this.pullNow(reason)), again).unref();
        return;
      }
      this.report('pull', 'failed', `cannot write ${this.file}: ${messageOf(error)}`);
      return;
    }
    this.lastLocalText = readLocal(this.file);
    this.report('pull', 'copied', `replaced ${this.file} with the newer login from ${where}${expiryNote(source)}${replacing(local)}`);
  }

  /** The store's login, or undefined when it cannot be read (reported). */
  private async readStore(direction: SyncResult['direction']): Promise<StoredLogin | undefined> {
    const where = this.store.describe;
    try {
      return await this.callStore(`reading ${where}`, () => this.store.read());
    } catch (error) {
      this.report(direction, 'failed', `cannot read ${where}: ${messageOf(error)}`);
      return undefined;
    }
  }

  /**
   * A store call, retried with backoff while the command runs. A conflict is decided again by
   * the caller and a configuration error will not heal: neither is retried. Once the command
   * has exited, one try each, within the final budget, so that an outage cannot hold up the exit.
   */
  private callStore<T>(what: string, call: () => Promise<T>): Promise<T> {
    return retry(
      () => (this.phase === 'running' ? call() : this.withinFinalBudget(what, call)),
      (error, n) => {
        if (error instanceof StoreConflictError || error instanceof ConfigError || n > this.timing.retries || this.phase !== 'running') throw error;
        const pause = backoff(n, { initialMs: this.timing.retryBaseMs });
        this.log.debug(`${what} failed (${messageOf(error)}); retrying in ${formatDuration(pause)}`);
        return pause;
      },
    );
  }

  /** The final budget, where it is shorter than the store's own deadline. */
  private withinFinalBudget<T>(what: string, call: () => Promise<T>): Promise<T> {
    const budget = this.timing.finalCallMs;
    if (budget >= this.options.timeoutMs) return call();
    return beforeDeadline(Date.now() + budget, call, () => new Error(`${what}: no answer within ${formatDuration(budget)}`));
  }

  // --- reporting ------------------------------------------------------------------------------

  /** Every token a sync sees is redacted from the log, like the start's. */
  private classify(text: string | undefined, where: string): Login {
    const login = classifyLogin(text, where);
    if (login.state === 'valid' || login.state === 'implausible') {
      this.log.addSecret(login.accessToken);
      this.log.addSecret(login.refreshToken);
    }
    return login;
  }

  private report(direction: SyncResult['direction'], result: SyncResult['result'], detail: string, warn = false): void {
    const line = `sync ${direction}: ${detail}`;
    if (result === 'failed' || warn) this.log.warn(line);
    else if (result === 'copied') this.log.info(line);
    else this.log.debug(line);
    this.options.onResult?.({ at: new Date().toISOString(), direction, result, detail });
  }
}

// --- the local file -----------------------------------------------------------------------------

function readLocal(file: string): string | undefined {
  try {
    // The command can put anything there: a FIFO would block the supervisor for good (signals and exit code included).
    return readSecretFile(file, file, { noFollow: true }).toString('utf8');
  } catch {
    return undefined;
  }
}

class CliRefreshing extends Error {}

/**
 * Claude Code refreshes under a lock directory beside the file and honours one taken by
 * someone else (observed, 2.1.330). A pair written while it refreshes would make it throw
 * away the pair it was just issued, so pull writes only while holding that lock.
 */
function writeLocal(file: string, text: string, log: Logger): void {
  const lock = path.join(path.dirname(file), '.oauth_refresh.lock');
  try {
    fs.mkdirSync(lock);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new CliRefreshing();
    throw error;
  }
  try {
    writeFileAtomic(file, text, ownedBySelf(log));
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

function watchWithFs(dir: string, onEvent: (filename: string | null) => void): { close(): void } {
  const watcher = fs.watch(dir, (_event, filename) => onEvent(filename === null ? null : filename.toString()));
  watcher.unref();
  return watcher;
}

// --- messages -----------------------------------------------------------------------------------

/** An implausible pair on the other side is replaced by a real one: worth saying. */
function replacing(to: Login): string {
  return to.state === 'implausible' ? ` (it replaced an implausible pair: ${to.reason})` : '';
}

function expiryNote(login: Login): string {
  return login.state === 'valid' && login.expiresAt !== undefined ? ` (access token valid until ${safeIsoTime(login.expiresAt)})` : '';
}

/**
 * Credential sync while the command runs (CLAUDE_ENTRY_SYNC=push|pull|both).
 *
 * push: when Claude Code writes a refreshed pair into the credentials file, copy it back to
 *       the source, unless it is blank, invalid or older than what the source holds now.
 * pull: before the local access token enters the CLI's refresh window, and when the CLI
 *       blanks the file, replace the local file with a newer valid pair from the source.
 *
 * Bounded: file events are debounced, every store call has a deadline and a few retries with
 * backoff, one operation runs at a time, and nothing here can end the command: a store
 * outage is logged, never thrown.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, messageOf } from '../errors.js';
import { ownedBySelf, writeFileAtomic } from '../home.js';
import { formatDuration } from '../payload.js';
import type { Logger } from '../log.js';
import { classifyLogin, decide, safeIsoTime, type Decision, type Login } from './decide.js';
import { StoreConflictError, type SyncStore } from './store.js';

export type SyncMode = 'push' | 'pull' | 'both';

export interface SyncResult {
  at: string;
  direction: 'push' | 'pull';
  result: 'copied' | 'skipped' | 'failed';
  detail: string;
}

export interface SyncOptions {
  mode: SyncMode;
  credentialsPath: string;
  store: SyncStore;
  log: Logger;
  /** Deadline for one store call. */
  timeoutMs: number;
  onResult?: (result: SyncResult) => void;
  /** Claude Code refreshes when less than about 5 minutes remain. */
  refreshWindowMs?: number;
  /** How long before that window a pull looks for a newer pair. */
  pullLeadMs?: number;
  debounceMs?: number;
  /** Retries of a failed store call, with backoff doubling from retryBaseMs. */
  retries?: number;
  retryBaseMs?: number;
}

export interface Syncer {
  /** Stop watching; push once more when pushing. Never throws. */
  stop(): Promise<void>;
}

export function startSync(options: SyncOptions): Syncer {
  const { mode, credentialsPath, store, log } = options;
  const push = mode === 'push' || mode === 'both';
  const pull = mode === 'pull' || mode === 'both';
  const refreshWindowMs = options.refreshWindowMs ?? 5 * 60_000;
  const pullLeadMs = options.pullLeadMs ?? 2 * 60_000;
  const debounceMs = options.debounceMs ?? 300;
  const retries = options.retries ?? 3;
  const retryBaseMs = options.retryBaseMs ?? 1000;
  const name = path.basename(credentialsPath);

  let stopped = false;
  /** Set once the command has exited: one try each, so that a store outage cannot hold up the exit. */
  let stopping = false;
  let callTimeoutMs = options.timeoutMs;
  let queue: Promise<void> = Promise.resolve();
  let lastLocalText = readLocal();
  let debounce: NodeJS.Timeout | undefined;
  let pullTimer: NodeJS.Timeout | undefined;

  const report = (direction: SyncResult['direction'], result: SyncResult['result'], detail: string, warn = false) => {
    const line = `sync ${direction}: ${detail}`;
    if (result === 'failed' || warn) log.warn(line);
    else if (result === 'copied') log.info(line);
    else log.debug(line);
    options.onResult?.({ at: new Date().toISOString(), direction, result, detail });
  };

  /** Run operations one at a time, in order; an error never escapes. */
  const enqueue = (op: () => Promise<void>) => {
    queue = queue.then(op).catch((error) => log.warn(`sync: ${messageOf(error)}`));
    return queue;
  };

  function readLocal(): string | undefined {
    try {
      const fd = fs.openSync(credentialsPath, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        return fs.readFileSync(fd, 'utf8');
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return undefined;
    }
  }

  async function withRetries<T>(what: string, call: () => Promise<T>): Promise<T> {
    let delay = retryBaseMs;
    for (let attempt = 0; ; attempt++) {
      try {
        // A little past the store's own deadline, so that its more precise error wins the race.
        return await withDeadline(call(), callTimeoutMs + 250, `${what}: no answer within ${formatDuration(callTimeoutMs)}`);
      } catch (error) {
        // A conflict is decided again by the caller; a configuration error will not heal.
        if (error instanceof StoreConflictError || error instanceof ConfigError || attempt >= retries || stopping) throw error;
        log.debug(`${what} failed (${messageOf(error)}); retrying in ${formatDuration(delay)}`);
        await sleep(delay);
        delay *= 2;
      }
    }
  }

  /** Every token a sync sees is redacted from the log, like the start's. */
  function classify(text: string | undefined, where: string): Login {
    const login = classifyLogin(text, where);
    if (login.state === 'valid' || login.state === 'implausible') {
      log.addSecret(login.accessToken);
      log.addSecret(login.refreshToken);
    }
    return login;
  }

  /** An implausible pair on the other side is replaced by a real one: worth saying. */
  function replacing(to: Login): string {
    return to.state === 'implausible' ? ` (it replaced an implausible pair: ${to.reason})` : '';
  }

  async function pushNow(reason: string): Promise<void> {
    const localText = readLocal();
    const local = classify(localText, credentialsPath);
    for (let attempt = 0; attempt < 3; attempt++) {
      let current;
      try {
        current = await withRetries(`reading ${store.describe}`, () => store.read());
      } catch (error) {
        return report('push', 'failed', `cannot read ${store.describe}: ${messageOf(error)}`);
      }
      const remote = classify(current.text, store.describe);
      const decision: Decision = decide(local, remote);
      if (decision.action === 'skip') return report('push', 'skipped', `not pushing to ${store.describe} (${reason}): ${decision.reason}`, decision.warn);
      try {
        await withRetries(`writing ${store.describe}`, () => store.write((local as Extract<Login, { state: 'valid' }>).text, current.version));
      } catch (error) {
        if (error instanceof StoreConflictError) continue; // someone else pushed: decide again
        return report('push', 'failed', `cannot write ${store.describe}: ${messageOf(error)}`);
      }
      // Outside the try: only the write decides whether the push failed.
      return report('push', 'copied', `pushed the refreshed login to ${store.describe}${expiryNote(local)}${replacing(remote)}`);
    }
    report('push', 'failed', `${store.describe} kept changing; giving up this push`);
  }

  async function pullNow(reason: string): Promise<void> {
    let current;
    try {
      current = await withRetries(`reading ${store.describe}`, () => store.read());
    } catch (error) {
      report('pull', 'failed', `cannot read ${store.describe}: ${messageOf(error)}`);
      return;
    }
    const source = classify(current.text, store.describe);
    const local = classify(readLocal(), credentialsPath);
    const decision = decide(source, local);
    if (decision.action === 'skip') {
      report('pull', 'skipped', `nothing newer in ${store.describe} (${reason}): ${decision.reason}`, decision.warn);
      return;
    }
    const text = (source as Extract<Login, { state: 'valid' }>).text;
    try {
      writeLocal(text);
    } catch (error) {
      if (error instanceof CliRefreshing) {
        // Its result lands in the file and is judged then; look again shortly in case it fails.
        report('pull', 'skipped', `Claude Code is refreshing right now; looking again in ${formatDuration(CLI_LOCK_RETRY_MS)}`);
        if (!stopped) setTimeout(() => void enqueue(() => pullNow(reason)), CLI_LOCK_RETRY_MS).unref();
        return;
      }
      report('pull', 'failed', `cannot write ${credentialsPath}: ${messageOf(error)}`);
      return;
    }
    lastLocalText = readLocal();
    report('pull', 'copied', `replaced ${credentialsPath} with the newer login from ${store.describe}${expiryNote(source)}${replacing(local)}`);
  }

  /**
   * Claude Code refreshes under a lock directory beside the file and honours one taken by
   * someone else (observed, 2.1.330). A pair written while it refreshes would make it throw
   * away the pair it was just issued, so pull writes only while holding that lock.
   */
  function writeLocal(text: string): void {
    const lock = path.join(path.dirname(credentialsPath), '.oauth_refresh.lock');
    try {
      fs.mkdirSync(lock);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new CliRefreshing();
      throw error;
    }
    try {
      writeFileAtomic(credentialsPath, text, ownedBySelf(log));
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }

  function onLocalChange(): void {
    const text = readLocal();
    if (text === lastLocalText || text === undefined) return;
    lastLocalText = text;
    const local = classify(text, credentialsPath);
    if (local.state === 'blank') {
      log.warn(`${credentialsPath} was blanked by a failed refresh`);
      if (pull) void enqueue(() => pullNow('the local file was blanked'));
      return;
    }
    if (push) void enqueue(() => pushNow('the local file changed'));
    // A pair nobody could have been issued: replace it with the source's real one at once.
    if (pull && local.state === 'implausible') void enqueue(() => pullNow('the local pair is not plausible'));
    schedulePull();
  }

  /** Look for a newer pair shortly before Claude Code would refresh; again each minute inside the window. */
  function schedulePull(): void {
    if (!pull || stopped) return;
    clearTimeout(pullTimer);
    const local = classifyLogin(readLocal(), credentialsPath);
    if (local.state !== 'valid' || local.expiresAt === undefined) return;
    const dueIn = Math.max(local.expiresAt - refreshWindowMs - pullLeadMs - Date.now(), 0);
    pullTimer = setTimeout(
      () => {
        void enqueue(() => pullNow('the access token is about to be refreshed')).then(() => {
          const after = classifyLogin(readLocal(), credentialsPath);
          if (after.state === 'valid' && after.expiresAt !== undefined && after.expiresAt - Date.now() <= refreshWindowMs + pullLeadMs) {
            clearTimeout(pullTimer);
            pullTimer = setTimeout(() => schedulePull(), 60_000);
            pullTimer.unref();
          } else schedulePull();
        });
      },
      Math.min(dueIn, 2 ** 31 - 1),
    );
    pullTimer.unref();
  }

  let watcher: fs.FSWatcher | undefined;
  try {
    // Claude Code replaces the file by rename: watch the directory, not the inode.
    watcher = fs.watch(path.dirname(credentialsPath), (_event, filename) => {
      if (filename !== null && filename.toString() !== name) return;
      clearTimeout(debounce);
      debounce = setTimeout(onLocalChange, debounceMs);
    });
    watcher.unref();
  } catch (error) {
    log.warn(`sync: cannot watch ${path.dirname(credentialsPath)} (${messageOf(error)}); pushing only when the command exits`);
  }
  schedulePull();
  log.info(`sync: ${mode} between ${credentialsPath} and ${store.describe}`);

  return {
    async stop() {
      stopping = true;
      // Inside `docker stop`'s 10 s grace period, whatever CLAUDE_ENTRY_TIMEOUT says.
      callTimeoutMs = Math.min(options.timeoutMs, FINAL_CALL_TIMEOUT_MS);
      watcher?.close();
      clearTimeout(debounce);
      clearTimeout(pullTimer);
      // A change still in its debounce window is handled now, then one last push.
      onLocalChange();
      stopped = true;
      if (push) await enqueue(() => pushNow('the command exited'));
      else await queue;
    },
  };
}

const CLI_LOCK_RETRY_MS = 5000;
const FINAL_CALL_TIMEOUT_MS = 4000;

class CliRefreshing extends Error {}

function expiryNote(login: Login): string {
  return login.state === 'valid' && login.expiresAt !== undefined ? ` (access token valid until ${safeIsoTime(login.expiresAt)})` : '';
}

function sleep(ms: number): Promise<void> {
  // Not unref'd: a sync in progress must keep the process alive until it ends.
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

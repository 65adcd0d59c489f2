/**
 * CLAUDE_ENTRY_SYNC at a start, as main.ts sees it: checked before the command starts (which
 * store, or why none), then run while the command runs, its outcomes recorded in the state file
 * for `check` and `doctor`. Imported only when CLAUDE_ENTRY_SYNC is not off.
 */
import { ConfigError } from '../errors.js';
import { ownedBySelf } from '../home.js';
import type { Logger } from '../log.js';
import { delivered } from '../payload.js';
import type { Resolution } from '../sources/chain.js';
import { readState, writeState } from '../state.js';
import type { SyncStore } from './store.js';
import { startSync, type SyncMode, type Syncer } from './syncer.js';

/** A sync that can start: its mode and store, checked; `start` runs it while the command runs. */
export interface PreparedSync {
  mode: SyncMode;
  store: SyncStore;
  start(options: SessionOptions): Syncer;
}

export interface SessionOptions {
  credentialsPath: string;
  /** Where the state file is: each copy or failure is recorded there as `lastSync`. */
  configDir: string;
  log: Logger;
  /** CLAUDE_ENTRY_TIMEOUT, for one store call. */
  timeoutMs: number;
}

/**
 * The store to sync with: a login that rotates (a credentials JSON) from a source that can be
 * written. A login that does not rotate is nothing to sync (a warning); anything else is a
 * configuration error, said before the command starts.
 */
export async function prepareSync(mode: SyncMode, resolution: Resolution | undefined, log: Logger): Promise<PreparedSync | undefined> {
  const what = `CLAUDE_ENTRY_SYNC=${mode}`;
  if (!resolution) throw new ConfigError(`${what}: there is no credential to keep in sync`);
  const { credential, fetched } = resolution;
  const { rotates, withArticle } = delivered(credential);
  if (!rotates) {
    log.warn(`${what}: ${fetched.source} holds ${withArticle}, which does not rotate; nothing to sync`);
    return undefined;
  }
  if (fetched.fromCredentialsFile) {
    throw new ConfigError(`${what}: the login is the file already in place (${fetched.source}); there is no other copy to sync with`);
  }
  if (!fetched.writable) {
    throw new ConfigError(`${what}: ${fetched.source} is an environment variable, which cannot be written back; use a file or a secret manager source`);
  }
  const store = await fetched.writable();
  return { mode, store, start: (options) => startSession(mode, store, options) };
}

/** The sync while the command runs. Started before the command: a pair it writes at once is pushed. */
function startSession(mode: SyncMode, store: SyncStore, { credentialsPath, configDir, log, timeoutMs }: SessionOptions): Syncer {
  return startSync({
    mode,
    credentialsPath,
    store,
    log,
    timeoutMs,
    onResult: (lastSync) => {
      if (lastSync.result === 'skipped') return; // "nothing to do" would hide the last real sync
      const state = readState(configDir);
      if (state) writeState(configDir, { ...state, lastSync }, ownedBySelf(log));
    },
  });
}

/**
 * Where a sync reads and writes the source's copy of the login. One interface per kind of
 * source; cloud stores come from their SDK modules.
 */
import * as fs from 'node:fs';
import { errnoCode } from '../errors.js';
import { ownedBySelf, writeFileAtomic } from '../home.js';
import { createLogger } from '../log.js';
import { readSecretFile } from '../sources/file.js';
import { mergeJsonKey, selectJsonKey } from '../sources/json-key.js';
import { StoreConflictError, type SyncStore } from './store.js';

/** A file source: read like the chain reads it; written atomically next to itself. */
export function fileStore(file: string): SyncStore {
  // writeFileAtomic logs nothing; its errors say what failed.
  const writer = ownedBySelf(createLogger({ level: 'silent' }));
  const describe = `file:${file}`;
  const versionOf = (st: fs.Stats) => `${st.ino}:${st.mtimeMs}:${st.size}`;
  return {
    describe,
    async read() {
      let st: fs.Stats;
      try {
        st = fs.statSync(file);
      } catch (error) {
        if (errnoCode(error) === 'ENOENT') return { text: undefined };
        throw error;
      }
      return { text: readSecretFile(file, describe).toString('utf8'), version: versionOf(st) };
    },
    async write(text, ifVersion) {
      // Conditional where a version was read: the file must still be the one read, checked
      // right before the rename (a small window; files have no compare-and-swap).
      writeFileAtomic(file, text.endsWith('\n') ? text : `${text}\n`, writer, () => {
        const now = fs.statSync(file, { throwIfNoEntry: false });
        if (ifVersion !== undefined && now && versionOf(now) !== ifVersion) throw new StoreConflictError(describe);
      });
    },
  };
}

/**
 * One key of a JSON object held by `whole` (`file:/path#key`): reads that key's value; writes
 * it back into the object, keeping the other keys, conditionally on the version read.
 */
export function jsonKeyStore(whole: SyncStore, key: string, describe: string): SyncStore {
  return {
    describe,
    async read() {
      const stored = await whole.read();
      if (stored.text === undefined) return stored;
      try {
        return { text: selectJsonKey(stored.text, key, describe), version: stored.version };
      } catch {
        return { text: undefined, version: stored.version };
      }
    },
    async write(text, ifVersion) {
      const stored = await whole.read();
      if (ifVersion !== undefined && stored.version !== ifVersion) throw new StoreConflictError(describe);
      await whole.write(mergeJsonKey(stored.text, key, text), stored.version);
    },
  };
}

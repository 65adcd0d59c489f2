/**
 * The stores of file sources: a whole file, and one key of a JSON object (in a file or in any
 * other store). Cloud secrets are in cloud-store.ts.
 */
import * as fs from 'node:fs';
import { errnoCode } from '../errors.js';
import { ownedBySelf, stageFile } from '../home.js';
import { createLogger } from '../log.js';
import { readSecretFile } from '../secret-file.js';
import { selectJsonKey } from '../sources/json-key.js';
import { StoreConflictError, type SyncStore } from './store.js';

/** A file source: read like the chain reads it; written atomically next to itself. */
export function fileStore(file: string): SyncStore {
  // stageFile logs nothing; its errors say what failed.
  const owner = ownedBySelf(createLogger({ level: 'silent' }));
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
      const staged = stageFile(file, text.endsWith('\n') ? text : `${text}\n`, owner);
      // Conditional where a version was read: the file must still be the one read, checked
      // right before the rename (a small window; files have no compare-and-swap).
      try {
        const now = fs.statSync(file, { throwIfNoEntry: false });
        if (ifVersion !== undefined && now && versionOf(now) !== ifVersion) throw new StoreConflictError(describe);
      } catch (error) {
        staged.abort();
        throw error;
      }
      staged.commit();
    },
  };
}

/**
 * One key of a JSON object held by `whole` (`file:/path#key`, `aws-sm:name#key`): reads that
 * key's value; writes it back into the object, keeping the other keys. With `ifVersion`, the
 * object must still be the one read.
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
      await whole.write(mergeJsonKey(stored.text, key, text), ifVersion);
    },
  };
}

/** Put `text` under `key` of the JSON object `whole` (a JSON value stays JSON, as it was read). */
export function mergeJsonKey(whole: string | undefined, key: string, text: string): string {
  let object: Record<string, unknown> = {};
  if (whole !== undefined) {
    try {
      const parsed: unknown = JSON.parse(whole);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) object = parsed as Record<string, unknown>;
    } catch {
      // not JSON: replaced by an object holding the key
    }
  }
  const previous = object[key];
  let value: unknown = text;
  if (typeof previous === 'object' && previous !== null) {
    try {
      value = JSON.parse(text);
    } catch {
      value = text;
    }
  }
  return JSON.stringify({ ...object, [key]: value });
}

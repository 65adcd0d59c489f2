/**
 * Where a sync reads and writes the source's copy of the login. One interface per kind of
 * source; cloud stores come from their SDK modules.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StoreConflictError, errnoCode } from '../errors.js';
import { uniqueSuffix } from '../home.js';
import { readSecretFile } from '../sources/file.js';

export interface StoredLogin {
  text: string | undefined;
  /** An opaque version for conditional writes, where the store has one. */
  version?: string;
}

export interface SyncStore {
  describe: string;
  read(): Promise<StoredLogin>;
  /** Throws StoreConflict when `ifVersion` is given and the store has moved on since. */
  write(text: string, ifVersion?: string): Promise<void>;
}

export { StoreConflictError as StoreConflict } from '../errors.js';

/** A file source: read like the chain reads it; written atomically next to itself. */
export function fileStore(file: string): SyncStore {
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
      const dir = path.dirname(file);
      const temp = path.join(dir, `.${path.basename(file)}.claude-entry-sync-${uniqueSuffix()}.tmp`);
      const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
      try {
        fs.writeSync(fd, text.endsWith('\n') ? text : `${text}\n`);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      try {
        if (ifVersion !== undefined) {
          const now = fs.statSync(file, { throwIfNoEntry: false });
          if (now && versionOf(now) !== ifVersion) throw new StoreConflictError(describe);
        }
        fs.renameSync(temp, file);
      } catch (error) {
        fs.rmSync(temp, { force: true });
        throw error;
      }
    },
  };
}

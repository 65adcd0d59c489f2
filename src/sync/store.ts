/**
 * The one interface between a sync and the place that holds the source's copy of the login:
 * a file, one key of a JSON file, or a cloud secret. Everything a sync (or `export --to`, or a
 * fleet's lease) does to a source goes through it.
 *
 * The cloud SDK modules throw StoreConflictError from their own bundles: build/build.mjs leaves
 * this module external to them (`claude-entry:sync-store`) and src/cloud/embedded.ts hands them
 * this one, so that `instanceof StoreConflictError` holds across bundles.
 */
import { OwnMessageError } from '../errors.js';

export interface StoredLogin {
  /** undefined when the store holds nothing yet. */
  text: string | undefined;
  /** An opaque version for conditional writes, where the store has one. */
  version?: string;
}

export interface SyncStore {
  /** Names the store in logs and errors, e.g. `file:/run/secrets/x` or `aws-sm:prod/claude`. */
  describe: string;
  read(): Promise<StoredLogin>;
  /**
   * Replaces the stored text. With `ifVersion` (a version `read` returned), a compare-and-swap:
   * throws StoreConflictError when the store has moved on since that read, and writes nothing.
   */
  write(text: string, ifVersion?: string): Promise<void>;
}

/** A conditional write lost a race: the store moved on since it was read. */
export class StoreConflictError extends OwnMessageError {
  constructor(where: string) {
    super(`${where} changed while writing`);
    this.name = 'StoreConflictError';
  }
}

/** A mounted secret file: Docker and Compose secrets, Kubernetes Secret volumes, `_FILE` variables. */
import * as fs from 'node:fs';
import { ConfigError, SourceNotConfigured } from '../errors.js';
import { readSecretFile } from '../secret-file.js';
import type { SyncStore } from '../sync/store.js';
import type { TargetUser } from '../user.js';
import { selectJsonKey, splitKeySelector, stringsIn } from './json-key.js';
import type { FetchedSecret, ReferenceProvider, SourceContext, SourceLink } from './types.js';

export { MAX_SECRET_BYTES, linkFreePath, readSecretFile, type ReadOptions } from '../secret-file.js';

/** The file as a store (CLAUDE_ENTRY_SYNC), loaded only when a sync runs: the local path never needs it. */
function writableFile(path: string): () => Promise<SyncStore> {
  return async () => (await import('../sync/stores.js')).fileStore(path);
}

/** A file named by a reference: configured, so a missing file is an error. */
export function fileLink(path: string, source: string, carriedBy: string[] = [], as?: TargetUser): SourceLink {
  return {
    describe: source,
    isSet: () => true,
    fetch: async (): Promise<FetchedSecret> => ({ payload: readSecretFile(path, source, { as }), source, carriedBy, writable: writableFile(path) }),
  };
}

/** A conventional default path: absent means not configured, anything else is read. */
export function optionalFileLink(path: string, as?: TargetUser): SourceLink {
  return {
    describe: path,
    isSet: () => fs.existsSync(path),
    fetch: async () => {
      if (!fs.existsSync(path)) throw new SourceNotConfigured(`${path} does not exist`);
      return { payload: readSecretFile(path, path, { as }), source: path, carriedBy: [], writable: writableFile(path) };
    },
  };
}

function entryExists(path: string): boolean {
  try {
    fs.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The credentials file already in the target's config dir (e.g. a persistent volume). */
export function credentialsFileLink(ctx: SourceContext): SourceLink {
  const path = ctx.credentialsPath;
  return {
    describe: `${path} (already in place)`,
    // A link there counts: it is refused when read, never followed.
    isSet: () => entryExists(path),
    fetch: async () => {
      if (!entryExists(path)) throw new SourceNotConfigured(`${path} does not exist`);
      return {
        payload: readSecretFile(path, path, { noFollow: true, as: ctx.user, linkFreeBelow: ctx.linkFreeBelow }),
        source: path,
        carriedBy: [],
        fromCredentialsFile: true,
      };
    },
  };
}

export const fileReferences: ReferenceProvider = {
  matches: (ref) => ref.startsWith('/') || ref.startsWith('file:'),
  link(ref, ctx) {
    // `file:/path#key`: one key of a JSON object in the file (a Kubernetes secret with several keys).
    const { ref: withoutKey, key } = splitKeySelector(ref);
    const path = withoutKey.startsWith('file:') ? withoutKey.slice('file:'.length) : withoutKey;
    if (!path.startsWith('/')) throw new ConfigError(`CLAUDE_ENTRY_SOURCE: ${ref}: a file reference needs an absolute path`);
    if (key === undefined) return fileLink(path, `file:${path}`, [], ctx.user);
    const source = `file:${path}#${key}`;
    return {
      describe: source,
      isSet: () => true,
      fetch: async () => {
        const payload = readSecretFile(path, source, { as: ctx.user });
        // The other keys may be secrets too: redacted like the one selected.
        ctx.log.addSecret(payload.toString().trim());
        for (const value of stringsIn(payload)) ctx.log.addSecret(value);
        return { payload: selectJsonKey(payload, key, source), source, carriedBy: [], writable: writableKey(path, key, source) };
      },
    };
  },
};

/** One key of a JSON file as a store: the other keys are kept. */
function writableKey(path: string, key: string, source: string): () => Promise<SyncStore> {
  return async () => {
    const { fileStore, jsonKeyStore } = await import('../sync/stores.js');
    return jsonKeyStore(fileStore(path), key, source);
  };
}

/**
 * `export --to REF`: the payload written to a reference, in the chain's reference syntax. A file
 * is written here; `file:/path#key` and cloud references through their store (src/sync/).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, WriteError, errnoCode } from '../errors.js';
import { refuseCredentialShaped } from '../secret-shape.js';
import { ownedBySelf, writeFileAtomic } from '../home.js';
import type { Logger } from '../log.js';
import { splitKeySelector } from '../sources/json-key.js';
import { linkForReference, splitReferences } from '../sources/references.js';

export interface StoreContext {
  env: NodeJS.ProcessEnv;
  log: Logger;
  timeoutMs: number;
}

export async function storeAtReference(ref: string, payload: string, ctx: StoreContext): Promise<void> {
  refuseCredentialShaped('--to', ref, 'a reference');
  const refs = splitReferences(ref);
  if (refs.length !== 1) throw new ConfigError(`--to: give exactly one reference`);
  const target = refs[0]!;
  if (target.startsWith('env:')) throw new ConfigError(`--to ${target}: an environment variable cannot be written; print it instead (--format env)`);
  if (target.startsWith('/') || target.startsWith('file:')) {
    const { ref: withoutKey, key } = splitKeySelector(target);
    const file = withoutKey.startsWith('file:') ? withoutKey.slice(5) : withoutKey;
    if (!path.isAbsolute(file)) throw new ConfigError(`--to ${target}: a file reference needs an absolute path`);
    if (!fs.existsSync(path.dirname(file))) throw new WriteError(`--to ${target}: ${path.dirname(file)} does not exist`);
    try {
      if (key !== undefined) {
        // `file:/path#key`: that key of the JSON object in the file; the other keys are kept,
        // even those something else writes meanwhile (written only if the file is still the one read).
        const { fileStore, jsonKeyStore } = await import('../sync/stores.js');
        const store = jsonKeyStore(fileStore(file), key, target);
        await store.write(payload, (await store.read()).version);
        return;
      }
      writeFileAtomic(file, payload + '\n', ownedBySelf(ctx.log));
    } catch (error) {
      if (error instanceof WriteError) throw error;
      throw new WriteError(`--to ${target}: ${errnoCode(error) ?? 'cannot write'}`, { cause: error });
    }
    return;
  }
  const link = linkForReference(target, { env: ctx.env, log: ctx.log, timeoutMs: ctx.timeoutMs, credentialsPath: '' });
  if (!link.writable) throw new ConfigError(`--to ${target.slice(0, 80)}: storing at this kind of reference is not supported`);
  const store = await link.writable();
  await store.write(payload);
}

/**
 * Writing a payload to a reference (export --to, and later credential sync): the same
 * reference syntax as the chain.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, WriteError, errnoCode } from '../errors.js';
import { refuseCredentialShaped } from '../secret-shape.js';
import { ownedBySelf, writeFileAtomic } from '../home.js';
import type { Logger } from '../log.js';
import { splitKeySelector } from './json-key.js';
import { linkForReference, splitReferences } from './references.js';

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
        // `file:/path#key`: that key of the JSON object in the file; the other keys are kept.
        const { fileStore, jsonKeyStore } = await import('../sync/stores.js');
        await jsonKeyStore(fileStore(file), key, target).write(payload);
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
  if (!link.store) throw new ConfigError(`--to ${target.slice(0, 80)}: storing at this kind of reference is not supported`);
  const store = await link.store();
  await store.write(payload);
}

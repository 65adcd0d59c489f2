/**
 * Loads an SDK module only when a reference of its provider is fetched.
 *
 * In dist/claude-entry every SDK module (src/cloud/{aws,gcp,azure}-sdk.ts) is its own esbuild
 * bundle, brotli-compressed and base64-encoded into a comment at the end of the file (see
 * build/build.mjs). Node reads and V8 skips a comment at about 1 ms per 700 KB, where compiling
 * the three SDKs as code costs 70-180 ms at every start even if never called. A cloud fetch
 * reads the file back, decompresses its SDK and compiles it with the node:vm machinery.
 * Unbundled (vitest importing src), a plain dynamic import.
 */
import * as fs from 'node:fs';
import type * as NodeModule from 'node:module';
import * as path from 'node:path';
import type * as Vm from 'node:vm';
import type * as Zlib from 'node:zlib';
import * as errors from '../errors.js';
import { ConfigError, SourceUnavailableError, StoreConflictError } from '../errors.js';
import { mergeJsonKey, selectJsonKey, stringsIn } from '../sources/json-key.js';
import type { SourceContext, SourceLink } from '../sources/types.js';
import type { SyncStore } from '../sync/store.js';
import type { CloudProviderName, CloudSdkModule } from './types.js';

// Required where used: this module is on every start's path (the reference parsers use
// cloudLink), and vm, zlib and module cost about 7 ms to load (measured).
const vm = () => require('node:vm') as typeof Vm;
const zlib = () => require('node:zlib') as typeof Zlib;
const createRequire = (file: string) => (require('node:module') as typeof NodeModule).createRequire(file);

/** Set to true by build/build.mjs for the bundle; undeclared when vitest runs the sources. */
declare const __CLOUD_SDKS_EMBEDDED__: boolean | undefined;

/** What build/build.mjs writes before each embedded SDK: `\n/*claude-entry-sdk NAME br LENGTH\n`. */
export const EMBED_MARKER = 'claude-entry-sdk';

const loaded = new Map<CloudProviderName, Promise<CloudSdkModule<unknown>>>();

export function loadCloudModule<Ref>(name: CloudProviderName): Promise<CloudSdkModule<Ref>> {
  let module = loaded.get(name);
  if (!module) {
    module = typeof __CLOUD_SDKS_EMBEDDED__ !== 'undefined' && __CLOUD_SDKS_EMBEDDED__ ? Promise.resolve().then(() => loadEmbedded(name)) : importSource(name);
    loaded.set(name, module);
  }
  return module as Promise<CloudSdkModule<Ref>>;
}

/** The unbundled path. build/build.mjs replaces these imports with stubs in the bundle. */
async function importSource(name: CloudProviderName): Promise<CloudSdkModule<unknown>> {
  switch (name) {
    case 'aws':
      return (await import('./aws-sdk.js')) as CloudSdkModule<unknown>;
    case 'gcp':
      return (await import('./gcp-sdk.js')) as CloudSdkModule<unknown>;
    case 'azure':
      return (await import('./azure-sdk.js')) as CloudSdkModule<unknown>;
  }
}

/** The bundled path: the SDK's own bundle, carried at the end of this file. */
export function loadEmbedded(name: CloudProviderName, file: string = __filename): CloudSdkModule<unknown> {
  const source = readEmbedded(name, file);
  // A file name next to the bundle, for stack traces; `require` resolves from the bundle too,
  // and is only ever asked for Node built-ins (the SDK bundles have no other externals).
  const filename = path.join(path.dirname(file), `claude-entry-${name}-sdk.js`);
  const wrapper = vm().compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename });
  const module = { exports: {} as Record<string, unknown> };
  wrapper.call(module.exports, module.exports, sdkRequire(file), module, filename, path.dirname(file));
  if (typeof module.exports.fetchSecret !== 'function') throw new Error(`the embedded ${name} SDK module has no fetchSecret`);
  return module.exports as unknown as CloudSdkModule<unknown>;
}

/**
 * Node built-ins, and src/errors.ts shared with this bundle (build/build.mjs leaves it external
 * as `claude-entry:errors`), so that main.ts's `instanceof EntryError` holds for SDK errors.
 */
function sdkRequire(file: string): NodeJS.Require {
  const nodeRequire = createRequire(file);
  const require = ((id: string) => (id === 'claude-entry:errors' ? errors : nodeRequire(id))) as NodeJS.Require;
  return Object.assign(require, { resolve: nodeRequire.resolve, cache: nodeRequire.cache, main: nodeRequire.main, extensions: nodeRequire.extensions });
}

/** The decompressed source of an embedded SDK module. */
export function readEmbedded(name: CloudProviderName, file: string): string {
  const bytes = fs.readFileSync(file);
  const header = `\n/*${EMBED_MARKER} ${name} `;
  const start = bytes.lastIndexOf(header);
  if (start < 0) throw new Error(`${file} carries no ${name} SDK (was it built by build/build.mjs?)`);
  const headerEnd = bytes.indexOf('\n', start + header.length);
  const [encoding, length] = bytes.toString('latin1', start + header.length, headerEnd).split(' ');
  const end = bytes.indexOf('\n*/', headerEnd);
  if (encoding !== 'br' || end < 0) throw new Error(`${file}: the embedded ${name} SDK is damaged`);
  const compressed = Buffer.from(bytes.toString('latin1', headerEnd + 1, end), 'base64');
  const source = zlib().brotliDecompressSync(compressed);
  if (source.length !== Number(length)) throw new Error(`${file}: the embedded ${name} SDK is damaged`);
  return source.toString('utf8');
}

/** A parsed cloud reference, ready to fetch. */
export interface CloudTarget<Ref> {
  provider: CloudProviderName;
  ref: Ref;
  /** Names the reference in logs and errors, e.g. `aws-sm:prod/claude#token`. */
  source: string;
  /** From a `#key` suffix: the payload is this key of a JSON object secret. */
  key?: string;
}

/**
 * The link of a cloud reference: loads its SDK module when fetched, then one overall deadline
 * (CLAUDE_ENTRY_TIMEOUT) for the network: retries and the last answer. Loading the SDK is local
 * CPU work, not part of it: a busy machine must not turn a slow decompress into a timeout.
 */
export function cloudLink<Ref>(target: CloudTarget<Ref>, ctx: SourceContext): SourceLink {
  return {
    describe: target.source,
    isSet: () => true,
    fetch: async () => {
      const started = Date.now();
      const sdk = await loadCloudModule<Ref>(target.provider);
      ctx.log.debug(`${target.source}: ${target.provider} SDK loaded in ${Date.now() - started} ms`);
      const deadline = Date.now() + ctx.timeoutMs;
      const payload = await beforeDeadline(
        sdk.fetchSecret(target.ref, { env: ctx.env, log: ctx.log, deadline }),
        deadline,
        () =>
          new SourceUnavailableError(
            `${target.source}: no answer within ${formatSeconds(ctx.timeoutMs)} (CLAUDE_ENTRY_TIMEOUT); check the network path to the ${target.provider.toUpperCase()} endpoint`,
          ),
      );
      ctx.log.debug(`${target.source}: fetched in ${Date.now() - started} ms`);
      // The whole answer is secret, the keys `#key` did not select included.
      ctx.log.addSecret(payload.toString().trim());
      if (target.key !== undefined) for (const value of stringsIn(payload)) ctx.log.addSecret(value);
      return {
        payload: target.key === undefined ? payload : selectJsonKey(payload, target.key, target.source),
        source: target.source,
        carriedBy: [],
        store: async () => cloudStore(target, ctx),
      };
    },
    store: async () => cloudStore(target, ctx),
  };
}

/**
 * The secret behind a cloud reference as a sync store: reads and writes the whole value, and
 * with `#key` only that key of the JSON object (the other keys are kept).
 */
export function cloudStore<Ref>(target: CloudTarget<Ref>, ctx: SourceContext): SyncStore {
  const options = () => ({ env: ctx.env, log: ctx.log, deadline: Date.now() + ctx.timeoutMs });
  const module = async () => {
    const sdk = await loadCloudModule<Ref>(target.provider);
    if (!sdk.readSecret || !sdk.writeSecret) throw new ConfigError(`${target.source}: writing to ${target.provider} secrets is not supported`);
    return sdk as Required<CloudSdkModule<Ref>>;
  };
  const readWhole = async () => {
    const sdk = await module();
    const o = options();
    return beforeDeadline(
      sdk.readSecret(target.ref, o),
      o.deadline,
      () => new SourceUnavailableError(`${target.source}: no answer within ${formatSeconds(ctx.timeoutMs)}`),
    );
  };
  return {
    describe: target.source,
    async read() {
      const whole = await readWhole();
      if (whole.payload === undefined || target.key === undefined) return { text: whole.payload, version: whole.version };
      try {
        return { text: selectJsonKey(whole.payload, target.key, target.source), version: whole.version };
      } catch {
        return { text: undefined, version: whole.version };
      }
    },
    async write(text, ifVersion) {
      const sdk = await module();
      let payload = text;
      if (target.key !== undefined) {
        const whole = await readWhole();
        if (ifVersion !== undefined && whole.version !== ifVersion) throw new StoreConflictError(target.source);
        payload = mergeJsonKey(whole.payload, target.key, text);
      }
      const o = options();
      await beforeDeadline(
        sdk.writeSecret(target.ref, payload, { ...o, ifVersion }),
        o.deadline,
        () => new SourceUnavailableError(`${target.source}: no answer within ${formatSeconds(ctx.timeoutMs)}`),
      );
    },
  };
}

/** A safety net: the SDK modules honour the deadline themselves; this one always fires. */
function beforeDeadline<T>(work: Promise<T>, deadline: number, timeoutError: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    // A little after the deadline, so the SDK module's own, more precise error wins.
    timer = setTimeout(() => reject(timeoutError()), Math.max(0, deadline - Date.now()) + 250);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

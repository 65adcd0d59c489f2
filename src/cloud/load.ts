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
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';
import * as zlib from 'node:zlib';
import * as errors from '../errors.js';
import { SourceUnavailableError } from '../errors.js';
import { selectJsonKey } from '../sources/json-key.js';
import type { SourceContext, SourceLink } from '../sources/types.js';
import type { CloudProviderName, CloudSdkModule } from './types.js';

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
  const wrapper = vm.compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename });
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
  const source = zlib.brotliDecompressSync(compressed);
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
 * The link of a cloud reference: loads its SDK module when fetched, within one overall
 * deadline (CLAUDE_ENTRY_TIMEOUT) that covers loading, retries and the last answer.
 */
export function cloudLink<Ref>(target: CloudTarget<Ref>, ctx: SourceContext): SourceLink {
  return {
    describe: target.source,
    fetch: async () => {
      const started = Date.now();
      const deadline = started + ctx.timeoutMs;
      const sdk = await loadCloudModule<Ref>(target.provider);
      ctx.log.debug(`${target.source}: ${target.provider} SDK loaded in ${Date.now() - started} ms`);
      const payload = await beforeDeadline(
        sdk.fetchSecret(target.ref, { env: ctx.env, log: ctx.log, deadline }),
        deadline,
        () => new SourceUnavailableError(`${target.source}: no answer within ${formatSeconds(ctx.timeoutMs)} (CLAUDE_ENTRY_TIMEOUT); check the network path to the ${target.provider.toUpperCase()} endpoint`),
      );
      ctx.log.debug(`${target.source}: fetched in ${Date.now() - started} ms`);
      return {
        payload: target.key === undefined ? payload : selectJsonKey(payload, target.key, target.source),
        source: target.source,
        carriedBy: [],
      };
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

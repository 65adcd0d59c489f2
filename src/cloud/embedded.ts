/**
 * The bundled path of loading an SDK module: in dist/claude-entry every SDK module
 * (src/cloud/{aws,gcp,azure}-sdk.ts) is its own esbuild bundle, brotli-compressed and
 * base64-encoded into a comment at the end of the file (see build/build.mjs). Node reads and V8
 * skips a comment at about 1 ms per 700 KB, where compiling the three SDKs as code costs
 * 70-180 ms at every start even if never called. This reads the file back, decompresses the
 * SDK and compiles it with the node:vm machinery.
 *
 * Imported only when a cloud reference is fetched or written (src/cloud/sdk-module.ts), so vm,
 * zlib and module (about 7 ms to load, measured) stay off a start that needs no SDK.
 */
import * as fs from 'node:fs';
import * as Module from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';
import * as zlib from 'node:zlib';
import * as errors from '../errors.js';
import * as syncStore from '../sync/store.js';
import type { CloudProviderName, CloudSdkModule } from './types.js';

/** What build/build.mjs writes before each embedded SDK: `\n/*claude-entry-sdk NAME br LENGTH\n`. */
export const EMBED_MARKER = 'claude-entry-sdk';

/**
 * The modules an SDK bundle requires by these ids instead of carrying its own copy
 * (build/build.mjs, sharedModules): this bundle's, so that `instanceof` holds across bundles.
 */
const SHARED_MODULES: Record<string, unknown> = { 'claude-entry:errors': errors, 'claude-entry:sync-store': syncStore };

/** The SDK module `name` carried at the end of `file` (this bundle), compiled. */
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

/** Node built-ins, and the shared modules. */
function sdkRequire(file: string): NodeJS.Require {
  const nodeRequire = Module.createRequire(file);
  const require = ((id: string) => (Object.hasOwn(SHARED_MODULES, id) ? SHARED_MODULES[id] : nodeRequire(id))) as NodeJS.Require;
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

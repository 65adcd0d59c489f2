// Bundles src/main.ts into one executable file, dist/claude-entry, for Node >= 18.
//
// The cloud SDK modules (src/cloud/{aws,gcp,azure}-sdk.ts) are bundled separately, each with
// its SDK, and carried at the end of the file in a comment, brotli-compressed and base64:
//
//   <main bundle>
//   /*claude-entry-sdk aws br 1115927
//   <base64>
//   */
//
// Node reads and V8 skips a comment cheaply, so the env and file paths parse none of the SDK
// code; src/cloud/embedded.ts reads the comment back and compiles the SDK when a reference needs it.
import { build, transform } from 'esbuild';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const outfile = path.join(root, 'dist/claude-entry');
/**
 * Modules an SDK bundle shares with the main bundle instead of carrying its own copy: their
 * classes must be the main bundle's for `instanceof` to hold (main.ts's ConfigError, the
 * syncer's StoreConflictError). src/cloud/embedded.ts answers require() for these ids.
 */
export const sharedModules = {
  [path.join(root, 'src/errors.ts')]: 'claude-entry:errors',
  [path.join(root, 'src/sync/store.ts')]: 'claude-entry:sync-store',
};

/**
 * One entry per SDK module. `minify` is measured per SDK (`node bench/cloud.mjs --minify`):
 * smaller is cheaper to carry, but minified code is not always faster to load and run.
 * `esbuild` adds options a particular SDK needs (loaders, plugins, defines, mainFields).
 */
export const sdkModules = {
  // The SDK's ES modules (its `module` field) let esbuild drop the commands and schemas not
  // used: 302 KiB minified instead of 442 KiB from its CommonJS build.
  aws: { entry: 'src/cloud/aws-sdk.ts', minify: true, esbuild: { mainFields: ['module', 'main'] } },
  // Renaming identifiers makes the GCP client ~15% slower to load and call (measured with
  // `node bench/cloud.mjs --minify`); whitespace and syntax minification alone do not.
  gcp: { entry: 'src/cloud/gcp-sdk.ts', minify: { whitespace: true, syntax: true }, esbuild: {} },
  azure: { entry: 'src/cloud/azure-sdk.ts', minify: true, esbuild: {} },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node18',
  format: 'cjs',
  legalComments: 'none',
  logLevel: 'warning',
  absWorkingDir: root,
};

/** In the main bundle, sdk-module.ts's unbundled dynamic imports of the SDK modules become stubs. */
const stubSdkImports = {
  name: 'stub-sdk-imports',
  setup(b) {
    b.onResolve({ filter: /^\.\/(aws|gcp|azure)-sdk\.js$/ }, (args) => ({ path: args.path, namespace: 'sdk-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'sdk-stub' }, () => ({
      contents: 'throw new Error("SDK modules are embedded, not imported");',
      loader: 'js',
    }));
  },
};

/** In an SDK bundle, the shared modules stay the main bundle's (see sharedModules). */
const shareModules = {
  name: 'share-modules',
  setup(b) {
    b.onResolve({ filter: /\.js$/ }, (args) => {
      const id = sharedModules[path.resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'))];
      return id ? { path: id, external: true } : undefined;
    });
  },
};

/** `minify`: true, false, or which of esbuild's three minifications to apply. */
function minifyOptions(minify) {
  if (typeof minify === 'boolean') return { minify };
  return { minifyWhitespace: !!minify.whitespace, minifyIdentifiers: !!minify.identifiers, minifySyntax: !!minify.syntax };
}

export async function buildSdkModule(name, { minify = sdkModules[name].minify } = {}) {
  const spec = sdkModules[name];
  const extra = spec.esbuild ?? {};
  const result = await build({
    ...common,
    ...extra,
    entryPoints: [spec.entry],
    ...minifyOptions(minify),
    // import() left in the output would fail in code compiled by node:vm (no module loader
    // behind it): the AWS SDK's EC2 metadata credentials do `await import("node:http")`.
    supported: { 'dynamic-import': false, ...extra.supported },
    write: false,
    outfile: `dist/${name}-sdk.js`,
    metafile: true,
    plugins: [shareModules, ...(extra.plugins ?? [])],
  });
  const code = result.outputFiles[0].contents;
  const dynamicImport = /[^\w$.]import\(\s*["'`]/.exec(Buffer.from(code).toString());
  if (dynamicImport) throw new Error(`${spec.entry}: the bundle still has an import() (${dynamicImport[0]}...), which fails in code compiled by node:vm`);
  return { name, code, metafile: result.metafile };
}

const brotliParams = (size) => ({
  params: {
    [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
    [zlib.constants.BROTLI_PARAM_LGWIN]: 24,
    [zlib.constants.BROTLI_PARAM_SIZE_HINT]: size,
  },
});

/** The comment that carries one SDK module; base64 has no "*\/", so it cannot end early. */
function trailer(name, code, compressed) {
  return { text: `\n/*claude-entry-sdk ${name} br ${code.length}\n${compressed.toString('base64')}\n*/`, compressed: compressed.length };
}

export function embed({ name, code }) {
  return trailer(name, code, zlib.brotliCompressSync(code, brotliParams(code.length)));
}

/** The same, compressed on the thread pool (the three SDKs in parallel). */
export async function embedAsync({ name, code }) {
  return trailer(name, code, await promisify(zlib.brotliCompress)(code, brotliParams(code.length)));
}

/**
 * esbuild turns `import * as fs from 'node:fs'` into `__toESM(require("node:fs"))`, which
 * copies every property of the module into a new object, at every start, once per importing
 * file (26 copies, about 13 ms of start-up, measured on Node 24). Our namespace imports of
 * built-ins only ever read properties, so the module object itself serves. Then minify.
 */
// A SIGUSR1 that landed while Node itself was starting (before any code of ours could run)
// has opened the inspector, or will: Node's signal thread acts on it later, at any moment.
// So park the inspector's port on a listening socket of our own (bound synchronously, never
// accepted, closed with the process): any later start fails with EADDRINUSE. Then close an
// inspector already open. An open inspector lets any local process evaluate code in this root
// process, whose environment already holds the secrets. Skipped when --inspect was asked for.
export const FIRST_STATEMENT =
  'process.on("SIGUSR1",function(){});' +
  '(function(){if(/--inspect/.test(process.execArgv.join(" ")+" "+(process.env.NODE_OPTIONS||"")))return;' +
  'try{var w=process.binding("tcp_wrap"),h=new w.TCP(w.constants.SERVER),a={};' +
  'if(h.bind("127.0.0.1",0)===0&&h.listen(0)===0&&h.getsockname(a)===0){h.unref();process.debugPort=a.port}else h.close()}catch(e){}' +
  // Asked through the binding (free), not node:inspector (about 4 ms to load), which is
  // loaded only to close one that is open.
  'try{var u;try{u=process.binding("inspector").url()}catch(e){u=require("node:inspector").url()}' +
  'if(u!==undefined){require("node:inspector").close();globalThis.__claudeEntryClosedInspector=true}}catch(e){}})();';

/**
 * The second statement: build/code-cache-loader.js, minified, called with the bundle's code as
 * one string (wrapped like a CommonJS module) and the build's id. V8 scans a string literal far
 * faster than code, and compiles the code from the string with a code cache when one was made
 * for this build (`claude-entry warm`).
 */
export async function codeCacheLoaderCall(code) {
  const buildId = createHash('sha256').update(code).digest('hex').slice(0, 32);
  const loader = readFileSync(path.join(root, 'build/code-cache-loader.js'), 'utf8');
  const call = await transform(`${loader}\nloadWithCodeCache(__CLAUDE_ENTRY_CODE__, ${JSON.stringify(buildId)});`, {
    loader: 'js',
    target: 'node18',
    platform: 'node',
    minify: true,
    legalComments: 'none',
  });
  const wrapped = `(function(exports,require,module,__filename,__dirname){${code}\n})`;
  if (!call.code.includes('__CLAUDE_ENTRY_CODE__')) throw new Error('code-cache-loader: the placeholder for the code is gone');
  return { buildId, text: call.code.replace('__CLAUDE_ENTRY_CODE__', () => JSON.stringify(wrapped)) };
}

async function finishMainBundle(code) {
  const unwrapped = code.replace(/__toESM\(require\("(node:[a-z_/]+)"\)\)/g, 'require("$1")');
  if (/__toESM\(require\("node:/.test(unwrapped)) throw new Error('a built-in module is still wrapped by __toESM');
  const result = await transform(unwrapped, { loader: 'js', format: 'cjs', target: 'node18', platform: 'node', minify: true, legalComments: 'none' });
  const { text } = await codeCacheLoaderCall(result.code.replace(/^#!.*\n/, ''));
  // The first statement: a listener of our own makes SIGUSR1 harmless (Node opens its inspector
  // on 127.0.0.1:9229 for a SIGUSR1 that finds no listener), before anything else runs.
  return `#!/usr/bin/env node\n${FIRST_STATEMENT}\n${text}`;
}

async function main() {
  const started = Date.now();
  const [mainResult, ...sdks] = await Promise.all([
    build({
      ...common,
      entryPoints: ['src/main.ts'],
      write: false,
      outfile,
      // Minified below, after unwrapping the built-in modules.
      minify: false,
      metafile: true,
      define: { __VERSION__: JSON.stringify(pkg.version), __CLOUD_SDKS_EMBEDDED__: 'true' },
      plugins: [stubSdkImports],
    }),
    ...Object.keys(sdkModules).map((name) => buildSdkModule(name)),
  ]);

  // The guarantee the local path's start-up cost rests on: no SDK code in the main bundle.
  const sdkCode =
    /node_modules\/(@aws-sdk|@aws-crypto|@smithy|@google-cloud|google-gax|google-auth-library|gaxios|gcp-metadata|@grpc|protobufjs|@azure|@typespec)\/|src\/cloud\/\w+-sdk\.ts$/;
  const leaked = Object.keys(mainResult.metafile.inputs).filter((p) => sdkCode.test(p));
  if (leaked.length > 0) throw new Error(`SDK code leaked into the main bundle: ${leaked.slice(0, 5).join(', ')}`);

  const mainCode = Buffer.from(await finishMainBundle(mainResult.outputFiles[0].text));
  const embedded = await Promise.all(sdks.map(embedAsync));
  // Renamed into place: a test or a bench running the bundle never sees a half-written file.
  const temp = `${outfile}.tmp-${process.pid}`;
  mkdirSync(path.dirname(outfile), { recursive: true });
  writeFileSync(temp, Buffer.concat([mainCode, Buffer.from(embedded.map((e) => e.text).join('') + '\n')]), { mode: 0o755 });
  chmodSync(temp, 0o755);
  renameSync(temp, outfile);

  const kb = (n) => `${Math.round(n / 1024)} KB`;
  const parts = sdks.map((s, i) => `${s.name} ${kb(s.code.length)} -> ${kb(embedded[i].compressed)}`).join(', ');
  console.log(`dist/claude-entry: code ${kb(mainCode.length)}; embedded SDKs (brotli): ${parts}; ${Date.now() - started} ms`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();

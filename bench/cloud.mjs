#!/usr/bin/env node
/**
 * Cloud rows for bench/bench.mjs, and the measurements behind the embedded-SDK loader
 * (src/cloud/embedded.ts, build/build.mjs).
 *
 *   npm run bench               bench.mjs imports this file: its rows join the table, then
 *                               a summary of the ratios below is printed
 *   node bench/cloud.mjs        the same rows on their own (no start-up analysis)
 *   node bench/cloud.mjs --loader   how to carry the SDKs in one file: variants of the
 *                               bundle, whole-process and parse/compile per Node version
 *   node bench/cloud.mjs --minify   each SDK module minified or not, on the cloud path
 *   --providers aws,gcp         only these providers' rows
 *   (--quick, --node PATH, --rounds N, --runs N are passed to bench.mjs)
 *
 * Rows added to `npm run bench`:
 *   - the env-token path of the same bundle with the SDKs cut off (the trailer removed): the
 *     local path's cost with and without the SDKs carried, both against `node -e 0`;
 *   - for each provider, claude-entry fetching from the local fake (test/fakes/*.ts, compiled
 *     with esbuild, served from this process), and a bare script calling the same SDK
 *     (from node_modules) against the same fake: the target is within 1.2x.
 * A provider whose fake or SDK module cannot be set up is skipped with a note.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as zlib from 'node:zlib';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MARKER = '\n/*claude-entry-sdk ';
let PROVIDERS = ['aws', 'gcp', 'azure'];

/** What benchRows adds: the default rows, or one of the standalone analyses. */
let mode = 'rows';
/** Set in --minify mode: bundles whose SDK modules were built minified / plain. */
let minifyBundles;

export const credentialsJson = () =>
  JSON.stringify({
    claudeAiOauth: {
      accessToken: 'sk-ant-oat01-TESTaccess0000000000000000000000000000000000000000000000000000000000000000000000-TESTAA',
      refreshToken: 'sk-ant-ort01-TESTrefresh000000000000000000000000000000000000000000000000000000000000000000000-TESTAA',
      expiresAt: Date.now() + 8 * 3600_000,
      scopes: ['user:inference', 'user:profile'],
      subscriptionType: 'max',
    },
  });

// ---------------------------------------------------------------------------------------
// the bundle's parts

/** The code part and the embedded SDK modules (decompressed) of a built bundle. */
export function splitBundle(file) {
  const text = fs.readFileSync(file, 'latin1');
  const first = text.indexOf(MARKER);
  if (first < 0) return { code: text, sdks: [] };
  const sdks = [];
  const re = /\n\/\*claude-entry-sdk (\w+) br (\d+)\n([A-Za-z0-9+/=]*)\n\*\//g;
  for (let m; (m = re.exec(text)); ) {
    sdks.push({ name: m[1], source: zlib.brotliDecompressSync(Buffer.from(m[3], 'base64')), base64: m[3] });
  }
  return { code: text.slice(0, first), sdks };
}

// ---------------------------------------------------------------------------------------
// fakes, compiled from test/fakes/*.ts, and the bare scripts

export async function importFake(name) {
  const outfile = path.join(ROOT, '.bench', 'fakes', `${name}.mjs`);
  await build({
    entryPoints: [path.join(ROOT, 'test', 'fakes', `${name}.ts`)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'error',
    // the fakes use __dirname (GCP's finds the .proto files from it)
    banner: {
      js: `import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url); const __dirname = ${JSON.stringify(path.join(ROOT, 'test', 'fakes'))}; const __filename = __dirname + '/${name}.ts';`,
    },
  });
  return import(pathToFileURL(outfile).href);
}

/** A bare script: require the SDK from node_modules, fetch once, exit (as claude-entry does). */
function bareScript(tmp, name, body) {
  const file = path.join(tmp, `bare-${name}.cjs`);
  fs.writeFileSync(
    file,
    `const require_ = require('node:module').createRequire(${JSON.stringify(path.join(ROOT, 'package.json'))});\n` +
      `(async () => {\n${body}\n})().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });\n`,
  );
  return file;
}

/** Per provider: a fake with one secret, and the claude-entry and bare rows against it. */
const setups = {
  async aws(ctx, bundles) {
    const { startFakeSecretsManager, FAKE_AWS_CREDENTIALS } = await importFake('aws');
    const fake = await startFakeSecretsManager({ region: 'us-east-1' });
    fake.putSecret('bench/claude', credentialsJson());
    const env = {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: FAKE_AWS_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: FAKE_AWS_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL: fake.url,
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    // No endpoint option: this also checks that the SDK itself honours AWS_ENDPOINT_URL.
    const bare = bareScript(
      ctx.tmp,
      'aws',
      `const { SecretsManagerClient, GetSecretValueCommand } = require_('@aws-sdk/client-secrets-manager');
       const r = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: 'bench/claude' }));
       if (!r.SecretString) throw new Error('no SecretString');`,
    );
    return { env, source: 'aws-sm:bench/claude', bare, close: () => fake.close(), bundles };
  },

  async gcp(ctx, bundles) {
    const { startFakeSecretManager } = await importFake('gcp');
    const fake = await startFakeSecretManager();
    fake.addVersion('projects/bench/secrets/claude', credentialsJson());
    const env = { SECRET_MANAGER_EMULATOR_HOST: fake.address, GCE_METADATA_HOST: '127.0.0.1:9' };
    // What src/cloud/gcp-sdk.ts does for an emulator host: plaintext, no credentials.
    const bare = bareScript(
      ctx.tmp,
      'gcp',
      `const { SecretManagerServiceClient } = require_('@google-cloud/secret-manager');
       const { grpc } = require_('google-gax');
       const [host, port] = process.env.SECRET_MANAGER_EMULATOR_HOST.split(':');
       const client = new SecretManagerServiceClient({ servicePath: host, port: Number(port), sslCreds: grpc.credentials.createInsecure(), universeDomain: 'googleapis.com' });
       const [r] = await client.accessSecretVersion({ name: 'projects/bench/secrets/claude/versions/latest' });
       if (!r.payload.data.length) throw new Error('no payload');`,
    );
    return { env, source: 'projects/bench/secrets/claude', bare, close: () => fake.close(), bundles };
  },

  async azure(ctx, bundles) {
    const { makeTestCa } = await importFake('tls');
    const { startFakeAzure } = await importFake('azure');
    const ca = makeTestCa();
    const fake = await startFakeAzure({ ca });
    fake.setSecret('claude', credentialsJson());
    // Both rows pay for NODE_EXTRA_CA_CERTS (the test CA): Node 20 loads it at start.
    const env = { NODE_EXTRA_CA_CERTS: ca.caFile, ...fake.identityEnv };
    const bare = bareScript(
      ctx.tmp,
      'azure',
      `const { SecretClient } = require_('@azure/keyvault-secrets');
       const { DefaultAzureCredential } = require_('@azure/identity');
       const client = new SecretClient(${JSON.stringify(fake.vaultUrl)}, new DefaultAzureCredential(), { disableChallengeResourceVerification: true });
       const s = await client.getSecret('claude');
       if (!s.value) throw new Error('no value');`,
    );
    return {
      env,
      source: fake.secretUrl('claude'),
      bare,
      close: async () => {
        await fake.close();
        ca.cleanup?.();
      },
      bundles,
    };
  },
};

function cloudRows(ctx, provider, setup) {
  const rows = [];
  for (const [label, bundle] of setup.bundles) {
    const home = ctx.freshHome(`${provider}-${label}`);
    rows.push({
      key: `${provider}${label ? `-${label}` : ''}`,
      name: `claude-entry, ${provider}${label ? ` (SDK ${label})` : ''}`,
      argv: [ctx.node, bundle, '--', '/bin/true'],
      env: { HOME: home, CLAUDE_ENTRY_SOURCE: setup.source, ...setup.env },
      home,
      expectLog: new RegExp(`from ${setup.source.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    });
  }
  rows.push({
    key: `${provider}-bare`,
    name: `bare script, ${provider} SDK`,
    argv: [ctx.node, setup.bare],
    env: { HOME: ctx.freshHome(`${provider}-bare`), ...setup.env },
  });
  return rows;
}

// ---------------------------------------------------------------------------------------
// loader variants: ways to carry the SDKs, measured on the env-token path

export function loaderVariants(bundle) {
  const { code, sdks } = splitBundle(bundle);
  const full = fs.readFileSync(bundle);
  const compressed = sdks.map((s) => Buffer.from(s.base64, 'base64'));
  const breakCommentEnd = (buf) => {
    const b = Buffer.from(buf);
    for (let i = 0; i + 1 < b.length; i++) if (b[i] === 0x2a && b[i + 1] === 0x2f) b[i + 1] = 0x2e;
    return b;
  };
  const gz = sdks.map((s) => zlib.gzipSync(s.source, { level: 9 }).toString('base64'));
  return [
    { key: 'none', name: 'no SDKs carried (code part only)', content: code },
    { key: 'comment-b64-br', name: 'as built: brotli, base64, in a comment', content: full },
    { key: 'comment-b64-gz', name: 'gzip, base64, in a comment', content: code + gz.map((g) => `\n/*${g}\n*/`).join('') + '\n' },
    { key: 'string-b64-br', name: 'brotli, base64, in a string literal', content: code + `\n;${sdks.map((s) => JSON.stringify(s.base64)).join(';')};\n` },
    {
      key: 'comment-raw-br',
      name: 'brotli, raw bytes, in a comment',
      content: Buffer.concat([
        Buffer.from(code, 'latin1'),
        ...compressed.map((c) => Buffer.concat([Buffer.from('\n/*'), breakCommentEnd(c), Buffer.from('*/')])),
        Buffer.from('\n'),
      ]),
    },
    {
      key: 'comment-js',
      name: 'plain JS (minified), in a comment',
      content: code + sdks.map((s) => `\n/*${s.source.toString().replaceAll('*/', '*\\/')}*/`).join('') + '\n',
    },
    {
      key: 'lazy-functions',
      name: 'as code, wrapped in functions never called',
      content: code + sdks.map((s) => `\nfunction __sdk_${s.name}(exports,require,module,__filename,__dirname){${s.source}\n}`).join('') + '\n',
    },
  ].map((v) => ({ ...v, bytes: Buffer.byteLength(v.content) }));
}

/** read + compile (what Node does with a CJS main file) per variant, in a fresh process per Node. */
function parseCost(node, files, reps) {
  const script = `
    const fs = require('fs'), vm = require('vm'), zlib = require('zlib');
    const files = ${JSON.stringify(files)}; const out = {};
    const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
    for (const [key, file] of Object.entries(files)) {
      const read = [], compile = [];
      for (let i = 0; i < ${reps}; i++) {
        let t = process.hrtime.bigint();
        let src = fs.readFileSync(file, 'utf8');
        read.push(Number(process.hrtime.bigint() - t) / 1e6);
        src = src.replace(/^#!.*/, '//') + '//' + i + Math.random(); // defeats V8's compilation cache
        t = process.hrtime.bigint();
        vm.compileFunction(src, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: file + i });
        compile.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      out[key] = { read: med(read), compile: med(compile) };
    }
    console.log(JSON.stringify(out));`;
  const r = spawnSync(node, ['-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  if (r.status !== 0) throw new Error(`${node}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Decompression of each SDK module, brotli (as built) and gzip. */
function decompressCost(node, bundle, reps) {
  const { sdks } = splitBundle(bundle);
  const dir = fs.mkdtempSync(path.join(ROOT, '.bench', 'decompress-'));
  const files = {};
  for (const s of sdks) {
    files[s.name] = { br: path.join(dir, `${s.name}.br`), gz: path.join(dir, `${s.name}.gz`) };
    fs.writeFileSync(files[s.name].br, Buffer.from(s.base64, 'base64'));
    fs.writeFileSync(files[s.name].gz, zlib.gzipSync(s.source, { level: 9 }));
  }
  const script = `
    const fs = require('fs'), zlib = require('zlib'); const files = ${JSON.stringify(files)}; const out = {};
    const time = (f) => { const a = []; for (let i = 0; i < ${reps}; i++) { const t = process.hrtime.bigint(); f(); a.push(Number(process.hrtime.bigint() - t) / 1e6); } return a.sort((x, y) => x - y)[a.length >> 1]; };
    for (const [name, f] of Object.entries(files)) {
      const br = fs.readFileSync(f.br), gz = fs.readFileSync(f.gz);
      out[name] = { br: time(() => zlib.brotliDecompressSync(br)), gz: time(() => zlib.gunzipSync(gz)), brBytes: br.length, gzBytes: gz.length };
    }
    console.log(JSON.stringify(out));`;
  const r = spawnSync(node, ['-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  fs.rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`${node}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function nodeBinaries(defaultNode) {
  const list = [['node', defaultNode]];
  for (const major of [18, 22, 24]) {
    const p = path.join(ROOT, 'tools', 'nodes', 'node_modules', `node${major}`, 'bin', 'node');
    if (fs.existsSync(p)) list.push([`node${major}`, p]);
  }
  return list;
}

// ---------------------------------------------------------------------------------------
// bench.mjs's hook

let pending;

export async function benchRows(ctx) {
  const notes = [];
  const rows = [];
  const closers = [];
  const variantsDir = path.join(ctx.tmp, 'cloud-variants');
  fs.mkdirSync(variantsDir, { recursive: true });

  if (mode === 'loader') {
    for (const v of loaderVariants(ctx.bundle)) {
      const file = path.join(variantsDir, `claude-entry.${v.key}`);
      fs.writeFileSync(file, v.content, { mode: 0o755 });
      const home = ctx.freshHome(`loader-${v.key}`);
      rows.push({
        key: `loader-${v.key}`,
        name: `env token, SDKs ${v.name} (${Math.round(v.bytes / 1024)} KiB)`,
        argv: [ctx.node, file, '--', '/bin/true'],
        env: { HOME: home, CLAUDE_CODE_OAUTH_TOKEN: ctx.fakeToken },
        home,
        expectLog: /using OAuth token/,
      });
    }
    pending = { mode, ctx, notes };
    return { rows, teardown: () => summary() };
  }

  // The same bundle with the SDKs cut off: what the local path costs without them.
  const { code } = splitBundle(ctx.bundle);
  const bare = path.join(variantsDir, 'claude-entry.no-sdks');
  fs.writeFileSync(bare, code, { mode: 0o755 });
  const home = ctx.freshHome('env-token-no-sdks');
  rows.push({
    key: 'env-token-no-sdks',
    name: 'claude-entry, env token, no SDKs carried',
    argv: [ctx.node, bare, '--', '/bin/true'],
    env: { HOME: home, CLAUDE_CODE_OAUTH_TOKEN: ctx.fakeToken },
    home,
    expectLog: /using OAuth token from CLAUDE_CODE_OAUTH_TOKEN/,
  });

  const bundles = mode === 'minify' ? minifyBundles : [['', ctx.bundle]];
  for (const provider of PROVIDERS) {
    try {
      const setup = await setups[provider](ctx, bundles);
      closers.push(setup.close);
      const providerRows = cloudRows(ctx, provider, setup);
      // A provider that does not work yet is a note, not a failed benchmark.
      for (const row of providerRows) await checkRow(row);
      rows.push(...providerRows);
    } catch (error) {
      notes.push(
        `${provider}: skipped (${String(error?.message ?? error)
          .split('\n')[0]
          .slice(0, 200)})`,
      );
    }
  }
  pending = { mode, ctx, notes };
  return {
    rows,
    teardown: async () => {
      for (const close of closers) await close().catch(() => {});
      summary();
    },
  };
}

/** Run a row once (asynchronously: the fakes answer from this process); throw if it fails. */
function checkRow(row) {
  if (row.home) for (const n of fs.readdirSync(row.home)) fs.rmSync(path.join(row.home, n), { recursive: true, force: true });
  return new Promise((resolve, reject) => {
    const child = spawn(row.argv[0], row.argv.slice(1), { env: { PATH: process.env.PATH, LANG: 'C.UTF-8', ...row.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`${row.name}: exit ${code}: ${stderr.trim().split('\n').pop()}`));
      else if (row.expectLog && !row.expectLog.test(stderr)) reject(new Error(`${row.name}: expected ${row.expectLog}, got ${stderr.trim()}`));
      else resolve();
    });
  });
}

/** Printed after bench.mjs's table (from the figures it saved in .bench/latest.json). */
function summary() {
  const latest = path.join(ROOT, '.bench', 'latest.json');
  if (!pending || !fs.existsSync(latest)) return;
  const { timing } = JSON.parse(fs.readFileSync(latest, 'utf8'));
  const t = (k) => timing[k];
  const f2 = (x) => x.toFixed(2);
  const f1 = (x) => x.toFixed(1);
  const base = t('node');
  const line = (label, a, b) =>
    a && b
      ? `  ${label.padEnd(52)} ${f2(a.median / b.median)}x by median, ${f2(a.min / b.min)}x by min, ${f2(a.cpu / b.cpu)}x by cpu  (${f1(a.median)} vs ${f1(b.median)} ms)`
      : `  ${label}: not measured`;
  console.log('\nCloud sources (bench/cloud.mjs)');
  if (pending.mode === 'loader') {
    for (const key of Object.keys(timing).filter((k) => k.startsWith('loader-'))) {
      console.log(
        line(`${key.slice(7)} vs node -e 0`, t(key), base) +
          (t('loader-none') ? `; +${f1(t(key).median - t('loader-none').median)} ms median, +${f1(t(key).cpu - t('loader-none').cpu)} ms cpu vs none` : ''),
      );
    }
  } else {
    console.log(line('local path (env token), SDKs carried, vs node -e 0', t('env-token'), base));
    console.log(line('local path (env token), no SDKs, vs node -e 0', t('env-token-no-sdks'), base));
    if (t('env-token') && t('env-token-no-sdks')) {
      console.log(
        `  carrying the SDKs costs the local path ${f1(t('env-token').median - t('env-token-no-sdks').median)} ms by median, ${f1(t('env-token').cpu - t('env-token-no-sdks').cpu)} ms by cpu`,
      );
    }
    for (const provider of PROVIDERS) {
      for (const key of Object.keys(timing)
        .filter((k) => k === provider || k.startsWith(`${provider}-`))
        .filter((k) => !k.endsWith('-bare'))) {
        console.log(line(`${key} vs bare script, same SDK (target 1.2x)`, t(key), t(`${provider}-bare`)));
        // What the loader and the SDK cost, without claude-entry's own local work (files, spawn).
        const own = t(key) && t('env-token') && t(`${provider}-bare`) ? t(key).cpu - t('env-token').cpu : undefined;
        if (own !== undefined)
          console.log(
            `    ${key} minus the env-token path: ${f1(own)} ms cpu; bare script minus node -e 0: ${f1(t(`${provider}-bare`).cpu - base.cpu)} ms cpu`,
          );
      }
    }
  }
  for (const note of pending.notes) console.log(`  ${note}`);
}

// ---------------------------------------------------------------------------------------
// standalone

async function main(argv) {
  const { runBench } = await import('./bench.mjs');
  const pass = [];
  let analysis;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--loader') analysis = 'loader';
    else if (argv[i] === '--minify') analysis = 'minify';
    else if (argv[i] === '--providers') PROVIDERS = argv[++i].split(',');
    else pass.push(argv[i]);
  }
  const options = { noAnalysis: true };
  for (let i = 0; i < pass.length; i++) {
    const a = pass[i];
    if (a === '--quick') options.quick = true;
    else if (a === '--node') options.node = pass[++i];
    else if (a === '--bundle') options.bundle = pass[++i];
    else if (a === '--rounds') options.rounds = Number(pass[++i]);
    else if (a === '--runs') options.runs = Number(pass[++i]);
  }
  const bundle = options.bundle ?? path.join(ROOT, 'dist', 'claude-entry');
  fs.mkdirSync(path.join(ROOT, '.bench'), { recursive: true });

  if (analysis === 'loader') {
    mode = 'loader';
    const dir = fs.mkdtempSync(path.join(ROOT, '.bench', 'loader-'));
    try {
      const variants = loaderVariants(bundle);
      const files = {};
      for (const v of variants) fs.writeFileSync((files[v.key] = path.join(dir, v.key)), v.content);
      console.log('Parse cost of the file, in-process (read as utf8 + vm.compileFunction, median of 15; ms)');
      const header = ['variant', 'KiB', ...nodeBinaries(process.execPath).map(([n]) => n)];
      const cells = variants.map((v) => [v.key, String(Math.round(v.bytes / 1024))]);
      for (const [, node] of nodeBinaries(options.node ?? process.execPath)) {
        const cost = parseCost(node, files, 15);
        for (const [i, v] of variants.entries()) cells[i].push(`${cost[v.key].read.toFixed(2)} + ${cost[v.key].compile.toFixed(2)}`);
      }
      printTable(header, cells);
      console.log('\nDecompressing each SDK module (median of 15; ms)');
      const dcells = [];
      for (const [n, node] of nodeBinaries(options.node ?? process.execPath)) {
        const d = decompressCost(node, bundle, 15);
        for (const [sdk, c] of Object.entries(d))
          dcells.push([n, sdk, `${c.br.toFixed(2)} (${Math.round(c.brBytes / 1024)} KiB)`, `${c.gz.toFixed(2)} (${Math.round(c.gzBytes / 1024)} KiB)`]);
      }
      printTable(['node', 'sdk', 'brotli', 'gzip'], dcells);
      console.log('');
      await runBench({ ...options, bundle });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return;
  }

  if (analysis === 'minify') {
    mode = 'minify';
    const { buildSdkModule, embed } = await import('../build/build.mjs');
    const { code } = splitBundle(bundle);
    const dir = fs.mkdtempSync(path.join(ROOT, '.bench', 'minify-'));
    minifyBundles = [];
    const variants = [
      ['minified', true],
      ['plain', false],
      ['whitespace', { whitespace: true }],
      ['no-renaming', { whitespace: true, syntax: true }],
    ];
    try {
      for (const [label, minify] of variants) {
        const sdks = await Promise.all(PROVIDERS.map((name) => buildSdkModule(name, { minify })));
        const file = path.join(dir, `claude-entry.${label}`);
        const trailers = sdks.map((s) => embed(s));
        fs.writeFileSync(file, code + trailers.map((t) => t.text).join('') + '\n', { mode: 0o755 });
        minifyBundles.push([label, file]);
        console.log(
          `${label}: ${sdks.map((s, i) => `${s.name} ${Math.round(s.code.length / 1024)} KiB (${Math.round(trailers[i].compressed / 1024)} KiB brotli)`).join(', ')}`,
        );
      }
      await runBench({ ...options, bundle });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return;
  }

  await runBench({ ...options, bundle });
}

function printTable(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const fmt = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  console.log([fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n'));
}

// Not a top-level await: bench.mjs imports this module again, which must not wait for main().
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}

#!/usr/bin/env node
/**
 * Start-up cost of dist/claude-entry, measured as a whole process, side by side with
 * `node -e 0` and `tini -s -- /bin/true` (see bench/README.md).
 *
 *   npm run bench                          # builds, then runs this (~1 minute, plus cloud.mjs rows)
 *   node bench/bench.mjs --node PATH       # measure with another node binary
 *   node bench/bench.mjs --bundle PATH     # measure another build (default dist/claude-entry)
 *   node bench/bench.mjs --quick           # fewer rounds (a smoke test, ~20 s)
 *   node bench/bench.mjs --no-analysis     # only the comparison table
 *   node bench/bench.mjs --no-cloud        # without bench/cloud.mjs's rows
 *   node bench/bench.mjs --against PATH    # also another build's env-token and file rows, in the same rounds
 *                                          # (before/after a change: git worktree add /tmp/b REV, build there)
 *
 * Rows can be added without editing this file: bench/cloud.mjs, when present, may export
 *   benchRows(ctx) -> Row[] | { rows: Row[], teardown?: () => unknown }
 * and another script may `import { runBench } from './bench.mjs'` and pass `extraRows`.
 * A Row is { name, argv: string[], env?: {K: V}, home?: string, expectLog?: RegExp }.
 *   - env: run through `env K=V... argv` (like the node rows here, so all pay the same
 *     ~0.5 ms wrapper); leave it undefined to run argv as is (like the tini row).
 *   - home: a directory made with ctx.freshHome(): emptied before every timed run, so
 *     each run writes its files as on a first container start.
 *   - expectLog: checked against stderr of one run before measuring, so the row measures
 *     the path it claims to (e.g. /using OAuth token from CLAUDE_CODE_OAUTH_TOKEN/).
 * hyperfine is spawned asynchronously: a row may talk to a fake server running in this
 * process (start it in benchRows, stop it in teardown).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { BASELINE_REF, buildBaseline } from './baseline.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_BUNDLE = path.join(ROOT, 'dist', 'claude-entry');

/** Obviously fake, shaped like the real thing (as in test/helpers.ts). */
export const FAKE_OAUTH_TOKEN = 'sk-ant-oat01-TESTsetuptoken0000000000000000000000000000000000000000000000000000000000000000000-TESTAA';
const fakeCredentials = () => ({
  claudeAiOauth: {
    accessToken: 'sk-ant-oat01-TESTaccess0000000000000000000000000000000000000000000000000000000000000000000000-TESTAA',
    refreshToken: 'sk-ant-ort01-TESTrefresh000000000000000000000000000000000000000000000000000000000000000000000-TESTAA',
    expiresAt: Date.now() + 8 * 3600_000,
    scopes: ['user:inference', 'user:profile'],
    subscriptionType: 'max',
  },
});

// ---------------------------------------------------------------------------------------
// small utilities

function run(argv, { env, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Quote for hyperfine -N, which splits its command with shell-words. */
const quote = (word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

function commandLine(row) {
  const argv = row.env ? ['env', ...Object.entries(row.env).map(([k, v]) => `${k}=${v}`), ...row.argv] : row.argv;
  return argv;
}

function emptyDir(dir) {
  for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
function stddev(xs) {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
function stats(times, cpu) {
  const ms = times.map((t) => t * 1000);
  return {
    n: ms.length,
    mean: mean(ms),
    stddev: stddev(ms),
    median: median(ms),
    min: Math.min(...ms),
    max: Math.max(...ms),
    // user + system CPU time: less sensitive than wall time to other jobs on the machine
    cpu: cpu.weight ? (cpu.sum / cpu.weight) * 1000 : NaN,
  };
}
/** a/b with the error of a ratio of two independent means. */
function ratio(a, b) {
  const r = a.mean / b.mean;
  return { r, err: r * Math.hypot(a.stddev / a.mean, b.stddev / b.mean), rMedian: a.median / b.median };
}

const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
const f1 = (x) => x.toFixed(1);
const f2 = (x) => x.toFixed(2);

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? pad(c, widths[i]) : lpad(c, widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------
// hyperfine, in rounds

/**
 * hyperfine runs all runs of one command before the next; to let slow drift (other jobs on
 * the machine) hit every row alike, run several rounds with the order rotated, and merge.
 */
async function hyperfine(rows, { rounds, runs, warmup, tmp, env, label }) {
  const times = new Map(rows.map((r) => [r.key, []]));
  const cpu = new Map(rows.map((r) => [r.key, { sum: 0, weight: 0 }]));
  const needsPrepare = rows.some((r) => r.home);
  for (let round = 0; round < rounds; round++) {
    const order = rows.map((_, i) => rows[(i + round) % rows.length]);
    const json = path.join(tmp, `${label}-round${round}.json`);
    // --output=inherit: the commands write into hyperfine's stdout and stderr, pipes to this
    // process, as in a container whose output goes to `docker logs` (stderr a pipe, not
    // /dev/null, changes what Node loads to write a log line).
    const args = ['-N', '--style', 'none', '--output', 'inherit', '--warmup', String(warmup), '--runs', String(runs), '--export-json', json];
    for (const row of order) {
      if (needsPrepare) args.push('--prepare', row.home ? `find ${quote(row.home)} -mindepth 1 -delete` : 'true');
    }
    for (const row of order) args.push('--command-name', row.key, commandLine(row).map(quote).join(' '));
    process.stderr.write(`  ${label}: round ${round + 1}/${rounds} (${rows.length} commands x ${runs} runs)\n`);
    const result = await run(['hyperfine', ...args], { env, timeoutMs: 300_000 });
    if (result.code !== 0) throw new Error(`hyperfine failed (${result.code}):\n${result.stderr.slice(-4000)}`);
    for (const r of JSON.parse(fs.readFileSync(json, 'utf8')).results) {
      times.get(r.command).push(...r.times);
      const c = cpu.get(r.command);
      c.sum += (r.user + r.system) * r.times.length;
      c.weight += r.times.length;
    }
  }
  return new Map(rows.map((r) => [r.key, stats(times.get(r.key), cpu.get(r.key))]));
}

// ---------------------------------------------------------------------------------------
// peak RSS

/**
 * Peak RSS of the whole process tree: GNU time reports ru_maxrss from wait4(), which covers
 * the process (across execve, the kernel keeps the old image's high-water mark) and the
 * descendants it waited for. Fallback: python's getrusage(RUSAGE_CHILDREN) after waiting
 * for the child. (process.resourceUsage() in Node is RUSAGE_SELF: it cannot see a child.)
 */
function rssMethod() {
  if (fs.existsSync('/usr/bin/time')) return { name: 'GNU time -f %M (wait4 ru_maxrss)', kind: 'time' };
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && fs.existsSync(path.join(dir, 'python3'))) return { name: 'python3 getrusage(RUSAGE_CHILDREN)', kind: 'python' };
  }
  return undefined;
}

async function peakRss(row, method, { env, tmp, samples }) {
  const values = [];
  for (let i = 0; i < samples; i++) {
    if (row.home) emptyDir(row.home);
    const argv = commandLine(row);
    let kb;
    if (method.kind === 'time') {
      const out = path.join(tmp, 'rss.txt');
      const r = await run(['/usr/bin/time', '-f', '%M', '-o', out, ...argv], { env });
      if (r.code !== 0) throw new Error(`${row.name}: exit ${r.code}: ${r.stderr}`);
      kb = Number(fs.readFileSync(out, 'utf8').trim().split('\n').pop());
    } else {
      const script =
        'import resource,subprocess,sys\n' +
        'rc=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL).returncode\n' +
        'print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\nsys.exit(rc)';
      const r = await run(['python3', '-c', script, ...argv], { env });
      if (r.code !== 0) throw new Error(`${row.name}: exit ${r.code}: ${r.stderr}`);
      kb = Number(r.stdout.trim());
    }
    values.push(kb);
  }
  return median(values);
}

// ---------------------------------------------------------------------------------------
// the rows

async function makeContext({ node, bundle, tmp }) {
  const credentialsFile = path.join(tmp, 'secrets', 'credentials.json');
  fs.mkdirSync(path.dirname(credentialsFile), { recursive: true });
  fs.writeFileSync(credentialsFile, JSON.stringify(fakeCredentials()), { mode: 0o600 });
  let homes = 0;
  const ctx = {
    node,
    bundle,
    root: ROOT,
    tmp,
    fakeToken: FAKE_OAUTH_TOKEN,
    credentialsFile,
    /** A temp HOME emptied before each timed run (pass it as row.home and in row.env.HOME). */
    freshHome(name = `home${++homes}`) {
      const dir = path.join(tmp, 'homes', name);
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      return dir;
    },
  };
  return ctx;
}

export function defaultRows(ctx) {
  const tokenHome = ctx.freshHome('env-token');
  const fileHome = ctx.freshHome('file');
  return [
    { key: 'node', name: 'node -e 0', argv: [ctx.node, '-e', '0'], env: {} },
    { key: 'tini', name: 'tini -s -- /bin/true', argv: ['tini', '-s', '--', '/bin/true'] },
    {
      key: 'env-token',
      name: 'claude-entry, env token',
      argv: [ctx.node, ctx.bundle, '--', '/bin/true'],
      env: { HOME: tokenHome, CLAUDE_CODE_OAUTH_TOKEN: ctx.fakeToken },
      home: tokenHome,
      expectLog: /using OAuth token from CLAUDE_CODE_OAUTH_TOKEN/,
    },
    {
      key: 'file',
      name: 'claude-entry, credentials file',
      argv: [ctx.node, ctx.bundle, '--', '/bin/true'],
      env: { HOME: fileHome, CLAUDE_CREDENTIALS_FILE: ctx.credentialsFile },
      home: fileHome,
      expectLog: /from CLAUDE_CREDENTIALS_FILE/,
    },
    ...defenceRows(ctx),
    ...againstRows(ctx),
  ];
}

/**
 * --against PATH: the env-token and credentials-file rows again, run by another build of the
 * bundle (a commit before a change), in the same rotated rounds as this one's: a before/after
 * that slow drift of the machine hits alike.
 */
function againstRows(ctx) {
  if (!ctx.against) return [];
  const label = path.relative(process.cwd(), ctx.against);
  const tokenHome = ctx.freshHome('against-env-token');
  const fileHome = ctx.freshHome('against-file');
  return [
    {
      key: 'against-env-token',
      name: `env token, ${label}`,
      argv: [ctx.node, ctx.against, '--', '/bin/true'],
      env: { HOME: tokenHome, CLAUDE_CODE_OAUTH_TOKEN: ctx.fakeToken },
      home: tokenHome,
      expectLog: /using OAuth token from CLAUDE_CODE_OAUTH_TOKEN/,
    },
    {
      key: 'against-file',
      name: `credentials file, ${label}`,
      argv: [ctx.node, ctx.against, '--', '/bin/true'],
      env: { HOME: fileHome, CLAUDE_CREDENTIALS_FILE: ctx.credentialsFile },
      home: fileHome,
      expectLog: /from CLAUDE_CREDENTIALS_FILE/,
    },
  ];
}

/**
 * What the defences against a hostile home cost (issue 8): root writing for another user, the
 * common container start, by this bundle and by the one before the hardening, side by side.
 * The user is `nobody`; its config dir (CLAUDE_CONFIG_DIR) is its own and emptied before
 * each run, as on a first start.
 */
function defenceRows(ctx) {
  if (process.getuid?.() !== 0) return [];
  const nobody = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('nobody:'));
  if (!nobody) return [];
  const [uid, gid] = nobody.split(':').slice(2, 4).map(Number);
  const baseline = buildBaseline();
  const bundles = [['this bundle', ctx.bundle], ...(baseline ? [[`before the hardening (${BASELINE_REF})`, baseline]] : [])];
  return bundles.map(([label, bundle], i) => {
    const dir = ctx.freshHome(`as-user-${i}`);
    // The user must reach its own directory: the bench's temp dirs are root's 0700.
    for (let d = path.dirname(dir); d !== path.dirname(ctx.tmp); d = path.dirname(d)) fs.chmodSync(d, 0o755);
    fs.chownSync(dir, uid, gid);
    return {
      key: `as-user-${i}`,
      name: `root -> nobody, env token, ${label}`,
      argv: [ctx.node, bundle, '--', '/bin/true'],
      env: { HOME: dir, CLAUDE_CONFIG_DIR: dir, CLAUDE_ENTRY_USER: 'nobody', CLAUDE_CODE_OAUTH_TOKEN: ctx.fakeToken },
      home: dir,
      expectLog: /using OAuth token from CLAUDE_CODE_OAUTH_TOKEN/,
    };
  });
}

async function loadCloudRows(ctx) {
  return loadRows(ctx, 'cloud.mjs');
}

/** A row module in bench/: benchRows(ctx) -> Row[] | { rows, teardown?, summary?(timing), after?(ctx, tools) }. */
async function loadRows(ctx, name) {
  const file = path.join(ROOT, 'bench', name);
  if (!fs.existsSync(file)) return { rows: [] };
  const mod = await import(pathToFileURL(file).href);
  if (typeof mod.benchRows !== 'function') throw new Error('bench/cloud.mjs must export benchRows(ctx)');
  const out = await mod.benchRows(ctx);
  return Array.isArray(out) ? { rows: out } : { rows: out?.rows ?? [], teardown: out?.teardown, summary: out?.summary, after: out?.after };
}

/** Run each row once, as measured, and check it does what its name says. */
async function checkRows(rows, env) {
  for (const row of rows) {
    if (row.home) emptyDir(row.home);
    const r = await run(commandLine(row), { env });
    if (r.code !== 0) throw new Error(`${row.name}: exits ${r.code} (stderr: ${r.stderr.trim()})`);
    if (row.expectLog && !row.expectLog.test(r.stderr)) {
      throw new Error(`${row.name}: expected ${row.expectLog} on stderr, got: ${r.stderr.trim()}`);
    }
  }
}

// ---------------------------------------------------------------------------------------
// start-up analysis

/**
 * Variants of the built bundle, each a stand-in for a change in src/, to measure what it
 * would save. esbuild emits a named import of a built-in as `var x = require("node:M")`
 * and uses it as `x.name`, so replacing that require with a Proxy is faithful:
 *   - lazy: M is required on first property access (what a lazy import in src/ does);
 *   - stub: one function is replaced by a cheap stand-in, the rest stays lazy (what
 *     dropping that dependency would do).
 * Every import of M is replaced (an SDK's too: harmless, the measured path does not run
 * them). A variant that does not apply, or does not run the measured path correctly, is
 * reported as skipped.
 */
const STUBS = {
  // Temp-file names need uniqueness, not secrecy (O_EXCL already refuses a clash).
  crypto: {
    randomBytes: '(n)=>{const b=Buffer.alloc(n);for(let i=0;i<n;i++)b[i]=Math.random()*256;return b}',
  },
  // The measured rows give no option before `--`: what a hand-written parser returns.
  util: { parseArgs: '()=>({values:{},positionals:[],tokens:[]})' },
  // No SIGUSR1 came: what a check that does not load the inspector would answer.
  inspector: { url: '()=>undefined' },
};

export function builtinVariant(source, spec) {
  for (const [key, transform] of [
    ['plainNamespaces', plainNamespacesVariant],
    ['stderr', stderrVariant],
  ]) {
    if (!spec[key]) continue;
    source = transform(source);
    if (!source) return undefined;
    spec = Object.fromEntries(Object.entries(spec).filter(([k]) => k !== key));
  }
  if (Object.keys(spec).length === 0) return source;
  const matched = new Set();
  const names = Object.keys(spec);
  // A namespace import, `__toESM(require("node:M"), 1)`, is replaced whole: the proxy stands
  // for the namespace object (__toESM would enumerate the module, loading it).
  const namespace = new RegExp(`[A-Za-z_$][\\w$]*\\(require\\("node:(${names.join('|')})"\\)(?:,\\s*1)?\\)`, 'g');
  const named = new RegExp(`(?<![\\w$]\\()require\\("node:(${names.join('|')})"\\)`, 'g');
  const body = source.replace(namespace, (_, m) => replace(m)).replace(named, (_, m) => replace(m));
  function replace(m) {
    matched.add(m);
    const stubs = spec[m] === 'lazy' ? {} : STUBS[m];
    const entries = Object.entries(stubs).map(([k, v]) => `${JSON.stringify(k)}:${v}`);
    return `__variantBuiltin("node:${m}",{${entries.join(',')}})`;
  }
  if (matched.size < names.length) return undefined;
  return prepend(body, 'var __variantBuiltin=(id,stubs)=>{let m;return new Proxy({},{get:(_,k)=>k in stubs?stubs[k]:(m??=require(id))[k]})};');
}

/** Insert top-level code after the shebang and "use strict". */
function prepend(body, code) {
  let at = body.startsWith('#!') ? body.indexOf('\n') + 1 : 0;
  if (body.startsWith('"use strict";', at)) at += '"use strict";'.length;
  return body.slice(0, at) + code + body.slice(at);
}

/**
 * `import * as fs from 'node:fs'` becomes `__toESM(require("node:fs"))` in esbuild's CJS
 * output: a new object with a getter for each of the module's properties, made again in
 * every module that imports it so (fs has about 100). Named imports (`import { openSync }`)
 * compile to a plain require, as this variant does.
 */
function plainNamespacesVariant(source) {
  let count = 0;
  const body = source.replace(/[A-Za-z_$][\w$]*\(require\("(node:[\w/]+)"\)(?:,\s*1)?\)/g, (_, id) => {
    count++;
    return `require("${id}")`;
  });
  return count ? body : undefined;
}

/**
 * Log lines written with fs.writeSync(2) instead of process.stderr.write: the first use of
 * process.stderr builds a stream (net.Socket on a pipe, tty.WriteStream on a terminal,
 * SyncWriteStream on a file), loading net/tty/stream.
 */
function stderrVariant(source) {
  let count = 0;
  const body = source.replace(/process\.stderr\.write\(/g, () => {
    count++;
    return '__variantWrite(';
  });
  return count ? prepend(body, 'var __variantWrite=(s)=>(require("fs").writeSync(2,s),!0);') : undefined;
}

export const VARIANTS = [
  { key: 'lazy-child_process', name: 'child_process lazy (spawn only when supervising)', spec: { child_process: 'lazy' } },
  { key: 'stub-crypto', name: 'no crypto (temp names from Math.random)', spec: { crypto: 'stub' } },
  { key: 'stub-parseArgs', name: 'no util.parseArgs (stand-in for a hand-written parser)', spec: { util: 'stub' } },
  { key: 'stderr-writeSync', name: 'log lines via fs.writeSync(2), not process.stderr', spec: { stderr: true } },
  { key: 'stub-inspector', name: 'no node:inspector (stand-in for a cheaper open-inspector check)', spec: { inspector: 'stub' } },
  { key: 'plain-namespaces', name: 'built-ins imported by name, not `* as` (no __toESM copies)', spec: { plainNamespaces: true } },
  { key: 'lazy-cloud-loader', name: 'zlib, vm, module lazy (the cloud loader)', spec: { zlib: 'lazy', vm: 'lazy', module: 'lazy' } },
  {
    key: 'all',
    name: 'all of the above',
    spec: {
      child_process: 'lazy',
      crypto: 'stub',
      util: 'stub',
      stderr: true,
      inspector: 'stub',
      plainNamespaces: true,
      zlib: 'lazy',
      vm: 'lazy',
      module: 'lazy',
    },
  },
];

/**
 * --cpu-prof of the env-token path, attributed per sample: to the public built-in module
 * whose top level is outermost on the stack under the bundle (the cost of `require`-ing
 * it, its dependencies included), else to the bundle's own code, else to Node's bootstrap.
 */
async function cpuProfile({ node, bundle }, env, tmp, home, repeats) {
  const dir = path.join(tmp, 'cpuprof');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir);
  for (let i = 0; i < repeats; i++) {
    emptyDir(home);
    const r = await run([node, '--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '100', bundle, '--', '/nonexistent/command'], {
      env: { ...env, HOME: home, CLAUDE_CODE_OAUTH_TOKEN: FAKE_OAUTH_TOKEN },
    });
    if (r.code !== 127) throw new Error(`cpu profile run: exit ${r.code}: ${r.stderr}`);
  }
  const bundleUrl = pathToFileURL(bundle).href;
  const totals = new Map();
  let total = 0;
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  for (const file of files) {
    const profile = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const category = new Map();
    const categorize = (id) => {
      if (category.has(id)) return category.get(id);
      const stack = [];
      for (let cur = id; cur !== undefined; cur = parent.get(cur)) stack.unshift(byId.get(cur).callFrame);
      let cat = 'node bootstrap and other';
      const inBundle = stack.findIndex((f) => f.url === bundleUrl);
      if (inBundle < 0 && stack.some((f) => f.functionName === 'wrapSafe')) cat = 'compile the bundle (top-level parse)';
      if (inBundle >= 0) {
        cat = 'bundle: own code, fs calls, JSON';
        const top = stack.slice(inBundle).find((f) => /^node:(?!internal\/)/.test(f.url) && f.functionName === '');
        if (top) cat = `bundle: require ${top.url}`;
      }
      const leaf = stack[stack.length - 1]?.functionName;
      if (leaf === '(garbage collector)') cat = 'garbage collector';
      category.set(id, cat);
      return cat;
    };
    // timeDeltas[i] is the time before sample i was taken: it belongs to sample i - 1.
    for (let i = 0; i < profile.samples.length; i++) {
      const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
      const cat = categorize(profile.samples[i]);
      totals.set(cat, (totals.get(cat) ?? 0) + dt);
      total += dt;
    }
  }
  const n = files.length || 1;
  return {
    runs: files.length,
    totalMs: total / n,
    categories: [...totals].map(([name, ms]) => ({ name, ms: ms / n })).sort((a, b) => b.ms - a.ms),
  };
}

async function startupAnalysis(ctx, { env, tmp, rounds, runs, warmup }) {
  const { node, bundle } = ctx;
  const source = fs.readFileSync(bundle, 'utf8');
  const variantsDir = path.join(tmp, 'variants');
  fs.mkdirSync(variantsDir, { recursive: true });
  const tokenRow = (key, name, bundle) => {
    const home = ctx.freshHome(`analysis-${key}`);
    return {
      key,
      name,
      argv: [node, bundle, '--', '/bin/true'],
      env: { HOME: home, CLAUDE_CODE_OAUTH_TOKEN: ctx.fakeToken },
      home,
      expectLog: /using OAuth token from CLAUDE_CODE_OAUTH_TOKEN/,
    };
  };
  const rows = [
    { key: 'node', name: 'node -e 0', argv: [node, '-e', '0'], env: {} },
    ...['child_process', 'crypto', 'util'].map((m) => ({
      key: `require-${m}`,
      name: `node -e "require('node:${m}')${m === 'util' ? '.parseArgs' : ''}"`,
      argv: [node, '-e', `require('node:${m}')${m === 'util' ? '.parseArgs' : ''}`],
      env: {},
    })),
    {
      key: 'require-inspector',
      name: `node -e "require('node:inspector').url()"`,
      argv: [node, '-e', "require('node:inspector').url()"],
      env: {},
    },
    { key: 'require-zlib', name: `node -e "require('node:zlib')"`, argv: [node, '-e', "require('node:zlib')"], env: {} },
    { key: 'stderr', name: `node -e "process.stderr.write('x')"`, argv: [node, '-e', "process.stderr.write('x\\n')"], env: {} },
    { key: 'version', name: 'claude-entry --version', argv: [node, bundle, '--version'], env: {} },
    tokenRow('as-built', 'claude-entry, env token (as built)', bundle),
  ];
  const skipped = [];
  const variants = new Set();
  const addVariant = (key, name, text, why) => {
    if (!text) return skipped.push(`${name}: ${why}`);
    const file = path.join(variantsDir, `claude-entry.${key}`);
    fs.writeFileSync(file, text, { mode: 0o755 });
    rows.push(tokenRow(key, `  same, ${name}`, file));
    variants.add(key);
  };
  for (const v of VARIANTS) addVariant(v.key, v.name, builtinVariant(source, v.spec), 'not required as a named import');
  addVariant('no-fsync', 'no fsync (reference only: the cost of durability)', noFsyncVariant(source), 'no fsyncSync call found');
  for (const row of [...rows]) {
    if (!variants.has(row.key)) continue;
    try {
      await checkRows([row], env);
    } catch (error) {
      skipped.push(`${row.name.trim()}: does not run the measured path (${error.message.split('\n')[0]})`);
      rows.splice(rows.indexOf(row), 1);
      variants.delete(row.key);
    }
  }
  await checkRows(rows, env);
  const timing = await hyperfine(rows, { rounds, runs, warmup, tmp, env, label: 'start-up analysis' });

  const profileHome = ctx.freshHome('analysis-profile');
  const modules = await listModules(ctx, env, tmp, profileHome);
  const profile = await cpuProfile(ctx, env, tmp, profileHome, 5);
  return { rows, timing, skipped, modules, profile, variants };
}

/** The bundle with every fsyncSync(fd) a no-op: what the atomic writes' fsyncs cost. */
function noFsyncVariant(source) {
  let count = 0;
  const text = source.replace(/(?<![\w$.])[A-Za-z_$][\w$]*\.fsyncSync\(/g, () => {
    count++;
    return '(()=>{})(';
  });
  return count > 0 ? text : undefined;
}

/** Public built-ins the bundle adds to what `node -e 0` loads, and how many internal ones. */
async function listModules({ node, bundle }, env, tmp, home) {
  const out = path.join(tmp, 'modules.json');
  const preload = path.join(tmp, 'module-list.cjs');
  fs.writeFileSync(
    preload,
    `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(out)},
  JSON.stringify(process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)))));\n`,
  );
  const read = () => JSON.parse(fs.readFileSync(out, 'utf8'));
  const base = await run([node, '-r', preload, '-e', '0'], { env });
  if (base.code !== 0) throw new Error(`module list (node -e 0): ${base.stderr}`);
  const before = new Set(read());
  emptyDir(home);
  // A missing command: the whole start-up runs, then process.exit(127), also where execve exists.
  const r = await run([node, '-r', preload, bundle, '--', '/nonexistent/command'], {
    env: { ...env, HOME: home, CLAUDE_CODE_OAUTH_TOKEN: FAKE_OAUTH_TOKEN },
  });
  if (r.code !== 127) throw new Error(`module list run: exit ${r.code}: ${r.stderr}`);
  const added = read().filter((m) => !before.has(m));
  return { added: added.length, public: added.filter((m) => !m.startsWith('internal/')) };
}

// ---------------------------------------------------------------------------------------
// main

export async function runBench(options = {}) {
  const node = path.resolve(options.node ?? process.execPath);
  const quick = options.quick ?? false;
  // Many short rounds, order rotated: 8 x 5 = 40 runs per row by default.
  const rounds = options.rounds ?? (quick ? 2 : 8);
  const runs = options.runs ?? 5;
  const warmup = options.warmup ?? 1;
  const bundle = path.resolve(options.bundle ?? DEFAULT_BUNDLE);
  if (!fs.existsSync(bundle)) throw new Error(`${bundle} is missing: run npm run build`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'claude-entry-bench-'));
  let teardown;
  try {
    // The measured environment: minimal, nothing inherited that changes Node's start-up
    // (NODE_EXTRA_CA_CERTS costs ~70 ms on Node 20, NODE_OPTIONS anything) or the chain.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: path.join(tmp, 'homes', 'default'), LANG: 'C.UTF-8' };
    fs.mkdirSync(env.HOME, { recursive: true });
    const ctx = await makeContext({ node, bundle, tmp });
    if (options.against) {
      ctx.against = path.resolve(options.against);
      if (!fs.existsSync(ctx.against)) throw new Error(`--against ${ctx.against}: no such file`);
    }
    const cloud = options.cloud === false ? { rows: [] } : await loadCloudRows(ctx);
    teardown = cloud.teardown;
    const peers = options.peers === false ? { rows: [] } : await loadRows(ctx, 'peers.mjs');
    const rows = [...defaultRows(ctx), ...peers.rows, ...cloud.rows, ...(options.extraRows ?? [])].map((r, i) => ({ key: r.key ?? `row${i}`, ...r }));

    const nodeVersion = (await run([node, '--version'], { env })).stdout.trim();
    const size = fs.statSync(bundle).size;
    const gz = gzipSync(fs.readFileSync(bundle)).length;
    const hyperfineVersion = (await run(['hyperfine', '--version'], { env })).stdout.trim();
    console.log(`node ${nodeVersion} (${node})`);
    console.log(`bundle ${path.relative(process.cwd(), bundle)}: ${(size / 1024).toFixed(1)} KiB (${(gz / 1024).toFixed(1)} KiB gzipped)`);
    const loadBefore = os.loadavg()[0];
    console.log(`${hyperfineVersion}, ${os.cpus().length} CPUs; ${rounds} rounds x ${runs} runs (+${warmup} warm-up), order rotated`);
    console.log('NODE_EXTRA_CA_CERTS and NODE_OPTIONS unset; each claude-entry run starts from an empty HOME\n');

    await checkRows(rows, env);
    const timing = await hyperfine(rows, { rounds, runs, warmup, tmp, env, label: 'start-up' });
    const method = rssMethod();
    const rss = new Map();
    if (method) for (const row of rows) rss.set(row.key, await peakRss(row, method, { env, tmp, samples: quick ? 3 : 5 }));

    const base = timing.get('node');
    const tini = timing.get('tini');
    console.log(
      table(
        ['command', 'mean ± σ (ms)', 'median', 'min', 'cpu', 'x node -e 0', '(median)', 'x tini', 'peak RSS'],
        rows.map((row) => {
          const s = timing.get(row.key);
          const vsNode = ratio(s, base);
          const vsTini = ratio(s, tini);
          return [
            row.name,
            `${f1(s.mean)} ± ${f1(s.stddev)}`,
            f1(s.median),
            f1(s.min),
            f1(s.cpu),
            `${f2(vsNode.r)} ± ${f2(vsNode.err)}`,
            f2(vsNode.rMedian),
            f1(vsTini.r),
            rss.has(row.key) ? `${(rss.get(row.key) / 1024).toFixed(1)} MiB` : 'n/a',
          ];
        }),
      ),
    );
    console.log(
      `(ms; cpu = user+sys; node rows run as \`env VAR=... node ...\`, the tini row directly; peak RSS: ${method ? `${method.name}, median of ${quick ? 3 : 5}` : 'not measured (no /usr/bin/time or python3)'})`,
    );
    const loadAfter = os.loadavg()[0];
    const busy = Math.max(loadBefore, loadAfter) > os.cpus().length / 2;
    console.log(
      `load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after` +
        (busy ? ': the machine was busy, trust median, min and cpu more than mean' : ''),
    );
    const tokenStats = timing.get('env-token');
    const token = ratio(tokenStats, base);
    const verdict = token.r <= 1.1 ? 'within' : 'OVER';
    console.log(
      `\nenv-token path: ${f2(token.r)}x node -e 0 by mean, ${f2(token.rMedian)}x by median, ` +
        `${f2(tokenStats.min / base.min)}x by min, ${f2(tokenStats.cpu / base.cpu)}x by cpu (target 1.10x: ${verdict}); ` +
        `+${f1(tokenStats.mean - base.mean)} ms`,
    );
    for (const line of peers.summary?.(timing) ?? []) console.log(line);
    if (peers.after && !quick) await peers.after(ctx, { env, tmp, hyperfine });
    const hardened = timing.get('as-user-0');
    const before = timing.get('as-user-1');
    if (hardened && before) {
      console.log(
        `defences against a hostile home (root -> nobody, this bundle vs ${BASELINE_REF}): ` +
          `${hardened.median >= before.median ? '+' : ''}${f1(hardened.median - before.median)} ms by median, ` +
          `${hardened.cpu >= before.cpu ? '+' : ''}${f1(hardened.cpu - before.cpu)} ms of cpu (${f2(hardened.cpu / before.cpu)}x)`,
      );
    }

    const result = { node: nodeVersion, bundleBytes: size, timing: Object.fromEntries(timing), rss: Object.fromEntries(rss) };
    if (!options.noAnalysis) {
      console.log('\nWhere the start-up time goes');
      const a = await startupAnalysis(ctx, { env, tmp, rounds: quick ? 2 : 6, runs: 5, warmup: 1 });
      const b = a.timing.get('node');
      const built = a.timing.get('as-built');
      console.log(
        table(
          ['command', 'mean ± σ (ms)', 'median', 'cpu', '+ms (median)', '+ms (cpu)', 'saves (median)', 'saves (cpu)'],
          a.rows.map((row) => {
            const s = a.timing.get(row.key);
            const variant = a.variants.has(row.key);
            return [
              row.name,
              `${f1(s.mean)} ± ${f1(s.stddev)}`,
              f1(s.median),
              f1(s.cpu),
              f1(s.median - b.median),
              f1(s.cpu - b.cpu),
              variant ? f1(built.median - s.median) : '',
              variant ? f1(built.cpu - s.cpu) : '',
            ];
          }),
        ),
      );
      for (const s of a.skipped) console.log(`(skipped ${s})`);
      console.log(`\nbuilt-in modules loaded by the bundle beyond node -e 0: ${a.modules.added} ` + `(public: ${a.modules.public.join(', ') || 'none'})`);
      console.log(
        `--cpu-prof (100 µs sampling, ${a.profile.runs} runs, path up to the missing command; profiling inflates times): ` +
          `${f1(a.profile.totalMs)} ms sampled per run`,
      );
      for (const c of a.profile.categories.filter((c) => c.ms >= 0.2)) {
        console.log(`  ${lpad(f1(c.ms), 6)} ms  ${lpad(((100 * c.ms) / a.profile.totalMs).toFixed(0), 3)}%  ${c.name}`);
      }
      result.analysis = { timing: Object.fromEntries(a.timing), modules: a.modules, profile: a.profile };
    }
    fs.mkdirSync(path.join(ROOT, '.bench'), { recursive: true });
    fs.writeFileSync(path.join(ROOT, '.bench', 'latest.json'), JSON.stringify(result, null, 2));
    return result;
  } finally {
    await teardown?.();
    if (!options.keep) fs.rmSync(tmp, { recursive: true, force: true });
    else console.log(`kept ${tmp}`);
  }
}

function parseFlags(argv) {
  const options = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') options.quick = true;
    else if (a === '--keep') options.keep = true;
    else if (a === '--no-analysis') options.noAnalysis = true;
    else if (a === '--no-peers') options.peers = false;
    else if (a === '--no-cloud') options.cloud = false;
    else if (a === '--node') options.node = argv[++i];
    else if (a === '--bundle') options.bundle = argv[++i];
    else if (a === '--against') options.against = argv[++i];
    else if (a === '--runs') options.runs = Number(argv[++i]);
    else if (a === '--rounds') options.rounds = Number(argv[++i]);
    else {
      console.error(
        `usage: node bench/bench.mjs [--node PATH] [--bundle PATH] [--against PATH] [--quick] [--no-analysis] [--no-cloud] [--runs N] [--rounds N] [--keep]`,
      );
      process.exit(64);
    }
  }
  return options;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  runBench(parseFlags(process.argv.slice(2))).catch((error) => {
    console.error(`bench: ${error.message}`);
    process.exit(1);
  });
}

/**
 * Rows beside claude-entry's own (issue 13): the floor for its job and what users would pick
 * instead, Node 24 (where claude-entry replaces itself with the command), `check`, what stays
 * resident, and what the shim adds to a real `claude -p`. Loaded by bench.mjs like cloud.mjs.
 *
 *   - the minimal script: bench/floor/minimal-entrypoint.cjs, the same job by hand in Node;
 *   - the shell entrypoint: bench/floor/entrypoint.sh, as people write it; with gosu (root);
 *   - tini + gosu: the C pair;
 *   - `claude-entry check`: what a HEALTHCHECK runs at every interval;
 *   - Node 24 (tools/nodes): node -e 0, the env-token and file paths (execve, nothing resident);
 *   - the same starts and checks from a copy of the bundle warmed by `claude-entry warm` (its
 *     V8 code cache beside it), one copy per Node version, since a cache is one Node's.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FLOOR = path.join(ROOT, 'bench', 'floor');
const has = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

export function node24() {
  const p = path.join(ROOT, 'tools', 'nodes', 'node_modules', 'node24', 'bin', 'node');
  return fs.existsSync(p) ? p : undefined;
}

export async function benchRows(ctx) {
  const rows = [];
  const home = (name) => ctx.freshHome(name);
  const token = { CLAUDE_CODE_OAUTH_TOKEN: ctx.fakeToken };

  const minimalHome = home('floor-minimal');
  rows.push({
    key: 'minimal',
    name: 'minimal Node script, same job (floor)',
    argv: [ctx.node, path.join(FLOOR, 'minimal-entrypoint.cjs'), '--', '/bin/true'],
    env: { HOME: minimalHome, ...token },
    home: minimalHome,
  });
  const shellHome = home('floor-shell');
  rows.push({
    key: 'shell',
    name: 'POSIX shell entrypoint',
    argv: ['sh', path.join(FLOOR, 'entrypoint.sh'), '/bin/true'],
    env: { HOME: shellHome, ...token },
    home: shellHome,
  });
  if (process.getuid?.() === 0 && has('gosu')) {
    const gosuHome = home('floor-gosu');
    rows.push({
      key: 'shell-gosu',
      name: 'shell entrypoint + gosu nobody',
      argv: ['sh', path.join(FLOOR, 'entrypoint.sh'), 'gosu', 'nobody', '/bin/true'],
      env: { HOME: gosuHome, ...token },
      home: gosuHome,
    });
    if (has('tini')) rows.push({ key: 'tini-gosu', name: 'tini + gosu nobody', argv: ['tini', '-s', '--', 'gosu', 'nobody', '/bin/true'] });
  }

  // check reads what a start left in place: one start first, never emptied.
  const checkHome = home('check');
  const prepared = spawnSync(ctx.node, [ctx.bundle, '--', '/bin/true'], {
    env: { PATH: process.env.PATH, HOME: checkHome, CLAUDE_CREDENTIALS_FILE: ctx.credentialsFile, CLAUDE_ENTRY_LOG: 'silent' },
  });
  if (prepared.status === 0) {
    rows.push({ key: 'check', name: 'claude-entry check', argv: [ctx.node, ctx.bundle, 'check'], env: { HOME: checkHome } });
  }

  const n24 = node24();
  const warm20 = warmedCopy(ctx, ctx.node, 'warm-node20');
  const warmRows = (prefix, node, bundle, keyPrefix) => {
    if (!bundle) return [];
    const h = home(`${keyPrefix}token-warm`);
    return [
      {
        key: `${keyPrefix}token-warm`,
        name: `${prefix}claude-entry, env token, warmed`,
        argv: [node, bundle, '--', '/bin/true'],
        env: { HOME: h, ...token },
        home: h,
      },
      { key: `${keyPrefix}check-warm`, name: `${prefix}claude-entry check, warmed`, argv: [node, bundle, 'check'], env: { HOME: checkHome } },
    ];
  };
  rows.push(...warmRows('', ctx.node, warm20, ''));
  if (n24) {
    const h1 = home('node24-token');
    const h2 = home('node24-file');
    rows.push(
      { key: 'node24', name: 'Node 24: node -e 0', argv: [n24, '-e', '0'], env: {} },
      {
        key: 'node24-token',
        name: 'Node 24: claude-entry, env token (exec)',
        argv: [n24, ctx.bundle, '--', '/bin/true'],
        env: { HOME: h1, ...token },
        home: h1,
      },
      {
        key: 'node24-file',
        name: 'Node 24: claude-entry, credentials file (exec)',
        argv: [n24, ctx.bundle, '--', '/bin/true'],
        env: { HOME: h2, CLAUDE_CREDENTIALS_FILE: ctx.credentialsFile },
        home: h2,
      },
      { key: 'node24-check', name: 'Node 24: claude-entry check', argv: [n24, ctx.bundle, 'check'], env: { HOME: checkHome } },
      ...warmRows('Node 24: ', n24, warmedCopy(ctx, n24, 'warm-node24'), 'node24-'),
    );
  }
  return { rows, summary, after };
}

/** A copy of the bundle with the code cache `claude-entry warm` makes for this Node beside it. */
function warmedCopy(ctx, node, name) {
  const dir = path.join(ctx.tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const copy = path.join(dir, 'claude-entry');
  fs.copyFileSync(ctx.bundle, copy);
  const r = spawnSync(node, [copy, 'warm'], { env: { PATH: process.env.PATH }, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`bench: warm with ${node} failed, no warmed rows: ${r.stderr}\n`);
    return undefined;
  }
  return copy;
}

/** The goals of issue 13, each as a ratio of medians (means are at the mercy of a busy machine). */
function summary(timing) {
  const m = (key) => timing.get(key)?.median;
  const cpu = (key) => timing.get(key)?.cpu;
  const line = (what, a, b, goal) => {
    if (m(a) === undefined || m(b) === undefined) return undefined;
    const r = m(a) / m(b);
    const c = cpu(a) / cpu(b);
    return `${what}: ${r.toFixed(2)}x by median, ${c.toFixed(2)}x by cpu (goal ${goal.toFixed(2)}x: ${r <= goal ? 'met' : 'not met'})`;
  };
  return [
    line('Node 20, env token vs the minimal script (supervising)', 'env-token', 'minimal', 1.1),
    line('Node 20, credentials file vs the minimal script', 'file', 'minimal', 1.1),
    line('minimal script vs node -e 0', 'minimal', 'node', 1.1),
    line('Node 20, env token, warmed, vs the minimal script', 'token-warm', 'minimal', 1.1),
    line('Node 24, env token vs Node 24 node -e 0 (exec)', 'node24-token', 'node24', 1.1),
    line('Node 24, env token, warmed, vs Node 24 node -e 0', 'node24-token-warm', 'node24', 1.1),
    line('Node 24, credentials file vs Node 24 node -e 0', 'node24-file', 'node24', 1.1),
    line('check vs node -e 0 (Node 20)', 'check', 'node', 1.1),
    line('check vs node -e 0 (Node 24)', 'node24-check', 'node24', 1.1),
    line('check, warmed, vs node -e 0 (Node 20)', 'check-warm', 'node', 1.1),
    line('check, warmed, vs node -e 0 (Node 24)', 'node24-check-warm', 'node24', 1.1),
    line('POSIX shell entrypoint vs node -e 0', 'shell', 'node', Infinity),
  ].filter(Boolean);
}

// ---------------------------------------------------------------------------------------
// what stays resident, and the price in a real claude -p

function vmRss(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** RSS of a process once it is idle: `ready` says when (a child appeared, or a delay). */
async function residentRss(argv, env, { childName, samples = 5 }) {
  const values = [];
  for (let i = 0; i < samples; i++) {
    const child = spawn(argv[0], argv.slice(1), { env, stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    let rss;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      const kids = childName ? childrenNamed(child.pid, childName) : [1];
      if (kids.length > 0) {
        await new Promise((r) => setTimeout(r, 300)); // let start-up garbage settle
        rss = vmRss(child.pid);
        break;
      }
    }
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    if (rss !== undefined) values.push(rss);
  }
  values.sort((a, b) => a - b);
  return values[values.length >> 1];
}

function childrenNamed(pid, name) {
  const out = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && comm === name) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

async function after(ctx, { env, hyperfine, tmp }) {
  console.log('\nWhat stays resident (VmRSS of the idle process, median of 5; Node 20 supervises, it has no execve)');
  const idle = await residentRss([ctx.node, '-e', 'setTimeout(()=>{},60000)'], env, {});
  const supHome = ctx.freshHome('resident');
  const supervisor = await residentRss(
    [ctx.node, ctx.bundle, '--', 'sleep', '60'],
    { ...env, HOME: supHome, CLAUDE_CREDENTIALS_FILE: ctx.credentialsFile },
    { childName: 'sleep' },
  );
  const syncHome = ctx.freshHome('resident-sync');
  const syncSource = path.join(tmp, 'sync-source.json');
  fs.copyFileSync(ctx.credentialsFile, syncSource);
  const withSync = await residentRss(
    [ctx.node, ctx.bundle, '--', 'sleep', '60'],
    { ...env, HOME: syncHome, CLAUDE_ENTRY_SOURCE: syncSource, CLAUDE_ENTRY_SYNC: 'both' },
    { childName: 'sleep' },
  );
  // An SDK resident: an AWS Secrets Manager source with sync (the fake of test/fakes/aws.ts):
  // the supervisor keeps the SDK module between its calls to the store.
  const { importFake, credentialsJson } = await import('./cloud.mjs');
  const { startFakeSecretsManager, FAKE_AWS_CREDENTIALS } = await importFake('aws');
  const fake = await startFakeSecretsManager({ region: 'us-east-1' });
  let withAws;
  try {
    fake.putSecret('bench/claude', credentialsJson());
    withAws = await residentRss(
      [ctx.node, ctx.bundle, '--', 'sleep', '60'],
      {
        ...env,
        HOME: ctx.freshHome('resident-aws'),
        CLAUDE_ENTRY_SOURCE: 'aws-sm:bench/claude',
        CLAUDE_ENTRY_SYNC: 'both',
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: FAKE_AWS_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: FAKE_AWS_CREDENTIALS.secretAccessKey,
        AWS_ENDPOINT_URL: fake.url,
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      { childName: 'sleep' },
    );
  } finally {
    await fake.close();
  }
  const kb = (v) => (v === undefined ? 'n/a' : `${(v / 1024).toFixed(1)} MiB`);
  const vs = (v) => (v === undefined || idle === undefined ? '' : ` (${(v / idle).toFixed(2)}x; goal 1.10x: ${v / idle <= 1.1 ? 'met' : 'not met'})`);
  console.log(`  node -e "setTimeout(...)" idle   ${kb(idle)}`);
  console.log(`  supervisor, credentials file     ${kb(supervisor)}${vs(supervisor)}`);
  console.log(`  supervisor, file source + sync   ${kb(withSync)}${vs(withSync)}`);
  console.log(`  supervisor, AWS source + sync    ${kb(withAws)}${vs(withAws)} (the AWS SDK resident between its calls)`);
  console.log('  tini, for scale: about 1 MiB');
  await claudeSection(ctx, { env, hyperfine, tmp });
}

/** The real `claude -p` against the local fake API, directly and through claude-entry. */
async function claudeSection(ctx, { env, hyperfine, tmp }) {
  const claude = path.join(ROOT, 'node_modules', '.bin', 'claude');
  if (!fs.existsSync(claude)) return console.log('\n(no real Claude Code CLI in node_modules: the claude -p rows are left out)');
  const { build } = await import('esbuild');
  const out = path.join(tmp, 'fake-anthropic.mjs');
  await build({
    entryPoints: [path.join(ROOT, 'test', 'fakes', 'anthropic.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: out,
    logLevel: 'error',
  });
  const fake = await (await import(pathToFileURL(out).href)).startFakeAnthropic();
  try {
    const quiet = {
      ANTHROPIC_BASE_URL: fake.url,
      DISABLE_AUTOUPDATER: '1',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
    };
    const directHome = ctx.freshHome('claude-direct');
    fs.writeFileSync(path.join(directHome, '.claude.json'), '{"hasCompletedOnboarding":true}\n');
    const shimHome = ctx.freshHome('claude-shim');
    const rows = [
      {
        key: 'claude',
        name: 'claude -p (token in env, files made by hand)',
        argv: [claude, '-p', 'say hi'],
        env: { HOME: directHome, CLAUDE_CODE_OAUTH_TOKEN: ctx.fakeToken, ...quiet },
      },
      {
        key: 'claude-shim',
        name: 'claude-entry -- claude -p',
        argv: [ctx.node, ctx.bundle, '--', claude, '-p', 'say hi'],
        env: { HOME: shimHome, CLAUDE_CODE_OAUTH_TOKEN: ctx.fakeToken, CLAUDE_ENTRY_LOG: 'warn', ...quiet },
        home: shimHome,
      },
    ];
    const timing = await hyperfine(rows, { rounds: 3, runs: 3, warmup: 1, tmp, env, label: 'claude -p' });
    const a = timing.get('claude');
    const b = timing.get('claude-shim');
    console.log('\nThe price in context: a real `claude -p "say hi"` against the local fake API (Claude Code ' + cliVersion(claude) + ')');
    console.log(`  claude -p directly              ${a.median.toFixed(1)} ms median`);
    console.log(`  through claude-entry            ${b.median.toFixed(1)} ms median`);
    console.log(
      `  claude-entry adds               ${(b.median - a.median).toFixed(1)} ms, ${(((b.median - a.median) / b.median) * 100).toFixed(1)}% of the start`,
    );
  } finally {
    await fake.close?.();
  }
}

function cliVersion(claude) {
  const r = spawnSync(claude, ['--version'], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: '/tmp', DISABLE_AUTOUPDATER: '1' }, timeout: 20_000 });
  return (r.stdout ?? '').trim().split(' ')[0] || 'unknown';
}

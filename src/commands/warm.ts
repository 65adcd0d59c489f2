/**
 * `claude-entry warm`: at image build, V8's code cache for this build and this Node, beside the
 * bundle (FILE.v8cache). The bundle's second statement (build/code-cache-loader.js) compiles
 * the code from it at every start after, instead of scanning and compiling the source.
 *
 * The cache holds the bytecode of the functions a run has compiled by its end, so warm runs
 * the paths a container runs (a start from a file, a start from a token, a check) in child
 * processes with CLAUDE_ENTRY_WARMING (this build's id), each in a temporary home with a fake login, each
 * reading the cache the previous one wrote and writing it back with its own functions added.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EntryError, ExitCode } from '../errors.js';
import type { Logger } from '../log.js';

/** Set by the bundle's loader: what became of the cache at this start (build/code-cache-loader.js). */
export interface CodeCache {
  status: string;
  file: string;
  buildId: string;
}

export function codeCache(): CodeCache | undefined {
  return (globalThis as { __claudeEntryCodeCache?: CodeCache }).__claudeEntryCodeCache;
}

/** A standalone executable (Node's SEA) is its own bundle: its children take no script argument. */
function isStandalone(): boolean {
  try {
    return (require('node:sea') as { isSea(): boolean }).isSea();
  } catch {
    return false;
  }
}

/** A fake login that passes every check a start makes; it never leaves the temporary home. */
const FAKE_TOKEN = `sk-ant-oat01-claude-entry-warm-${'0'.repeat(64)}-AA`;

export function runWarm(env: NodeJS.ProcessEnv, log: Logger): number {
  const bundle = __filename;
  const cache = codeCache();
  if (cache === undefined) throw new EntryError(`warm: ${bundle} was not built with the code cache loader (npm run build)`, ExitCode.usage);
  const owner = fs.statSync(bundle).uid;
  const me = process.geteuid?.() ?? owner;
  if (owner !== me) {
    throw new EntryError(
      `warm: ${bundle} belongs to uid ${owner}, and a start uses only a cache of the same owner: run warm as uid ${owner} (in a Dockerfile, before USER)`,
      ExitCode.cantWrite,
    );
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'claude-entry-warm-'));
  try {
    const home = path.join(work, 'home');
    fs.mkdirSync(home, { mode: 0o700 });
    const login = path.join(work, 'login.json');
    const expiresAt = Date.now() + 3_600_000;
    fs.writeFileSync(login, JSON.stringify({ claudeAiOauth: { accessToken: FAKE_TOKEN, refreshToken: FAKE_TOKEN, expiresAt, scopes: ['user:inference'] } }), {
      mode: 0o600,
    });
    // Only what shapes the compiled code: Node's options (V8 refuses a cache made under other flags).
    const base = {
      PATH: env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      CLAUDE_ENTRY_WARMING: cache.buildId,
      ...(env.NODE_OPTIONS ? { NODE_OPTIONS: env.NODE_OPTIONS } : {}),
    };
    // A command every image has: this Node (or this standalone executable) printing its version.
    const command = ['--', process.execPath, '--version'];
    const runs: [string, string[], NodeJS.ProcessEnv][] = [
      ['a start from a file', command, { ...base, CLAUDE_ENTRY_SOURCE: `file:${login}` }],
      ['a start from a token', command, { ...base, CLAUDE_CODE_OAUTH_TOKEN: FAKE_TOKEN }],
      ['a check', ['check'], { ...base, CLAUDE_CODE_OAUTH_TOKEN: FAKE_TOKEN }],
    ];
    for (const [what, args, runEnv] of runs) {
      const script = isStandalone() ? [] : [...process.execArgv, bundle];
      const r = spawnSync(process.execPath, [...script, ...args], { env: runEnv, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
      if (r.status !== 0) {
        const why = r.stderr.trim().split('\n').at(-1) || `exit ${r.status ?? r.signal}`;
        throw new EntryError(
          `warm: ${what} failed: ${why.replace(/^claude-entry: /, '')}`,
          r.status === ExitCode.cantWrite ? ExitCode.cantWrite : ExitCode.internal,
        );
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const size = fs.statSync(cache.file).size;
  log.info(`code cache for Node ${process.version} written to ${cache.file} (${Math.round(size / 1024)} KB): starts compile from it`);
  return 0;
}

/**
 * A crash never leaves a partial file: SIGKILL the shim again and again while it replaces
 * an old .credentials.json (token A) with a new one (token B, padded so that the write and
 * its fsync take a while), then read what is there. It must be A or B, whole.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLE, FAKE, baseEnv, credentialsJson, expectNoSecret, runBundle, tempDir } from '../helpers.js';
import { startProcess } from './ns.js';

const TOKEN_A = FAKE.accessToken.replace('TESTaccess', 'TESTaaaaaA');
const TOKEN_B = FAKE.accessToken.replace('TESTaccess', 'TESTbbbbbB');
const SECRETS = [TOKEN_A, TOKEN_B, FAKE.refreshToken];

/** Wall-clock budget and iteration cap for the kill loop; several homes run side by side. */
const BUDGET_MS = 20_000;
const MAX_ITERATIONS = 200;
const WORKERS = 4;

const OLD = credentialsJson({ accessToken: TOKEN_A });
/** Near the 1 MiB a secret file may hold: the write and fsync are not instant. */
const NEW = { ...credentialsJson({ accessToken: TOKEN_B }), padding: 'p'.repeat(900 * 1024) };
const OLD_TEXT = JSON.stringify(OLD, null, 2) + '\n';

const CREDENTIALS_TEMP = '..credentials.json.claude-entry-';
const isTemp = (name: string) => name.includes('.claude-entry-') && name.endsWith('.tmp');

interface Home {
  home: string;
  claudeDir: string;
  credentials: string;
  env: NodeJS.ProcessEnv;
}

function makeHome(root: string, name: string, source: string): Home {
  const home = path.join(root, name);
  const claudeDir = path.join(home, '.claude');
  fs.mkdirSync(claudeDir, { recursive: true, mode: 0o700 });
  return {
    home,
    claudeDir,
    credentials: path.join(claudeDir, '.credentials.json'),
    env: baseEnv(home, { CLAUDE_CREDENTIALS_FILE: source, CLAUDE_ENTRY_LOG: 'warn' }),
  };
}

/** Put A back the way the shim would (temp + rename), so the test never makes a partial file. */
function resetToOld(h: Home): void {
  const temp = path.join(h.claudeDir, 'test-reset.partial');
  fs.writeFileSync(temp, OLD_TEXT, { mode: 0o600 });
  fs.renameSync(temp, h.credentials);
}

type Outcome = 'A' | 'B';

/** What is at the path now: A or B whole, or the test fails. */
function readOutcome(h: Home): Outcome {
  const text = fs.readFileSync(h.credentials, 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`partial .credentials.json: ${text.length} bytes that do not parse`);
  }
  if (JSON.stringify(value) === JSON.stringify(OLD)) return 'A';
  if (JSON.stringify(value) === JSON.stringify(NEW)) return 'B';
  throw new Error('.credentials.json parses but is neither the old nor the new credential');
}

function tempFiles(h: Home): string[] {
  return [
    ...fs
      .readdirSync(h.claudeDir)
      .filter(isTemp)
      .map((n) => path.join('.claude', n)),
    ...fs.readdirSync(h.home).filter(isTemp),
  ];
}

const random = (min: number, max: number) => min + Math.random() * (max - min);

interface Tally {
  iterations: number;
  killed: number;
  completed: number;
  sawA: number;
  sawB: number;
  /** Killed with a temp file on disk: between its creation and the rename. */
  killedMidWrite: number;
}

/**
 * One start, one SIGKILL. `onTemp`: the kill comes 0-30 ms after the shim creates its temp
 * file (seen with inotify), so it lands in the write, the fsync or just after the rename.
 * `around`: at a random time near when the temp file usually appears (`tempAtMs`, learnt from
 * the `onTemp` runs), so it also lands before the write, in reading or parsing.
 */
async function killOnce(h: Home, mode: 'onTemp' | 'around', timing: { tempAtMs: number }, tally: Tally): Promise<void> {
  resetToOld(h);
  const leftBefore = new Set(fs.readdirSync(h.claudeDir).filter(isTemp));
  const started = Date.now();
  const p = startProcess([process.execPath, BUNDLE, '--', 'true'], { env: h.env });
  let fired = false;
  const kill = () => {
    if (fired) return;
    fired = true;
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const watcher =
    mode === 'onTemp'
      ? fs.watch(h.claudeDir, (_event, name) => {
          if (!name || !isTemp(name) || timer) return;
          // A moving average: later `around` kills aim at it.
          timing.tempAtMs = 0.8 * timing.tempAtMs + 0.2 * (Date.now() - started);
          timer = setTimeout(kill, random(0, 30));
        })
      : undefined;
  if (mode === 'around') timer = setTimeout(kill, random(0.5 * timing.tempAtMs, timing.tempAtMs + 30));
  const r = await p.result;
  clearTimeout(timer);
  watcher?.close();

  tally.iterations++;
  if (r.signal === 'SIGKILL') tally.killed++;
  else {
    expect(r.code, r.stderr.slice(0, 800)).toBe(0);
    tally.completed++;
  }
  if (r.signal === 'SIGKILL' && fs.readdirSync(h.claudeDir).some((n) => n.startsWith(CREDENTIALS_TEMP) && !leftBefore.has(n))) tally.killedMidWrite++;
  const outcome = readOutcome(h);
  if (outcome === 'A') tally.sawA++;
  else tally.sawB++;
  expectNoSecret(r.stdout + r.stderr, SECRETS);
}

describe('crash safety of .credentials.json', () => {
  it(`is the old file or the new one, whole, after any SIGKILL (up to ${MAX_ITERATIONS} kills, ${BUDGET_MS / 1000} s)`, async () => {
    const root = tempDir();
    const source = path.join(root, 'new-credentials.json');
    fs.writeFileSync(source, JSON.stringify(NEW), { mode: 0o600 });
    const homes = Array.from({ length: WORKERS }, (_, i) => makeHome(root, `home-${i}`, source));

    // A first whole start in each home: B is written, .claude.json is up to date from then on
    // (so every later write is the credentials'), and it gives a first guess of when the write begins.
    const warmups = await Promise.all(
      homes.map(async (h) => {
        resetToOld(h);
        const started = Date.now();
        const r = await runBundle(['--', 'true'], { env: h.env });
        expect(r.code, r.stderr.slice(0, 800)).toBe(0);
        expect(readOutcome(h)).toBe('B');
        return Date.now() - started;
      }),
    );
    const timing = { tempAtMs: Math.min(...warmups) };

    const tally: Tally = { iterations: 0, killed: 0, completed: 0, sawA: 0, sawB: 0, killedMidWrite: 0 };
    const deadline = Date.now() + BUDGET_MS;
    let next = 0;
    await Promise.all(
      homes.map(async (h) => {
        while (Date.now() < deadline && next < MAX_ITERATIONS) {
          const mode = next++ % 2 === 0 ? 'onTemp' : 'around';
          await killOnce(h, mode, timing, tally);
        }
      }),
    );

    const leftovers = homes.reduce((n, h) => n + tempFiles(h).length, 0);
    console.log(
      `crash-safety: ${tally.iterations} starts (temp file ~${Math.round(timing.tempAtMs)} ms after spawn), ${tally.killed} killed, ` +
        `${tally.completed} finished first; after the kill: old file (A) ${tally.sawA}, new file (B) ${tally.sawB}; ` +
        `killed mid-write (temp file left) ${tally.killedMidWrite}; temp files on disk before the clean-up run: ${leftovers}`,
    );
    expect(tally.sawA + tally.sawB).toBe(tally.iterations);
    expect(tally.iterations).toBeGreaterThan(10);

    // The next start removes what the killed ones left behind.
    for (const h of homes) {
      const r = await runBundle(['--', 'true'], { env: h.env });
      expect(r.code, r.stderr.slice(0, 800)).toBe(0);
      expect(readOutcome(h)).toBe('B');
      // Every file's: the credentials', .claude.json's and the state file's (see the tests below).
      expect(tempFiles(h), `left in ${h.home}`).toEqual([]);
    }
  });

  // A kill in a write's window leaves a temp file (seen above): the next start removes it, every
  // start (install(), under the lock), not only one that changes the file.
  const KILLED = '.claude-entry-4242-0123456789ab.tmp'; // a temp file's name ends: pid, random, .tmp
  it.each<[string, (h: Home) => string, string, boolean]>([
    ['.credentials.json', (h) => path.join(h.claudeDir, `..credentials.json${KILLED}`), '{"claudeAiOauth": {"accessToken": "sk-ant-oat01-TESTpart', false],
    ['an up-to-date .claude.json', (h) => path.join(h.home, `..claude.json${KILLED}`), '{"hasCompletedOn', true],
    ['.claude-entry-state.json', (h) => path.join(h.claudeDir, `..claude-entry-state.json${KILLED}`), '{"source": "CLAUDE_CRED', false],
  ])('removes temp files a killed start left beside %s', async (_what, staleIn, partial, startFirst) => {
    const root = tempDir();
    const source = path.join(root, 'new-credentials.json');
    fs.writeFileSync(source, JSON.stringify(NEW), { mode: 0o600 });
    const h = makeHome(root, 'home', source);
    if (startFirst) expect((await runBundle(['--', 'true'], { env: h.env })).code).toBe(0); // the file is now up to date
    const stale = staleIn(h);
    fs.writeFileSync(stale, partial, { mode: 0o600 });

    const r = await runBundle(['--', 'true'], { env: h.env });
    expect(r.code, r.stderr.slice(0, 800)).toBe(0);
    expect(fs.existsSync(stale)).toBe(false);
    expect(readOutcome(h)).toBe('B');
  });
});

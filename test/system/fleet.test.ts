/**
 * Fleet mode with the real Claude Code CLI (the newest installed) against a token endpoint that
 * revokes the whole token family when a spent refresh token comes back (test/fakes/oauth-proxy.ts,
 * revokeFamilyOnReuse) and an API that refuses revoked and expired access tokens.
 *
 * Several replicas (interactive CLIs under tmux, and claude -p in a loop) share one login in a
 * store (a file, AWS Secrets Manager or GCP Secret Manager through the real SDKs against the
 * fakes; on GCP the compare-and-swap moves an annotation with the Secret's etag). Access tokens
 * live LIFETIME_S seconds (the fake's expires_in), replicas refresh REFRESH_BEFORE before the
 * end, so a refresh cycle takes LIFETIME_S - REFRESH_BEFORE seconds and every CLI is inside its
 * own 5-minute refresh window all the time: any CLI that refreshed by itself would show.
 *
 * Counted: token calls, reuse attempts (goal 0), revoked families, logouts (revoke calls), 401s.
 * Also as root with CLAUDE_ENTRY_USER (needs root): the refresh runs after the drop, as the user.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FAKE_AWS_CREDENTIALS, startFakeSecretsManager, type FakeSecretsManager } from '../fakes/aws';
import { startFakeMetadata, startFakeSecretManager } from '../fakes/gcp';
import { fakeToken, startRefreshRig, type ProxiedRequest, type RefreshRig } from '../fakes/oauth-proxy';
import { BUNDLE, FAKE, baseEnv, credentialsJson, expectNoSecret, runBundle, shWaitFor, tempDir, type RunResult } from '../helpers';
import { needs } from '../needs';
import { CLAUDE_CLIS } from './claude-versions';
import { AGENT, agentWorld, isRoot, withUsers } from './ns';
import { alive } from './procs';
import { Tmux, blocker } from './tmux';

const CLI = CLAUDE_CLIS.at(-1);
const LIFETIME_S = 90;
const REFRESH_BEFORE_S = 60;
const CYCLE_MS = (LIFETIME_S - REFRESH_BEFORE_S) * 1000;
const REGION = 'eu-west-3';
const SECRET = 'prod/claude-fleet';

const until = async (what: string, done: () => boolean, timeoutMs: number, detail: () => string = () => ''): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`waiting for ${what}: timed out after ${timeoutMs / 1000} s\n${detail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

async function familiesRig(): Promise<RefreshRig> {
  const r = await startRefreshRig({
    proxy: { revokeFamilyOnReuse: true, refreshTokens: [FAKE.refreshToken], expiresInSec: LIFETIME_S },
    gate: true,
  });
  onTestFinished(() => r.close());
  return r;
}

/** The seed login: the fake knows its access token until its expiry. */
function seed(r: RefreshRig, leftMs: number, pair = { accessToken: FAKE.accessToken, refreshToken: FAKE.refreshToken }): string {
  const expiresAt = Date.now() + leftMs;
  r.proxy.addAccessToken(pair.accessToken, expiresAt);
  r.proxy.addRefreshToken(pair.refreshToken);
  return JSON.stringify(credentialsJson({ ...pair, expiresAt }));
}

interface Store {
  kind: 'file' | 'aws' | 'gcp';
  env: NodeJS.ProcessEnv;
  read(): string;
  write(text: string): void;
  /** GCP: whether the Secret's annotation names a current version (the compare-and-swap moved it). */
  annotated?(): boolean;
  /** An AWS endpoint for one replica that the test can cut off (aws only). */
  partitionable?(): Promise<{ env: NodeJS.ProcessEnv; cut(): void; heal(): void }>;
}

async function fileStore(text: string): Promise<Store> {
  const dir = tempDir('claude-entry-fleet-store-');
  const file = path.join(dir, 'login.json');
  fs.writeFileSync(file, text, { mode: 0o600 });
  return { kind: 'file', env: { CLAUDE_ENTRY_SOURCE: `file:${file}` }, read: () => fs.readFileSync(file, 'utf8'), write: (t) => fs.writeFileSync(file, t) };
}

async function awsStore(text: string): Promise<Store> {
  const aws: FakeSecretsManager = await startFakeSecretsManager({ region: REGION });
  onTestFinished(() => aws.close());
  aws.putSecret(SECRET, text);
  const env = (url: string) => ({
    AWS_ACCESS_KEY_ID: FAKE_AWS_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: FAKE_AWS_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL: url,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_REGION: REGION,
    CLAUDE_ENTRY_SOURCE: `aws-sm:${SECRET}`,
    CLAUDE_ENTRY_TIMEOUT: '3s',
  });
  return {
    kind: 'aws',
    env: env(aws.url),
    read: () => String(aws.valueOf(SECRET)),
    write: (t) => void aws.putSecret(SECRET, t),
    async partitionable() {
      // A TCP relay to the fake: cut, it refuses every connection and drops the open ones.
      const target = new URL(aws.url);
      let cut = false;
      const sockets = new Set<net.Socket>();
      const relay = net.createServer((client) => {
        if (cut) return client.destroy();
        const upstream = net.connect(Number(target.port), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => undefined);
        }
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
      onTestFinished(() => new Promise<void>((resolve) => relay.close(() => resolve())));
      onTestFinished(() => {
        for (const s of sockets) s.destroy();
      });
      const port = (relay.address() as net.AddressInfo).port;
      return {
        env: env(`http://127.0.0.1:${port}`),
        cut: () => {
          cut = true;
          for (const s of sockets) s.destroy();
        },
        heal: () => {
          cut = false;
        },
      };
    },
  };
}

const GCP_SECRET = 'projects/p/secrets/claude-fleet';

/** GCP Secret Manager through the real SDK against the fake; read() is the current version (the annotation's, else latest). */
async function gcpStore(text: string): Promise<Store> {
  const gcp = await startFakeSecretManager({ projectNumbers: { p: '123456789012' } });
  const metadata = await startFakeMetadata();
  onTestFinished(async () => {
    await Promise.all([gcp.close(), metadata.close()]);
  });
  gcp.addVersion(GCP_SECRET, text);
  const current = () => {
    const versions = gcp.versions(GCP_SECRET)!;
    const pointed = gcp.annotations(GCP_SECRET)?.['claude-entry-current'];
    return (pointed ? versions[Number(pointed) - 1]! : versions.at(-1)!).data;
  };
  return {
    kind: 'gcp',
    env: { CLAUDE_ENTRY_GCP_ENDPOINT: gcp.endpoint, GCE_METADATA_HOST: metadata.host, CLAUDE_ENTRY_SOURCE: GCP_SECRET, CLAUDE_ENTRY_TIMEOUT: '3s' },
    read: current,
    write: (t) => void gcp.addVersion(GCP_SECRET, t),
    annotated: () => /^\d+$/.test(gcp.annotations(GCP_SECRET)?.['claude-entry-current'] ?? ''),
  };
}

const STORES = { file: fileStore, aws: awsStore, gcp: gcpStore } as const;

interface Replica {
  name: string;
  home: string;
  /** What claude-entry logged (and, interactive, what the terminal showed). */
  log(): string;
  /** The access token in the replica's credentials file. */
  localToken(): string | undefined;
  stop(): Promise<void>;
}

function fleetEnv(r: RefreshRig, store: Store, home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return baseEnv(home, {
    PATH: `${CLI!.binDir}:${process.env.PATH}`,
    ...r.env,
    ...store.env,
    CLAUDE_ENTRY_FLEET: 'on',
    CLAUDE_ENTRY_FLEET_POLL: '1s',
    CLAUDE_ENTRY_FLEET_REFRESH_BEFORE: `${REFRESH_BEFORE_S}s`,
    ...extra,
  });
}

const localTokenOf = (home: string) => () => {
  try {
    return JSON.parse(fs.readFileSync(path.join(home, '.claude', '.credentials.json'), 'utf8')).claudeAiOauth.accessToken as string;
  } catch {
    return undefined;
  }
};

/** claude-entry supervising `claude -p` every few seconds until stopped; prints each exit code. */
function printLoop(name: string, r: RefreshRig, store: Store, extra: NodeJS.ProcessEnv = {}): Replica & { result: Promise<RunResult>; codes(): number[] } {
  const home = tempDir();
  const stop = path.join(tempDir(), 'stop');
  let stderr = '';
  const script = `while [ ! -e '${stop}' ]; do claude -p "say hi" >/dev/null 2>&1; echo "loop: rc=$?" >&2; sleep 2; done`;
  const result = runBundle(['--', 'sh', '-c', script], {
    env: fleetEnv(r, store, home, extra),
    cwd: tempDir('claude-entry-ws-'),
    timeoutMs: 900_000,
    onStderr: (s) => (stderr = s),
  });
  // Before the temp dirs go (hooks run last-in, first-out): the loop ends with its claude.
  onTestFinished(async () => {
    fs.writeFileSync(stop, '');
    await result;
  });
  return {
    name,
    home,
    result,
    log: () => stderr,
    localToken: localTokenOf(home),
    // On stderr, interleaved with claude-entry's own lines, so that they can be read while it runs.
    codes: () => [...stderr.matchAll(/^loop: rc=(\d+)$/gm)].map((m) => Number(m[1])),
    async stop() {
      fs.writeFileSync(stop, '');
      await result;
    },
  };
}

/** claude-entry supervising an interactive claude under tmux. */
async function interactive(name: string, r: RefreshRig, store: Store): Promise<Replica & { ask(): Promise<void> }> {
  const home = tempDir();
  const workspace = tempDir('claude-entry-ws-');
  const tmux = new Tmux(tempDir('claude-entry-tmux-'));
  // Its log shares the terminal with the CLI's screen: warnings only, so that the screen stays readable.
  const env = fleetEnv(r, store, home, { CLAUDE_ENTRY_TRUST: workspace, TERM: 'xterm-256color', CLAUDE_ENTRY_LOG: 'warn' });
  tmux.start([process.execPath, BUNDLE, '--', 'claude'], { env, cwd: workspace });
  await tmux.waitFor('the main prompt', (s) => /^❯/m.test(s), { timeoutMs: 60_000, fail: blocker });
  return {
    name,
    home,
    log: () => tmux.rawOutput(),
    localToken: localTokenOf(home),
    /**
     * One prompt, answered: a new /v1/messages that the API accepted (no 401) and the reply on
     * the screen. (A warning claude-entry writes to the terminal can garble the screen's input
     * line, so the typed text is looked for with a bound but not required.)
     */
    async ask() {
      const before = r.api.messages().length;
      const refused = r.unauthorized();
      const typed = tmux.screen().split('say hi').length;
      tmux.type('say hi');
      await tmux.waitFor('the typed prompt', (screen) => screen.split('say hi').length > typed, { timeoutMs: 5_000 }).catch(() => undefined);
      tmux.keys('Enter');
      await until(
        `${name}'s request`,
        () => r.api.messages().length > before,
        60_000,
        () => tmux.screen(),
      );
      await until(
        `${name}'s reply`,
        () => tmux.screen().includes(r.reply),
        60_000,
        () => tmux.screen(),
      );
      expect(r.unauthorized(), `${name}'s request was refused`).toBe(refused);
    },
    async stop() {
      tmux.keys('C-c');
      tmux.keys('C-c');
      await tmux.waitForExit(30_000).catch(() => undefined);
    },
  };
}

/** Each refresh the CLI's own `claude auth login` sends asks for a year (expires_in); a CLI refreshing by itself does not. */
const fromAuthLogin = (q: ProxiedRequest) => (q.body as { expires_in?: number } | undefined)?.expires_in === 31536000;

function counts(r: RefreshRig): string {
  const s = r.proxy.stats;
  return `token calls ${s.tokenCalls}, rotations ${s.rotations}, reuse attempts ${s.reuseAttempts}, families revoked ${s.familiesRevoked}, logouts ${s.logouts}, 401s ${r.unauthorized()}, messages ${r.api.messages().length}`;
}

const recordOf = (store: Store) => JSON.parse(store.read()).claudeEntryFleet as { holder: string | null; generation: number; inflight: unknown };

describe('fleet mode with the real CLI', needs(needs.claude(), needs.tool('tmux')), () => {
  describe.each(['file', 'aws', 'gcp'] as const)('on a %s store', (kind) => {
    it('two interactive replicas and a claude -p loop, three refresh cycles: one refresher per cycle, no reuse, no 401', { timeout: 600_000 }, async () => {
      const r = await familiesRig();
      // The seed has one cycle left before it is due.
      const store = await STORES[kind](seed(r, REFRESH_BEFORE_S * 1000 + CYCLE_MS));
      const a = await interactive('A', r, store);
      const b = await interactive('B', r, store);
      const c = printLoop('C', r, store);
      const replicas = [a, b, c];
      await a.ask();
      const refreshedBy: string[] = [];
      for (let cycle = 1; cycle <= 3; cycle++) {
        await until(
          `refresh ${cycle}`,
          () => r.proxy.stats.rotations >= cycle,
          CYCLE_MS + 90_000,
          () => counts(r),
        );
        const issued = r.proxy.issued[cycle - 1]!.accessToken;
        await until(
          `every replica on pair ${cycle}`,
          () => replicas.every((x) => x.localToken() === issued),
          30_000,
          () => counts(r),
        );
        refreshedBy.push(String((recordOf(store) as { lastRefresh?: { by: string } }).lastRefresh?.by));
        await a.ask();
        await b.ask();
      }
      // check and doctor on the -p replica show the fleet.
      const check = await runBundle(['check'], { env: baseEnv(c.home) });
      expect(check.stdout).toMatch(/fleet: (refresher|replica) of .*, generation \d+, lease held by \S+ for /);
      const doctor = await runBundle(['doctor'], { env: baseEnv(c.home, store.env) });
      expect(doctor.stdout).toMatch(/fleet: (refresher|replica) \(\S+\) of /);
      expect(doctor.stdout).toMatch(/lease: held by \S+, .* left; generation \d+/);
      console.log(`check: ${check.stdout.trim()}`);
      await c.stop();
      const cliCalls = r.proxy.refreshes().filter((q) => !fromAuthLogin(q));
      console.log(`fleet (${kind}): ${counts(r)}; -p exit codes ${c.codes().join(',')}; refreshed by ${refreshedBy.join(', ')}`);
      expect(r.proxy.stats.reuseAttempts, counts(r)).toBe(0);
      expect(r.proxy.stats.familiesRevoked).toBe(0);
      expect(r.proxy.stats.logouts).toBe(0);
      expect(r.unauthorized(), counts(r)).toBe(0);
      expect(cliCalls, 'a CLI refreshed by itself').toHaveLength(0);
      expect(r.proxy.stats.tokenCalls).toBe(r.proxy.stats.rotations);
      // One refresh per cycle (a token call is a refresh; each published one pair).
      expect(r.proxy.stats.tokenCalls).toBe(3);
      expect(c.codes().length).toBeGreaterThan(0);
      expect(c.codes().every((code) => code === 0)).toBe(true);
      expect(recordOf(store).generation).toBeGreaterThanOrEqual(1);
      if (store.annotated) expect(store.annotated(), 'the fleet wrote through the compare-and-swap').toBe(true);
      expectNoSecret(c.log(), [FAKE.refreshToken, ...r.proxy.issued.map((p) => p.refreshToken)]);
    });
  });

  it('a refresher killed mid-refresh: the others see it, never present the spent token, say why when the token expires; a new login resumes', {
    timeout: 600_000,
  }, async () => {
    const r = await familiesRig();
    const store = await fileStore(seed(r, REFRESH_BEFORE_S * 1000 + CYCLE_MS));
    // The refresher first, so that the lease is its.
    const refresher = printLoop('R', r, store);
    await until('the lease', () => /fleet: this replica is the refresher now/.test(refresher.log()), 30_000, refresher.log);
    const holder = recordOf(store).holder!;
    const pid = Number(holder.split('/')[1]);
    const others = [printLoop('P', r, store), await interactive('I', r, store)];

    // Hold the token endpoint's answer; kill the refresher while its request is in the air.
    let answer!: () => void;
    const held = new Promise<void>((resolve) => (answer = resolve));
    r.proxy.setTokenMode((req, res, proxy) => void held.then(() => proxy.rotate(req, res)));
    await r.proxy.waitForRequest('/v1/oauth/token', { timeoutMs: CYCLE_MS + 60_000 });
    process.kill(pid, 'SIGKILL');
    await until('the refresher gone', () => !alive(pid), 10_000);
    // Its claude auth login lives on, orphaned, and gets its answer below; its loop of claude -p
    // is ended, as the rest of a dead container would be.
    void refresher.stop();
    answer(); // rotated server-side: nobody will ever see that pair
    r.proxy.setTokenMode('rotate');

    await until(
      'the others report the lost refresh',
      // (The interactive replica logs over its CLI's screen: the words are checked on the -p replica.)
      () => /its result never reached/.test(others[0]!.log()),
      // The refresher's own bound on its refresh: the login's timeout (60 s) and the grace period.
      120_000,
      () => others[0]!.log(),
    );
    // The seed access token has expired meanwhile: the replica said why.
    await until(
      'the expiry report',
      () => /the access token expired at .* no newer pair could be adopted: the refresh .* (has not finished yet|never reached)/.test(others[0]!.log()),
      REFRESH_BEFORE_S * 1000 + 30_000,
      () => others[0]!.log(),
    );
    expect(r.proxy.stats.tokenCalls, counts(r)).toBe(1);
    expect(r.proxy.stats.reuseAttempts).toBe(0);
    expect(r.proxy.stats.familiesRevoked).toBe(0);
    expect(r.proxy.stats.logouts).toBe(0);
    const refusedWhileStuck = r.unauthorized();

    // Someone logs in again and stores the new login (without the fleet record, as an export would).
    const fresh = { accessToken: fakeToken('oat', 'relogin'), refreshToken: fakeToken('ort', 'relogin') };
    store.write(seed(r, REFRESH_BEFORE_S * 1000 + CYCLE_MS, fresh));
    await until(
      'every replica on the new login',
      () => others.every((x) => x.localToken() === fresh.accessToken),
      30_000,
      () => counts(r),
    );
    await until(
      'the next refresh',
      () => r.proxy.stats.rotations >= 2,
      CYCLE_MS + 90_000,
      () => counts(r),
    );
    const next = r.proxy.issued.at(-1)!.accessToken;
    await until(
      'every replica on the refreshed pair',
      () => others.every((x) => x.localToken() === next),
      30_000,
      () => counts(r),
    );
    await (others[1] as Awaited<ReturnType<typeof interactive>>).ask();
    const loop = others[0] as ReturnType<typeof printLoop>;
    const codesBefore = loop.codes().length;
    await until(
      'a claude -p that works again',
      () => loop.codes().slice(codesBefore).includes(0),
      60_000,
      () => loop.codes().join(','),
    );
    await loop.stop();
    console.log(`fleet (killed refresher): ${counts(r)}; 401s while stuck ${refusedWhileStuck}; P exit codes ${loop.codes().join(',')}`);
    expect(r.proxy.stats.reuseAttempts, counts(r)).toBe(0);
    expect(r.proxy.stats.familiesRevoked).toBe(0);
    expect(r.proxy.stats.logouts).toBe(0);
    expect(r.proxy.refreshes().filter((q) => !fromAuthLogin(q))).toHaveLength(0);
  });

  it('a replica partitioned from the store (AWS) keeps working until its access token expires, says why, and adopts the next pair when back', {
    timeout: 600_000,
  }, async () => {
    const r = await familiesRig();
    const store = await awsStore(seed(r, REFRESH_BEFORE_S * 1000 + CYCLE_MS));
    const refresher = printLoop('R', r, store);
    await until('the lease', () => /fleet: this replica is the refresher now/.test(refresher.log()), 30_000, refresher.log);
    const link = await store.partitionable!();
    const cutOff = printLoop('X', r, store, link.env);
    await until(
      'refresh 1',
      () => r.proxy.stats.rotations >= 1,
      CYCLE_MS + 90_000,
      () => counts(r),
    );
    const first = r.proxy.issued[0]!;
    await until('X on pair 1', () => cutOff.localToken() === first.accessToken, 30_000, cutOff.log);

    link.cut();
    const cutAt = Date.now();
    await until('X notices', () => /fleet: cannot read aws-sm:/.test(cutOff.log()), 30_000, cutOff.log);
    // Until pair 1 expires, X's CLI keeps working.
    const codesAtCut = cutOff.codes().length;
    await until('the expiry report', () => /the access token expired at .* unreachable since/.test(cutOff.log()), LIFETIME_S * 1000 + 30_000, cutOff.log);
    const whileValid = cutOff.codes().slice(codesAtCut);
    expect(r.proxy.stats.rotations, 'the refresher went on').toBeGreaterThanOrEqual(2);

    link.heal();
    const latest = () => r.proxy.issued.at(-1)!.accessToken;
    await until('X adopts again', () => cutOff.localToken() === latest(), 60_000, cutOff.log);
    const codesAtHeal = cutOff.codes().length;
    await until(
      'a claude -p that works again',
      () => cutOff.codes().slice(codesAtHeal).includes(0),
      60_000,
      () => cutOff.codes().join(','),
    );
    await cutOff.stop();
    await refresher.stop();
    console.log(
      `fleet (partitioned replica): ${counts(r)}; X cut ${Math.round((Date.now() - cutAt) / 1000)} s; X exit codes while its token lived ${whileValid.join(',')}, all ${cutOff.codes().join(',')}`,
    );
    expect(whileValid.filter((c) => c === 0).length).toBeGreaterThan(0);
    expect(r.proxy.stats.reuseAttempts, counts(r)).toBe(0);
    expect(r.proxy.stats.familiesRevoked).toBe(0);
    expect(r.proxy.stats.logouts).toBe(0);
    expect(r.proxy.refreshes().filter((q) => !fromAuthLogin(q))).toHaveLength(0);
    // The refresher's own CLI never saw a 401: only X's calls after its token expired did.
    expect(refresher.codes().every((c) => c === 0)).toBe(true);
  });
  it('as root with CLAUDE_ENTRY_USER: the refresh runs as the target user, whose file gets each pair', {
    ...needs(needs.root()),
    timeout: 300_000,
  }, async () => {
    const r = await familiesRig();
    const store = await awsStore(seed(r, REFRESH_BEFORE_S * 1000 + CYCLE_MS));
    // agent must read the test CA (the proxy's certificate) like any file of the machine.
    fs.chmodSync(path.dirname(r.proxy.caFile), 0o755);
    fs.chmodSync(r.proxy.caFile, 0o644);
    const w = agentWorld();
    const stop = path.join(w.dir, 'stop');
    let stderr = '';
    const script = `while [ ! -e '${stop}' ]; do claude -p "say hi" >/dev/null 2>&1; echo "loop: rc=$? uid=$(id -u)" >&2; sleep 2; done`;
    const result = runBundle(['--', 'sh', '-c', script], {
      env: { ...fleetEnv(r, store, path.join(w.dir, 'root-home')), CLAUDE_ENTRY_USER: 'agent' },
      cwd: w.dir,
      timeoutMs: 300_000,
      prefix: withUsers(w.users),
      onStderr: (text) => (stderr = text),
    });
    onTestFinished(async () => {
      fs.writeFileSync(stop, '');
      await result;
    });
    const local = path.join(w.home, '.claude', '.credentials.json');
    await until(
      'the refresh',
      () => r.proxy.stats.rotations >= 1,
      CYCLE_MS + 90_000,
      () => `${counts(r)}\n${stderr}`,
    );
    const issued = r.proxy.issued[0]!;
    await until(
      "the pair in agent's file",
      () => localTokenOf(path.join(w.home))() === issued.accessToken,
      30_000,
      () => stderr,
    );
    const codesAt = [...stderr.matchAll(/^loop: rc=0 /gm)].length;
    await until(
      'a claude -p on the new pair',
      () => [...stderr.matchAll(/^loop: rc=0 /gm)].length > codesAt,
      60_000,
      () => stderr,
    );
    fs.writeFileSync(stop, '');
    const done = await result;
    console.log(`fleet (as agent): ${counts(r)}; file ${fs.statSync(local).uid}:${fs.statSync(local).gid}`);
    expect(done.stderr).toMatch(/fleet: this replica is the refresher now/);
    expect(done.stderr).toMatch(/fleet: published the refreshed login to aws-sm:/);
    expect(done.stderr).toMatch(new RegExp(`^loop: rc=0 uid=${AGENT.uid}$`, 'm'));
    expect(fs.statSync(local).uid).toBe(AGENT.uid);
    expect(JSON.parse(fs.readFileSync(local, 'utf8')).claudeAiOauth.refreshToken).toBeNull();
    expect(JSON.parse(store.read()).claudeAiOauth.refreshToken).toBe(issued.refreshToken);
    expect(r.proxy.stats.reuseAttempts).toBe(0);
    expect(r.proxy.stats.familiesRevoked).toBe(0);
    expect(r.proxy.refreshes().filter((q) => !fromAuthLogin(q))).toHaveLength(0);
    expect(r.unauthorized()).toBe(0);
    expect(isRoot).toBe(true);
  });
});

/** A fake `claude` that only records that it was run (and whether it got a refresh token). */
function recordingClaude(): { binDir: string; calls(): string[] } {
  const binDir = tempDir('claude-entry-fake-claude-');
  const log = path.join(binDir, 'calls.log');
  fs.writeFileSync(path.join(binDir, 'claude'), `#!/bin/sh\necho "$* rt=\${CLAUDE_CODE_OAUTH_REFRESH_TOKEN-unset}" >> '${log}'\nexit 1\n`, { mode: 0o755 });
  return { binDir, calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []) };
}

describe('fleet mode: a stored login without a refresh token (a replica file exported to the store)', () => {
  // Due now (5 minutes left, refreshed 10 minutes before the end): a member that could refresh would at once.
  const noRefreshToken = () => JSON.stringify({ ...credentialsJson({ refreshToken: null, expiresAt: Date.now() + 5 * 60_000 }) });

  it('at the start: no fleet, a warning naming the store, no `claude auth login`, the store untouched', async () => {
    const claude = recordingClaude();
    const dir = tempDir('claude-entry-fleet-store-');
    const file = path.join(dir, 'login.json');
    const text = noRefreshToken();
    fs.writeFileSync(file, text, { mode: 0o600 });
    const r = await runBundle(['--', 'sh', '-c', 'sleep 1; exit 7'], {
      env: baseEnv(tempDir(), { PATH: `${claude.binDir}:${process.env.PATH}`, CLAUDE_ENTRY_SOURCE: `file:${file}`, CLAUDE_ENTRY_FLEET: 'on' }),
    });
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(
      new RegExp(`warning: CLAUDE_ENTRY_FLEET=on: file:${file} holds a login without a refresh token, which never rotates; nothing for a fleet to refresh`),
    );
    expect(r.stderr).not.toMatch(/fleet: (sharing|refreshing)/);
    expect(claude.calls()).toEqual([]);
    expect(fs.readFileSync(file, 'utf8')).toBe(text);
    expectNoSecret(r.stdout + r.stderr, Object.values(FAKE));
  });

  it('while running: the refresher does not run `claude auth login` without a refresh token, and says why', async () => {
    const claude = recordingClaude();
    const dir = tempDir('claude-entry-fleet-store-');
    const file = path.join(dir, 'login.json');
    fs.writeFileSync(file, JSON.stringify(credentialsJson()), { mode: 0o600 });
    let stderr = '';
    // The command runs until the test has seen both events (a bounded wait, not a clock).
    const done = path.join(tempDir(), 'done');
    const run = runBundle(['--', 'sh', '-c', shWaitFor(done, 'x', 90)], {
      env: baseEnv(tempDir(), {
        PATH: `${claude.binDir}:${process.env.PATH}`,
        CLAUDE_ENTRY_SOURCE: `file:${file}`,
        CLAUDE_ENTRY_FLEET: 'on',
        CLAUDE_ENTRY_FLEET_POLL: '1s',
      }),
      onStderr: (s) => (stderr = s),
    });
    await until(
      'the lease',
      () => /this replica is the refresher now/.test(stderr),
      30_000,
      () => stderr,
    );
    // Someone stores a replica's file (no refresh token, due now); the record stays.
    const stored = JSON.parse(fs.readFileSync(file, 'utf8'));
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(noRefreshToken()), claudeEntryFleet: stored.claudeEntryFleet }));
    await until(
      'the warning',
      () => /holds a login without a refresh token/.test(stderr),
      30_000,
      () => stderr,
    );
    fs.writeFileSync(done, 'x');
    const r = await run;
    expect(r.code).toBe(0);
    expect(claude.calls()).toEqual([]);
    expect(r.stderr).not.toMatch(/fleet: refreshing the login/);
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).claudeEntryFleet.inflight).toBeNull();
    expectNoSecret(r.stdout + r.stderr, Object.values(FAKE));
  });
});

describe('fleet mode: a lease no holder could have written', () => {
  // A holder's lease ends at most a few minutes past the stored access token's expiry (refresh time
  // + grace, or the login's bound); one years ahead (a clock far ahead, a hand edit) would stop
  // every refresh for good while check and doctor showed it as healthy.
  it('a lease held by another replica far past the stored token expiry is taken over', async () => {
    const claude = recordingClaude();
    const dir = tempDir('claude-entry-fleet-store-');
    const file = path.join(dir, 'login.json');
    const record = { v: 1, generation: 4, holder: 'elsewhere/1/abcdef', leaseUntil: Date.now() + 10 * 365 * 86_400_000, inflight: null };
    fs.writeFileSync(file, JSON.stringify({ ...credentialsJson({ expiresAt: Date.now() + 3600_000 }), claudeEntryFleet: record }), { mode: 0o600 });
    const r = await runBundle(['--', 'sh', '-c', 'sleep 1'], {
      env: baseEnv(tempDir(), { PATH: `${claude.binDir}:${process.env.PATH}`, CLAUDE_ENTRY_SOURCE: `file:${file}`, CLAUDE_ENTRY_FLEET_POLL: '1s' }),
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/fleet: this replica is the refresher now \(lease generation 5;/);
    expect(claude.calls()).toEqual([]);
    expectNoSecret(r.stdout + r.stderr, Object.values(FAKE));
  });
});

describe('fleet mode: a damaged fleet record', () => {
  // A marker naming the stored refresh token means it may be spent: whatever else in the record is
  // damaged (a hand edit, another tool), nobody may present that token again.
  it('an in-flight marker for the stored refresh token still stops every refresh when the rest of the record has wrong types', async () => {
    const claude = recordingClaude();
    const dir = tempDir('claude-entry-fleet-store-');
    const file = path.join(dir, 'login.json');
    const rt = createHash('sha256').update(FAKE.refreshToken).digest('hex').slice(0, 16);
    const record = { v: 1, generation: '7', holder: 'dead/1/abcdef', leaseUntil: 'soon', inflight: { holder: 'dead/1/abcdef', generation: 7, since: 1, rt } };
    // Due now: a member that took the record for absent would refresh at once.
    fs.writeFileSync(file, JSON.stringify({ ...credentialsJson({ expiresAt: Date.now() + 5 * 60_000 }), claudeEntryFleet: record }), { mode: 0o600 });
    const r = await runBundle(['--', 'sh', '-c', 'sleep 1'], {
      env: baseEnv(tempDir(), { PATH: `${claude.binDir}:${process.env.PATH}`, CLAUDE_ENTRY_SOURCE: `file:${file}`, CLAUDE_ENTRY_FLEET_POLL: '1s' }),
    });
    expect(r.code).toBe(0);
    expect(claude.calls()).toEqual([]);
    expect(r.stderr).not.toMatch(/fleet: refreshing the login/);
    expect(r.stderr).toMatch(/fleet: a refresh by dead\/1\/abcdef .* never reached/);
    expectNoSecret(r.stdout + r.stderr, Object.values(FAKE));
  });
});

describe('fleet mode: check and doctor on a member whose fleet has a problem', () => {
  it('a lost refresh: check stays healthy while the token lives, doctor exits 1 and names the problem once, no secret', async () => {
    const dir = tempDir('claude-entry-fleet-store-');
    const file = path.join(dir, 'login.json');
    const rt = createHash('sha256').update(FAKE.refreshToken).digest('hex').slice(0, 16);
    const record = { v: 1, generation: 3, holder: 'dead/1/abcdef', leaseUntil: 1, inflight: { holder: 'dead/1/abcdef', generation: 3, since: 1, rt } };
    fs.writeFileSync(file, JSON.stringify({ ...credentialsJson({ expiresAt: Date.now() + 3600_000 }), claudeEntryFleet: record }), { mode: 0o600 });
    const home = tempDir();
    const env = baseEnv(home, { CLAUDE_ENTRY_SOURCE: `file:${file}` });
    const start = await runBundle(['--', 'true'], { env });
    expect(start.code).toBe(0);
    const check = await runBundle(['check'], { env });
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/fleet: replica of file:.*, generation 3, .*problem: .*never reached/);
    const doctor = await runBundle(['doctor'], { env });
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(/^ {2}- fleet: a refresh by dead\/1\/abcdef \(generation 3\) .* never reached/m);
    expect(doctor.stdout).not.toMatch(/fleet: fleet:/);
    expectNoSecret(start.stdout + start.stderr + check.stdout + check.stderr + doctor.stdout + doctor.stderr, Object.values(FAKE));
  });
});

describe('fleet mode: a file store that a write would split', () => {
  // A write replaces the file by a rename: through a symbolic link or a second hard link, the
  // replicas naming the other path would keep the old login and a second lease (two refreshers).
  it.each(['symbolic', 'hard'] as const)('a store reached through a %s link: exit 78, one line naming it, nothing written', async (kind) => {
    const dir = tempDir('claude-entry-fleet-store-');
    const real = path.join(dir, 'real.json');
    const file = path.join(dir, 'login.json');
    const text = JSON.stringify(credentialsJson());
    fs.writeFileSync(real, text, { mode: 0o600 });
    if (kind === 'symbolic') fs.symlinkSync(real, file);
    else fs.linkSync(real, file);
    const home = tempDir();
    const r = await runBundle(['--', 'sh', '-c', 'echo SHOULD-NOT-RUN'], {
      env: baseEnv(home, { CLAUDE_ENTRY_SOURCE: `file:${file}`, CLAUDE_ENTRY_FLEET: 'on' }),
    });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(new RegExp(`^claude-entry: error: CLAUDE_ENTRY_FLEET=on: file:${file} is (a symbolic link|one of 2 hard links)`, 'm'));
    expect(r.stderr.split('\n').filter((l) => l.includes('error:'))).toHaveLength(1);
    expect(r.stdout).not.toContain('SHOULD-NOT-RUN');
    expect(fs.readdirSync(home)).toEqual([]);
    expect(fs.readFileSync(real, 'utf8')).toBe(text);
    expect(fs.lstatSync(file).isSymbolicLink()).toBe(kind === 'symbolic');
    expectNoSecret(r.stdout + r.stderr, Object.values(FAKE));
  });
});

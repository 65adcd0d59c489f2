/**
 * Fleet mode: many replicas share one login held in a writable store, and exactly one of them
 * refreshes it (CLAUDE_ENTRY_FLEET; see README "Fleet mode").
 *
 * Every replica's credentials file holds the pair with `refreshToken: null`, so its Claude Code
 * never calls the token endpoint (observed, CLAUDE-CODE-FACTS "Refresh and provisioning").
 * The replica holding the lease (lease.ts) refreshes ahead of time through Claude Code's own
 * mechanism, `claude auth login` with CLAUDE_CODE_OAUTH_REFRESH_TOKEN in a private temporary
 * CLAUDE_CONFIG_DIR, checks that a newer pair came back and publishes it with a
 * compare-and-swap. Every replica adopts each new pair from the store before its access token
 * expires, under the CLI's own lock, so running CLIs pick it up.
 *
 * Failure is reported, never made worse: a refresh whose result did not reach the store leaves
 * its in-flight marker there, and nobody presents that refresh token again; a replica that
 * cannot reach the store keeps its access token until it expires, then says why. Nothing here
 * runs `claude auth logout` or anything else that revokes a token.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeDeadline } from '../deadline.js';
import { messageOf } from '../errors.js';
import { ownedBySelf, writeFileAtomic } from '../home.js';
import type { Logger } from '../log.js';
import { formatDuration } from '../payload.js';
import { safeIsoTime } from '../sync/decide.js';
import { StoreConflictError, type SyncStore } from '../sync/store.js';
import {
  FLEET_KEY,
  LeaseLost,
  acquireLease,
  blockingInflight,
  casWrite,
  leaseState,
  readDoc,
  releaseLease,
  tokenHash,
  type FleetDoc,
  type FleetRecord,
} from './lease.js';

export interface FleetStatus {
  at: string;
  store: string;
  role: 'refresher' | 'replica';
  holder: string | null;
  generation: number;
  /** ms since the epoch; 0 when nobody holds the lease. */
  leaseUntil: number;
  /** The access token this replica holds (ms since the epoch). */
  expiresAt?: number;
  /** Why this replica cannot refresh (no claude binary), when it cannot. */
  canRefresh: boolean;
  /** What is wrong, when something is. */
  problem?: string;
}

export interface FleetOptions {
  store: SyncStore;
  credentialsPath: string;
  log: Logger;
  /** Deadline for one store call. */
  timeoutMs: number;
  /** This replica's name in the lease. */
  me: string;
  /** The claude binary for `claude auth login`; without it this replica never takes the lease. */
  claude?: string;
  /** The environment Claude Code runs with (the login's child gets it, minus credentials). */
  env: NodeJS.ProcessEnv;
  /** Refresh when less than this is left of the stored access token (default 10 min). */
  refreshBeforeMs?: number;
  /** How often a replica looks at the store (default 60 s; 5 s while a new pair is due). */
  pollMs?: number;
  fastPollMs?: number;
  /** How long past the refresh time the lease holder has before another replica takes over (default 2 min). */
  graceMs?: number;
  /** Bound on `claude auth login` (default 60 s). */
  loginTimeoutMs?: number;
  onStatus?: (status: FleetStatus) => void;
}

export interface Fleet {
  /** Stop; give the lease back when no refresh is in flight. Never throws. */
  stop(): Promise<void>;
  /** Resolves after the first look at the store (tests, and the start's first status). */
  ready: Promise<void>;
}

type ValidLogin = Extract<FleetDoc['login'], { state: 'valid' }>;

export function startFleet(options: FleetOptions): Fleet {
  const { store, credentialsPath, log, me } = options;
  const refreshBeforeMs = options.refreshBeforeMs ?? 10 * 60_000;
  const pollMs = options.pollMs ?? 60_000;
  const fastPollMs = options.fastPollMs ?? 5000;
  const graceMs = options.graceMs ?? 2 * 60_000;
  const loginTimeoutMs = options.loginTimeoutMs ?? 60_000;
  const canRefresh = options.claude !== undefined;

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let lastDoc: FleetDoc | undefined;
  let unreachable: { since: number; error: string } | undefined;
  let problem: string | undefined;
  /** Problems already said, so that a poll does not repeat them. */
  const said = new Set<string>();
  const warnOnce = (key: string, message: string) => {
    problem = message;
    if (said.has(key)) return;
    said.add(key);
    log.warn(message);
  };

  const deadline = <T>(work: Promise<T>, what: string): Promise<T> =>
    beforeDeadline(
      Date.now() + options.timeoutMs + 250,
      () => work,
      () => new Error(`${what}: no answer within ${formatDuration(options.timeoutMs)}`),
    );

  function readLocal(): { accessToken?: string; expiresAt?: number } | undefined {
    try {
      const fd = fs.openSync(credentialsPath, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        const o = (JSON.parse(fs.readFileSync(fd, 'utf8')) as { claudeAiOauth?: { accessToken?: string; expiresAt?: number } }).claudeAiOauth;
        return o && { accessToken: o.accessToken, expiresAt: o.expiresAt };
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return undefined;
    }
  }

  function status(doc: FleetDoc | undefined): void {
    const record = doc?.record;
    const local = readLocal();
    options.onStatus?.({
      at: new Date().toISOString(),
      store: store.describe,
      role: record?.holder === me ? 'refresher' : 'replica',
      holder: record?.holder ?? null,
      generation: record?.generation ?? 0,
      leaseUntil: record?.leaseUntil ?? 0,
      expiresAt: local?.expiresAt,
      canRefresh,
      problem,
    });
  }

  /**
   * Put the store's pair into the local file, without its refresh token, when it is newer.
   * Under Claude Code's lock directory, which it honours (a `-p` inside its window waits for it).
   */
  function adopt(doc: FleetDoc, why: string): 'adopted' | 'same' | 'busy' {
    if (doc.login.state !== 'valid' || !doc.object) return 'same';
    return adoptPair(doc.object, doc.login.accessToken, doc.login.expiresAt ?? 0, doc.record?.generation ?? 0, why);
  }

  function adoptPair(object: Record<string, unknown>, accessToken: string, expiresAt: number, generation: number, why: string): 'adopted' | 'same' | 'busy' {
    const local = readLocal();
    if (local?.accessToken === accessToken) return 'same';
    if (local?.accessToken && local.expiresAt !== undefined && local.expiresAt >= expiresAt) return 'same';
    const text = `${JSON.stringify(replicaFile(object), null, 2)}\n`;
    const lock = path.join(path.dirname(credentialsPath), '.oauth_refresh.lock');
    try {
      fs.mkdirSync(lock);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const stat = fs.statSync(lock, { throwIfNoEntry: false });
      if (!stat || Date.now() - stat.mtimeMs < CLI_LOCK_STALE_MS) return 'busy';
      log.debug(`fleet: ${lock} is ${formatDuration(Date.now() - stat.mtimeMs)} old; taking it over`);
    }
    try {
      writeFileAtomic(credentialsPath, text, ownedBySelf(log));
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
    log.info(`fleet: adopted the pair of generation ${generation} from ${store.describe} (${why}; access token valid until ${safeIsoTime(expiresAt)})`);
    return 'adopted';
  }

  /** Once the local access token has expired with no newer pair to adopt: say why, once. */
  function checkExpiry(doc: FleetDoc | undefined): void {
    const local = readLocal();
    if (local?.expiresAt === undefined || local.expiresAt > Date.now()) return;
    const at = safeIsoTime(local.expiresAt);
    let why: string;
    const inflight = doc && blockingInflight(doc);
    if (unreachable) why = `${store.describe} has been unreachable since ${safeIsoTime(unreachable.since)} (${unreachable.error})`;
    else if (inflight?.failed) why = `the refresh by ${inflight.holder} failed at ${safeIsoTime(inflight.failed.at)} (${inflight.failed.message})`;
    else if (inflight && doc && !lostInflight(doc)) why = `the refresh ${inflight.holder} began at ${safeIsoTime(inflight.since)} has not finished yet`;
    else if (inflight) why = `the refresh ${inflight.holder} began at ${safeIsoTime(inflight.since)} never reached ${store.describe}`;
    else if (doc?.record?.holder && doc.record.holder !== me) why = `the refresher ${doc.record.holder} has not published a newer pair`;
    else why = `${store.describe} holds no newer pair`;
    warnOnce(
      `expired ${local.expiresAt}`,
      `fleet: the access token expired at ${at} and no newer pair could be adopted: ${why}; Claude Code will be refused until one is`,
    );
  }

  /**
   * A marker whose refresh failed, or whose holder's bound for it (its lease, set to the login's
   * timeout and a grace period when it marked) has passed: its result will never come.
   */
  function lostInflight(doc: FleetDoc): boolean {
    const inflight = blockingInflight(doc);
    return inflight !== undefined && (inflight.failed !== undefined || Date.now() >= (doc.record?.leaseUntil ?? 0));
  }

  function reportInflight(inflight: NonNullable<FleetRecord['inflight']>): void {
    const what = inflight.failed
      ? `the refresh by ${inflight.holder} (generation ${inflight.generation}) failed at ${safeIsoTime(inflight.failed.at)}: ${inflight.failed.message}`
      : `a refresh by ${inflight.holder} (generation ${inflight.generation}) began at ${safeIsoTime(inflight.since)} and its result never reached ${store.describe}`;
    warnOnce(
      `inflight ${inflight.since}`,
      `fleet: ${what}; the refresh token it used may be spent, so no replica will present it again (that could revoke the whole login). ` +
        `The replicas keep their access token until it expires. Log in again and store the new login (claude-entry export --to ...) to resume.`,
    );
  }

  async function tick(): Promise<void> {
    let doc: FleetDoc;
    try {
      doc = await deadline(readDoc(store), `reading ${store.describe}`);
    } catch (error) {
      const message = messageOf(error);
      if (!unreachable) {
        unreachable = { since: Date.now(), error: message };
        log.warn(`fleet: cannot read ${store.describe} (${message}); keeping the access token held now until it expires`);
      } else unreachable.error = message;
      problem = `${store.describe} unreachable since ${safeIsoTime(unreachable.since)}: ${message}`;
      checkExpiry(lastDoc);
      status(lastDoc);
      return schedule(fastPollMs * 2);
    }
    if (unreachable) {
      log.info(`fleet: ${store.describe} is reachable again (unreachable since ${safeIsoTime(unreachable.since)})`);
      unreachable = undefined;
    }
    problem = undefined;
    lastDoc = doc;
    if (doc.login.state === 'valid') {
      log.addSecret(doc.login.accessToken);
      log.addSecret(doc.login.refreshToken);
    }
    let busy = false;
    try {
      busy = adopt(doc, 'a newer pair in the store') === 'busy';
    } catch (error) {
      log.warn(`fleet: cannot write ${credentialsPath}: ${messageOf(error)}`);
    }

    const inflight = blockingInflight(doc);
    if (inflight && lostInflight(doc)) reportInflight(inflight);
    else if (inflight) log.debug(`fleet: ${inflight.holder} is refreshing (since ${safeIsoTime(inflight.since)})`);
    if (doc.login.state !== 'valid') {
      warnOnce(`login ${doc.login.state}`, `fleet: ${store.describe} holds no usable login (${doc.login.state}); nothing to refresh`);
    } else if (!doc.login.refreshToken) {
      warnOnce(
        'no refresh token',
        `fleet: ${store.describe} holds a login without a refresh token, which never rotates; nothing to refresh (store a whole login: claude-entry export --to ...)`,
      );
    } else if (canRefresh && !inflight) {
      const login = doc.login;
      const now = Date.now();
      const dueAt = (login.expiresAt ?? 0) - refreshBeforeMs;
      const lease = leaseState(doc.record, me, now);
      if (lease !== 'held' && now >= dueAt) doc = await refresh(doc, login);
      else if (lease === 'free') {
        try {
          doc = await deadline(acquireLease(store, doc, me, dueAt + graceMs), `writing ${store.describe}`);
          log.info(`fleet: this replica is the refresher now (lease generation ${doc.record!.generation}; it refreshes at ${safeIsoTime(dueAt)})`);
        } catch (error) {
          if (error instanceof StoreConflictError || error instanceof LeaseLost) log.debug(`fleet: another replica took the lease first (${messageOf(error)})`);
          else log.warn(`fleet: cannot take the lease in ${store.describe}: ${messageOf(error)}`);
          doc = lastDoc;
        }
      }
      lastDoc = doc;
    }
    checkExpiry(doc);
    status(doc);
    schedule(nextWait(doc, busy));
  }

  function nextWait(doc: FleetDoc, busy: boolean): number {
    if (busy) return Math.min(fastPollMs, 1000);
    if (doc.login.state !== 'valid' || doc.login.expiresAt === undefined) return pollMs;
    const now = Date.now();
    const dueAt = doc.login.expiresAt - refreshBeforeMs;
    if (blockingInflight(doc)) return lostInflight(doc) ? pollMs : fastPollMs;
    if (now >= dueAt) return fastPollMs; // a new pair is due: look often
    let wait = Math.min(pollMs, dueAt - now + 50);
    const record = doc.record;
    if (canRefresh && record?.holder && record.holder !== me) wait = Math.min(wait, Math.max(record.leaseUntil - now + 50, 50));
    return Math.max(wait, 50);
  }

  function schedule(ms: number): void {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      running = running.then(tick).catch((error) => {
        log.warn(`fleet: ${messageOf(error)}`);
        schedule(pollMs);
      });
    }, ms);
  }

  /**
   * The refresh, under the lease: mark it in flight, run `claude auth login` once, publish.
   * Returns the document now stored (as far as this replica knows).
   */
  async function refresh(doc: FleetDoc, login: ValidLogin): Promise<FleetDoc> {
    const record = doc.record;
    const generation = (record?.generation ?? 0) + (leaseState(record, me) === 'mine' ? 0 : 1);
    const inflight = { holder: me, generation, since: Date.now(), rt: tokenHash(login.refreshToken) };
    let marked: FleetDoc;
    try {
      marked = await deadline(
        casWrite(store, doc, doc.object!, {
          v: 1,
          generation,
          holder: me,
          leaseUntil: Date.now() + loginTimeoutMs + graceMs,
          inflight,
          lastRefresh: record?.lastRefresh,
        }),
        `writing ${store.describe}`,
      );
    } catch (error) {
      if (error instanceof StoreConflictError || error instanceof LeaseLost)
        log.debug(`fleet: the store changed before the refresh could be marked (${messageOf(error)})`);
      else log.warn(`fleet: cannot mark the refresh in ${store.describe} (${messageOf(error)}); not refreshing`);
      return doc;
    }
    // From here on the stored refresh token counts as spent, whatever happens.
    log.info(`fleet: refreshing the login (generation ${generation}; the access token expires at ${safeIsoTime(login.expiresAt ?? 0)})`);
    const oauth = doc.object!.claudeAiOauth as Record<string, unknown>;
    const result = await runLogin(login, Array.isArray(oauth.scopes) ? (oauth.scopes as string[]) : []);
    if ('error' in result) {
      problem = `the refresh failed: ${result.error}`;
      try {
        marked = await deadline(
          casWrite(store, marked, marked.object!, { ...marked.record!, inflight: { ...inflight, failed: { at: Date.now(), message: result.error } } }),
          `writing ${store.describe}`,
        );
      } catch (error) {
        log.debug(`fleet: cannot note the failure in ${store.describe}: ${messageOf(error)}`);
      }
      reportInflight({ ...inflight, failed: { at: Date.now(), message: result.error } });
      return marked;
    }
    log.addSecret(result.oauth.accessToken as string);
    log.addSecret(result.oauth.refreshToken as string);
    const object = { ...marked.object!, claudeAiOauth: { ...oauth, ...result.oauth } };
    const expiresAt = result.oauth.expiresAt as number;
    const next: FleetRecord = {
      v: 1,
      generation,
      holder: me,
      leaseUntil: expiresAt - refreshBeforeMs + graceMs,
      inflight: null,
      lastRefresh: { at: Date.now(), by: me, generation },
    };
    // Publish: a compare-and-swap on the version holding our marker, so it can be repeated
    // while the store is unreachable, for as long as the new pair lives.
    for (let wait = 1000; ; wait = Math.min(wait * 2, 30_000)) {
      try {
        const published = await deadline(casWrite(store, marked, object, next), `writing ${store.describe}`);
        log.info(`fleet: published the refreshed login to ${store.describe} (generation ${generation}; access token valid until ${safeIsoTime(expiresAt)})`);
        adopt(published, 'refreshed here');
        return published;
      } catch (error) {
        if (error instanceof StoreConflictError || error instanceof LeaseLost) {
          const message = `fleet: the login was refreshed but could not be published: ${store.describe} was changed by someone else while the refresh was in flight (${messageOf(error)}); the new pair is used by this replica only`;
          problem = message;
          log.error(message);
          adoptPair(object, result.oauth.accessToken as string, expiresAt, generation, 'refreshed here, not published');
          return readDoc(store).catch(() => marked);
        }
        if (stopped || Date.now() + wait >= expiresAt) {
          const message = `fleet: the login was refreshed but could not be published to ${store.describe} (${messageOf(error)}); the in-flight marker stays, so nobody reuses the spent token`;
          problem = message;
          log.error(message);
          return marked;
        }
        log.warn(`fleet: cannot publish the refreshed login to ${store.describe} (${messageOf(error)}); trying again in ${formatDuration(wait)}`);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** `claude auth login` with the refresh token, in a private CLAUDE_CONFIG_DIR; the pair it wrote. */
  async function runLogin(login: ValidLogin, scopes: string[]): Promise<{ oauth: Record<string, unknown> } | { error: string }> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claude-entry-fleet-'));
    try {
      const env: NodeJS.ProcessEnv = { ...options.env, CLAUDE_CONFIG_DIR: dir, DISABLE_AUTOUPDATER: '1' };
      for (const name of CREDENTIAL_VARIABLES) delete env[name];
      env.CLAUDE_CODE_OAUTH_REFRESH_TOKEN = login.refreshToken;
      env.CLAUDE_CODE_OAUTH_SCOPES = scopes.join(' ');
      const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = spawn(options.claude!, ['auth', 'login'], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout.on('data', (c: Buffer) => (output += c.toString()));
        child.stderr.on('data', (c: Buffer) => (output += c.toString()));
        const killer = setTimeout(() => child.kill('SIGKILL'), loginTimeoutMs);
        child.on('error', (error) => {
          clearTimeout(killer);
          resolve({ code: null, output: messageOf(error) });
        });
        child.on('close', (code, signal) => {
          clearTimeout(killer);
          resolve({ code: signal ? null : code, output: output + (signal ? ` (killed by ${signal} after ${formatDuration(loginTimeoutMs)})` : '') });
        });
      });
      const said = log.redact(output.trim().split('\n').slice(-3).join(' ').slice(0, 300));
      if (code !== 0) return { error: `claude auth login exited ${code ?? 'abnormally'}: ${said}` };
      let oauth: Record<string, unknown> | undefined;
      try {
        oauth = (JSON.parse(fs.readFileSync(path.join(dir, '.credentials.json'), 'utf8')) as { claudeAiOauth?: Record<string, unknown> }).claudeAiOauth;
      } catch (error) {
        return { error: `claude auth login wrote no credentials (${messageOf(error)})` };
      }
      const ok =
        oauth &&
        typeof oauth.accessToken === 'string' &&
        oauth.accessToken !== '' &&
        oauth.accessToken !== login.accessToken &&
        typeof oauth.refreshToken === 'string' &&
        oauth.refreshToken !== '' &&
        typeof oauth.expiresAt === 'number' &&
        oauth.expiresAt > (login.expiresAt ?? 0);
      if (!ok) return { error: 'claude auth login did not write a newer pair' };
      return { oauth: oauth! };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  const ready = new Promise<void>((resolve) => {
    running = tick()
      .catch((error) => {
        log.warn(`fleet: ${messageOf(error)}`);
        schedule(pollMs);
      })
      .finally(resolve);
  });
  log.info(`fleet: sharing the login in ${store.describe} as ${me}${canRefresh ? '' : ' (no claude binary found: this replica never refreshes)'}`);

  return {
    ready,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running.catch(() => undefined);
      if (!lastDoc || lastDoc.record?.holder !== me) return;
      try {
        const doc = await deadline(readDoc(store), `reading ${store.describe}`);
        if (await deadline(releaseLease(store, doc, me).then(Boolean), `writing ${store.describe}`))
          log.info(`fleet: gave the lease in ${store.describe} back`);
      } catch (error) {
        log.debug(`fleet: cannot give the lease back (${messageOf(error)}); it lapses by itself`);
      }
    },
  };
}

/** How a fleet member names itself in the lease: host, pid and a random part. */
export function fleetMemberName(): string {
  return `${os.hostname()}/${process.pid}/${Math.random().toString(36).slice(2, 8)}`;
}

/** Strip the fleet record and the refresh token from a store's document: the local file of a replica. */
export function replicaFile(file: Record<string, unknown>): Record<string, unknown> {
  const { [FLEET_KEY]: _record, ...rest } = file;
  const oauth = rest.claudeAiOauth as Record<string, unknown>;
  return { ...rest, claudeAiOauth: { ...oauth, refreshToken: null } };
}

const CLI_LOCK_STALE_MS = 60_000;
const CREDENTIAL_VARIABLES = [
  'CLAUDE_CODE_OAUTH_TOKEN',
  'CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR',
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_AUTH_TOKEN',
  'CLAUDE_CODE_OAUTH_REFRESH_TOKEN',
  'CLAUDE_CODE_OAUTH_SCOPES',
];

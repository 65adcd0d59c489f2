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
import { readSecretFile } from '../secret-file.js';
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

/** Every delay a fleet member uses, in one place: the defaults are FLEET_TIMING; member.ts sets its own from the config. */
export interface FleetTiming {
  /** Refresh when less than this is left of the stored access token. */
  refreshBeforeMs: number;
  /** How often a replica looks at the store. */
  pollMs: number;
  /** How often it looks while a new pair is due. */
  fastPollMs: number;
  /** How long past the refresh time the lease holder has before another replica takes over. */
  graceMs: number;
  /** Bound on `claude auth login`. */
  loginTimeoutMs: number;
}

export const FLEET_TIMING: FleetTiming = {
  refreshBeforeMs: 10 * 60_000,
  pollMs: 60_000,
  fastPollMs: 5000,
  graceMs: 2 * 60_000,
  loginTimeoutMs: 60_000,
};

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
  /** Delays; FLEET_TIMING's for those not given. */
  timing?: Partial<FleetTiming>;
  onStatus?: (status: FleetStatus) => void;
}

export interface Fleet {
  /** Stop; give the lease back when no refresh is in flight. Never throws. */
  stop(): Promise<void>;
  /** Resolves after the first look at the store (tests, and the start's first status). */
  ready: Promise<void>;
}

type ValidLogin = Extract<FleetDoc['login'], { state: 'valid' }>;
type Inflight = NonNullable<FleetRecord['inflight']>;
type LocalPair = { accessToken?: string; expiresAt?: number };

export function startFleet(options: FleetOptions): Fleet {
  const member = new FleetMember(options);
  const ready = member.start();
  return { ready, stop: () => member.stop() };
}

/** One replica of a fleet: looks at the store every so often, adopts newer pairs, and refreshes while it holds the lease. */
class FleetMember {
  private readonly timing: FleetTiming;
  private readonly store: SyncStore;
  private readonly log: Logger;
  private readonly me: string;
  private readonly credentialsPath: string;
  private readonly canRefresh: boolean;

  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  /** The current look at the store; the next one runs after it. */
  private running: Promise<void> = Promise.resolve();
  /** The document as last read or written. */
  private lastDoc: FleetDoc | undefined;
  private unreachable: { since: number; error: string } | undefined;
  /** What is wrong now, for the status. */
  private problem: string | undefined;
  /** Problems already said, so that a poll does not repeat them. */
  private readonly said = new Set<string>();

  constructor(private readonly options: FleetOptions) {
    this.timing = { ...FLEET_TIMING, ...definedOnly(options.timing) };
    this.store = options.store;
    this.log = options.log;
    this.me = options.me;
    this.credentialsPath = options.credentialsPath;
    this.canRefresh = options.claude !== undefined;
  }

  /** The first look at the store; resolves when it is done. */
  start(): Promise<void> {
    const ready = new Promise<void>((resolve) => {
      this.running = this.tick()
        .catch((error) => this.onTickError(error))
        .finally(resolve);
    });
    const note = this.canRefresh ? '' : ' (no claude binary found: this replica never refreshes)';
    this.log.info(`fleet: sharing the login in ${this.store.describe} as ${this.me}${note}`);
    return ready;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running.catch(() => undefined);
    if (!this.lastDoc || this.lastDoc.record?.holder !== this.me) return;
    try {
      const doc = await this.deadline(readDoc(this.store), `reading ${this.store.describe}`);
      if (await this.deadline(releaseLease(this.store, doc, this.me).then(Boolean), `writing ${this.store.describe}`))
        this.log.info(`fleet: gave the lease in ${this.store.describe} back`);
    } catch (error) {
      this.log.debug(`fleet: cannot give the lease back (${messageOf(error)}); it lapses by itself`);
    }
  }

  // --- the loop -------------------------------------------------------------------------------

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.running.then(() => this.tick()).catch((error) => this.onTickError(error));
    }, ms);
  }

  private onTickError(error: unknown): void {
    this.log.warn(`fleet: ${messageOf(error)}`);
    this.schedule(this.timing.pollMs);
  }

  /** One look at the store: adopt, report, take the lease or refresh, then schedule the next. */
  private async tick(): Promise<void> {
    let doc: FleetDoc;
    try {
      doc = await this.deadline(readDoc(this.store), `reading ${this.store.describe}`);
    } catch (error) {
      this.onUnreachable(error);
      return;
    }
    this.onRead(doc);
    const busy = this.adoptFromStore(doc);
    const inflight = blockingInflight(doc);
    if (inflight && lostInflight(doc)) this.reportInflight(inflight);
    else if (inflight) this.log.debug(`fleet: ${inflight.holder} is refreshing (since ${safeIsoTime(inflight.since)})`);
    if (doc.login.state !== 'valid') {
      this.warnOnce(`login ${doc.login.state}`, `fleet: ${this.store.describe} holds no usable login (${doc.login.state}); nothing to refresh`);
    } else if (!doc.login.refreshToken) {
      this.warnOnce(
        'no refresh token',
        `fleet: ${this.store.describe} holds a login without a refresh token, which never rotates; nothing to refresh (store a whole login: claude-entry export --to ...)`,
      );
    } else if (this.canRefresh && !inflight) {
      doc = await this.leadOrRefresh(doc, doc.login);
      this.lastDoc = doc;
    }
    this.checkExpiry(doc);
    this.status(doc);
    this.schedule(nextWait(doc, busy, this.timing, this.canRefresh, this.me));
  }

  private onUnreachable(error: unknown): void {
    const message = messageOf(error);
    if (!this.unreachable) {
      this.unreachable = { since: Date.now(), error: message };
      this.log.warn(`fleet: cannot read ${this.store.describe} (${message}); keeping the access token held now until it expires`);
    } else this.unreachable.error = message;
    this.problem = `${this.store.describe} unreachable since ${safeIsoTime(this.unreachable.since)}: ${message}`;
    this.checkExpiry(this.lastDoc);
    this.status(this.lastDoc);
    this.schedule(this.timing.fastPollMs * 2);
  }

  /** A document was read: the store is reachable, its tokens are secrets. */
  private onRead(doc: FleetDoc): void {
    if (this.unreachable) {
      this.log.info(`fleet: ${this.store.describe} is reachable again (unreachable since ${safeIsoTime(this.unreachable.since)})`);
      this.unreachable = undefined;
    }
    this.problem = undefined;
    this.lastDoc = doc;
    if (doc.login.state === 'valid') {
      this.log.addSecret(doc.login.accessToken);
      this.log.addSecret(doc.login.refreshToken);
    }
  }

  /** Adopt the store's pair when newer; true when Claude Code's lock was held (look again soon). */
  private adoptFromStore(doc: FleetDoc): boolean {
    try {
      return this.adopt(doc, 'a newer pair in the store') === 'busy';
    } catch (error) {
      this.log.warn(`fleet: cannot write ${this.credentialsPath}: ${messageOf(error)}`);
      return false;
    }
  }

  /** With a refreshable login and nothing in flight: refresh when due, else take a free lease. The document now stored. */
  private async leadOrRefresh(doc: FleetDoc, login: ValidLogin): Promise<FleetDoc> {
    const now = Date.now();
    const dueAt = (login.expiresAt ?? 0) - this.timing.refreshBeforeMs;
    const lease = leaseState(doc.record, this.me, now);
    if (lease !== 'held' && now >= dueAt) return this.refresh(doc, login);
    if (lease === 'free') return this.takeLease(doc, dueAt);
    return doc;
  }

  private async takeLease(doc: FleetDoc, dueAt: number): Promise<FleetDoc> {
    try {
      const taken = await this.deadline(acquireLease(this.store, doc, this.me, dueAt + this.timing.graceMs), `writing ${this.store.describe}`);
      this.log.info(`fleet: this replica is the refresher now (lease generation ${taken.record!.generation}; it refreshes at ${safeIsoTime(dueAt)})`);
      return taken;
    } catch (error) {
      if (error instanceof StoreConflictError || error instanceof LeaseLost)
        this.log.debug(`fleet: another replica took the lease first (${messageOf(error)})`);
      else this.log.warn(`fleet: cannot take the lease in ${this.store.describe}: ${messageOf(error)}`);
      return doc;
    }
  }

  // --- the refresh ----------------------------------------------------------------------------

  /**
   * The refresh, under the lease: mark it in flight, run `claude auth login` once, publish.
   * Returns the document now stored (as far as this replica knows).
   */
  private async refresh(doc: FleetDoc, login: ValidLogin): Promise<FleetDoc> {
    const record = doc.record;
    const generation = (record?.generation ?? 0) + (leaseState(record, this.me) === 'mine' ? 0 : 1);
    const inflight: Inflight = { holder: this.me, generation, since: Date.now(), rt: tokenHash(login.refreshToken) };
    const marked = await this.markInflight(doc, generation, inflight);
    if (!marked) return doc;
    // From here on the stored refresh token counts as spent, whatever happens.
    this.log.info(`fleet: refreshing the login (generation ${generation}; the access token expires at ${safeIsoTime(login.expiresAt ?? 0)})`);
    const oauth = doc.object!.claudeAiOauth as Record<string, unknown>;
    const scopes = Array.isArray(oauth.scopes) ? (oauth.scopes as string[]) : [];
    const result = await runLogin(this.options.claude!, this.options.env, login, scopes, this.timing.loginTimeoutMs, this.log);
    if ('error' in result) return this.noteFailure(marked, inflight, result.error);
    this.log.addSecret(result.oauth.accessToken as string);
    this.log.addSecret(result.oauth.refreshToken as string);
    const object = { ...marked.object!, claudeAiOauth: { ...oauth, ...result.oauth } };
    return this.publish(marked, object, generation, result.oauth);
  }

  /** Write the in-flight marker with a lease bounding the login; undefined when the store said no. */
  private async markInflight(doc: FleetDoc, generation: number, inflight: Inflight): Promise<FleetDoc | undefined> {
    try {
      return await this.deadline(
        casWrite(this.store, doc, doc.object!, {
          v: 1,
          generation,
          holder: this.me,
          leaseUntil: Date.now() + this.timing.loginTimeoutMs + this.timing.graceMs,
          inflight,
          lastRefresh: doc.record?.lastRefresh,
        }),
        `writing ${this.store.describe}`,
      );
    } catch (error) {
      if (error instanceof StoreConflictError || error instanceof LeaseLost)
        this.log.debug(`fleet: the store changed before the refresh could be marked (${messageOf(error)})`);
      else this.log.warn(`fleet: cannot mark the refresh in ${this.store.describe} (${messageOf(error)}); not refreshing`);
      return undefined;
    }
  }

  /** The login failed: note it on the marker, which stays, and say so. */
  private async noteFailure(marked: FleetDoc, inflight: Inflight, error: string): Promise<FleetDoc> {
    this.problem = `the refresh failed: ${error}`;
    try {
      marked = await this.deadline(
        casWrite(this.store, marked, marked.object!, { ...marked.record!, inflight: { ...inflight, failed: { at: Date.now(), message: error } } }),
        `writing ${this.store.describe}`,
      );
    } catch (failure) {
      this.log.debug(`fleet: cannot note the failure in ${this.store.describe}: ${messageOf(failure)}`);
    }
    this.reportInflight({ ...inflight, failed: { at: Date.now(), message: error } });
    return marked;
  }

  /**
   * Publish: a compare-and-swap on the version holding our marker, so it can be repeated
   * while the store is unreachable, for as long as the new pair lives.
   */
  private async publish(marked: FleetDoc, object: Record<string, unknown>, generation: number, pair: Record<string, unknown>): Promise<FleetDoc> {
    const where = this.store.describe;
    const expiresAt = pair.expiresAt as number;
    const next: FleetRecord = {
      v: 1,
      generation,
      holder: this.me,
      leaseUntil: expiresAt - this.timing.refreshBeforeMs + this.timing.graceMs,
      inflight: null,
      lastRefresh: { at: Date.now(), by: this.me, generation },
    };
    for (let wait = 1000; ; wait = Math.min(wait * 2, 30_000)) {
      try {
        const published = await this.deadline(casWrite(this.store, marked, object, next), `writing ${where}`);
        this.log.info(`fleet: published the refreshed login to ${where} (generation ${generation}; access token valid until ${safeIsoTime(expiresAt)})`);
        this.adopt(published, 'refreshed here');
        return published;
      } catch (error) {
        if (error instanceof StoreConflictError || error instanceof LeaseLost) {
          this.fail(
            `fleet: the login was refreshed but could not be published: ${where} was changed by someone else while the refresh was in flight (${messageOf(error)}); the new pair is used by this replica only`,
          );
          this.adoptPair(object, pair.accessToken as string, expiresAt, generation, 'refreshed here, not published');
          return readDoc(this.store).catch(() => marked);
        }
        if (this.stopped || Date.now() + wait >= expiresAt) {
          this.fail(
            `fleet: the login was refreshed but could not be published to ${where} (${messageOf(error)}); the in-flight marker stays, so nobody reuses the spent token`,
          );
          return marked;
        }
        this.log.warn(`fleet: cannot publish the refreshed login to ${where} (${messageOf(error)}); trying again in ${formatDuration(wait)}`);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  // --- the local file -------------------------------------------------------------------------

  /**
   * Put the store's pair into the local file, without its refresh token, when it is newer.
   * Under Claude Code's lock directory, which it honours (a `-p` inside its window waits for it).
   */
  private adopt(doc: FleetDoc, why: string): 'adopted' | 'same' | 'busy' {
    if (doc.login.state !== 'valid' || !doc.object) return 'same';
    return this.adoptPair(doc.object, doc.login.accessToken, doc.login.expiresAt ?? 0, doc.record?.generation ?? 0, why);
  }

  private adoptPair(object: Record<string, unknown>, accessToken: string, expiresAt: number, generation: number, why: string): 'adopted' | 'same' | 'busy' {
    const local = readLocal(this.credentialsPath);
    if (local?.accessToken === accessToken) return 'same';
    if (local?.accessToken && local.expiresAt !== undefined && local.expiresAt >= expiresAt) return 'same';
    const text = `${JSON.stringify(replicaFile(object), null, 2)}\n`;
    const lock = path.join(path.dirname(this.credentialsPath), '.oauth_refresh.lock');
    try {
      fs.mkdirSync(lock);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const stat = fs.statSync(lock, { throwIfNoEntry: false });
      if (!stat || Date.now() - stat.mtimeMs < CLI_LOCK_STALE_MS) return 'busy';
      this.log.debug(`fleet: ${lock} is ${formatDuration(Date.now() - stat.mtimeMs)} old; taking it over`);
    }
    try {
      writeFileAtomic(this.credentialsPath, text, ownedBySelf(this.log));
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
    this.log.info(
      `fleet: adopted the pair of generation ${generation} from ${this.store.describe} (${why}; access token valid until ${safeIsoTime(expiresAt)})`,
    );
    return 'adopted';
  }

  // --- what is said ---------------------------------------------------------------------------

  private warnOnce(key: string, message: string): void {
    this.problem = message;
    if (this.said.has(key)) return;
    this.said.add(key);
    this.log.warn(message);
  }

  /** An error that stays the problem until the next good look at the store. */
  private fail(message: string): void {
    this.problem = message;
    this.log.error(message);
  }

  private status(doc: FleetDoc | undefined): void {
    const record = doc?.record;
    const local = readLocal(this.credentialsPath);
    this.options.onStatus?.({
      at: new Date().toISOString(),
      store: this.store.describe,
      role: record?.holder === this.me ? 'refresher' : 'replica',
      holder: record?.holder ?? null,
      generation: record?.generation ?? 0,
      leaseUntil: record?.leaseUntil ?? 0,
      expiresAt: local?.expiresAt,
      canRefresh: this.canRefresh,
      problem: this.problem,
    });
  }

  /** Once the local access token has expired with no newer pair to adopt: say why, once. */
  private checkExpiry(doc: FleetDoc | undefined): void {
    const local = readLocal(this.credentialsPath);
    if (local?.expiresAt === undefined || local.expiresAt > Date.now()) return;
    this.warnOnce(
      `expired ${local.expiresAt}`,
      `fleet: the access token expired at ${safeIsoTime(local.expiresAt)} and no newer pair could be adopted: ${this.whyExpired(doc)}; Claude Code will be refused until one is`,
    );
  }

  private whyExpired(doc: FleetDoc | undefined): string {
    const where = this.store.describe;
    const inflight = doc && blockingInflight(doc);
    if (this.unreachable) return `${where} has been unreachable since ${safeIsoTime(this.unreachable.since)} (${this.unreachable.error})`;
    if (inflight?.failed) return `the refresh by ${inflight.holder} failed at ${safeIsoTime(inflight.failed.at)} (${inflight.failed.message})`;
    if (inflight && doc && !lostInflight(doc)) return `the refresh ${inflight.holder} began at ${safeIsoTime(inflight.since)} has not finished yet`;
    if (inflight) return `the refresh ${inflight.holder} began at ${safeIsoTime(inflight.since)} never reached ${where}`;
    if (doc?.record?.holder && doc.record.holder !== this.me) return `the refresher ${doc.record.holder} has not published a newer pair`;
    return `${where} holds no newer pair`;
  }

  private reportInflight(inflight: Inflight): void {
    const what = inflight.failed
      ? `the refresh by ${inflight.holder} (generation ${inflight.generation}) failed at ${safeIsoTime(inflight.failed.at)}: ${inflight.failed.message}`
      : `a refresh by ${inflight.holder} (generation ${inflight.generation}) began at ${safeIsoTime(inflight.since)} and its result never reached ${this.store.describe}`;
    this.warnOnce(
      `inflight ${inflight.since}`,
      `fleet: ${what}; the refresh token it used may be spent, so no replica will present it again (that could revoke the whole login). ` +
        `The replicas keep their access token until it expires. Log in again and store the new login (claude-entry export --to ...) to resume.`,
    );
  }

  private deadline<T>(work: Promise<T>, what: string): Promise<T> {
    return beforeDeadline(
      Date.now() + this.options.timeoutMs + 250,
      () => work,
      () => new Error(`${what}: no answer within ${formatDuration(this.options.timeoutMs)}`),
    );
  }
}

// --- without state ------------------------------------------------------------------------------

/** How long until the next look at the store. */
function nextWait(doc: FleetDoc, busy: boolean, timing: FleetTiming, canRefresh: boolean, me: string): number {
  const { pollMs, fastPollMs, refreshBeforeMs } = timing;
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

/**
 * A marker whose refresh failed, or whose holder's bound for it (its lease, set to the login's
 * timeout and a grace period when it marked) has passed: its result will never come.
 */
function lostInflight(doc: FleetDoc): boolean {
  const inflight = blockingInflight(doc);
  return inflight !== undefined && (inflight.failed !== undefined || Date.now() >= (doc.record?.leaseUntil ?? 0));
}

/** The access token and its expiry in the local credentials file; undefined when it cannot be read. */
function readLocal(credentialsPath: string): LocalPair | undefined {
  try {
    // Never blocking on a FIFO the command put there (see the syncer's readLocal).
    const o = (JSON.parse(readSecretFile(credentialsPath, credentialsPath, { noFollow: true }).toString('utf8')) as { claudeAiOauth?: LocalPair })
      .claudeAiOauth;
    return o && { accessToken: o.accessToken, expiresAt: o.expiresAt };
  } catch {
    return undefined;
  }
}

/** The given delays without the undefined ones, so that those keep their default. */
function definedOnly(timing: Partial<FleetTiming> | undefined): Partial<FleetTiming> {
  return Object.fromEntries(Object.entries(timing ?? {}).filter(([, value]) => value !== undefined));
}

/** `claude auth login` with the refresh token, in a private CLAUDE_CONFIG_DIR; the pair it wrote. */
async function runLogin(
  claude: string,
  baseEnv: NodeJS.ProcessEnv,
  login: ValidLogin,
  scopes: string[],
  timeoutMs: number,
  log: Logger,
): Promise<{ oauth: Record<string, unknown> } | { error: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claude-entry-fleet-'));
  try {
    const env: NodeJS.ProcessEnv = { ...baseEnv, CLAUDE_CONFIG_DIR: dir, DISABLE_AUTOUPDATER: '1' };
    for (const name of CREDENTIAL_VARIABLES) delete env[name];
    env.CLAUDE_CODE_OAUTH_REFRESH_TOKEN = login.refreshToken;
    env.CLAUDE_CODE_OAUTH_SCOPES = scopes.join(' ');
    const { code, output } = await runCaptured(claude, ['auth', 'login'], env, dir, timeoutMs);
    const said = log.redact(output.trim().split('\n').slice(-3).join(' ').slice(0, 300));
    if (code !== 0) return { error: `claude auth login exited ${code ?? 'abnormally'}: ${said}` };
    let oauth: Record<string, unknown> | undefined;
    try {
      const written = path.join(dir, '.credentials.json');
      oauth = (JSON.parse(readSecretFile(written, written, { noFollow: true }).toString('utf8')) as { claudeAiOauth?: Record<string, unknown> }).claudeAiOauth;
    } catch (error) {
      return { error: `claude auth login wrote no credentials (${messageOf(error)})` };
    }
    if (!isNewerPair(oauth, login)) return { error: 'claude auth login did not write a newer pair' };
    return { oauth: oauth! };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Run a command to its end (killed after timeoutMs); its exit code (null when it did not exit) and its output. */
function runCaptured(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(killer);
      resolve({ code: null, output: messageOf(error) });
    });
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code: signal ? null : code, output: output + (signal ? ` (killed by ${signal} after ${formatDuration(timeoutMs)})` : '') });
    });
  });
}

/** A whole pair, other than and outliving the login's. */
function isNewerPair(oauth: Record<string, unknown> | undefined, login: ValidLogin): boolean {
  return Boolean(
    oauth &&
      typeof oauth.accessToken === 'string' &&
      oauth.accessToken !== '' &&
      oauth.accessToken !== login.accessToken &&
      typeof oauth.refreshToken === 'string' &&
      oauth.refreshToken !== '' &&
      typeof oauth.expiresAt === 'number' &&
      oauth.expiresAt > (login.expiresAt ?? 0),
  );
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

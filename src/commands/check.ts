/**
 * `claude-entry check`: a health check for HEALTHCHECK, Kubernetes probes and cron.
 * One line, no secret; exit 0 healthy, 1 not.
 */
import { inspectSurface } from '../claude-surface.js';
import type { Config } from '../cli.js';
import { implausibleExpiry } from '../expiry.js';
import { createLogger } from '../log.js';
import { delivered, deliveryOf, formatDuration, secretsOf, type CredentialKind } from '../payload.js';
import { inspectTarget, type TargetFacts } from './inspect.js';
import { checkOnline, type OnlineResult } from './online.js';

export interface CheckOptions {
  minValidMs: number;
  json: boolean;
  online: boolean;
  /** --online-accept-unknown: an answer other than 2xx, 401 or 403 counts as healthy. */
  onlineAcceptUnknown?: boolean;
}

export interface CheckReport {
  status: 'healthy' | 'unhealthy';
  reasons: string[];
  kind?: CredentialKind;
  source?: string;
  where?: string;
  subscriptionType?: string;
  expiresAt?: number;
  expiresInMs?: number;
  refreshToken?: boolean;
  files?: { path: string; mode: string; uid: number; ok: boolean };
  online?: OnlineResult;
  lastSync?: { at: string; direction: string; result: string; detail: string };
  /** Fleet mode: this replica's role and the lease as its supervisor last saw them. */
  fleet?: {
    role?: string;
    holder?: string | null;
    generation?: number;
    leaseUntil?: number;
    leaseLeftMs?: number;
    store: string;
    problem?: string;
    at?: string;
  };
  /** What Claude Code will authenticate with (a name, never a value); null: nothing. */
  claudeWillUse?: string | null;
  shadowings?: string[];
}

/** `config` is the one a start takes (flags and their CLAUDE_ENTRY_* twins): the same user, the same deadline. */
export async function runCheck(options: CheckOptions, config: Config, env: NodeJS.ProcessEnv, now = Date.now()): Promise<{ code: number; output: string }> {
  const facts = inspectTarget(env, config.user, now);
  const report = await buildReport(facts, options, config.timeoutMs, env, now);
  // No line of check's quotes a credential; this makes sure of it for those it read.
  const redactor = createLogger({ level: 'silent' });
  if (facts.found?.credential) for (const secret of secretsOf(facts.found.credential)) redactor.addSecret(secret);
  // What Claude Code will really use (never a value): in JSON always; in text, lines after the
  // status line only when something displaces the login or conflicts, so a good line stays one.
  const surface = inspectSurface({
    env: withDeliveredVariable(env, facts),
    paths: facts.paths,
    cwd: process.cwd(),
    user: facts.user,
    kind: facts.found?.kind,
    command: [],
    allowRootBypass: config.allowRootBypass,
    trust: config.trust,
  });
  report.claudeWillUse = surface.picture.winner?.label ?? null;
  report.shadowings = surface.picture.shadowings;
  const output = redactor.redact(
    options.json ? JSON.stringify(report) : [formatLine(report), ...(surface.problems.length > 0 ? surface.lines : [])].join('\n'),
  );
  return { code: report.status === 'healthy' ? 0 : 1, output };
}

async function buildReport(facts: TargetFacts, options: CheckOptions, timeoutMs: number, env: NodeJS.ProcessEnv, now: number): Promise<CheckReport> {
  const reasons: string[] = [];
  const found = facts.found;
  if (!found) {
    return {
      status: 'unhealthy',
      reasons: [`no credential: no ${facts.paths.credentialsPath}, and neither CLAUDE_CODE_OAUTH_TOKEN nor ANTHROPIC_API_KEY is set`],
    };
  }
  const report: CheckReport = { status: 'healthy', reasons, kind: found.kind, source: found.source, where: found.where, lastSync: facts.state?.lastSync };
  const fleet = facts.state?.fleet;
  if (fleet) {
    report.fleet = {
      store: fleet.store,
      role: fleet.role,
      holder: fleet.holder,
      generation: fleet.generation,
      leaseUntil: fleet.leaseUntil,
      leaseLeftMs: fleet.leaseUntil ? fleet.leaseUntil - now : undefined,
      problem: fleet.problem,
      at: fleet.at,
    };
  }
  if (found.invalid) reasons.push(found.invalid);

  const credential = found.credential;
  const oauth = credential && delivered(credential).oauth;
  if (oauth) {
    report.subscriptionType = typeof oauth.subscriptionType === 'string' ? oauth.subscriptionType : undefined;
    report.refreshToken = typeof oauth.refreshToken === 'string' && oauth.refreshToken !== '';
    const implausible = implausibleExpiry(oauth.expiresAt, now);
    if (typeof oauth.expiresAt === 'number' && implausible) {
      // Ordering by expiry is meaningless for it, and Claude Code would never refresh it in time.
      reasons.push(`the login is not plausible (${implausible}); restart from a real login`);
    } else if (typeof oauth.expiresAt === 'number') {
      report.expiresAt = oauth.expiresAt;
      report.expiresInMs = oauth.expiresAt - now;
      // With a refresh token Claude Code renews the access token itself: its expiry is routine.
      // In a fleet the refresher renews it and this replica adopts the new pair: only an expired one is a problem.
      if (fleet && report.expiresInMs <= 0) {
        reasons.push(`the access token has expired and the fleet has not brought a newer one${fleet.problem ? ` (${fleet.problem})` : ''}`);
      } else if (!fleet && !report.refreshToken && report.expiresInMs < options.minValidMs) {
        reasons.push(
          `the access token is valid for ${formatDuration(report.expiresInMs)}, less than ${formatDuration(options.minValidMs)}, and cannot be refreshed`,
        );
      }
    }
  }
  if (facts.file) {
    report.files = { path: facts.file.path, mode: facts.file.mode.toString(8).padStart(4, '0'), uid: facts.file.uid, ok: facts.file.problems.length === 0 };
    reasons.push(...facts.file.problems);
  }
  if (options.online) {
    if (credential) {
      report.online = await checkOnline(credential, env, timeoutMs);
      const online = report.online;
      if (online.state === 'rejected')
        reasons.push(`the Anthropic API rejected the credential (HTTP ${online.status}${online.error ? ` ${online.error}` : ''})`);
      if (online.state === 'unexpected' && !options.onlineAcceptUnknown) {
        reasons.push(
          `the Anthropic API answered HTTP ${online.status}${online.error ? ` ${online.error}` : ''}, which neither accepts nor rejects the credential (--online-accept-unknown counts it as healthy)`,
        );
      }
      if (online.state === 'unreachable') reasons.push(`the Anthropic API could not be reached (${online.error})`);
    } else if (!found.invalid) {
      reasons.push(`--online: the credential is in the command's environment, not visible to check`);
    }
  }
  report.status = reasons.length === 0 ? 'healthy' : 'unhealthy';
  return report;
}

function formatLine(r: CheckReport): string {
  const parts: string[] = [];
  if (r.kind) {
    parts.push(
      `${deliveryOf(r.kind).brief}${r.subscriptionType ? ` (${r.subscriptionType})` : ''} in ${r.where}${r.source && r.source !== r.where ? `, from ${r.source}` : ''}`,
    );
  }
  if (r.expiresInMs !== undefined) {
    parts.push(r.expiresInMs > 0 ? `expires in ${formatDuration(r.expiresInMs)}` : `expired ${formatDuration(r.expiresInMs)} ago`);
  } else if (r.kind && !deliveryOf(r.kind).rotates) parts.push('expiry not known');
  if (r.refreshToken !== undefined) parts.push(`refresh token: ${r.refreshToken ? 'yes' : 'no'}`);
  if (r.files) parts.push(`file ${r.files.mode} uid ${r.files.uid}: ${r.files.ok ? 'ok' : 'wrong'}`);
  if (r.fleet) {
    const f = r.fleet;
    const lease = f.holder
      ? `lease held by ${f.holder}${f.leaseLeftMs !== undefined ? ` for ${f.leaseLeftMs > 0 ? formatDuration(f.leaseLeftMs) : 'no longer (lapsed)'}` : ''}`
      : 'lease free';
    parts.push(`fleet: ${f.role ?? 'member'} of ${f.store}, generation ${f.generation ?? 0}, ${lease}${f.problem ? `, problem: ${f.problem}` : ''}`);
  }
  if (r.lastSync) parts.push(`last sync: ${r.lastSync.direction} ${r.lastSync.result} at ${r.lastSync.at}`);
  if (r.online) parts.push(`online: ${r.online.state}${'status' in r.online ? ` (HTTP ${r.online.status})` : ''}`);
  const head = r.status === 'healthy' ? 'healthy' : `unhealthy: ${r.reasons.join('; ')}`;
  return parts.length ? `${head} | ${parts.join('; ')}` : head;
}

/**
 * A start hands an OAuth token or API key to the command's environment, which check (run with
 * `docker exec`) does not see: count it as there, as the start's state says (a placeholder,
 * never printed).
 */
function withDeliveredVariable(env: NodeJS.ProcessEnv, facts: TargetFacts): NodeJS.ProcessEnv {
  const name = facts.found && deliveryOf(facts.found.kind).variable;
  return name && !env[name] ? { ...env, [name]: 'delivered by the start' } : env;
}

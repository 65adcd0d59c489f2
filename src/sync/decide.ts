/**
 * The sync decision table: given the login on local disk and the one in the source, which
 * way (if any) to copy. Pure, so it is tested as a table.
 *
 * Pairs are ordered by `expiresAt`: Claude Code's refresh always yields a later expiry, so
 * the later pair is the newer one and holds the live refresh token. That order is only as
 * good as the `expiresAt` values: one far in the future (a bug, another replica's clock, a
 * planted pair) would win over every real refresh for as long as it claims. So a pair whose
 * `expiresAt` is outside the plausible range is never copied and never preferred.
 */
import type { Login } from '../login.js';

export { EXPIRY_FLOOR_MS, EXPIRY_MAX_AHEAD_MS, implausibleExpiry, plausibleExpiry, safeIsoTime } from '../expiry.js';
export { classifyLogin, type Login } from '../login.js';

/** `warn`: the skip is a problem someone should see (an implausible pair), not routine. */
export type Decision = { action: 'copy' } | { action: 'skip'; reason: string; warn?: boolean };

function samePair(a: Extract<Login, { state: 'valid' }>, b: Extract<Login, { state: 'valid' }>): boolean {
  return a.accessToken === b.accessToken && a.refreshToken === b.refreshToken;
}

/**
 * Copy `from` over `to`? Used both ways: push is decide(local, source), pull is
 * decide(source, local). Never copies a blank, invalid or older pair.
 */
export function decide(from: Login, to: Login): Decision {
  if (from.state === 'missing') return { action: 'skip', reason: 'nothing to copy' };
  if (from.state === 'blank') return { action: 'skip', reason: 'it was blanked by a failed refresh' };
  if (from.state === 'invalid') return { action: 'skip', reason: `it is not a valid login (${from.reason})` };
  if (from.state === 'implausible') return { action: 'skip', reason: `the pair is not plausible: ${from.reason}`, warn: true };
  if (to.state !== 'valid') return { action: 'copy' };
  if (samePair(from, to)) return { action: 'skip', reason: 'both hold the same pair' };
  if (from.expiresAt === undefined || to.expiresAt === undefined) {
    return { action: 'skip', reason: 'the pairs differ but one has no expiresAt to order them by' };
  }
  if (from.expiresAt <= to.expiresAt) return { action: 'skip', reason: 'the other side holds a pair as new or newer' };
  return { action: 'copy' };
}

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
import { BlankedLoginError } from '../errors.js';
import { implausibleExpiry } from '../expiry.js';
import { delivered, parsePayload } from '../payload.js';

export { EXPIRY_FLOOR_MS, EXPIRY_MAX_AHEAD_MS, implausibleExpiry, plausibleExpiry, safeIsoTime } from '../expiry.js';

export type Login =
  | { state: 'valid'; accessToken: string; refreshToken?: string; expiresAt?: number; text: string }
  | { state: 'blank' }
  | { state: 'missing' }
  | { state: 'invalid'; reason: string }
  /** A well-formed pair whose expiresAt is outside the plausible range: never copied or preferred. */
  | { state: 'implausible'; reason: string; accessToken: string; refreshToken?: string };

/** Classify a payload (as text) the way a sync sees it. Expired-with-refresh is still valid. */
export function classifyLogin(text: string | undefined, source: string, now = Date.now()): Login {
  if (text === undefined) return { state: 'missing' };
  try {
    const credential = parsePayload(text, source, now);
    const { oauth, payload } = delivered(credential);
    if (!oauth) return { state: 'invalid', reason: `${source} holds a ${credential.kind}, which does not rotate` };
    const { accessToken, refreshToken, expiresAt } = oauth;
    // No expiresAt at all stays valid (it cannot win an ordering: decide skips it).
    const implausible = expiresAt === undefined ? undefined : implausibleExpiry(expiresAt, now);
    if (implausible) return { state: 'implausible', reason: implausible, accessToken, refreshToken };
    return { state: 'valid', accessToken, refreshToken, expiresAt, text: payload };
  } catch (error) {
    if (error instanceof BlankedLoginError) return { state: 'blank' };
    return { state: 'invalid', reason: (error as Error).message };
  }
}

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

/**
 * A Claude Code login (a credentials JSON) as a sync and a start compare two of them: the one
 * on local disk and the source's. Pure. The start keeps a newer pair already in place
 * (src/install.ts); the sync decides which way to copy (src/sync/decide.ts).
 */
import { BlankedLoginError } from './errors.js';
import { implausibleExpiry } from './expiry.js';
import { delivered, parsePayload } from './payload.js';

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

/**
 * Is a pair's `expiresAt` one a real Claude Code login could have? Pure; used by the sync
 * (src/login.ts, src/sync/decide.ts), the start's choice between the pair in place and the source's
 * (src/install.ts) and the payload's warnings (src/payload.ts).
 */

/**
 * The plausible range of a real pair's `expiresAt` (milliseconds since the epoch), and why:
 *
 * - at most now + 366 days + 1 day. Claude Code's own refresh issues access tokens for about
 *   8 hours, but `claude auth login` from a refresh token asks for a year
 *   (`expires_in: 31536000`, observed, see CLAUDE-CODE-FACTS.md), so a real pair can claim up
 *   to a year; the extra day is for the clocks of other replicas and of the token server.
 *   Ten years ahead, or 1e300, is not a login: it is a bug or a planted pair.
 * - at least 2020-01-01. Claude Code's OAuth logins are younger; a smaller value is a unit
 *   mistake (seconds instead of milliseconds), 0 or negative. An old but real `expiresAt` (a
 *   container stopped for a month) is inside: its refresh token may still work.
 * - a finite number (parsePayload already refuses non-numbers, NaN and Infinity).
 */
export const EXPIRY_MAX_AHEAD_MS = 367 * 24 * 3600_000;
export const EXPIRY_FLOOR_MS = Date.UTC(2020, 0, 1);

/** Why `expiresAt` is outside the plausible range, or undefined when it is inside. */
export function implausibleExpiry(expiresAt: unknown, now = Date.now()): string | undefined {
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) return 'its expiresAt is not a finite number';
  if (expiresAt > now + EXPIRY_MAX_AHEAD_MS) {
    const ahead = expiresAt - now;
    return `its expiresAt is ${ahead < 1e15 ? `${Math.round(ahead / 86_400_000)} days` : 'absurdly far'} ahead, more than a real login can claim (a year and a day)`;
  }
  if (expiresAt < EXPIRY_FLOOR_MS) return 'its expiresAt is before 2020 (seconds instead of milliseconds?)';
  return undefined;
}

/** Is `expiresAt` inside the plausible range? (see implausibleExpiry) */
export function plausibleExpiry(expiresAt: unknown, now = Date.now()): boolean {
  return implausibleExpiry(expiresAt, now) === undefined;
}

/** A timestamp for a log line that never throws (new Date(1e300).toISOString() does). */
export function safeIsoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} (not a valid time)` : date.toISOString();
}

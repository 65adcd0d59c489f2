/**
 * The one retry helper: attempts a call until it succeeds or the caller's policy gives up.
 * Bundled into the GCP SDK module as well as the main bundle (it is small, and has no class
 * whose identity matters).
 */

/**
 * Calls `attempt(n)` (n from 1) until it succeeds. After a failure, `pauseAfter(error, n)`
 * answers how long to wait before the next attempt, or throws (that error, or a better one)
 * to give up.
 */
export async function retry<T>(attempt: (n: number) => Promise<T>, pauseAfter: (error: unknown, n: number) => number): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      await sleep(pauseAfter(error, n));
    }
  }
}

/** Exponential backoff: the delay after failed attempt n (n from 1), capped at `maxMs`. */
export function backoff(
  n: number,
  { initialMs, multiplier = 2, maxMs = Number.POSITIVE_INFINITY }: { initialMs: number; multiplier?: number; maxMs?: number },
): number {
  return Math.min(initialMs * multiplier ** (n - 1), maxMs);
}

/** Not unref'd: a call being retried keeps the process alive until it ends. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

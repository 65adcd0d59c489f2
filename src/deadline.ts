/**
 * The one deadline helper. A deadline is an absolute time (Date.now() based), so that every
 * call of an operation shares one budget however many calls it makes.
 *
 * Small and free of classes on purpose: the SDK modules are separate bundles (build/build.mjs)
 * and each carries its own copy; nothing here needs the identity that `instanceof` relies on.
 */

export interface Deadline {
  /** Aborted when the deadline passes: given to calls that can be cancelled. */
  signal: AbortSignal;
  /** `work`, or the deadline's error once the deadline passes, whichever comes first. */
  race<T>(work: Promise<T>): Promise<T>;
  /** Stops the timer: call it when the work is over. */
  clear(): void;
}

/** A timer for `at`: aborts `signal` and rejects every race with `expired()` when it fires. */
export function startDeadline(at: number, expired: () => Error): Deadline {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const passed = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        abort.abort();
        reject(expired());
      },
      Math.max(0, at - Date.now()),
    );
  });
  passed.catch(() => undefined); // raced by each call; unobserved when no call is pending
  return {
    signal: abort.signal,
    race: (work) => Promise.race([work, passed]),
    clear: () => clearTimeout(timer),
  };
}

/** `work` bounded by the deadline `at`: it rejects with `expired()` once `at` has passed. */
export async function beforeDeadline<T>(at: number, work: (signal: AbortSignal) => Promise<T>, expired: () => Error): Promise<T> {
  const deadline = startDeadline(at, expired);
  try {
    return await deadline.race(work(deadline.signal));
  } finally {
    deadline.clear();
  }
}

/** A timeout as a message says it: `15s`, `2.5s`. */
export function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

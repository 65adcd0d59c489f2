/**
 * The one deadline helper (src/deadline.ts) and the one retry helper (src/retry.ts), which
 * the syncer, the cloud call and the three SDK modules share; under fake timers.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { beforeDeadline, formatSeconds, startDeadline } from '../../src/deadline.js';
import { backoff, retry } from '../../src/retry.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('deadline', () => {
  it('work that settles first wins, and its timer is cleared', async () => {
    await expect(
      beforeDeadline(
        Date.now() + 1000,
        async () => 'done',
        () => new Error('late'),
      ),
    ).resolves.toBe('done');
    await expect(
      beforeDeadline(
        Date.now() + 1000,
        async () => Promise.reject(new Error('own')),
        () => new Error('late'),
      ),
    ).rejects.toThrow('own');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('work that does not settle: the deadline error at the deadline, and the signal aborted', async () => {
    let signal: AbortSignal | undefined;
    const outcome = beforeDeadline(
      Date.now() + 1000,
      (s) => {
        signal = s;
        return new Promise(() => {});
      },
      () => new Error('no answer within 1s'),
    );
    outcome.catch(() => undefined);
    await vi.advanceTimersByTimeAsync(999);
    expect(signal!.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(outcome).rejects.toThrow('no answer within 1s');
    expect(signal!.aborted).toBe(true);
  });

  it('one deadline for several calls (a session): each raced against the same time; a deadline already past fires at once', async () => {
    const deadline = startDeadline(Date.now() + 500, () => new Error('session deadline'));
    await expect(deadline.race(Promise.resolve(1))).resolves.toBe(1);
    await vi.advanceTimersByTimeAsync(400);
    const second = deadline.race(new Promise(() => {}));
    second.catch(() => undefined);
    await vi.advanceTimersByTimeAsync(100);
    await expect(second).rejects.toThrow('session deadline');
    const past = beforeDeadline(
      Date.now() - 1,
      () => new Promise(() => {}),
      () => new Error('past'),
    );
    past.catch(() => undefined);
    await vi.advanceTimersByTimeAsync(0);
    await expect(past).rejects.toThrow('past');
  });

  it.each([
    [15_000, '15s'],
    [2500, '2.5s'],
    [50, '0.1s'],
  ])('formatSeconds(%i) = %s', (ms, text) => {
    expect(formatSeconds(ms)).toBe(text);
  });
});

describe('retry', () => {
  it('attempts until one succeeds, pausing as pauseAfter says between them', async () => {
    const at: number[] = [];
    const start = Date.now();
    const result = retry(
      async (n) => {
        at.push(Date.now() - start);
        if (n < 3) throw new Error(`attempt ${n}`);
        return n;
      },
      (_error, n) => n * 100,
    );
    await vi.advanceTimersByTimeAsync(1000);
    await expect(result).resolves.toBe(3);
    expect(at).toEqual([0, 100, 300]);
  });

  it('pauseAfter throwing ends it with that error: the last failure, or a better one', async () => {
    const attempts = vi.fn(async () => Promise.reject(new Error('refused')));
    await expect(
      retry(attempts, (error) => {
        throw error;
      }),
    ).rejects.toThrow('refused');
    expect(attempts).toHaveBeenCalledTimes(1);
    const gaveUp = retry(attempts, (_error, n) => {
      if (n >= 2) throw new Error('gave up after 2');
      return 10;
    });
    gaveUp.catch(() => undefined);
    await vi.advanceTimersByTimeAsync(10);
    await expect(gaveUp).rejects.toThrow('gave up after 2');
    expect(attempts).toHaveBeenCalledTimes(3);
  });

  it.each([
    [1, { initialMs: 1000 }, 1000],
    [3, { initialMs: 1000 }, 4000],
    [3, { initialMs: 250, maxMs: 4000 }, 1000],
    [7, { initialMs: 250, maxMs: 4000 }, 4000],
    [2, { initialMs: 100, multiplier: 3 }, 300],
  ])('backoff after attempt %i with %j: %i ms', (n, options, ms) => {
    expect(backoff(n, options)).toBe(ms);
  });
});

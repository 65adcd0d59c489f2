/**
 * The cloud store (src/sync/cloud-store.ts over src/cloud/call.ts) with the AWS SDK module
 * replaced by a fake: what it asks the module, `#key` kept apart from the other keys, and the
 * safety net for a module that never answers.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, SourceUnavailableError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { cloudStore } from '../../src/sync/cloud-store.js';
import { StoreConflictError } from '../../src/sync/store.js';

const sdk = vi.hoisted(() => ({ fetchSecret: vi.fn(), readSecret: vi.fn(), writeSecret: vi.fn() }));
vi.mock('../../src/cloud/aws-sdk.js', () => sdk);
afterEach(() => {
  vi.useRealTimers();
  for (const fn of Object.values(sdk)) fn.mockReset();
});

const ctx = (timeoutMs = 5000) => ({ env: {}, log: createLogger({ level: 'silent' }), timeoutMs });
const ref = { secretId: 'app' };

describe('cloudStore', () => {
  it('reads and writes the whole secret, with the version and a deadline CLAUDE_ENTRY_TIMEOUT ahead', async () => {
    sdk.readSecret.mockResolvedValue({ payload: 'login', version: 'v1' });
    const store = cloudStore({ provider: 'aws', ref, source: 'aws-sm:app' }, ctx(5000));
    expect(store.describe).toBe('aws-sm:app');
    const before = Date.now();
    expect(await store.read()).toEqual({ text: 'login', version: 'v1' });
    await store.write('new', 'v1');
    const [, readOptions] = sdk.readSecret.mock.calls[0]!;
    expect(readOptions.deadline).toBeGreaterThanOrEqual(before + 5000);
    expect(sdk.writeSecret).toHaveBeenCalledWith(ref, 'new', expect.objectContaining({ ifVersion: 'v1', deadline: expect.any(Number) }));
  });

  it('#key: reads that key; writes it back into the object, the other keys kept, conditionally only when asked', async () => {
    sdk.readSecret.mockResolvedValue({ payload: JSON.stringify({ TOKEN: 'old', OTHER: 'kept' }), version: 'v1' });
    const store = cloudStore({ provider: 'aws', ref, source: 'aws-sm:app#TOKEN', key: 'TOKEN' }, ctx());
    expect(await store.read()).toEqual({ text: 'old', version: 'v1' });
    await store.write('new');
    await store.write('newer', 'v1');
    expect(sdk.writeSecret.mock.calls.map(([, payload, options]) => [JSON.parse(payload), options.ifVersion])).toEqual([
      [{ TOKEN: 'new', OTHER: 'kept' }, undefined],
      [{ TOKEN: 'newer', OTHER: 'kept' }, 'v1'],
    ]);
    await expect(store.write('stale', 'v0')).rejects.toThrow(new StoreConflictError('aws-sm:app#TOKEN'));
    expect(sdk.writeSecret).toHaveBeenCalledTimes(2);
  });

  it('an SDK module without readSecret and writeSecret: ConfigError', async () => {
    const { readSecret, writeSecret } = sdk;
    Object.assign(sdk, { readSecret: undefined, writeSecret: undefined });
    try {
      await expect(cloudStore({ provider: 'aws', ref, source: 'aws-sm:app' }, ctx()).read()).rejects.toThrow(ConfigError);
    } finally {
      Object.assign(sdk, { readSecret, writeSecret });
    }
  });

  it('a module that never answers is cut off 250 ms after the deadline: SourceUnavailableError', async () => {
    sdk.readSecret.mockReturnValue(new Promise(() => {}));
    const store = cloudStore({ provider: 'aws', ref, source: 'aws-sm:slow' }, ctx(1000));
    await store.write('warm up the module').catch(() => undefined); // the SDK module is loaded before the clock is faked
    vi.useFakeTimers();
    const reading = store.read();
    reading.catch(() => undefined);
    await vi.advanceTimersByTimeAsync(1249);
    await expect(Promise.race([reading, Promise.resolve('pending')])).resolves.toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    await expect(reading).rejects.toThrow(new SourceUnavailableError('aws-sm:slow: no answer within 1s'));
  });
});

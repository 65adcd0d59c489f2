/**
 * The file stores (src/sync/stores.ts): versions, compare-and-swap, and one key of a JSON
 * object, on real files in a temp directory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StoreConflictError, type StoredLogin, type SyncStore } from '../../src/sync/store.js';
import { fileStore, jsonKeyStore, mergeJsonKey } from '../../src/sync/stores.js';
import { tempDir } from '../helpers.js';

function fileIn(content?: string): { dir: string; file: string } {
  const dir = tempDir();
  const file = path.join(dir, 'login.json');
  if (content !== undefined) fs.writeFileSync(file, content, { mode: 0o600 });
  return { dir, file };
}

describe('fileStore', () => {
  it('a missing file reads as nothing, without a version; a write creates it, newline-terminated', async () => {
    const { file } = fileIn();
    const store = fileStore(file);
    expect(store.describe).toBe(`file:${file}`);
    expect(await store.read()).toEqual({ text: undefined });
    await store.write('{"a":1}');
    expect(fs.readFileSync(file, 'utf8')).toBe('{"a":1}\n');
    expect((await store.read()).version).toEqual(expect.any(String));
  });

  it('a write with the version read replaces the file; the version changes', async () => {
    const { file } = fileIn('one\n');
    const store = fileStore(file);
    const first = await store.read();
    await store.write('two', first.version);
    const second = await store.read();
    expect(second.text).toBe('two\n');
    expect(second.version).not.toBe(first.version);
  });

  it('a write with a stale version: StoreConflictError, the file as the other writer left it, no temp file', async () => {
    const { dir, file } = fileIn('one\n');
    const store = fileStore(file);
    const { version } = await store.read();
    fs.writeFileSync(file, 'someone else wrote this\n');
    await expect(store.write('mine', version)).rejects.toBeInstanceOf(StoreConflictError);
    expect(fs.readFileSync(file, 'utf8')).toBe('someone else wrote this\n');
    expect(fs.readdirSync(dir)).toEqual(['login.json']);
  });
});

describe('jsonKeyStore', () => {
  /** A store in memory whose version counts its writes. */
  function memoryStore(text: string | undefined): SyncStore & { text: string | undefined; writes: (string | undefined)[] } {
    let version = 0;
    const store = {
      describe: 'memory',
      text,
      writes: [] as (string | undefined)[],
      async read(): Promise<StoredLogin> {
        return { text: store.text, version: String(version) };
      },
      async write(next: string, ifVersion?: string) {
        store.writes.push(ifVersion);
        if (ifVersion !== undefined && ifVersion !== String(version)) throw new StoreConflictError('memory');
        store.text = next;
        version++;
      },
    };
    return store;
  }

  it('reads one key; a missing key or an object that is not JSON reads as nothing, with the version', async () => {
    expect(await jsonKeyStore(memoryStore('{"login":"x","other":"y"}'), 'login', 'm#login').read()).toEqual({ text: 'x', version: '0' });
    expect(await jsonKeyStore(memoryStore('{"other":"y"}'), 'login', 'm#login').read()).toEqual({ text: undefined, version: '0' });
    expect(await jsonKeyStore(memoryStore('not json'), 'login', 'm#login').read()).toEqual({ text: undefined, version: '0' });
  });

  it('writes the key back and keeps the other keys; conditional only when asked', async () => {
    const whole = memoryStore('{"login":"old","other":"kept"}');
    const store = jsonKeyStore(whole, 'login', 'm#login');
    await store.write('new');
    await store.write('newer', (await store.read()).version);
    expect(JSON.parse(whole.text!)).toEqual({ login: 'newer', other: 'kept' });
    expect(whole.writes).toEqual([undefined, '1']);
  });

  it('a stale version: StoreConflictError named by the key store, nothing written', async () => {
    const whole = memoryStore('{"login":"old"}');
    const store = jsonKeyStore(whole, 'login', 'm#login');
    await expect(store.write('new', '7')).rejects.toThrow(new StoreConflictError('m#login'));
    expect(whole.writes).toEqual([]);
  });

  it.each([
    [undefined, 'k', 'v', { k: 'v' }],
    ['not json', 'k', 'v', { k: 'v' }],
    ['{"k":{"a":1},"o":2}', 'k', '{"b":2}', { k: { b: 2 }, o: 2 }],
    ['{"k":"s"}', 'k', '{"b":2}', { k: '{"b":2}' }],
  ])('mergeJsonKey(%j, %j, %j)', (whole, key, text, expected) => {
    expect(JSON.parse(mergeJsonKey(whole, key, text))).toEqual(expected);
  });
});

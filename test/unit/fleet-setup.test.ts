/**
 * Whether a start joins a fleet (src/fleet/setup.ts), and the login a member installs: the
 * decision table of CLAUDE_ENTRY_FLEET (auto, on, off) against the source, and the file
 * without its refresh token.
 */
import { describe, expect, it } from 'vitest';
import { FLEET_KEY, memberCredential, prepareFleet } from '../../src/fleet/setup.js';
import { createLogger } from '../../src/log.js';
import { parsePayload } from '../../src/payload.js';
import type { Resolution } from '../../src/sources/chain.js';
import type { SyncStore } from '../../src/sync/store.js';
import { FAKE, credentialsJson } from '../helpers.js';

const log = createLogger({ level: 'silent' });
const store = (describe: string): SyncStore => ({ describe, read: async () => ({ text: undefined }), write: async () => undefined });
const RECORD = { v: 1, generation: 2, holder: null, leaseUntil: 0, inflight: null };

function resolution(payload: object | string, source: string, extra: { inPlace?: boolean; writable?: boolean } = {}): Resolution {
  const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return {
    credential: parsePayload(text, source),
    fetched: {
      payload: text,
      source,
      carriedBy: [],
      fromCredentialsFile: extra.inPlace,
      writable: extra.writable === false ? undefined : async () => store(source),
    },
  };
}

describe('prepareFleet', () => {
  const plain = credentialsJson();
  const marked = { ...credentialsJson(), [FLEET_KEY]: RECORD };
  it.each([
    ['auto, a store without a fleet record: not a member', 'auto', resolution(plain, 'file:/s/login.json'), undefined],
    ['auto, a store that is a fleet store: a member', 'auto', resolution(marked, 'file:/s/login.json'), 'file:/s/login.json'],
    ['on, a file: a member', 'on', resolution(plain, 'file:/s/login.json'), 'file:/s/login.json'],
    ['on, AWS: a member', 'on', resolution(plain, 'aws-sm:prod/claude'), 'aws-sm:prod/claude'],
    ['on, GCP (gcp-sm:): a member', 'on', resolution(plain, 'gcp-sm:p/s'), 'gcp-sm:p/s'],
    ['auto, a GCP fleet store (projects/P/secrets/S): a member', 'auto', resolution(marked, 'projects/p/secrets/s'), 'projects/p/secrets/s'],
    ['off, even a fleet store: not a member', 'off', resolution(marked, 'aws-sm:prod/claude'), undefined],
    ['on, a setup token: nothing to refresh, not a member', 'on', resolution(FAKE.oauthToken, 'file:/s/token'), undefined],
  ] as const)('%s', async (_what, fleet, res, expected) => {
    const got = await prepareFleet({ fleet, sync: 'off' }, res, log);
    expect(got?.describe).toBe(expected);
  });

  it.each([
    ['with CLAUDE_ENTRY_SYNC', { fleet: 'on', sync: 'both' }, resolution(plain, 'file:/s/login.json'), /cannot be used with a fleet/],
    ['from an environment variable', { fleet: 'on', sync: 'off' }, resolution(plain, 'CLAUDE_CREDENTIALS_JSON', { writable: false }), /environment variable/],
    [
      'from the file already in place',
      { fleet: 'on', sync: 'off' },
      resolution(plain, 'file:/h/.claude/.credentials.json', { inPlace: true }),
      /already in place/,
    ],
    ['on Azure, joined by auto', { fleet: 'auto', sync: 'off' }, resolution(marked, 'https://v.vault.azure.net/secrets/s'), /no compare-and-swap/],
  ] as const)('refused (exit 78) %s', async (_what, config, res, message) => {
    await expect(prepareFleet(config, res, log)).rejects.toThrow(message);
  });
});

describe('memberCredential', () => {
  it("a member's file has no refresh token and no fleet record; Claude Code's other fields stay", () => {
    const credential = parsePayload(JSON.stringify({ ...credentialsJson(), [FLEET_KEY]: RECORD }), 'x');
    const member = memberCredential(credential, true);
    if (member.kind !== 'credentials-json') throw new Error('kind');
    expect(member.file[FLEET_KEY]).toBeUndefined();
    expect(member.file.claudeAiOauth.refreshToken).toBeNull();
    expect(member.file.claudeAiOauth.accessToken).toBe(FAKE.accessToken);
    expect(member.file.claudeAiOauth.scopes).toEqual(['user:inference', 'user:profile']);
    // And it is still a login claude-entry itself accepts (check reads it back).
    expect(parsePayload(JSON.stringify(member.file), 'y').kind).toBe('credentials-json');
  });

  it('outside a fleet only the record goes; a plain login is untouched', () => {
    const plain = parsePayload(JSON.stringify(credentialsJson()), 'x');
    expect(memberCredential(plain, false)).toBe(plain);
    const marked = memberCredential(parsePayload(JSON.stringify({ ...credentialsJson(), [FLEET_KEY]: RECORD }), 'x'), false);
    if (marked.kind !== 'credentials-json') throw new Error('kind');
    expect(marked.file[FLEET_KEY]).toBeUndefined();
    expect(marked.file.claudeAiOauth.refreshToken).toBe(FAKE.refreshToken);
  });
});

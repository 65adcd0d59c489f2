import { describe, expect, it } from 'vitest';
import { classifyLogin, decide, plausibleExpiry, safeIsoTime, type Login } from '../../src/sync/decide.js';
import { FAKE, b64 } from '../helpers.js';

const NOW = 1_800_000_000_000;
const login = (access: string, refresh: string, expiresAt: number | undefined) =>
  JSON.stringify({ claudeAiOauth: { accessToken: access, refreshToken: refresh, expiresAt, scopes: ['user:inference'] } });
const A = login(`${FAKE.accessToken}A`, `${FAKE.refreshToken}A`, NOW + 1000);
const B = login(`${FAKE.accessToken}B`, `${FAKE.refreshToken}B`, NOW + 8 * 3600_000);
const BLANK = login('', '', 0);
const c = (text: string | undefined) => classifyLogin(text, 'X', NOW);

describe('classifyLogin', () => {
  it.each([
    [A, 'valid'],
    [b64(A), 'valid'],
    [login(FAKE.accessToken, FAKE.refreshToken, NOW - 3600_000), 'valid'], // expired but refreshable
    [BLANK, 'blank'],
    [b64(BLANK), 'blank'],
    [login('', `${FAKE.refreshToken}A`, 0), 'blank'],
    [login('', '', NOW + 1000), 'blank'],
    [login('', `${FAKE.refreshToken}A`, NOW + 1000), 'invalid'],
    [undefined, 'missing'],
    ['garbage garbage', 'invalid'],
    [FAKE.oauthToken, 'invalid'],
    [JSON.stringify({ claudeAiOauth: { accessToken: 'x', scopes: [] } }), 'invalid'],
  ])('%#: %s', (text, state) => {
    expect(c(text).state).toBe(state);
  });
});

describe('decide(from, to)', () => {
  const table: [string, Login, Login, 'copy' | 'skip', RegExp?][] = [
    ['newer over older', c(B), c(A), 'copy'],
    ['older over newer', c(A), c(B), 'skip', /as new or newer/],
    ['equal', c(A), c(A), 'skip', /same pair/],
    ['blank never copied', c(BLANK), c(A), 'skip', /blanked/],
    ['invalid never copied', c('garbage garbage'), c(A), 'skip', /not a valid login/],
    ['missing source', c(undefined), c(A), 'skip', /nothing to copy/],
    ['valid over blank', c(A), c(BLANK), 'copy'],
    ['valid over invalid', c(A), c('garbage garbage'), 'copy'],
    ['valid over missing', c(A), c(undefined), 'copy'],
    [
      'same expiry, different pair',
      c(login('sk-ant-oat01-TESTx', 'sk-ant-ort01-TESTx', NOW)),
      c(login('sk-ant-oat01-TESTy', 'sk-ant-ort01-TESTy', NOW)),
      'skip',
      /as new or newer/,
    ],
    ['no expiresAt to order by', c(login('sk-ant-oat01-TESTx', 'r1', undefined)), c(A), 'skip', /no expiresAt/],
  ];
  it.each(table)('%s', (_name, from, to, action, reason) => {
    const d = decide(from, to);
    expect(d.action).toBe(action);
    if (reason) expect(d.action === 'skip' && d.reason).toMatch(reason);
  });
});

describe('plausibleExpiry', () => {
  const DAY = 24 * 3600_000;
  it.each([
    [NOW + 8 * 3600_000, true],
    [NOW - 30 * DAY, true], // expired a month ago: the refresh token may still work
    [NOW + 365 * DAY, true], // claude auth login asks for a year
    [NOW + 367 * DAY - 1, true],
    [NOW + 367 * DAY + 1, false],
    [NOW + 3650 * DAY, false],
    [1e300, false],
    [Infinity, false],
    [NaN, false],
    [Math.floor(NOW / 1000), false], // seconds
    [0, false],
    [-1, false],
    ['1800000000000', false],
  ])('%s -> %s', (expiresAt, plausible) => {
    expect(plausibleExpiry(expiresAt, NOW)).toBe(plausible);
  });

  it('an implausible pair is never copied, and a valid one replaces it', () => {
    const poison = c(login(`${FAKE.accessToken}P`, `${FAKE.refreshToken}P`, 1e300));
    expect(poison.state).toBe('implausible');
    expect(decide(poison, c(A))).toMatchObject({
      action: 'skip',
      warn: true,
      reason: expect.stringMatching(/not plausible: its expiresAt is absurdly far ahead/),
    });
    expect(decide(poison, c(undefined))).toMatchObject({ action: 'skip' });
    expect(decide(c(A), poison)).toEqual({ action: 'copy' });
  });

  it('safeIsoTime never throws', () => {
    expect(safeIsoTime(1e300)).toMatch(/not a valid time/);
    expect(safeIsoTime(NOW)).toBe(new Date(NOW).toISOString());
  });
});

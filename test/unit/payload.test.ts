import { describe, expect, it } from 'vitest';
import { BlankedLoginError, ConfigError } from '../../src/errors.js';
import { DELIVERY_VARIABLES, delivered, deliveryOf, parsePayload, secretsOf, type Credential } from '../../src/payload.js';
import { FAKE, b64, credentialsJson } from '../helpers.js';

const NOW = 1_800_000_000_000;
const json = (o: unknown) => JSON.stringify(o);
const creds = (over: Record<string, unknown> = {}) =>
  json({ claudeAiOauth: { accessToken: FAKE.accessToken, refreshToken: FAKE.refreshToken, expiresAt: NOW + 3600_000, scopes: ['user:inference'], ...over } });

describe('parsePayload accepts', () => {
  it.each([
    ['credentials JSON', creds(), 'credentials-json'],
    ['credentials JSON with a trailing newline and spaces', `  ${creds()}\n\n`, 'credentials-json'],
    ['the accepted minimum', json({ claudeAiOauth: { accessToken: FAKE.accessToken, scopes: ['user:inference'] } }), 'credentials-json'],
    ['an OAuth token', FAKE.oauthToken, 'oauth-token'],
    ['an OAuth token with a newline', `${FAKE.oauthToken}\n`, 'oauth-token'],
    ['an API key', FAKE.apiKey, 'api-key'],
    ['base64 of credentials JSON', b64(creds()), 'credentials-json'],
    ['base64 wrapped at 76 columns', b64(creds()).replace(/(.{76})/g, '$1\n'), 'credentials-json'],
    ['url-safe base64', Buffer.from(creds()).toString('base64url'), 'credentials-json'],
    ['base64 of an OAuth token', b64(FAKE.oauthToken + '\n'), 'oauth-token'],
    ['base64 of an API key', b64(FAKE.apiKey), 'api-key'],
  ])('%s', (_name, text, kind) => {
    expect(parsePayload(text, 'SRC', NOW).kind).toBe(kind);
  });

  it('keeps unknown keys of the credentials file', () => {
    const text = json({ ...JSON.parse(creds()), mcpOAuth: { x: 1 } });
    const c = parsePayload(text, 'SRC', NOW);
    expect(c.kind === 'credentials-json' && c.file.mcpOAuth).toEqual({ x: 1 });
  });

  it('warns, not fails, on an expired token with a refresh token', () => {
    const c = parsePayload(creds({ expiresAt: NOW - 7200_000 }), 'SRC', NOW);
    expect(c.warnings).toEqual([expect.stringMatching(/^SRC: the access token expired 2h ago; Claude Code will refresh it/)]);
  });
});

describe('parsePayload rejects', () => {
  it.each([
    ['empty', '   \n', /the credential is empty/],
    ['garbage', 'hello world', /not a Claude credential/],
    ['invalid base64', 'abc$%^def', /not a Claude credential/],
    ['base64 of garbage', b64('not a credential at all'), /base64 that does not decode to a Claude credential/],
    ['base64 of binary', Buffer.from([0, 1, 2, 250, 251, 252, 3, 4, 5, 0, 1, 2, 250, 251, 252, 3, 4, 5]).toString('base64'), /base64 that does not decode/],
    ['invalid JSON', '{"claudeAiOauth":', /invalid JSON/],
    ['JSON that is not an object', '["a"]', /the JSON is not an object/],
    ['a JSON string', '"sk-ant-oat01-x"', /the JSON is not an object/],
    ['claudeAiOauth missing', json({ other: 1 }), /no "claudeAiOauth" object/],
    ['claudeAiOauth not an object', json({ claudeAiOauth: 'x' }), /no "claudeAiOauth" object/],
    ['accessToken missing', json({ claudeAiOauth: { scopes: ['user:inference'] } }), /accessToken" is missing or empty/],
    ['accessToken empty', creds({ accessToken: '' }), /accessToken" is missing or empty/],
    ['accessToken not a string', creds({ accessToken: 5 }), /accessToken" is missing or empty/],
    ['scopes missing', creds({ scopes: undefined }), /scopes" is missing/],
    ['scopes without user:inference', creds({ scopes: ['user:profile'] }), /lacks "user:inference"/],
    ['expiresAt null', creds({ expiresAt: null }), /expiresAt" is not a number/],
    ['blanked by a failed refresh', creds({ accessToken: '', refreshToken: '', expiresAt: 0 }), /blanked by a failed token refresh; log in again/],
    ['expired without a refresh token', creds({ expiresAt: NOW - 60_000, refreshToken: undefined }), /expired 60s ago and there is no refresh token/],
    ['a refresh token alone', FAKE.refreshToken, /this is a refresh token/],
    ['an unknown sk-ant- type', 'sk-ant-xyz99-TESTabc', /unrecognised sk-ant- token type/],
    ['a token with a space inside', `${FAKE.oauthToken} extra`, /cannot be in a token/],
    ['a bare prefix', 'sk-ant-oat01-', /only its prefix/],
    ['base64 of bad credentials JSON', b64(creds({ scopes: [] })), /\(base64-decoded\): "claudeAiOauth.scopes" lacks/],
  ])('%s', (_name, text, message) => {
    let error: unknown;
    try {
      parsePayload(text, 'SRC', NOW);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(78);
    expect((error as Error).message).toMatch(/^SRC/);
    expect((error as Error).message).toMatch(message);
    for (const s of [FAKE.accessToken, FAKE.refreshToken, FAKE.oauthToken]) expect((error as Error).message).not.toContain(s);
  });
});

it('credentialsJson helper is valid (sanity for other tests)', () => {
  expect(parsePayload(json(credentialsJson()), 'SRC').kind).toBe('credentials-json');
});

describe('what a credential becomes (delivered)', () => {
  const login = parsePayload(creds({ mcpOAuth: undefined }), 'SRC', NOW);
  const file = JSON.parse(creds()) as Record<string, unknown>;
  it.each<[string, Credential, Record<string, unknown>]>([
    [
      'a credentials JSON: the credentials file',
      login,
      {
        variable: undefined,
        label: 'Claude Code credentials JSON',
        brief: 'OAuth login',
        withArticle: 'a Claude Code credentials JSON',
        rotates: true,
        header: 'authorization',
        installs: 'credentials-file',
        payload: JSON.stringify(file),
        fileText: `${JSON.stringify(file, null, 2)}\n`,
        secret: FAKE.accessToken,
      },
    ],
    [
      'an OAuth token: CLAUDE_CODE_OAUTH_TOKEN',
      parsePayload(FAKE.oauthToken, 'SRC', NOW),
      {
        variable: 'CLAUDE_CODE_OAUTH_TOKEN',
        label: 'OAuth token',
        brief: 'OAuth token',
        withArticle: 'an OAuth token',
        rotates: false,
        header: 'authorization',
        installs: 'oauth-token',
        payload: FAKE.oauthToken,
        fileText: undefined,
        secret: FAKE.oauthToken,
        oauth: undefined,
      },
    ],
    [
      'an API key: ANTHROPIC_API_KEY',
      parsePayload(b64(FAKE.apiKey), 'SRC', NOW),
      {
        variable: 'ANTHROPIC_API_KEY',
        label: 'API key',
        brief: 'API key',
        withArticle: 'an API key',
        rotates: false,
        header: 'x-api-key',
        installs: 'api-key',
        payload: FAKE.apiKey,
        fileText: undefined,
        secret: FAKE.apiKey,
        oauth: undefined,
      },
    ],
  ])('%s', (_name, credential, expected) => {
    const d = delivered(credential);
    for (const [key, value] of Object.entries(expected)) expect(d[key as keyof typeof d], key).toEqual(value);
    // The facts of the kind alone (state file, check) are the same as those of the credential.
    const { payload: _p, fileText: _f, secret: _s, oauth: _o, file: _file, ...kindOnly } = d;
    expect(deliveryOf(credential.kind)).toEqual(kindOnly);
  });

  it('keeps unknown keys of the credentials JSON in what it delivers', () => {
    const d = delivered(parsePayload(json({ ...file, mcpOAuth: { x: 1 } }), 'SRC', NOW));
    expect(JSON.parse(d.payload).mcpOAuth).toEqual({ x: 1 });
    expect(JSON.parse(d.fileText!).mcpOAuth).toEqual({ x: 1 });
    expect(d.oauth?.refreshToken).toBe(FAKE.refreshToken);
    expect(d.file?.mcpOAuth).toEqual({ x: 1 });
  });

  it('the variables a start chooses among are those of the kinds', () => {
    expect([...DELIVERY_VARIABLES].sort()).toEqual(['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN']);
  });

  it.each([
    ['a login: access and refresh token', creds(), [FAKE.accessToken, FAKE.refreshToken]],
    ['a login without a refresh token', creds({ refreshToken: undefined }), [FAKE.accessToken]],
    ['an OAuth token', FAKE.oauthToken, [FAKE.oauthToken]],
    ['an API key', FAKE.apiKey, [FAKE.apiKey]],
  ])('secretsOf %s', (_name, text, secrets) => {
    expect(secretsOf(parsePayload(text, 'SRC', NOW))).toEqual(secrets);
  });
});

describe('a login blanked by a failed refresh is a typed result', () => {
  const blankError = (text: string) => {
    try {
      parsePayload(text, 'SRC', NOW);
    } catch (error) {
      return error;
    }
    return undefined;
  };
  it.each([
    ['access token empty, expiresAt 0', creds({ accessToken: '', refreshToken: '', expiresAt: 0 }), true],
    ['access token empty, expiresAt 0, refresh token kept', creds({ accessToken: '', expiresAt: 0 }), true],
    ['access and refresh token empty', creds({ accessToken: '', refreshToken: '' }), true],
    ['base64 of a blanked login', b64(creds({ accessToken: '', refreshToken: '', expiresAt: 0 })), true],
    ['access token empty only', creds({ accessToken: '' }), false],
    ['a refresh token empty only', creds({ refreshToken: '' }), undefined],
  ])('%s', (_name, text, blank) => {
    const error = blankError(text);
    if (blank === undefined) return expect(error).toBeUndefined();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error instanceof BlankedLoginError).toBe(blank);
    if (blank) expect((error as Error).message).toMatch(/blanked by a failed token refresh/);
  });
});

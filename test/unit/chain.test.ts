import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { childEnvironment } from '../../src/child-env.js';
import { createLogger } from '../../src/log.js';
import { conventionalLinks, linksFor, resolveChain, toCredential } from '../../src/sources/chain.js';
import type { SourceContext } from '../../src/sources/types.js';
import { FAKE, b64, credentialsJson, tempDir } from '../helpers.js';

function context(env: NodeJS.ProcessEnv, credentialsPath = '/claude-entry-no-such-dir/.credentials.json'): SourceContext {
  return { env, log: createLogger({ level: 'silent' }), timeoutMs: 1000, credentialsPath };
}

const creds = JSON.stringify(credentialsJson());

describe('conventional chain: first configured wins', () => {
  it.each([
    [{ CLAUDE_CREDENTIALS_B64: b64(creds), CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }, 'CLAUDE_CREDENTIALS_B64', 'credentials-json'],
    [{ CLAUDE_CREDENTIALS_JSON: creds, ANTHROPIC_API_KEY: FAKE.apiKey }, 'CLAUDE_CREDENTIALS_JSON', 'credentials-json'],
    [{ CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken, ANTHROPIC_API_KEY: FAKE.apiKey }, 'CLAUDE_CODE_OAUTH_TOKEN', 'oauth-token'],
    [{ ANTHROPIC_API_KEY: FAKE.apiKey }, 'ANTHROPIC_API_KEY', 'api-key'],
    [{ ANTHROPIC_API_KEY: 'sk-litellm-gateway-key-0000' }, 'ANTHROPIC_API_KEY', 'api-key'],
    [{ CLAUDE_CREDENTIALS_B64: '', CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }, 'CLAUDE_CODE_OAUTH_TOKEN', 'oauth-token'],
  ])('%o -> %s', async (env, source, kind) => {
    const ctx = context(env);
    const r = await resolveChain(conventionalLinks(ctx), ctx);
    expect(r?.fetched.source).toBe(source);
    expect(r?.credential.kind).toBe(kind);
  });

  it('a file variable wins over everything and reads the file', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'creds');
    fs.writeFileSync(file, creds);
    const ctx = context({ CLAUDE_CREDENTIALS_FILE: file, CLAUDE_CREDENTIALS_B64: b64(creds) });
    const r = await resolveChain(conventionalLinks(ctx), ctx);
    expect(r?.fetched.source).toBe(`CLAUDE_CREDENTIALS_FILE=${file}`);
  });

  it('a configured but broken link stops the chain instead of falling through', async () => {
    const ctx = context({ CLAUDE_CREDENTIALS_B64: b64('garbage garbage garbage'), CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken });
    await expect(resolveChain(conventionalLinks(ctx), ctx)).rejects.toThrow(/^CLAUDE_CREDENTIALS_B64: /);
    const missing = context({ CLAUDE_CREDENTIALS_FILE: '/claude-entry-no-such-dir/x', CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken });
    await expect(resolveChain(conventionalLinks(missing), missing)).rejects.toThrow(/does not exist/);
  });

  it('nothing configured resolves to undefined', async () => {
    const ctx = context({});
    expect(await resolveChain(conventionalLinks(ctx), ctx)).toBeUndefined();
  });

  it('the credentials file already in place is the last link', async () => {
    const dir = tempDir();
    const file = path.join(dir, '.credentials.json');
    fs.writeFileSync(file, creds);
    const ctx = context({}, file);
    const r = await resolveChain(conventionalLinks(ctx), ctx);
    expect(r?.fetched.fromCredentialsFile).toBe(true);
  });
});

describe('CLAUDE_ENTRY_SOURCE', () => {
  it('tries references in order; an unset env: reference is skipped', async () => {
    const ctx = context({ SECOND: FAKE.oauthToken, CLAUDE_CODE_OAUTH_TOKEN: FAKE.apiKey });
    const r = await resolveChain(linksFor('env:FIRST, env:SECOND', ctx), ctx);
    expect(r?.fetched.source).toBe('SECOND');
    expect(r?.fetched.carriedBy).toEqual(['SECOND']);
  });
  it.each([
    ['relative/path', /unrecognised reference/],
    ['file:relative', /needs an absolute path/],
    ['env:1BAD', /not a valid variable name/],
  ])('rejects %s', (ref, message) => {
    expect(() => linksFor(ref, context({}))).toThrow(message);
  });
});

describe('the native variables keep their kind', () => {
  it.each([
    ['CLAUDE_CODE_OAUTH_TOKEN', 'oauth-token', FAKE.apiKey, /holds an API key/],
    ['ANTHROPIC_API_KEY', 'api-key', FAKE.oauthToken, /holds an OAuth token/],
    ['ANTHROPIC_API_KEY', 'api-key', 'two words', /whitespace/],
    ['CLAUDE_CODE_OAUTH_TOKEN', 'oauth-token', creds, /holds JSON/],
  ] as const)('%s rejects the wrong kind', (source, kind, payload, message) => {
    expect(() => toCredential({ payload, source, carriedBy: [source], kind })).toThrow(message);
  });
});

describe('child environment', () => {
  const user = { uid: 1000, gid: 1000, groups: [1000], name: 'agent', home: '/home/agent', dropsFromRoot: true };
  it('removes carriers and the credentials Claude Code would prefer over the chosen one', () => {
    const base = { CLAUDE_CREDENTIALS_B64: 'x', ANTHROPIC_API_KEY: FAKE.apiKey, CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken, KEEP: '1', HOME: '/root' };
    const credential = toCredential({ payload: creds, source: 'CLAUDE_CREDENTIALS_B64', carriedBy: ['CLAUDE_CREDENTIALS_B64'] });
    const { env, removed } = childEnvironment(base, { credential, fetched: { payload: creds, source: 'S', carriedBy: ['CLAUDE_CREDENTIALS_B64'] } }, user, []);
    expect(removed).toEqual(['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN', 'CLAUDE_CREDENTIALS_B64']);
    expect(env).toMatchObject({ KEEP: '1', HOME: '/home/agent', USER: 'agent', LOGNAME: 'agent' });
    expect(Object.keys(env)).not.toContain('CLAUDE_CREDENTIALS_B64');
  });
  it('hands an OAuth token from any source to Claude Code as CLAUDE_CODE_OAUTH_TOKEN', () => {
    const fetched = { payload: b64(FAKE.oauthToken), source: 'MY_VAR', carriedBy: ['MY_VAR'] };
    const { env } = childEnvironment(
      { MY_VAR: 'x', ANTHROPIC_API_KEY: FAKE.apiKey },
      { credential: toCredential(fetched), fetched },
      { ...user, dropsFromRoot: false },
      ['MY_VAR'],
    );
    expect(env).toEqual({ CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken });
  });
});

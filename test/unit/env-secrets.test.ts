import { describe, expect, it } from 'vitest';
import { applyEnvSecrets, envSecretRequests } from '../../src/env-secrets';

describe('envSecretRequests', () => {
  it('reads CLAUDE_ENTRY_ENV_* only, sorted by name, references trimmed', () => {
    expect(envSecretRequests({ CLAUDE_ENTRY_ENV_Z: ' /run/secrets/z ', CLAUDE_ENTRY_ENV_A: 'env:X', CLAUDE_ENTRY_SOURCE: '/x', GH_TOKEN: 'aws-sm:y' })).toEqual(
      [
        { variable: 'CLAUDE_ENTRY_ENV_A', name: 'A', reference: 'env:X' },
        { variable: 'CLAUDE_ENTRY_ENV_Z', name: 'Z', reference: '/run/secrets/z' },
      ],
    );
  });

  it.each([
    [{ CLAUDE_ENTRY_ENV_: '/x' }, /"" is not a variable name/],
    [{ CLAUDE_ENTRY_ENV_1X: '/x' }, /"1X" is not a variable name/],
    [{ CLAUDE_ENTRY_ENV_CLAUDE_ENTRY_USER: '/x' }, /own settings/],
    [{ CLAUDE_ENTRY_ENV_X: '' }, /is empty/],
  ])('%j is refused', (env, message) => {
    expect(() => envSecretRequests(env)).toThrow(message);
  });
});

describe('applyEnvSecrets', () => {
  it('sets the values, removes the requests and the carriers; a filled value wins over one passed through', () => {
    const env: NodeJS.ProcessEnv = { CLAUDE_ENTRY_ENV_GH_TOKEN: 'env:RAW', RAW: 'v', GH_TOKEN: 'old', KEEP: 'k' };
    applyEnvSecrets(env, envSecretRequests(env), [{ name: 'GH_TOKEN', value: 'new', source: 'env:RAW', carriedBy: ['RAW'] }]);
    expect(env).toEqual({ GH_TOKEN: 'new', KEEP: 'k' });
  });
});

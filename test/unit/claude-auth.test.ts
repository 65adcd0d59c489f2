import { describe, expect, it } from 'vitest';
import { claudeAuth, effectiveEnvironment, isBare, optionValue, type AuthInputs, type SettingsLayer } from '../../src/claude-auth';
import { bypassRequest, rootBypass } from '../../src/root-bypass';

const user = (s: Omit<SettingsLayer, 'scope' | 'path'>): SettingsLayer => ({ scope: 'user', path: '/h/.claude/settings.json', ...s });
const project = (s: Omit<SettingsLayer, 'scope' | 'path'>): SettingsLayer => ({ scope: 'project', path: '/w/.claude/settings.json', ...s });
const local = (s: Omit<SettingsLayer, 'scope' | 'path'>): SettingsLayer => ({ scope: 'local', path: '/w/.claude/settings.local.json', ...s });
const managed = (s: Omit<SettingsLayer, 'scope' | 'path'>): SettingsLayer => ({ scope: 'managed', path: '/etc/claude-code/managed-settings.json', ...s });

function picture(partial: Partial<AuthInputs>) {
  return claudeAuth({ env: {}, settings: [], credentialsFile: false, installed: undefined, command: ['claude', '-p', 'hi'], ...partial });
}

describe('claudeAuth: which credential Claude Code will use', () => {
  it.each<[string, Partial<AuthInputs>, string | undefined, boolean, RegExp[]]>([
    ['the installed file alone', { credentialsFile: true, installed: 'credentials-file' }, 'credentials-file', false, []],
    ['nothing at all', {}, undefined, false, []],
    [
      'ANTHROPIC_AUTH_TOKEN over an installed OAuth token',
      { env: { ANTHROPIC_AUTH_TOKEN: 'gw', CLAUDE_CODE_OAUTH_TOKEN: 't' }, installed: 'oauth-token' },
      'auth-token',
      true,
      [/CLAUDE_CODE_OAUTH_TOKEN is not used: ANTHROPIC_AUTH_TOKEN outranks it/],
    ],
    [
      'ANTHROPIC_AUTH_TOKEN over the file',
      { env: { ANTHROPIC_AUTH_TOKEN: 'gw' }, credentialsFile: true, installed: 'credentials-file' },
      'auth-token',
      true,
      [/the credentials file is not used/],
    ],
    [
      'ANTHROPIC_AUTH_TOKEN and ANTHROPIC_API_KEY: both sent',
      { env: { ANTHROPIC_AUTH_TOKEN: 'gw', ANTHROPIC_API_KEY: 'k' }, installed: 'api-key' },
      'auth-token',
      true,
      [/ANTHROPIC_API_KEY is sent too \(x-api-key\)/],
    ],
    [
      'ANTHROPIC_API_KEY over the file',
      { env: { ANTHROPIC_API_KEY: 'k' }, credentialsFile: true, installed: 'credentials-file' },
      'api-key',
      true,
      [/credentials file is not used: ANTHROPIC_API_KEY/],
    ],
    [
      'apiKeyHelper over an installed OAuth token',
      { env: { CLAUDE_CODE_OAUTH_TOKEN: 't' }, settings: [user({ apiKeyHelper: 'echo k' })], installed: 'oauth-token' },
      'api-key-helper',
      true,
      [/CLAUDE_CODE_OAUTH_TOKEN is not used: apiKeyHelper in \/h\/.claude\/settings.json/],
    ],
    [
      'apiKeyHelper beside ANTHROPIC_API_KEY: both sent',
      { env: { ANTHROPIC_API_KEY: 'k' }, settings: [user({ apiKeyHelper: 'echo k' })], installed: 'api-key' },
      'api-key',
      false,
      [/apiKeyHelper .* is sent too \(Authorization\)/],
    ],
    [
      'an empty apiKeyHelper is none',
      { settings: [user({ apiKeyHelper: '' })], credentialsFile: true, installed: 'credentials-file' },
      'credentials-file',
      false,
      [],
    ],
    ['the highest settings file names the helper', { settings: [user({ apiKeyHelper: 'a' }), local({ apiKeyHelper: 'b' })] }, 'api-key-helper', false, []],
    [
      'a cloud provider over everything',
      { env: { CLAUDE_CODE_USE_BEDROCK: '1', ANTHROPIC_API_KEY: 'k' }, installed: 'api-key' },
      'provider',
      true,
      [/ANTHROPIC_API_KEY is not used: Amazon Bedrock/],
    ],
    ['a provider flag that is not truthy is off', { env: { CLAUDE_CODE_USE_VERTEX: '0' }, credentialsFile: true }, 'credentials-file', false, []],
    [
      'two providers',
      { env: { CLAUDE_CODE_USE_BEDROCK: '1', CLAUDE_CODE_USE_VERTEX: 'true' } },
      'provider',
      false,
      [/CLAUDE_CODE_USE_BEDROCK and CLAUDE_CODE_USE_VERTEX are all set/],
    ],
    [
      'federation over the file',
      { env: { ANTHROPIC_IDENTITY_TOKEN_FILE: '/t', ANTHROPIC_FEDERATION_RULE_ID: 'fr' }, credentialsFile: true, installed: 'credentials-file' },
      'federation',
      true,
      [/credentials file is not used/],
    ],
    ['federation needs its rule id', { env: { ANTHROPIC_IDENTITY_TOKEN_FILE: '/t' }, credentialsFile: true }, 'credentials-file', false, []],
    [
      'a user settings env block sets ANTHROPIC_API_KEY',
      { settings: [user({ env: { ANTHROPIC_API_KEY: 'k' } })], credentialsFile: true, installed: 'credentials-file' },
      'api-key',
      true,
      [/env block of \/h\/.claude\/settings.json sets ANTHROPIC_API_KEY/],
    ],
    [
      'a settings env block unsets the installed token',
      { env: { CLAUDE_CODE_OAUTH_TOKEN: 't' }, settings: [project({ env: { CLAUDE_CODE_OAUTH_TOKEN: '' } })], installed: 'oauth-token' },
      undefined,
      true,
      [/unsets CLAUDE_CODE_OAUTH_TOKEN, which the command was given/, /no credential at all/],
    ],
    [
      'a settings env block unsets a stray gateway token',
      { env: { ANTHROPIC_AUTH_TOKEN: 'gw' }, settings: [user({ env: { ANTHROPIC_AUTH_TOKEN: '' } })], credentialsFile: true, installed: 'credentials-file' },
      'credentials-file',
      false,
      [/unsets ANTHROPIC_AUTH_TOKEN/],
    ],
    [
      '--bare with an OAuth login',
      { credentialsFile: true, installed: 'credentials-file', command: ['claude', '--bare', '-p', 'hi'] },
      undefined,
      true,
      [/--bare in the command: Claude Code ignores the credentials file/],
    ],
    [
      '--bare with an OAuth token and a helper',
      { env: { CLAUDE_CODE_OAUTH_TOKEN: 't' }, settings: [user({ apiKeyHelper: 'x' })], installed: 'oauth-token', command: ['claude', '--bare'] },
      undefined,
      true,
      [/ignores apiKeyHelper .*, CLAUDE_CODE_OAUTH_TOKEN/],
    ],
    [
      '--bare with an API key is fine',
      { env: { ANTHROPIC_API_KEY: 'k' }, installed: 'api-key', command: ['claude', '--bare', '-p', 'hi'] },
      'api-key',
      false,
      [],
    ],
    [
      '--bare as the prompt text is not the flag',
      { credentialsFile: true, installed: 'credentials-file', command: ['claude', '-p', '--bare'] },
      undefined,
      true,
      [],
    ],
  ])('%s', (_name, inputs, winner, shadowed, expected) => {
    const p = picture(inputs);
    expect(p.winner?.id).toBe(winner);
    expect(p.installedShadowed).toBe(shadowed);
    for (const re of expected) expect(p.shadowings.join('\n')).toMatch(re);
    if (expected.length === 0 && !shadowed) expect(p.shadowings).toEqual([]);
  });

  it('settings env blocks: local over project over user, managed over all, "" unsets', () => {
    const { env } = effectiveEnvironment({ A: 'process', B: 'process' }, [
      local({ env: { A: 'local' } }),
      managed({ env: { C: 'managed' } }),
      user({ env: { A: 'user', C: 'user', B: '' } }),
      project({ env: { A: 'project' } }),
    ]);
    expect(env).toEqual({ A: 'local', C: 'managed' });
  });

  it('providers: Claude Code takes Foundry before Vertex, and knows more than three', () => {
    const both = picture({ env: { CLAUDE_CODE_USE_VERTEX: '1', CLAUDE_CODE_USE_FOUNDRY: '1' } });
    expect(both.winner?.label).toBe('Microsoft Foundry (CLAUDE_CODE_USE_FOUNDRY)');
    expect(both.conflicts.join('\n')).toMatch(/Claude Code uses Microsoft Foundry \(CLAUDE_CODE_USE_FOUNDRY\) alone/);
    for (const name of ['CLAUDE_CODE_USE_ANTHROPIC_AWS', 'CLAUDE_CODE_USE_ANTHROPIC_GOOGLE_CLOUD', 'CLAUDE_CODE_USE_MANTLE']) {
      expect(picture({ env: { [name]: '1', ANTHROPIC_API_KEY: 'k' } }).winner?.id).toBe('provider');
    }
  });

  it('settings env values that are not strings are read as their string, as Claude Code reads them', () => {
    const { env } = effectiveEnvironment({ CLAUDE_CODE_USE_VERTEX: '1' }, [
      user({ env: { CLAUDE_CODE_USE_BEDROCK: true, A: 1, CLAUDE_CODE_USE_VERTEX: null } }),
    ]);
    expect(env).toEqual({ CLAUDE_CODE_USE_BEDROCK: 'true', A: '1', CLAUDE_CODE_USE_VERTEX: 'null' });
    expect(picture({ settings: [user({ env: { CLAUDE_CODE_USE_BEDROCK: true } })] }).winner?.id).toBe('provider');
  });

  it('--settings (scope flag) sits over local and under managed', () => {
    const flag: SettingsLayer = { scope: 'flag', path: '--settings (JSON)', env: { A: 'flag', B: 'flag' } };
    expect(effectiveEnvironment({}, [managed({ env: { B: 'managed' } }), flag, local({ env: { A: 'local', B: 'local' } })]).env).toEqual({
      A: 'flag',
      B: 'managed',
    });
  });

  it('the options end at --: after it, --bare is a prompt', () => {
    expect(isBare(['claude', '-p', '--bare', 'hi'])).toBe(true);
    expect(isBare(['claude', '-p', '--', '--bare'])).toBe(false);
    expect(optionValue(['claude', '--settings', 'a.json', '--settings={"b":1}', '-p', 'hi'], '--settings')).toBe('{"b":1}');
    expect(optionValue(['claude', '-p', '--', '--settings', 'a.json'], '--settings')).toBeUndefined();
  });

  it('an interactive session asks about an ANTHROPIC_API_KEY .claude.json has not approved; -p does not', () => {
    const key = 'sk-ant-api03-TEST-0123456789abcdefghij';
    const fingerprint = key.slice(-20);
    const base = { env: { ANTHROPIC_API_KEY: key }, credentialsFile: true, installed: 'credentials-file' as const };
    const interactive = picture({ ...base, command: ['/usr/bin/claude'] });
    expect(interactive.winner?.id).toBe('credentials-file');
    expect(interactive.installedShadowed).toBe(false);
    expect(interactive.question).toMatch(/Detected a custom API key.*its default, No, uses the credentials file/);
    expect(JSON.stringify(interactive)).not.toContain(fingerprint);
    expect(picture({ ...base, command: ['claude', '-p', 'hi'] }).question).toBeUndefined();
    expect(picture({ ...base, command: ['claude', 'auth', 'status'] }).question).toBeUndefined();
    expect(picture({ ...base, command: ['sh', '-c', 'claude'] }).question).toBeUndefined();
    const approved = picture({ ...base, command: ['claude'], apiKeyResponses: { approved: [fingerprint], rejected: [] } });
    expect([approved.winner?.id, approved.question]).toEqual(['api-key', undefined]);
    const rejected = picture({ ...base, command: ['claude'], apiKeyResponses: { approved: [], rejected: [fingerprint] } });
    expect([rejected.winner?.id, rejected.question]).toEqual(['credentials-file', undefined]);
    expect(rejected.shadowings.join('\n')).toMatch(/answered No/);
  });

  it('a blank apiKeyHelper is run too (only "" is none)', () => {
    expect(picture({ settings: [user({ apiKeyHelper: '   ' })], credentialsFile: true }).winner?.id).toBe('api-key-helper');
    expect(picture({ settings: [user({ apiKeyHelper: '' })], credentialsFile: true }).winner?.id).toBe('credentials-file');
  });

  it("--bare keeps only an apiKeyHelper of the command's --settings", () => {
    const flag: SettingsLayer = { scope: 'flag', path: '--settings (JSON)', apiKeyHelper: 'echo f' };
    const command = ['claude', '--bare', '-p', 'hi'];
    const both = picture({ settings: [managed({ apiKeyHelper: 'echo m' }), flag], credentialsFile: true, installed: 'credentials-file', command });
    expect(both.winner?.label).toBe('apiKeyHelper in --settings (JSON)');
    expect(both.shadowings.join('\n')).toMatch(/ignores apiKeyHelper in \/etc\/claude-code\/managed-settings.json, the credentials file/);
    expect(picture({ settings: [managed({ apiKeyHelper: 'echo m' })], command }).winner).toBeUndefined();
  });

  it('CLAUDE_CODE_SIMPLE (what --bare sets) is --bare, from the environment or a settings env block', () => {
    for (const inputs of [{ env: { CLAUDE_CODE_SIMPLE: 'true' } }, { settings: [user({ env: { CLAUDE_CODE_SIMPLE: '1' } })] }]) {
      const p = picture({ ...inputs, credentialsFile: true, installed: 'credentials-file' });
      expect(p.winner).toBeUndefined();
      expect(p.shadowings.join('\n')).toMatch(/CLAUDE_CODE_SIMPLE \(what --bare sets\): Claude Code ignores the credentials file.*drop CLAUDE_CODE_SIMPLE/);
    }
    expect(picture({ env: { CLAUDE_CODE_SIMPLE: '0' }, credentialsFile: true }).winner?.id).toBe('credentials-file');
  });

  it('CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR: an API key below ANTHROPIC_API_KEY, over the logins; ignored with --bare', () => {
    const fd = { CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR: '3' };
    expect(picture({ env: { ...fd, CLAUDE_CODE_OAUTH_TOKEN: 't' }, credentialsFile: true }).winner?.id).toBe('api-key-fd');
    expect(picture({ env: { ...fd, ANTHROPIC_API_KEY: 'k' } }).winner?.id).toBe('api-key');
    expect(picture({ env: { ...fd, ANTHROPIC_AUTH_TOKEN: 'gw' } }).conflicts).toHaveLength(1);
    expect(picture({ env: fd, settings: [user({ apiKeyHelper: 'echo k' })] }).conflicts.join('')).toMatch(/beside CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR/);
    expect(picture({ env: fd, command: ['claude', '--bare', '-p', 'hi'] }).winner).toBeUndefined();
  });

  it('--bare ignores workload identity federation', () => {
    const federation = { ANTHROPIC_IDENTITY_TOKEN_FILE: '/t', ANTHROPIC_FEDERATION_RULE_ID: 'r' };
    expect(picture({ env: federation }).winner?.id).toBe('federation');
    const bare = picture({ env: federation, command: ['claude', '--bare', '-p', 'hi'] });
    expect(bare.winner).toBeUndefined();
    expect(bare.shadowings.join('\n')).toMatch(/--bare in the command: Claude Code ignores workload identity federation/);
  });

  it('conflicts are problems whatever was installed; a credential below the installed one is not', () => {
    expect(picture({ env: { ANTHROPIC_AUTH_TOKEN: 'gw', ANTHROPIC_API_KEY: 'k' } }).conflicts).toHaveLength(1);
    expect(picture({ env: { CLAUDE_CODE_USE_BEDROCK: '1', CLAUDE_CODE_USE_FOUNDRY: 'on' } }).conflicts).toHaveLength(1);
    const below = picture({ env: { CLAUDE_CODE_OAUTH_TOKEN: 't' }, credentialsFile: true, installed: 'oauth-token' });
    expect(below.installedShadowed).toBe(false);
    expect(below.conflicts).toEqual([]);
    expect(below.shadowings).toEqual(['the credentials file is not used: CLAUDE_CODE_OAUTH_TOKEN outranks it']);
  });

  it('never puts a value in a line', () => {
    const p = picture({
      env: { ANTHROPIC_AUTH_TOKEN: 'SECRET-A', ANTHROPIC_API_KEY: 'SECRET-B' },
      settings: [user({ env: { CLAUDE_CODE_OAUTH_TOKEN: 'SECRET-C' }, apiKeyHelper: 'echo SECRET-D' })],
      installed: 'oauth-token',
      credentialsFile: true,
    });
    expect(JSON.stringify(p)).not.toMatch(/SECRET/);
  });
});

describe('root and bypass permissions', () => {
  it.each<[string[], string | undefined]>([
    [['claude', '--dangerously-skip-permissions'], '--dangerously-skip-permissions'],
    [['claude', '--allow-dangerously-skip-permissions'], '--allow-dangerously-skip-permissions'],
    [['claude', '--permission-mode', 'bypassPermissions'], '--permission-mode bypassPermissions'],
    [['claude', '--permission-mode=bypassPermissions'], '--permission-mode=bypassPermissions'],
    [['claude', '--permission-mode', 'plan'], undefined],
    [['claude', '-p', 'hi'], undefined],
    [['claude', '-p', '--', '--dangerously-skip-permissions'], undefined],
  ])('%j asks for %s', (command, request) => {
    expect(bypassRequest(command)).toBe(request);
  });

  it('a settings defaultMode asks too', () => {
    expect(bypassRequest(['claude'], [user({ defaultMode: 'bypassPermissions' })])).toMatch(/permissions.defaultMode/);
  });

  it.each<[number, NodeJS.ProcessEnv, boolean, boolean, boolean]>([
    // uid, env, opt-in -> refused, IS_SANDBOX set
    [0, {}, false, true, false],
    [0, {}, true, false, true],
    [0, { IS_SANDBOX: '1' }, false, false, false],
    [0, { IS_SANDBOX: 'true' }, false, true, false], // the CLI wants exactly "1"
    [1000, {}, false, false, false],
    [1000, {}, true, false, false], // never for a user
  ])('uid %i %j opt-in %s', (uid, env, optIn, refused, sandbox) => {
    const verdict = rootBypass('--dangerously-skip-permissions', uid, env, optIn);
    expect(verdict.refused !== undefined).toBe(refused);
    if (refused) expect(verdict.refused).toMatch(/CLAUDE_ENTRY_USER.*CLAUDE_ENTRY_ALLOW_ROOT_BYPASS=1/);
    expect(verdict.setSandbox).toBe(sandbox);
  });
});

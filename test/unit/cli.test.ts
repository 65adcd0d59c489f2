/**
 * The argv rules of src/cli.ts, as tables: where the command starts (`--`, or the first
 * argument that is neither an option nor its value), subcommands and `doctor -- COMMAND`,
 * flags against their CLAUDE_ENTRY_* twins (the flag wins), and every way a command line is
 * refused (UsageError 64 for what came by a flag, ConfigError 78 for what came by a variable).
 * Through the bundle: test/integration/flags.test.ts, test/integration/commands.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { USAGE, parseBoolean, parseCommandLine, parseDuration, type Invocation } from '../../src/cli.js';
import { ConfigError, ExitCode, UsageError } from '../../src/errors.js';
import { FAKE, thrown } from '../helpers.js';

const CWD = '/work/dir';
const parse = (argv: string[], env: NodeJS.ProcessEnv = {}): Invocation => parseCommandLine(argv, env, CWD);
const configOf = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const invocation = parse(argv, env);
  if (!('config' in invocation)) throw new Error(`no config in ${invocation.action}`);
  return invocation.config;
};
/** The error a command line is refused with. */
const refusal = (argv: string[], env: NodeJS.ProcessEnv = {}): Error => thrown(() => parse(argv, env));

describe('where the command starts', () => {
  it.each<[string[], string[]]>([
    [
      ['--', 'claude', '-p', 'hi'],
      ['claude', '-p', 'hi'],
    ],
    [
      ['claude', '-p', 'hi'],
      ['claude', '-p', 'hi'],
    ],
    [
      ['-u', 'agent', 'claude', '--user', 'x'],
      ['claude', '--user', 'x'],
    ],
    [['--user', 'agent', '--', '--weird'], ['--weird']],
    [['--user=agent', 'id'], ['id']],
    [
      ['--optional', 'sh', '-c', 'true'],
      ['sh', '-c', 'true'],
    ],
    [['--log', 'debug', '--timeout', '5s', 'id'], ['id']],
    [
      ['--', '--', 'x'],
      ['--', 'x'],
    ],
    [
      ['-', 'x'],
      ['-', 'x'],
    ],
    // A program named like a subcommand, after `--` or after an option's value, is a command.
    [['--', 'check'], ['check']],
    [
      ['--', 'doctor', '--', 'x'],
      ['doctor', '--', 'x'],
    ],
  ])('%j runs %j', (argv, command) => {
    expect(parse(argv)).toMatchObject({ action: 'run', command });
  });

  it('everything after -- is the command, untouched (no flag of ours is read there)', () => {
    const invocation = parse(['--', 'claude', '--user', 'root', '--log', 'verbose']);
    expect(invocation).toMatchObject({ action: 'run', command: ['claude', '--user', 'root', '--log', 'verbose'] });
    expect(configOf(['--', 'claude', '--user', 'root'])).toMatchObject({ user: undefined, logLevel: 'info' });
  });
});

describe('subcommands', () => {
  it.each<[string[], Record<string, unknown>]>([
    [['check'], { action: 'check', minValidMs: 0, json: false, online: false, onlineAcceptUnknown: false }],
    [['check', '--json', '--min-valid', '1h'], { action: 'check', minValidMs: 3_600_000, json: true }],
    [['check', '--online'], { action: 'check', online: true, onlineAcceptUnknown: false }],
    [['check', '--online-accept-unknown'], { action: 'check', online: true, onlineAcceptUnknown: true }],
    [['-u', 'agent', 'check'], { action: 'check', config: expect.objectContaining({ user: 'agent' }) }],
    [['check', '--user', 'agent'], { action: 'check', config: expect.objectContaining({ user: 'agent' }) }],
    [['doctor'], { action: 'doctor', command: [] }],
    [['doctor', '--', 'claude', '-p', 'hi'], { action: 'doctor', command: ['claude', '-p', 'hi'] }],
    [
      ['doctor', '--user', 'agent', '--', 'claude', '--user', 'x'],
      { action: 'doctor', command: ['claude', '--user', 'x'], config: expect.objectContaining({ user: 'agent' }) },
    ],
    [['doctor', '--'], { action: 'doctor', command: [] }],
    [['export'], { action: 'export', format: 'b64', from: undefined, to: undefined }],
    [['export', '--format', 'json', '--from', 'keychain'], { action: 'export', format: 'json', from: 'keychain' }],
    [['export', '--format', 'env', '--to', 'aws-sm:team/claude'], { action: 'export', format: 'env', to: 'aws-sm:team/claude' }],
  ])('%j', (argv, expected) => {
    expect(parse(argv)).toMatchObject(expected);
  });
});

describe('help and version', () => {
  it.each([[['--help']], [['-h']], [['-h', '--', 'claude']], [['--log', 'debug', '--help']]])('%j: the usage', (argv) => {
    expect(parse(argv)).toEqual({ action: 'help', text: USAGE });
  });

  it.each([
    [['check', '--help'], 'Usage: claude-entry check '],
    [['doctor', '-h'], 'Usage: claude-entry doctor '],
    [['export', '--help'], 'Usage: claude-entry export '],
  ])("%j: the subcommand's own usage", (argv, start) => {
    const invocation = parse(argv);
    expect(invocation.action).toBe('help');
    expect((invocation as { text: string }).text.startsWith(start)).toBe(true);
  });

  it.each([[['--version']], [['-V']], [['-V', '--', 'claude']]])('%j: the version', (argv) => {
    expect(parse(argv)).toEqual({ action: 'version' });
  });
});

describe('a flag against its CLAUDE_ENTRY_* twin', () => {
  it('the defaults, with neither', () => {
    expect(configOf(['--', 'x'])).toMatchObject({
      sync: 'off',
      user: undefined,
      source: undefined,
      trust: [],
      optional: false,
      skipPermissionsPrompt: false,
      allowRootBypass: false,
      timeoutMs: 15_000,
      logLevel: 'info',
      logJson: false,
    });
  });

  it.each<[string, string[], NodeJS.ProcessEnv, Record<string, unknown>]>([
    ['user by variable', [], { CLAUDE_ENTRY_USER: 'agent' }, { user: 'agent' }],
    ['user: the flag wins', ['-u', 'node'], { CLAUDE_ENTRY_USER: 'agent' }, { user: 'node' }],
    ['user: an empty variable is unset', [], { CLAUDE_ENTRY_USER: '' }, { user: undefined }],
    ['source by variable', [], { CLAUDE_ENTRY_SOURCE: 'env:X' }, { source: 'env:X' }],
    ['source: the flag wins', ['--source', '/run/secrets/c'], { CLAUDE_ENTRY_SOURCE: 'env:X' }, { source: '/run/secrets/c' }],
    ['trust: relative to the working directory, trimmed', ['--trust', ' a , /abs ,,'], {}, { trust: [`${CWD}/a`, '/abs'] }],
    ['trust by variable', [], { CLAUDE_ENTRY_TRUST: '/w,../up' }, { trust: ['/w', '/work/up'] }],
    ['trust: the flag wins', ['-t', '/f'], { CLAUDE_ENTRY_TRUST: '/v' }, { trust: ['/f'] }],
    ['optional: 1', [], { CLAUDE_ENTRY_OPTIONAL: '1' }, { optional: true }],
    ['optional: the flag wins over 0', ['--optional'], { CLAUDE_ENTRY_OPTIONAL: '0' }, { optional: true }],
    ['optional: empty is the default', [], { CLAUDE_ENTRY_OPTIONAL: '' }, { optional: false }],
    ['skip-permissions-prompt by variable', [], { CLAUDE_ENTRY_SKIP_PERMISSIONS_PROMPT: 'yes' }, { skipPermissionsPrompt: true }],
    ['skip-permissions-prompt by flag', ['--skip-permissions-prompt'], {}, { skipPermissionsPrompt: true }],
    ['allow-root-bypass by variable', [], { CLAUDE_ENTRY_ALLOW_ROOT_BYPASS: 'on' }, { allowRootBypass: true }],
    ['allow-root-bypass by flag', ['--allow-root-bypass'], { CLAUDE_ENTRY_ALLOW_ROOT_BYPASS: 'off' }, { allowRootBypass: true }],
    ['timeout: seconds by default', [], { CLAUDE_ENTRY_TIMEOUT: '20' }, { timeoutMs: 20_000 }],
    ['timeout: the flag wins', ['--timeout', '500ms'], { CLAUDE_ENTRY_TIMEOUT: '20' }, { timeoutMs: 500 }],
    ['sync by variable, any case, trimmed', [], { CLAUDE_ENTRY_SYNC: ' BOTH ' }, { sync: 'both' }],
    ['sync: the flag wins', ['--sync', 'pull'], { CLAUDE_ENTRY_SYNC: 'push' }, { sync: 'pull' }],
    ['sync: empty is off', [], { CLAUDE_ENTRY_SYNC: '' }, { sync: 'off' }],
    ['log level by variable', [], { CLAUDE_ENTRY_LOG: 'debug' }, { logLevel: 'debug' }],
    ['log level: the flag wins', ['-l', 'silent'], { CLAUDE_ENTRY_LOG: 'debug' }, { logLevel: 'silent' }],
    ['log format by variable, any case', [], { CLAUDE_ENTRY_LOG_FORMAT: 'JSON' }, { logJson: true }],
    ['log format: the flag wins', ['--log-format', 'text'], { CLAUDE_ENTRY_LOG_FORMAT: 'json' }, { logJson: false }],
    // The flag wins before the variable is read: a bad value there is not an error.
    [
      'a bad variable under its flag is not read',
      ['--log', 'warn', '--sync', 'push', '--optional'],
      { CLAUDE_ENTRY_LOG: 'verbose', CLAUDE_ENTRY_SYNC: 'x', CLAUDE_ENTRY_OPTIONAL: 'maybe' },
      { logLevel: 'warn', sync: 'push', optional: true },
    ],
  ])('%s', (_what, flags, env, expected) => {
    expect(configOf([...flags, '--', 'x'], env)).toMatchObject(expected);
    // A subcommand reads the same flags and variables into the same Config.
    expect(configOf([...flags, 'check'], env)).toMatchObject(expected);
    expect(configOf(['doctor', ...flags], env)).toMatchObject(expected);
  });
});

describe('refused command lines', () => {
  it.each<[string, string[], NodeJS.ProcessEnv, RegExp]>([
    ['no arguments', [], {}, /^no command to run: give it after --/],
    ['only --', ['--'], {}, /^no command to run/],
    ['an empty command', ['--', ''], {}, /^no command to run/],
    ['only options', ['-u', 'agent'], {}, /^no command to run/],
    ['an unknown option', ['--bogus', '--', 'x'], {}, /^Unknown option '--bogus'.* \(see claude-entry --help\)$/],
    ['an option without its value', ['--user'], {}, /argument missing \(see claude-entry --help\)$/],
    ["a subcommand's unknown option", ['check', '--bogus'], {}, /^check: Unknown option '--bogus'.* \(see claude-entry check --help\)$/],
    ['a subcommand with an argument', ['doctor', 'claude'], {}, /^doctor: Unexpected argument 'claude'/],
    ["export's option on check", ['check', '--to', 'x'], {}, /^check: Unknown option '--to'/],
    ["check's option on doctor", ['doctor', '--json'], {}, /^doctor: Unknown option '--json'/],
    ['a bad --format', ['export', '--format', 'yaml'], {}, /^export: --format must be b64, json or env$/],
    [
      'a bad --min-valid',
      ['check', '--min-valid', 'tomorrow'],
      {},
      /^--min-valid: "tomorrow" is not a duration \(e\.g\. 15s, 2m\) \(see claude-entry --help\)$/,
    ],
    ['a bad --log', ['--log', 'verbose', '--', 'x'], {}, /^--log: "verbose" is not one of debug, info, warn, error, silent/],
    ['a bad --log-format', ['--log-format', 'yaml', 'check'], {}, /^--log-format: "yaml" is not text or json/],
    ['a bad --timeout', ['--timeout', '5 minutes', '--', 'x'], {}, /^--timeout: "5 minutes" is not a duration/],
    ['a bad --sync', ['--sync', 'sideways', 'doctor'], {}, /^--sync: "sideways" is not one of off, push, pull, both/],
  ])('%s: UsageError (64)', (_what, argv, env, message) => {
    const error = refusal(argv, env);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(ExitCode.usage);
    expect(error.message).toMatch(message);
  });

  it.each<[string, NodeJS.ProcessEnv, RegExp]>([
    ['CLAUDE_ENTRY_LOG', { CLAUDE_ENTRY_LOG: 'verbose' }, /^CLAUDE_ENTRY_LOG: "verbose" is not one of debug/],
    ['CLAUDE_ENTRY_LOG_FORMAT', { CLAUDE_ENTRY_LOG_FORMAT: 'yaml' }, /^CLAUDE_ENTRY_LOG_FORMAT: "yaml" is not text or json$/],
    ['CLAUDE_ENTRY_TIMEOUT', { CLAUDE_ENTRY_TIMEOUT: 'soon' }, /^CLAUDE_ENTRY_TIMEOUT: "soon" is not a duration/],
    ['CLAUDE_ENTRY_SYNC', { CLAUDE_ENTRY_SYNC: 'sideways' }, /^CLAUDE_ENTRY_SYNC: "sideways" is not one of off, push, pull, both$/],
    ['CLAUDE_ENTRY_OPTIONAL', { CLAUDE_ENTRY_OPTIONAL: 'maybe' }, /^CLAUDE_ENTRY_OPTIONAL: "maybe" is not a boolean \(use 1 or 0\)$/],
    ['CLAUDE_ENTRY_SKIP_PERMISSIONS_PROMPT', { CLAUDE_ENTRY_SKIP_PERMISSIONS_PROMPT: '2' }, /^CLAUDE_ENTRY_SKIP_PERMISSIONS_PROMPT: "2" is not a boolean/],
  ])('a bad %s: ConfigError (78), named by the variable', (_name, env, message) => {
    for (const argv of [['--', 'x'], ['check'], ['doctor']]) {
      const error = refusal(argv, env);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).exitCode).toBe(ExitCode.config);
      expect(error.message).toMatch(message);
    }
  });

  it.each<[string, string[], NodeJS.ProcessEnv]>([
    ['--source', ['--source', FAKE.oauthToken, '--', 'x'], {}],
    ['--user', ['--user', FAKE.apiKey, '--', 'x'], {}],
    ['--trust', ['--trust', FAKE.oauthToken, 'check'], {}],
    ['--to', ['export', '--to', FAKE.oauthToken], {}],
    ['--from', ['export', '--from', FAKE.apiKey], {}],
    ['CLAUDE_ENTRY_SOURCE', ['--', 'x'], { CLAUDE_ENTRY_SOURCE: FAKE.oauthToken }],
    ['CLAUDE_CREDENTIALS_FILE', ['doctor'], { CLAUDE_CREDENTIALS_FILE: FAKE.apiKey }],
  ])('a credential where %s wants a path or a name: ConfigError, the value never quoted', (name, argv, env) => {
    const error = refusal(argv, env);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(new RegExp(`^${name}: the value looks like a credential`));
    for (const secret of Object.values(FAKE)) expect(error.message).not.toContain(secret);
  });

  it.each([
    [['--log', FAKE.oauthToken, '--', 'x']],
    [['check', FAKE.oauthToken]],
    [[`--${FAKE.apiKey}`, '--', 'x']],
    [['doctor', JSON.stringify({ claudeAiOauth: { accessToken: 'TESTopaque' } })]],
  ])('%j: the usage error does not quote the credential', (argv) => {
    const error = refusal(argv);
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toMatch(/not shown: it looks like a credential/);
    for (const secret of [...Object.values(FAKE), 'TESTopaque']) expect(error.message).not.toContain(secret);
  });
});

describe('parseBoolean and parseDuration', () => {
  it.each<[string | undefined, boolean | undefined]>([
    [undefined, undefined],
    ['', undefined],
    ['1', true],
    ['true', true],
    [' TRUE ', true],
    ['yes', true],
    ['on', true],
    ['0', false],
    ['false', false],
    ['No', false],
    ['off', false],
  ])('parseBoolean(%j) = %j', (value, expected) => {
    expect(parseBoolean('X', value)).toBe(expected);
  });

  it.each<[string, number]>([
    ['15', 15_000],
    ['15s', 15_000],
    [' 2m ', 120_000],
    ['1h', 3_600_000],
    ['500ms', 500],
    ['1.5s', 1500],
    ['0', 0],
    ['10 s', 10_000],
  ])('parseDuration(%j) = %i ms', (value, ms) => {
    expect(parseDuration('X', value)).toBe(ms);
  });

  it.each([['-1s'], ['1d'], ['soon'], [''], ['1e3'], ['s']])('parseDuration(%j) is refused', (value) => {
    expect(() => parseDuration('--timeout', value)).toThrow(UsageError);
    expect(() => parseDuration('CLAUDE_ENTRY_TIMEOUT', value)).toThrow(ConfigError);
  });
});

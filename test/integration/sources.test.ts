/**
 * Every source and payload form, through the built bundle, in a temp home: what the
 * command sees (env), what is written (content, modes), and what is printed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAKE, b64, baseEnv, credentialsJson, expectNoSecret, fileMode, runBundle, runProcess, tempDir } from '../helpers.js';
import { needs } from '../needs.js';

const SECRETS = Object.values(FAKE);
const creds = credentialsJson();
const credsText = JSON.stringify(creds);

/** The command prints the credential variables it received, one per line. */
const PRINT_ENV = [
  '--',
  'sh',
  '-c',
  'for v in CLAUDE_CODE_OAUTH_TOKEN ANTHROPIC_API_KEY CLAUDE_CREDENTIALS_B64 CLAUDE_CREDENTIALS_JSON MY_SECRET; do eval "echo $v=\\${$v-UNSET}"; done',
];

function parseEnvLines(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

function secretFile(dir: string, content: string, name = 'secret'): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content, { mode: 0o400 });
  return p;
}

describe('credentials JSON sources write .credentials.json', () => {
  const cases: [string, (dir: string) => NodeJS.ProcessEnv, string][] = [
    ['CLAUDE_CREDENTIALS_B64', () => ({ CLAUDE_CREDENTIALS_B64: b64(credsText) }), 'CLAUDE_CREDENTIALS_B64'],
    ['CLAUDE_CREDENTIALS_B64 wrapped', () => ({ CLAUDE_CREDENTIALS_B64: b64(credsText).replace(/(.{76})/g, '$1\n') }), 'CLAUDE_CREDENTIALS_B64'],
    ['CLAUDE_CREDENTIALS_JSON', () => ({ CLAUDE_CREDENTIALS_JSON: credsText }), 'CLAUDE_CREDENTIALS_JSON'],
    ['CLAUDE_CREDENTIALS_FILE', (d) => ({ CLAUDE_CREDENTIALS_FILE: secretFile(d, credsText + '\n') }), 'CLAUDE_CREDENTIALS_FILE='],
    ['CLAUDE_CREDENTIALS_FILE holding base64', (d) => ({ CLAUDE_CREDENTIALS_FILE: secretFile(d, b64(credsText)) }), 'CLAUDE_CREDENTIALS_FILE='],
    ['CLAUDE_ENTRY_SOURCE=/path', (d) => ({ CLAUDE_ENTRY_SOURCE: secretFile(d, credsText) }), 'file:/'],
    ['CLAUDE_ENTRY_SOURCE=file:/path', (d) => ({ CLAUDE_ENTRY_SOURCE: `file:${secretFile(d, credsText)}` }), 'file:/'],
    ['CLAUDE_ENTRY_SOURCE=env:NAME', () => ({ CLAUDE_ENTRY_SOURCE: 'env:MY_SECRET', MY_SECRET: b64(credsText) }), 'MY_SECRET'],
  ];

  it.each(cases)('%s', async (_name, makeEnv, sourceInLog) => {
    const dir = tempDir();
    const home = path.join(dir, 'home');
    fs.mkdirSync(home);
    const env = baseEnv(home, makeEnv(dir));
    const r = await runBundle(PRINT_ENV, { env });
    expect(r.stderr).toContain(`claude-entry: using Claude Code credentials JSON from ${sourceInLog}`);
    expect(r.code).toBe(0);

    const written = path.join(home, '.claude', '.credentials.json');
    expect(JSON.parse(fs.readFileSync(written, 'utf8'))).toEqual(creds);
    expect(fileMode(written)).toBe(0o600);
    expect(fileMode(path.join(home, '.claude'))).toBe(0o700);
    const claudeJson = path.join(home, '.claude.json');
    expect(JSON.parse(fs.readFileSync(claudeJson, 'utf8'))).toEqual({ hasCompletedOnboarding: true });
    expect(fileMode(claudeJson)).toBe(0o600);
    expect(fs.readdirSync(path.join(home, '.claude')).sort()).toEqual(['.claude-entry-state.json', '.credentials.json']); // no temp files left

    // Carriers are gone from the command's environment; nothing overrides the file.
    expect(parseEnvLines(r.stdout)).toEqual({
      CLAUDE_CODE_OAUTH_TOKEN: 'UNSET',
      ANTHROPIC_API_KEY: 'UNSET',
      CLAUDE_CREDENTIALS_B64: 'UNSET',
      CLAUDE_CREDENTIALS_JSON: 'UNSET',
      MY_SECRET: 'UNSET',
    });
    expectNoSecret(r.stderr, SECRETS);
  });
});

describe('token sources reach the command as the variable Claude Code reads', () => {
  const cases: [string, (dir: string) => NodeJS.ProcessEnv, Record<string, string>][] = [
    ['CLAUDE_CODE_OAUTH_TOKEN', () => ({ CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }), { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }],
    [
      'CLAUDE_CODE_OAUTH_TOKEN_FILE',
      (d) => ({ CLAUDE_CODE_OAUTH_TOKEN_FILE: secretFile(d, FAKE.oauthToken + '\n') }),
      { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken },
    ],
    ['ANTHROPIC_API_KEY', () => ({ ANTHROPIC_API_KEY: FAKE.apiKey }), { ANTHROPIC_API_KEY: FAKE.apiKey }],
    ['ANTHROPIC_API_KEY_FILE', (d) => ({ ANTHROPIC_API_KEY_FILE: secretFile(d, FAKE.apiKey) }), { ANTHROPIC_API_KEY: FAKE.apiKey }],
    ['an OAuth token in CLAUDE_CREDENTIALS_B64', () => ({ CLAUDE_CREDENTIALS_B64: b64(FAKE.oauthToken) }), { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }],
    ['an API key in a mounted file', (d) => ({ CLAUDE_ENTRY_SOURCE: secretFile(d, FAKE.apiKey) }), { ANTHROPIC_API_KEY: FAKE.apiKey }],
    [
      'a token chosen over a lower-priority API key',
      () => ({ CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken, ANTHROPIC_API_KEY: FAKE.apiKey }),
      { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken },
    ],
    [
      'a B64 API key with a stray OAuth token variable',
      () => ({ CLAUDE_CREDENTIALS_B64: b64(FAKE.apiKey), CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }),
      { ANTHROPIC_API_KEY: FAKE.apiKey },
    ],
  ];

  it.each(cases)('%s', async (_name, makeEnv, expected) => {
    const dir = tempDir();
    const r = await runBundle(PRINT_ENV, { env: baseEnv(dir, makeEnv(dir)) });
    expect(r.code).toBe(0);
    const seen = parseEnvLines(r.stdout);
    expect(seen).toEqual({
      CLAUDE_CODE_OAUTH_TOKEN: 'UNSET',
      ANTHROPIC_API_KEY: 'UNSET',
      CLAUDE_CREDENTIALS_B64: 'UNSET',
      CLAUDE_CREDENTIALS_JSON: 'UNSET',
      MY_SECRET: 'UNSET',
      ...expected,
    });
    expect(fs.existsSync(path.join(dir, '.claude', '.credentials.json'))).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(dir, '.claude.json'), 'utf8')).hasCompletedOnboarding).toBe(true);
    expectNoSecret(r.stderr, SECRETS);
  });

  it('pre-approves an API key in .claude.json and sets trust and the bypass warning', async () => {
    const dir = tempDir();
    const r = await runBundle(['--', 'true'], {
      env: baseEnv(dir, { ANTHROPIC_API_KEY: FAKE.apiKey, CLAUDE_ENTRY_TRUST: '/workspace,/srv/repo', CLAUDE_ENTRY_SKIP_PERMISSIONS_PROMPT: '1' }),
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(dir, '.claude.json'), 'utf8'))).toEqual({
      hasCompletedOnboarding: true,
      projects: { '/workspace': { hasTrustDialogAccepted: true }, '/srv/repo': { hasTrustDialogAccepted: true } },
      customApiKeyResponses: { approved: [FAKE.apiKey.slice(-20)], rejected: [] },
      bypassPermissionsModeAccepted: true,
    });
  });
});

describe('conventional paths', () => {
  it('/run/secrets/claude-credentials (Docker/Compose secret), read-only, in a private mount namespace', needs(needs.unshare()), async () => {
    const dir = tempDir();
    const secrets = path.join(dir, 'secrets');
    fs.mkdirSync(secrets);
    fs.writeFileSync(path.join(secrets, 'claude-credentials'), b64(credsText), { mode: 0o400 });
    const home = path.join(dir, 'home');
    fs.mkdirSync('/run/secrets', { recursive: true });
    const r = await runProcess(
      [
        'unshare',
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        `mount --bind -o ro "$0" /run/secrets && exec "$@"`,
        secrets,
        process.execPath,
        BUNDLE_PATH(),
        '--',
        'true',
      ],
      { env: baseEnv(home) },
    );
    expect(r.stderr).toContain('from /run/secrets/claude-credentials');
    expect(r.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(home, '.claude', '.credentials.json'), 'utf8'))).toEqual(creds);
  });

  it('a .credentials.json already in place is used and its mode fixed, without rewriting it', async () => {
    const home = tempDir();
    fs.mkdirSync(path.join(home, '.claude'), { mode: 0o755 });
    const file = path.join(home, '.claude', '.credentials.json');
    fs.writeFileSync(file, credsText, { mode: 0o644 });
    const inode = fs.statSync(file).ino;
    const r = await runBundle(['--', 'true'], { env: baseEnv(home) });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`from ${file}`);
    expect(fs.statSync(file).ino).toBe(inode);
    expect(fileMode(file)).toBe(0o600);
    expect(fileMode(path.join(home, '.claude'))).toBe(0o700);
  });

  it('a persistent home keeps a pair refreshed since the secret was made; an older one is replaced', async () => {
    const home = tempDir();
    const file = path.join(home, '.claude', '.credentials.json');
    fs.mkdirSync(path.dirname(file), { mode: 0o700 });
    const refreshed = credentialsJson({
      accessToken: `${FAKE.accessToken}-refreshed`,
      refreshToken: `${FAKE.refreshToken}-refreshed`,
      expiresAt: Date.now() + 9 * 3600_000,
    });
    fs.writeFileSync(file, JSON.stringify(refreshed), { mode: 0o600 });
    let r = await runBundle(['--', 'true'], { env: baseEnv(home, { CLAUDE_CREDENTIALS_JSON: credsText }) });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`kept ${file}: it holds a newer pair than the source`);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual(refreshed);

    const stale = credentialsJson({ accessToken: `${FAKE.accessToken}-stale`, expiresAt: Date.now() - 3600_000 });
    fs.writeFileSync(file, JSON.stringify(stale));
    r = await runBundle(['--', 'true'], { env: baseEnv(home, { CLAUDE_CREDENTIALS_JSON: credsText }) });
    expect(r.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual(creds);
  });

  it('CLAUDE_CONFIG_DIR receives both files, and nothing goes to ~', async () => {
    const dir = tempDir();
    const home = path.join(dir, 'home');
    const config = path.join(dir, 'config', 'claude');
    const r = await runBundle(['--', 'true'], { env: baseEnv(home, { CLAUDE_CONFIG_DIR: config, CLAUDE_CREDENTIALS_JSON: credsText }) });
    expect(r.code).toBe(0);
    expect(fs.readdirSync(config).sort()).toEqual(['.claude-entry-state.json', '.claude.json', '.credentials.json']);
    expect(fs.existsSync(path.join(home, '.claude.json'))).toBe(false);
    expect(fs.existsSync(path.join(home, '.claude'))).toBe(false);
  });

  it('an existing .claude.json keeps its keys; an invalid one is set aside, not clobbered', async () => {
    const home = tempDir();
    const claudeJson = path.join(home, '.claude.json');
    fs.writeFileSync(claudeJson, JSON.stringify({ numStartups: 3, someFutureKey: { a: [1] } }));
    let r = await runBundle(['--', 'true'], { env: baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }) });
    expect(r.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(claudeJson, 'utf8'))).toEqual({ numStartups: 3, someFutureKey: { a: [1] }, hasCompletedOnboarding: true });

    fs.writeFileSync(claudeJson, '{ not json');
    r = await runBundle(['--', 'true'], { env: baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }) });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/claude-entry: warning: .*\.claude\.json was not valid JSON; kept it as .*\.claude\.json\.invalid-/);
    const aside = fs.readdirSync(home).find((n) => n.startsWith('.claude.json.invalid-'))!;
    expect(fs.readFileSync(path.join(home, aside), 'utf8')).toBe('{ not json');
    expect(JSON.parse(fs.readFileSync(claudeJson, 'utf8'))).toEqual({ hasCompletedOnboarding: true });
  });
});

describe('running the command', () => {
  it.each([
    [['sh', '-c', 'exit 0'], 0],
    [['sh', '-c', 'exit 3'], 3],
    [['sh', '-c', 'exit 255'], 255],
    [['sh', '-c', 'kill -TERM $$'], 143],
    [['sh', '-c', 'kill -KILL $$'], 137],
  ])('%j exits %i', async (command, code) => {
    const home = tempDir();
    const r = await runBundle(['--', ...command], { env: baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }) });
    // What a shell sees: supervising (Node < 22.15), the shim exits 128+N; after execve the
    // process is the command and dies of the signal itself.
    expect(r.signal ? 128 + os.constants.signals[r.signal] : r.code).toBe(code);
  });

  it('passes stdin and stdout through, and arguments untouched', async () => {
    const home = tempDir();
    const r = await runBundle(['--', 'sh', '-c', 'cat; printf "[%s]" "$@"', 'sh', 'a b', '--', '-x'], {
      env: baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }),
      input: 'from stdin\n',
    });
    expect(r.stdout).toBe('from stdin\n[a b][--][-x]');
  });

  it('takes the command without -- too, as tini does', async () => {
    const home = tempDir();
    const r = await runBundle(['--log', 'warn', 'sh', '-c', 'echo ok'], { env: baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }) });
    expect(r).toMatchObject({ code: 0, stdout: 'ok\n', stderr: '' });
  });

  it('CLAUDE_ENTRY_OPTIONAL=1 runs without a credential', async () => {
    const home = tempDir();
    const r = await runBundle(['--', 'sh', '-c', 'echo ran'], { env: baseEnv(home, { CLAUDE_ENTRY_OPTIONAL: '1' }) });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('ran\n');
    expect(r.stderr).toMatch(/warning: no credential found \(looked at CLAUDE_CREDENTIALS_FILE, CLAUDE_CREDENTIALS_B64/);
  });
});

describe('logging', () => {
  it('json lines, one per step, no secret', async () => {
    const home = tempDir();
    const r = await runBundle(['--', 'true'], {
      env: baseEnv(home, { CLAUDE_CREDENTIALS_B64: b64(credsText), CLAUDE_ENTRY_LOG_FORMAT: 'json', CLAUDE_ENTRY_LOG: 'debug' }),
    });
    expect(r.code).toBe(0);
    const lines = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThan(2);
    for (const l of lines) expect(l).toMatchObject({ name: 'claude-entry', level: expect.stringMatching(/^(debug|info|warn)$/), msg: expect.any(String) });
    expectNoSecret(r.stderr, SECRETS);
  });
  it('silent prints nothing', async () => {
    const home = tempDir();
    const r = await runBundle(['--', 'true'], { env: baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken, CLAUDE_ENTRY_LOG: 'silent' }) });
    expect(r).toMatchObject({ code: 0, stderr: '' });
  });
});

function BUNDLE_PATH(): string {
  return path.resolve(__dirname, '..', '..', 'dist', 'claude-entry');
}

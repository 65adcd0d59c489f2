/**
 * check, doctor and export through the built bundle, for every state a deployment can be in.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { FAKE, b64, baseEnv, credentialsJson, expectNoSecret, runBundle, tempDir, HOUR } from '../helpers.js';
import { needs, nodeBinaryOf } from '../needs.js';

const SECRETS = Object.values(FAKE);
/** Files written by the test are ours; as root, uid 0. */
const UID = process.getuid!();

/** A home with a credentials file in place (as a start leaves it), plus overrides. */
function homeWith(oauth: Record<string, unknown> | undefined, opts: { mode?: number; uid?: number; raw?: string } = {}): string {
  const home = tempDir();
  if (oauth === undefined && opts.raw === undefined) return home;
  const dir = path.join(home, '.claude');
  fs.mkdirSync(dir, { mode: 0o700 });
  const file = path.join(dir, '.credentials.json');
  fs.writeFileSync(file, opts.raw ?? JSON.stringify(credentialsJson(oauth)), { mode: opts.mode ?? 0o600 });
  fs.chmodSync(file, opts.mode ?? 0o600);
  if (opts.uid !== undefined) fs.chownSync(file, opts.uid, opts.uid);
  return home;
}

async function check(home: string, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const r = await runBundle(['check', ...args], { env: baseEnv(home, env) });
  expectNoSecret(r.stdout + r.stderr, SECRETS);
  return r;
}

describe('check', () => {
  it.each([
    [
      'healthy',
      {},
      [],
      0,
      new RegExp(`^healthy \\| OAuth login \\(max\\) in .*/\\.claude/\\.credentials\\.json; expires in 8h; refresh token: yes; file 0600 uid ${UID}: ok$`),
    ],
    [
      'expiring, refreshable: still healthy',
      { expiresAt: Date.now() + 10 * 60_000 },
      ['--min-valid', '1h'],
      0,
      /^healthy \|.*expires in 10m; refresh token: yes/,
    ],
    [
      'expiring, not refreshable, under --min-valid',
      { expiresAt: Date.now() + 10 * 60_000, refreshToken: undefined },
      ['--min-valid', '1h'],
      1,
      /^unhealthy: the access token is valid for 10m, less than 60m, and cannot be refreshed \|.*refresh token: no/,
    ],
    [
      'not refreshable but above --min-valid',
      { expiresAt: Date.now() + 3 * HOUR, refreshToken: undefined },
      ['--min-valid', '1h'],
      0,
      /^healthy \|.*expires in 3h; refresh token: no/,
    ],
    ['expired with a refresh token', { expiresAt: Date.now() - HOUR }, [], 0, /^healthy \|.*expired 60m ago; refresh token: yes/],
    [
      'expired without a refresh token',
      { expiresAt: Date.now() - HOUR, refreshToken: undefined },
      [],
      1,
      /^unhealthy: .*expired 60m ago and there is no refresh token; log in again/,
    ],
    [
      'blanked by a failed refresh',
      { accessToken: '', refreshToken: '', expiresAt: 0 },
      [],
      1,
      /^unhealthy: .*blanked by a failed token refresh; log in again/,
    ],
    ['scopes without user:inference', { scopes: ['user:profile'] }, [], 1, /^unhealthy: .*lacks "user:inference"/],
  ] as const)('%s', async (_name, oauth, args, code, line) => {
    const r = await check(homeWith(oauth), [...args]);
    expect(r.code).toBe(code);
    expect(r.stdout.trim()).toMatch(line);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('wrong mode', async () => {
    const r = await check(homeWith({}, { mode: 0o644 }));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^unhealthy: .*\\.credentials\\.json has mode 0644, not 0600; .*file 0644 uid ${UID}: wrong$`, 'm'));
  });

  it('wrong owner', needs(needs.root()), async () => {
    const r = await check(homeWith({}, { uid: 4321 }));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^unhealthy: .*\.credentials\.json is owned by uid 4321, not 0, so Claude Code cannot save refreshed tokens/m);
  });

  it('missing', async () => {
    const r = await check(homeWith(undefined));
    expect(r.code).toBe(1);
    expect(r.stdout.trim()).toMatch(/^unhealthy: no credential: no .*\.credentials\.json, and neither CLAUDE_CODE_OAUTH_TOKEN nor ANTHROPIC_API_KEY is set$/);
  });

  it('an env token, and the source remembered from the start', async () => {
    const home = tempDir();
    const start = await runBundle(['--', 'true'], { env: baseEnv(home, { CLAUDE_CREDENTIALS_B64: b64(FAKE.oauthToken) }) });
    expect(start.code).toBe(0);
    // the probe's environment has the container's variables, not the command's
    let r = await check(home, [], { CLAUDE_CREDENTIALS_B64: b64(FAKE.oauthToken) });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(
      "healthy | OAuth token in CLAUDE_CODE_OAUTH_TOKEN in the command's environment, from CLAUDE_CREDENTIALS_B64; expiry not known",
    );
    r = await check(tempDir(), [], { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken });
    expect(r.stdout.trim()).toBe('healthy | OAuth token in CLAUDE_CODE_OAUTH_TOKEN; expiry not known');
  });

  it('--json has the facts, no secret', async () => {
    const expiresAt = Date.now() + 2 * HOUR;
    const r = await check(homeWith({ expiresAt }), ['--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      status: 'healthy',
      reasons: [],
      kind: 'credentials-json',
      subscriptionType: 'max',
      expiresAt,
      refreshToken: true,
      files: { mode: '0600', uid: UID, ok: true },
    });
  });

  describe('--online', () => {
    let api: FakeAnthropic;
    beforeAll(async () => {
      api = await startFakeAnthropic();
    });
    afterAll(() => api.close());

    it('accepted (200), with the header the API expects', async () => {
      api.setRoute('/v1/messages', undefined);
      const r = await check(homeWith({}), ['--online'], { ANTHROPIC_BASE_URL: api.url });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/online: accepted \(HTTP 200\)$/m);
      const sent = api.messages().at(-1)!;
      expect(sent.headers.authorization).toBe(`Bearer ${FAKE.accessToken}`);
      expect(sent.headers['anthropic-beta']).toContain('oauth-2025-04-20');
      expect(sent.body.max_tokens).toBe(1);
    });

    it('rejected (401)', async () => {
      api.setRoute('/v1/messages', 401);
      const r = await check(homeWith({}), ['--online'], { ANTHROPIC_BASE_URL: api.url });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^unhealthy: the Anthropic API rejected the credential \(HTTP 401 authentication_error\) \|.*online: rejected \(HTTP 401\)$/m);
    });

    it('an API key goes as x-api-key', async () => {
      api.setRoute('/v1/messages', undefined);
      const r = await check(tempDir(), ['--online'], { ANTHROPIC_BASE_URL: api.url, ANTHROPIC_API_KEY: FAKE.apiKey });
      expect(r.code).toBe(0);
      expect(api.messages().at(-1)!.headers['x-api-key']).toBe(FAKE.apiKey);
    });

    it('not answering is its own state, bounded by CLAUDE_ENTRY_TIMEOUT', async () => {
      api.setRoute('/v1/messages', 'hang');
      const started = Date.now();
      const r = await check(homeWith({}), ['--online', '--json'], { ANTHROPIC_BASE_URL: api.url, CLAUDE_ENTRY_TIMEOUT: '1s' });
      expect(Date.now() - started).toBeLessThan(1000 + 15_000); // the deadline, not the hang: generous for a busy machine
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout).online).toEqual({ state: 'unreachable', error: `${api.url}: no answer within 1s` });
    });
  });
});

describe('doctor', () => {
  it('explains the chain, the winner, the user and the run mode, writing nothing', async () => {
    const home = tempDir();
    const r = await runBundle(['doctor'], {
      env: baseEnv(home, { CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())), ANTHROPIC_API_KEY: FAKE.apiKey }),
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {3}2\. CLAUDE_CREDENTIALS_B64 +<- wins: Claude Code credentials JSON, expires in 8h$/m);
    expect(r.stdout).toMatch(/^ {3}1\. CLAUDE_CREDENTIALS_FILE +not set$/m);
    expect(r.stdout).toMatch(/^ {3}9\. ANTHROPIC_API_KEY +set, but not used: an earlier source wins$/m);
    expect(r.stdout).toContain("note: ANTHROPIC_API_KEY is set but CLAUDE_CREDENTIALS_B64 wins, so it is removed from the command's environment");
    expect(r.stdout).toMatch(/supervise: Node v\d+.* has no process\.execve|exec: process\.execve/);
    expect(r.stdout).toContain(`credentials: ${home}/.claude/.credentials.json`);
    expect(r.stdout).toContain('No problems found.');
    expect(fs.readdirSync(home)).toEqual([]);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
  });

  // Node 24 has process.execve, but a start with sync or fleet mode supervises: doctor says so.
  it.for([
    ['no sync', {}, /^ {2}exec: process\.execve replaces claude-entry/m],
    ['CLAUDE_ENTRY_SYNC=push', { CLAUDE_ENTRY_SYNC: 'push' }, /^ {2}supervise: sync keeps claude-entry resident/m],
    ['CLAUDE_ENTRY_FLEET=on', { CLAUDE_ENTRY_FLEET: 'on' }, /^ {2}supervise: fleet mode keeps claude-entry resident/m],
  ] as const)('says how the command runs on Node 24: %s', needs(needs.node(24)), async ([, extra, expected]) => {
    const home = tempDir();
    const r = await runBundle(['doctor'], {
      node: nodeBinaryOf(24),
      env: baseEnv(home, { CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())), ...extra }),
    });
    expect(r.stdout).toMatch(expected);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
  });

  it('lists each problem with its fix and exits 1', async () => {
    const home = tempDir();
    fs.mkdirSync(path.join(home, '.claude'));
    fs.writeFileSync(path.join(home, '.claude', '.credentials.json'), '{}');
    const r = await runBundle(['doctor'], {
      env: baseEnv(home, { CLAUDE_CREDENTIALS_JSON: JSON.stringify(credentialsJson({ scopes: ['user:profile'] })), CLAUDE_CONFIG_DIR: path.join(home, 'cfg') }),
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ {3}3\. CLAUDE_CREDENTIALS_JSON +<- set, but broken: a start would stop here$/m);
    expect(r.stdout).toMatch(/^ {2}- CLAUDE_CREDENTIALS_JSON: "claudeAiOauth.scopes" lacks "user:inference"/m);
    expect(r.stdout).toMatch(
      /^ {2}- CLAUDE_CONFIG_DIR is .*cfg, so Claude Code ignores .*\.claude\/\.credentials\.json: move it there, or unset CLAUDE_CONFIG_DIR$/m,
    );
  });

  it('no source at all is a problem', async () => {
    const r = await runBundle(['doctor'], { env: baseEnv(tempDir()) });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('no source is set: a start would fail with exit 78');
  });
});

describe('export', () => {
  it('round trip: what export prints, fed to CLAUDE_CREDENTIALS_B64, produces the same .credentials.json', async () => {
    const dev = homeWith({ expiresAt: 1_900_000_000_000 });
    const original = fs.readFileSync(path.join(dev, '.claude', '.credentials.json'), 'utf8');
    const exported = await runBundle(['export'], { env: baseEnv(dev) });
    expect(exported.code).toBe(0);
    expect(exported.stderr).toMatch(/^claude-entry: warning: this login holds a refresh token, which Claude Code rotates/m);
    expectNoSecret(exported.stderr, SECRETS);

    const container = tempDir();
    const start = await runBundle(['--', 'true'], { env: baseEnv(container, { CLAUDE_CREDENTIALS_B64: exported.stdout.trim() }) });
    expect(start.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(container, '.claude', '.credentials.json'), 'utf8'))).toEqual(JSON.parse(original));
  });

  it.each([
    ['json', (out: string) => expect(JSON.parse(out).claudeAiOauth.accessToken).toBe(FAKE.accessToken)],
    ['env', (out: string) => expect(out).toMatch(/^CLAUDE_CREDENTIALS_B64=[A-Za-z0-9+/=]+\n$/)],
  ])('--format %s', async (format, assert) => {
    const dev = homeWith({});
    const r = await runBundle(['export', '--format', format], { env: baseEnv(dev) });
    expect(r.code).toBe(0);
    assert(r.stdout);
  });

  it('--from a file', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'login.json');
    fs.writeFileSync(file, JSON.stringify(credentialsJson()));
    const r = await runBundle(['export', '--from', file, '--format', 'json'], { env: baseEnv(tempDir()) });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(fs.readFileSync(file, 'utf8')));
  });

  it('from the macOS keychain through `security` (a fake one first on PATH)', async () => {
    const dir = tempDir();
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    const log = path.join(dir, 'security.log');
    fs.writeFileSync(path.join(bin, 'security'), `#!/bin/sh\necho "$@" > ${log}\necho '${JSON.stringify(credentialsJson())}'\n`, { mode: 0o755 });
    const r = await runBundle(['export', '--format', 'json'], { env: { ...baseEnv(path.join(dir, 'home')), PATH: `${bin}:${process.env.PATH}` } });
    expect(r.code).toBe(0);
    expect(fs.readFileSync(log, 'utf8').trim()).toBe('find-generic-password -s Claude Code-credentials -w');
    expect(JSON.parse(r.stdout).claudeAiOauth.accessToken).toBe(FAKE.accessToken);
  });

  it('a keychain without the item, and no login at all, are clear errors', async () => {
    const dir = tempDir();
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(
      path.join(bin, 'security'),
      '#!/bin/sh\necho "security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain." >&2\nexit 44\n',
      { mode: 0o755 },
    );
    let r = await runBundle(['export'], { env: { ...baseEnv(path.join(dir, 'home')), PATH: `${bin}:${process.env.PATH}` } });
    expect(r.code).toBe(78);
    expect(r.stderr.trim()).toBe(
      'claude-entry: error: no local login found in the keychain item "Claude Code-credentials" (security exited 44); run `claude` and log in first',
    );
    r = await runBundle(['export'], { env: { ...baseEnv(path.join(dir, 'home')), PATH: '/usr/bin:/bin' } });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/no local login found: .*\.credentials\.json does not exist and there is no macOS keychain here/);
  });

  it('--to a file reference writes it 0600; --to env: is refused', async () => {
    const dev = homeWith({});
    const out = path.join(tempDir(), 'secret');
    let r = await runBundle(['export', '--to', `file:${out}`], { env: baseEnv(dev) });
    expect(r.code).toBe(0);
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(out, 'utf8')).claudeAiOauth.accessToken).toBe(FAKE.accessToken);
    r = await runBundle(['export', '--to', 'env:X'], { env: baseEnv(dev) });
    expect(r.code).toBe(78);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
  });

  it('an invalid local login is refused, not exported', async () => {
    const dev = homeWith({ scopes: [] });
    const r = await runBundle(['export'], { env: baseEnv(dev) });
    expect(r.code).toBe(78);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/lacks "user:inference"/);
  });
});

describe('help', () => {
  it.each(['check', 'doctor', 'export'])('%s --help shows usage with examples', async (sub) => {
    const r = await runBundle([sub, '--help'], { env: baseEnv(tempDir()) });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: claude-entry ${sub}`));
    expect(r.stdout).toMatch(/Examples?:/);
  });
  it('a program named like a subcommand runs after --', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'check'), '#!/bin/sh\necho I am a program\n', { mode: 0o755 });
    const r = await runBundle(['--', './check'], { env: baseEnv(dir, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }), cwd: dir });
    expect(r.stdout).toBe('I am a program\n');
  });
});

describe('doctor, for every state of the file in place', () => {
  it.each([
    [
      'healthy',
      {},
      {},
      0,
      new RegExp(`in place: .*\\(0600, uid ${UID}\\): Claude Code credentials JSON, expires in 8h, refresh token present$`, 'm'),
      /No problems found\./,
    ],
    ['expiring, refreshable', { expiresAt: Date.now() + 4 * 60_000 }, {}, 0, /expires in 4m, refresh token present$/m, /No problems found\./],
    ['expired with a refresh token', { expiresAt: Date.now() - HOUR }, {}, 0, /expired 60m ago, refresh token present$/m, /No problems found\./],
    [
      'expired without a refresh token',
      { expiresAt: Date.now() - HOUR, refreshToken: undefined },
      {},
      1,
      /: not usable$/m,
      /^ {2}- .*expired 60m ago and there is no refresh token; log in again/m,
    ],
    [
      'blanked by a failed refresh',
      { accessToken: '', refreshToken: '', expiresAt: 0 },
      {},
      1,
      /: not usable$/m,
      /^ {2}- .*blanked by a failed token refresh; log in again/m,
    ],
    [
      'wrong mode',
      {},
      { mode: 0o644 },
      1,
      new RegExp(`\\(0644, uid ${UID}\\)`),
      /^ {2}- .*has mode 0644, not 0600; restart the container \(claude-entry fixes it at start\) or chmod 600 it$/m,
    ],
  ] as const)('%s', async (_name, oauth, opts, code, inPlaceLine, verdict) => {
    await doctorSees(homeWith(oauth, opts), code, inPlaceLine, verdict);
  });

  // A file owned by another uid than ours: made with chown, as root.
  it('wrong owner', needs(needs.root()), async () => {
    await doctorSees(
      homeWith({}, { uid: 4321 }),
      1,
      /\(0600, uid 4321\)/,
      /^ {2}- .*is owned by uid 4321, not 0, so Claude Code cannot save refreshed tokens/m,
    );
  });

  async function doctorSees(home: string, code: number, inPlaceLine: RegExp, verdict: RegExp): Promise<void> {
    const r = await runBundle(['doctor'], { env: baseEnv(home) });
    expect(r.code).toBe(code);
    expect(r.stdout).toMatch(inPlaceLine);
    expect(r.stdout).toMatch(verdict);
    expect(r.stdout).toMatch(/\(already in place\) +<- (wins|set, but broken)/);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
  }

  it('missing', async () => {
    const r = await runBundle(['doctor'], { env: baseEnv(homeWith(undefined)) });
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(/in place:/);
    expect(r.stdout).toMatch(/(already in place\)) +not set$/m);
  });

  it('a file in place that another source replaces is not a problem', async () => {
    const home = homeWith({}, { mode: 0o644 });
    const r = await runBundle(['doctor'], { env: baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }) });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('(a start fixes or replaces it)');
  });
});

/**
 * `REF#key` on local references, through the built bundle: a mounted JSON secret holding
 * several keys (a Kubernetes Secret rendered as one file, an env var holding a JSON object),
 * with the same errors as the cloud references.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAKE, baseEnv, credentialsJson, expectNoSecret, loginPair, runBundle, tempDir, tokenOf, writeLikeCli } from '../helpers.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
/** The command: prints hashes of what it was given, never the values. */
const REPORT = [
  process.execPath,
  '-e',
  "const h=s=>s?require('crypto').createHash('sha256').update(s).digest('hex'):'-';" +
    'console.log(JSON.stringify({oauth:h(process.env.CLAUDE_CODE_OAUTH_TOKEN),api:h(process.env.ANTHROPIC_API_KEY),bundle:process.env.BUNDLE||"-"}))',
];

const LOGIN = credentialsJson();
const BUNDLE_SECRET = JSON.stringify({ token: FAKE.oauthToken, apiKey: FAKE.apiKey, login: LOGIN, loginText: JSON.stringify(LOGIN), port: 8080 });

function mounted(): { dir: string; file: string; home: string } {
  const dir = tempDir();
  const file = path.join(dir, 'claude-bundle.json');
  fs.writeFileSync(file, BUNDLE_SECRET, { mode: 0o600 });
  return { dir, file, home: path.join(dir, 'home') };
}

describe('REF#key on file: and env: references', () => {
  it.each([
    ['file:PATH#token', (f: string) => `file:${f}#token`, 'oauth'],
    ['/PATH#apiKey', (f: string) => `${f}#apiKey`, 'api'],
    ['env:NAME#token', () => 'env:BUNDLE#token', 'oauth'],
    ['env:NAME#apiKey', () => 'env:BUNDLE#apiKey', 'api'],
  ])('%s selects that key', async (_name, ref, kind) => {
    const { file, home } = mounted();
    const viaEnv = ref(file).startsWith('env:');
    const r = await runBundle(['--', ...REPORT], { env: baseEnv(home, { CLAUDE_ENTRY_SOURCE: ref(file), ...(viaEnv ? { BUNDLE: BUNDLE_SECRET } : {}) }) });
    expect(r.code).toBe(0);
    const seen = JSON.parse(r.stdout);
    if (kind === 'oauth') expect(seen.oauth).toBe(sha(FAKE.oauthToken));
    else expect(seen.api).toBe(sha(FAKE.apiKey));
    // The variable that held the whole object is not the command's to read.
    expect(seen.bundle).toBe('-');
    expect(r.stderr).toContain(`using ${kind === 'oauth' ? 'OAuth token' : 'API key'} from ${ref(file).startsWith('/') ? `file:${ref(file)}` : ref(file)}`);
    expectNoSecret(r.stdout + r.stderr, Object.values(FAKE));
  });

  it.each([
    ['an object value (a credentials JSON stored as JSON)', 'login'],
    ['a string value holding a credentials JSON', 'loginText'],
  ])('#key with %s installs the login', async (_name, key) => {
    const { file, home } = mounted();
    const r = await runBundle(['--', 'true'], { env: baseEnv(home, { CLAUDE_ENTRY_SOURCE: `file:${file}#${key}` }) });
    expect(r.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(home, '.claude', '.credentials.json'), 'utf8'))).toEqual(LOGIN);
  });

  it.each([
    [
      'a missing key',
      (f: string) => `file:${f}#nope`,
      /^claude-entry: error: file:.*claude-bundle\.json#nope: the secret has no key "nope" \(it has "token", "apiKey", "login", "loginText", "port"\)$/m,
    ],
    ['a missing key (env)', () => 'env:BUNDLE#nope', /^claude-entry: error: env:BUNDLE#nope: the secret has no key "nope"/m],
    ['a value that is neither a string nor an object', (f: string) => `file:${f}#port`, /: the value under "port" is not a string or an object$/m],
    [
      'not a JSON object (file)',
      (f: string) => `file:${f}.token#token`,
      /^claude-entry: error: file:.*\.token#token: "#token" selects a key, but the secret is not a JSON object$/m,
    ],
    [
      'not a JSON object (env)',
      () => 'env:TOKEN#token',
      /^claude-entry: error: env:TOKEN#token: "#token" selects a key, but the secret is not a JSON object$/m,
    ],
    ['an inherited name', (f: string) => `file:${f}#constructor`, /the secret has no key "constructor"/m],
    ['an empty key', (f: string) => `file:${f}#`, /empty key after "#"/m],
  ])('%s: 78, named, nothing quoted', async (_name, ref, message) => {
    const { file, home } = mounted();
    fs.writeFileSync(`${file}.token`, FAKE.oauthToken, { mode: 0o600 });
    const r = await runBundle(['--', 'sh', '-c', 'echo SHOULD-NOT-RUN'], {
      env: baseEnv(home, { CLAUDE_ENTRY_SOURCE: ref(file), BUNDLE: BUNDLE_SECRET, TOKEN: FAKE.oauthToken }),
    });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
    expectNoSecret(r.stdout + r.stderr, Object.values(FAKE));
  });

  it('sync push writes the refreshed login back under its key, keeping the other keys', async () => {
    const { file, home } = mounted();
    const A = loginPair(Date.now() + 3600_000);
    const B = loginPair(Date.now() + 8 * 3600_000);
    fs.writeFileSync(file, JSON.stringify({ other: FAKE.apiKey, claude: JSON.parse(A) }), { mode: 0o600 });
    const local = path.join(home, '.claude', '.credentials.json');
    const write = writeLikeCli(local);
    const r = await runBundle(['--', 'sh', '-c', `sleep 0.5; ${write}; sleep 1.5`, 'sh', B], {
      env: baseEnv(home, { CLAUDE_ENTRY_SOURCE: `file:${file}#claude`, CLAUDE_ENTRY_SYNC: 'push', CLAUDE_ENTRY_TIMEOUT: '2s' }),
      timeoutMs: 30_000,
    });
    expect(r.code).toBe(0);
    const after = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(after.other).toBe(FAKE.apiKey);
    expect(tokenOf(JSON.stringify(after.claude))).toBe(tokenOf(B));
    expect(r.stderr).toMatch(/sync push: pushed the refreshed login to file:.*#claude/);
    expectNoSecret(r.stdout + r.stderr, [FAKE.apiKey, tokenOf(A), tokenOf(B)]);
  });

  it('export --to file:PATH#key stores the login under that key, keeping the others', async () => {
    const { dir, file } = mounted();
    const login = path.join(dir, 'login.json');
    fs.writeFileSync(login, JSON.stringify(LOGIN), { mode: 0o600 });
    const r = await runBundle(['export', '--from', login, '--to', `file:${file}#fresh`], { env: baseEnv(path.join(dir, 'home')) });
    expect(r.code, r.stderr).toBe(0);
    const after = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(after.token).toBe(FAKE.oauthToken);
    expect(after.fresh).toBe(JSON.stringify(LOGIN));
    const back = await runBundle(['--', 'true'], { env: baseEnv(path.join(dir, 'home2'), { CLAUDE_ENTRY_SOURCE: `file:${file}#fresh` }) });
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'home2', '.claude', '.credentials.json'), 'utf8'))).toEqual(LOGIN);
    expectNoSecret(r.stdout + r.stderr + back.stdout + back.stderr, Object.values(FAKE));
  });
});

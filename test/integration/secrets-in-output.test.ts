/**
 * Class 6 of issue 8, through the built bundle as root: a credential put where a path or a
 * reference belongs is refused (78) naming the variable, never echoed by any command or
 * channel (stdout, stderr, text or JSON logs), and never sent to a provider; tokens read from
 * files are redacted like those from the environment; parser and HTTP-library messages never
 * pass through.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { fakeAwsEnv, startFakeSecretsManager, type FakeSecretsManager } from '../fakes/aws.js';
import { FAKE, b64, baseEnv, credentialsJson, expectNoSecret, runBundle, tempDir, type RunResult } from '../helpers.js';

const LOGIN_JSON = JSON.stringify(credentialsJson());
const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQTESTTESTTEST\n-----END PRIVATE KEY-----';
const RANDOM_KEY = 'Zq8TESTx3Lr0Vb7Nw2Kc5Hs9Jd4Mf6Pg1Ty0Ue3Wa8Rb2Xc7Yd4Ze';

/** Values that are credentials, each with the fragments that must never be printed. */
const VALUES: { name: string; value: string; fragments: string[] }[] = [
  { name: 'an OAuth token', value: FAKE.oauthToken, fragments: [FAKE.oauthToken] },
  { name: 'an API key', value: FAKE.apiKey, fragments: [FAKE.apiKey] },
  { name: 'a credentials JSON', value: LOGIN_JSON, fragments: [FAKE.accessToken, FAKE.refreshToken] },
  {
    name: 'base64 of a credentials JSON',
    value: b64(LOGIN_JSON),
    fragments: [FAKE.accessToken, FAKE.refreshToken, b64(LOGIN_JSON).slice(0, 24), b64(LOGIN_JSON).slice(40, 64)],
  },
  { name: 'a PEM key', value: PEM, fragments: ['MIIEvQIBADANBgkqhkiG9w0B', 'TESTTESTTEST'] },
  { name: 'a long random key', value: RANDOM_KEY, fragments: [RANDOM_KEY.slice(0, 16), RANDOM_KEY.slice(20, 36)] },
];

/** Where a path, a name or a reference belongs: a variable, or a flag. */
type Input = { name: string; env?: string; flag?: string };
const variables = (...names: string[]): Input[] => names.map((name) => ({ name, env: name }));
const flag = (name: string): Input => ({ name, flag: name });
const INPUTS: Input[] = [
  ...variables('CLAUDE_CODE_OAUTH_TOKEN_FILE', 'ANTHROPIC_API_KEY_FILE', 'CLAUDE_CREDENTIALS_FILE', 'CLAUDE_ENTRY_SOURCE'),
  flag('--source'),
  ...variables('CLAUDE_CREDENTIALS_AWS_SECRET', 'CLAUDE_CREDENTIALS_GCP_SECRET', 'CLAUDE_CREDENTIALS_AZURE_SECRET', 'CLAUDE_ENTRY_USER'),
  flag('--user'),
  ...variables('CLAUDE_CONFIG_DIR', 'CLAUDE_ENTRY_TRUST'),
];

const COMMANDS: { name: string; args: string[] }[] = [
  { name: 'a start', args: ['--', 'sh', '-c', 'echo SHOULD-NOT-RUN'] },
  { name: 'check', args: ['check', '--online'] },
  { name: 'doctor', args: ['doctor'] },
];

let aws: FakeSecretsManager;
let api: FakeAnthropic;
beforeAll(async () => {
  aws = await startFakeSecretsManager({ region: 'eu-west-3' });
  api = await startFakeAnthropic();
});
afterAll(async () => {
  await aws?.close();
  await api?.close();
});

/** Every provider and service a misused value could reach, pointed at the fakes. */
function providerEnv(home: string, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return baseEnv(home, { ...fakeAwsEnv(aws.url, 'eu-west-3'), ANTHROPIC_BASE_URL: api.url, ...extra });
}

function expectNothingOf(r: RunResult, fragments: string[]): void {
  const all = r.stdout + r.stderr;
  for (const fragment of fragments) expect(all).not.toContain(fragment);
  expectNoSecret(all, Object.values(FAKE));
}

describe('a credential where a path or a reference belongs', () => {
  const cases = COMMANDS.flatMap((command) =>
    INPUTS.flatMap((input) =>
      // Every value at a start; the three most common mistakes for check and doctor.
      VALUES.filter((_v, i) => command.name === 'a start' || i < 3 || input.name.startsWith('CLAUDE_CREDENTIALS_AWS')).map(
        (value) => [`${command.name}: ${input.name} = ${value.name}`, command, input, value] as const,
      ),
    ),
  );

  it.each(cases)('%s: refused (78), named, never printed or sent', async (_name, command, input, value) => {
    const home = tempDir();
    const before = aws.requests.length;
    const apiBefore = api.requests.length;
    for (const format of ['text', 'json']) {
      // --flag=VALUE: a PEM starts with "-", which parseArgs would take for an option.
      const args = input.flag ? [`${input.flag}=${value.value}`, ...command.args] : command.args;
      const env = providerEnv(home, { CLAUDE_ENTRY_LOG: 'debug', CLAUDE_ENTRY_LOG_FORMAT: format, ...(input.env ? { [input.env]: value.value } : {}) });
      const r = await runBundle(args, { env, timeoutMs: 20_000 });
      expect(r.code).toBe(78);
      expect(r.stderr).toContain(`${input.name}: the value looks like a credential`);
      expect(r.stdout).not.toContain('SHOULD-NOT-RUN');
      expectNothingOf(r, value.fragments);
    }
    // Refused before any network call: not even a request without the value.
    expect(aws.requests.slice(before)).toEqual([]);
    expect(api.requests.slice(apiBefore)).toEqual([]);
    expect(fs.existsSync(path.join(home, '.claude'))).toBe(false);
  });

  it.each(VALUES.map((v) => [v.name, v] as const))('export --to %s: refused (78), never printed or stored', async (_name, value) => {
    const home = tempDir();
    const login = path.join(home, 'login.json');
    fs.writeFileSync(login, LOGIN_JSON, { mode: 0o600 });
    const before = aws.requests.length;
    const r = await runBundle(['export', '--from', login, `--to=${value.value}`], { env: providerEnv(home, {}), timeoutMs: 20_000 });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('--to: the value looks like a credential');
    expect(r.stdout).toBe('');
    expectNothingOf(r, value.fragments);
    expect(aws.requests.slice(before)).toEqual([]);
  });

  it.each([
    ['an OAuth token', FAKE.oauthToken],
    ['an API key', FAKE.apiKey],
  ])('%s pasted after one dash (-sk-ant-...) is -s and the rest of the token: refused (78), no part printed', async (_name, token) => {
    const home = tempDir();
    for (const format of ['text', 'json']) {
      const r = await runBundle([`-${token}`, '--', 'sh', '-c', 'echo SHOULD-NOT-RUN'], { env: providerEnv(home, { CLAUDE_ENTRY_LOG_FORMAT: format }) });
      expect(r.code).toBe(78);
      expect(r.stderr).toContain('--source: the value looks like a credential');
      expectNothingOf(r, [token.slice(1), token.slice(14, 30)]);
    }
  });

  it('ordinary references are not mistaken for credentials', async () => {
    const home = tempDir();
    const arn = aws.putSecret('prod/claude-entry/Team_Alpha-2024', FAKE.oauthToken).arn;
    const refs = [
      arn,
      'aws-sm:prod/claude-entry/Team_Alpha-2024',
      '/run/secrets/claude-credentials',
      'file:/var/run/secrets/kubernetes.io/..2024_01_01_12_00_00.123456789/token',
      'env:MY_CLAUDE_TOKEN_0123456789',
      'projects/my-project-123456/secrets/claude-credentials-production/versions/latest',
      'https://my-vault-01.vault.azure.net/secrets/claude-credentials/0123456789abcdef0123456789abcdef',
    ];
    const r = await runBundle(['doctor'], { env: providerEnv(home, { CLAUDE_ENTRY_SOURCE: refs.join(',') }) });
    expect(r.stdout + r.stderr).not.toMatch(/looks like a credential/);
    expect(r.stdout).toContain(`1. ${arn}`);
  });
});

describe('tokens read from files and providers are redacted like those from the environment', () => {
  // An access token that does not look like one (Claude Code accepts any string): only the
  // registration of what was read can keep it out of a message that names it.
  const opaque = 'TESTopaqueAccessToken0000000000000000000000';

  it('from a file source', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'login.json');
    fs.writeFileSync(file, JSON.stringify(credentialsJson({ accessToken: opaque })), { mode: 0o600 });
    // The command's name is the token: "command not found" names the command.
    const r = await runBundle(['--', opaque], { env: baseEnv(path.join(dir, 'home'), { CLAUDE_ENTRY_SOURCE: file, CLAUDE_ENTRY_LOG: 'debug' }) });
    expect(r.code).toBe(127);
    expect(r.stderr).toContain('[REDACTED]');
    expect(r.stdout + r.stderr).not.toContain(opaque);
  });

  it('from AWS Secrets Manager', async () => {
    const dir = tempDir();
    const arn = aws.putSecret(`redact-${Date.now()}`, JSON.stringify(credentialsJson({ accessToken: opaque }))).arn;
    const r = await runBundle(['--', opaque], {
      env: providerEnv(path.join(dir, 'home'), { CLAUDE_ENTRY_SOURCE: arn, CLAUDE_ENTRY_LOG: 'debug' }),
      timeoutMs: 30_000,
    });
    expect(r.code).toBe(127);
    expect(r.stdout + r.stderr).not.toContain(opaque);
  });

  it('from a file, the other keys of a #key object too', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'secret.json');
    fs.writeFileSync(file, JSON.stringify({ token: FAKE.oauthToken, other: opaque }), { mode: 0o600 });
    const r = await runBundle(['--', opaque], { env: baseEnv(path.join(dir, 'home'), { CLAUDE_ENTRY_SOURCE: `file:${file}#token` }) });
    expect(r.code).toBe(127);
    expect(r.stdout + r.stderr).not.toContain(opaque);
  });
});

describe('parser and HTTP-library messages never pass through', () => {
  /** An "AWS endpoint" whose answers are not AWS's JSON: they quote a token. */
  async function garbageEndpoint(status: number, body: string): Promise<{ url: string; close: () => Promise<void> }> {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  it.each([
    ['200, a token instead of JSON', 200, FAKE.oauthToken],
    ['200, JSON cut short after a token', 200, `{"SecretString":"${FAKE.oauthToken}`],
    ['400, a token instead of an error', 400, FAKE.apiKey],
    ['500, HTML quoting a token', 500, `<html><body>${FAKE.apiKey}</body></html>`],
    ['400, an AWS error whose message is a token', 400, JSON.stringify({ __type: 'ValidationException', message: FAKE.oauthToken })],
  ])('AWS answers %s: exit 69 or 78, the answer is not quoted', async (_name, status, body) => {
    const endpoint = await garbageEndpoint(status, body);
    try {
      const home = tempDir();
      const r = await runBundle(['--', 'true'], {
        env: providerEnv(home, {
          AWS_ENDPOINT_URL: endpoint.url,
          AWS_MAX_ATTEMPTS: '1',
          CLAUDE_ENTRY_SOURCE: 'aws-sm:prod/claude',
          CLAUDE_ENTRY_LOG: 'debug',
          CLAUDE_ENTRY_TIMEOUT: '5s',
        }),
        timeoutMs: 30_000,
      });
      expect([69, 78]).toContain(r.code);
      expect(r.stderr).toMatch(/aws-sm:prod\/claude/);
      const all = r.stdout + r.stderr;
      // Not even the ten characters JSON.parse quotes ("sk-ant-oat"...): only a masked form.
      expect(all).not.toMatch(/sk-ant-(?!\[REDACTED\])/);
      expect(all).not.toMatch(/<html|not valid JSON|Unexpected token/);
      expectNoSecret(all, Object.values(FAKE));
      expect(all).not.toContain('TESTsetuptoken');
      expect(all).not.toContain('TESTapikey');
    } finally {
      await endpoint.close();
    }
  });

  it.each([
    ['a line break', `${FAKE.accessToken}\nX-Evil: 1`],
    ['a non-ASCII character', `${FAKE.accessToken}é`],
    ['a space', `${FAKE.accessToken} tail`],
  ])('check --online with an access token holding %s: not sent, not quoted, unhealthy', async (_name, token) => {
    const home = tempDir();
    fs.mkdirSync(path.join(home, '.claude'), { mode: 0o700 });
    fs.writeFileSync(path.join(home, '.claude', '.credentials.json'), JSON.stringify(credentialsJson({ accessToken: token })), { mode: 0o600 });
    const before = api.requests.length;
    for (const json of [[], ['--json']]) {
      const r = await runBundle(['check', '--online', ...json], { env: baseEnv(home, { ANTHROPIC_BASE_URL: api.url }) });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/cannot be sent in an HTTP header/);
      expectNoSecret(r.stdout + r.stderr, [FAKE.accessToken, token]);
    }
    expect(api.requests.slice(before)).toEqual([]);
  });

  it('check --online prints ANTHROPIC_BASE_URL as its origin only (a gateway key in its path stays unprinted)', async () => {
    const home = tempDir();
    fs.mkdirSync(path.join(home, '.claude'), { mode: 0o700 });
    fs.writeFileSync(path.join(home, '.claude', '.credentials.json'), JSON.stringify(credentialsJson()), { mode: 0o600 });
    const gatewayKey = 'gwTESTk3yAbCdEfGhIjKlMnOp0123456789';
    // A port nothing listens on.
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const r = await runBundle(['check', '--online', '--json'], {
      env: baseEnv(home, { ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}/${gatewayKey}/anthropic`, CLAUDE_ENTRY_TIMEOUT: '2s' }),
    });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).online).toEqual({ state: 'unreachable', error: `http://127.0.0.1:${port}: ECONNREFUSED` });
    expect(r.stdout + r.stderr).not.toContain(gatewayKey);
  });

  it('a JSON.parse error on a credential never quotes it (a start, check, doctor)', async () => {
    const home = tempDir();
    const broken = `{"claudeAiOauth":{"accessToken":"${FAKE.accessToken}"`; // cut short
    fs.mkdirSync(path.join(home, '.claude'), { mode: 0o700 });
    fs.writeFileSync(path.join(home, '.claude', '.credentials.json'), broken, { mode: 0o600 });
    for (const args of [['--', 'true'], ['check'], ['doctor'], ['check', '--json']]) {
      const r = await runBundle(args, { env: baseEnv(home, { CLAUDE_ENTRY_LOG: 'debug' }) });
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/invalid JSON/);
      expectNoSecret(r.stdout + r.stderr, [FAKE.accessToken]);
      expect(r.stdout + r.stderr).not.toContain('"claudeAi');
    }
  });
});

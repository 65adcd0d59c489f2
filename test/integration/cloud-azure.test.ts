/**
 * Azure Key Vault through the built bundle: the real SDK (SecretClient + DefaultAzureCredential)
 * against the fake vault over HTTPS (a test CA in NODE_EXTRA_CA_CERTS), with the 401 challenge,
 * and a managed identity token endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER, as in App Service
 * and Container Apps).
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_VAULT_RESOURCE, startFakeAzure, type FakeAzure, type VaultBehaviour } from '../fakes/azure.js';
import { makeTestCa, type TestCa } from '../fakes/tls.js';
import { FAKE, b64, baseEnv, credentialsJson, expectNoSecret, nodeBinary, runBundle, tempDir, type RunResult } from '../helpers.js';
import { needs } from '../needs.js';

let ca: TestCa;
let fake: FakeAzure;

beforeAll(async () => {
  ca = makeTestCa();
  fake = await startFakeAzure({ ca });
});
afterAll(async () => {
  await fake?.close();
  ca?.cleanup();
});

const sha = (s: string | undefined) => (s ? createHash('sha256').update(s).digest('hex') : '-');
/** The command: prints hashes of what it was given, never the values. */
const REPORT = [
  process.execPath,
  '-e',
  "const h=s=>s?require('crypto').createHash('sha256').update(s).digest('hex'):'-';" +
    'console.log(JSON.stringify({oauth:h(process.env.CLAUDE_CODE_OAUTH_TOKEN),api:h(process.env.ANTHROPIC_API_KEY)}))',
];

let counter = 0;
const uniqueName = (prefix: string) => `${prefix}-${++counter}-${randomBytes(3).toString('hex')}`;

interface Run extends RunResult {
  home: string;
  elapsedMs: number;
}

async function run(extra: NodeJS.ProcessEnv, options: { identity?: boolean; trustCa?: boolean; node?: string } = {}): Promise<Run> {
  const home = tempDir();
  const env = baseEnv(home, {
    ...(options.trustCa === false ? {} : { NODE_EXTRA_CA_CERTS: ca.caFile }),
    ...(options.identity === false ? {} : fake.identityEnv),
    ...extra,
  });
  const started = Date.now();
  const result = await runBundle(['--', ...REPORT], { env, timeoutMs: 30_000, node: options.node });
  return { ...result, home, elapsedMs: Date.now() - started };
}

/** A secret-looking value that is not a credential: must not be echoed either. */
const NOT_A_CREDENTIAL = 'postgres://app:hunter2hunter2hunter2@db.internal/app';

/** Every secret the fake holds or issued: none may appear in any output. */
function allSecrets(): string[] {
  return [NOT_A_CREDENTIAL, FAKE.accessToken, FAKE.refreshToken, FAKE.oauthToken, FAKE.apiKey, ...fake.issuedTokens(), fake.identityEnv.IDENTITY_HEADER!];
}

function expectFailure(r: Run, exitCode: number, ref: string, ...mentions: string[]): void {
  const output = r.stdout + r.stderr;
  expect(r.code, output).toBe(exitCode);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n').filter(Boolean);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^claude-entry: error: /);
  expect(lines[0]).toContain(ref);
  for (const m of mentions) expect(lines[0]).toContain(m);
  expect(fs.readdirSync(r.home)).toEqual([]);
  expectNoSecret(output, allSecrets());
}

function childSaw(r: Run): { oauth: string; api: string } {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

describe('Azure Key Vault: success', () => {
  it('CLAUDE_ENTRY_SOURCE, current version, credentials JSON: written to .credentials.json', async () => {
    const name = uniqueName('creds');
    const creds = credentialsJson();
    fake.setSecret(name, JSON.stringify(creds));
    const before = fake.requests.length;
    const r = await run({ CLAUDE_ENTRY_SOURCE: fake.secretUrl(name) });
    expect(childSaw(r)).toEqual({ oauth: '-', api: '-' });
    const written = path.join(r.home, '.claude', '.credentials.json');
    expect(JSON.parse(fs.readFileSync(written, 'utf8'))).toEqual(creds);
    expect(fs.statSync(written).mode & 0o777).toBe(0o600);
    expect(r.stderr).toContain(`from ${fake.secretUrl(name)}`);
    // The challenge flow: unauthenticated first, then with the managed identity's token.
    const mine = fake.requests.slice(before);
    expect(mine.map((q) => [q.authorized, q.status])).toEqual([
      [false, 401],
      [true, 200],
    ]);
    expect(mine[0]!.apiVersion).toBeTruthy();
    expect(fake.tokenRequests.at(-1)).toMatchObject({ resource: KEY_VAULT_RESOURCE, identityHeaderOk: true, status: 200 });
    expectNoSecret(r.stdout + r.stderr, allSecrets());
  });

  it('CLAUDE_ENTRY_SOURCE with an older version: that version, not the current one', async () => {
    const name = uniqueName('versioned');
    const old = fake.setSecret(name, FAKE.oauthToken);
    fake.setSecret(name, FAKE.apiKey);
    const r = await run({ CLAUDE_ENTRY_SOURCE: fake.secretUrl(name, old) });
    expect(childSaw(r)).toEqual({ oauth: sha(FAKE.oauthToken), api: '-' });
    expectNoSecret(r.stdout + r.stderr, allSecrets());
  });

  it('CLAUDE_CREDENTIALS_AZURE_SECRET, API key with a trailing newline', async () => {
    const name = uniqueName('apikey');
    fake.setSecret(name, `${FAKE.apiKey}\n`);
    const r = await run({ CLAUDE_CREDENTIALS_AZURE_SECRET: fake.secretUrl(name) });
    expect(childSaw(r)).toEqual({ oauth: '-', api: sha(FAKE.apiKey) });
    expectNoSecret(r.stdout + r.stderr, allSecrets());
  });

  it('CLAUDE_CREDENTIALS_AZURE_SECRET with a version: base64 of a credentials JSON', async () => {
    const name = uniqueName('b64');
    const creds = credentialsJson();
    const version = fake.setSecret(name, b64(JSON.stringify(creds)));
    fake.setSecret(name, 'a later version that is not a credential');
    const r = await run({ CLAUDE_CREDENTIALS_AZURE_SECRET: fake.secretUrl(name, version) });
    expect(childSaw(r)).toEqual({ oauth: '-', api: '-' });
    expect(JSON.parse(fs.readFileSync(path.join(r.home, '.claude', '.credentials.json'), 'utf8'))).toEqual(creds);
  });

  it('#key selects one key of a JSON secret (OAuth token), through CLAUDE_ENTRY_SOURCE', async () => {
    const name = uniqueName('multi');
    fake.setSecret(name, JSON.stringify({ database: 'not this', claude: FAKE.oauthToken }));
    const r = await run({ CLAUDE_ENTRY_SOURCE: `${fake.secretUrl(name)}#claude` });
    expect(childSaw(r)).toEqual({ oauth: sha(FAKE.oauthToken), api: '-' });
    expectNoSecret(r.stdout + r.stderr, allSecrets());
  });

  it('#key with a version, through CLAUDE_CREDENTIALS_AZURE_SECRET: an object value is a credentials JSON', async () => {
    const name = uniqueName('multi-v');
    const creds = credentialsJson();
    const version = fake.setSecret(name, JSON.stringify({ claude: creds, other: 'x' }));
    const r = await run({ CLAUDE_CREDENTIALS_AZURE_SECRET: `${fake.secretUrl(name, version)}#claude` });
    expect(childSaw(r)).toEqual({ oauth: '-', api: '-' });
    expect(JSON.parse(fs.readFileSync(path.join(r.home, '.claude', '.credentials.json'), 'utf8'))).toEqual(creds);
  });

  // The SDK requires Node >= 20; on 18 the module provides the global webcrypto it calls.
  it.for([18, 22, 24] as const)('on Node %i', async (major, ctx) => {
    needs.now(ctx, needs.node(major));
    const node = nodeBinary(major)!;
    const name = uniqueName(`node${major}`);
    fake.setSecret(name, FAKE.apiKey);
    const r = await run({ CLAUDE_ENTRY_SOURCE: fake.secretUrl(name) }, { node });
    expect(childSaw(r)).toEqual({ oauth: '-', api: sha(FAKE.apiKey) });
  });

  it("debug logs, the SDK's own included (AZURE_LOG_LEVEL=verbose): no token, header or secret in them", async () => {
    const name = uniqueName('debug');
    fake.setSecret(name, FAKE.oauthToken);
    const r = await run({ CLAUDE_ENTRY_SOURCE: fake.secretUrl(name), CLAUDE_ENTRY_LOG: 'debug', AZURE_LOG_LEVEL: 'verbose' });
    expect(childSaw(r)).toEqual({ oauth: sha(FAKE.oauthToken), api: '-' });
    expect(r.stderr).toContain('azure sdk: ');
    for (const line of r.stderr.split('\n').filter(Boolean)) expect(line).toMatch(/^claude-entry: /);
    expectNoSecret(r.stdout + r.stderr, allSecrets());
  });

  it('throttled (429 with Retry-After) twice, then answered: exit 0', async () => {
    const name = uniqueName('throttled');
    fake.setSecret(name, FAKE.apiKey);
    fake.script(name, { kind: 'throttle', times: 2, retryAfterSeconds: 1 });
    const before = fake.requests.length;
    const r = await run({ CLAUDE_ENTRY_SOURCE: fake.secretUrl(name) });
    expect(childSaw(r)).toEqual({ oauth: '-', api: sha(FAKE.apiKey) });
    const statuses = fake.requests.slice(before).map((q) => q.status);
    expect(statuses.filter((s) => s === 429)).toHaveLength(2);
    expect(statuses.at(-1)).toBe(200);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(2000); // Retry-After was honoured
  });
});

describe('the fake vault', () => {
  /** One HTTPS request to the fake, trusting the test CA. */
  function request(
    method: string,
    url: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method, headers, ca: ca.caPem }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, text, headers: res.headers }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('PUT /secrets/{name} (for export --to) adds a version that the bundle then reads', async () => {
    const name = uniqueName('put');
    const url = `${fake.secretUrl(name)}?api-version=2025-07-01`;
    const body = JSON.stringify({ value: FAKE.oauthToken });
    const challenged = await request('PUT', url, { 'content-type': 'application/json' }, body);
    expect(challenged.status).toBe(401);
    expect(challenged.headers['www-authenticate']).toContain(`resource="${KEY_VAULT_RESOURCE}"`);

    const identity = new URL(fake.identityEnv.IDENTITY_ENDPOINT!);
    identity.search = new URLSearchParams({ 'api-version': '2019-08-01', resource: KEY_VAULT_RESOURCE }).toString();
    const token = JSON.parse(
      await new Promise<string>((resolve, reject) =>
        http
          .get(identity, { headers: { 'x-identity-header': fake.identityEnv.IDENTITY_HEADER! } }, (res) => {
            let text = '';
            res.on('data', (d) => (text += d));
            res.on('end', () => resolve(text));
          })
          .on('error', reject),
      ),
    ).access_token;
    const put = await request('PUT', url, { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body);
    expect(put.status, put.text).toBe(200);
    const version = JSON.parse(put.text).id.split('/').at(-1);
    expect(fake.versions(name).map((v) => v.version)).toEqual([version]);

    const r = await run({ CLAUDE_ENTRY_SOURCE: fake.secretUrl(name, version) });
    expect(childSaw(r)).toEqual({ oauth: sha(FAKE.oauthToken), api: '-' });
  });
});

describe('Azure Key Vault: failures', () => {
  const cases: {
    title: string;
    exitCode: number;
    mentions: string[];
    setup: (name: string) => { ref: string; via?: 'source' | 'conventional'; behaviour?: VaultBehaviour };
  }[] = [
    {
      title: 'not found',
      exitCode: 78,
      mentions: ['404', 'SecretNotFound'],
      setup: (name) => ({ ref: fake.secretUrl(name) }),
    },
    {
      title: 'a version that does not exist (CLAUDE_CREDENTIALS_AZURE_SECRET)',
      exitCode: 78,
      mentions: ['404', 'SecretNotFound'],
      setup: (name) => {
        fake.setSecret(name, FAKE.apiKey);
        return { ref: fake.secretUrl(name, 'f'.repeat(32)), via: 'conventional' };
      },
    },
    {
      title: 'forbidden (RBAC)',
      exitCode: 69,
      mentions: ['403', 'Forbidden', 'Key Vault Secrets User'],
      setup: (name) => {
        fake.setSecret(name, FAKE.apiKey);
        return { ref: fake.secretUrl(name), behaviour: { kind: 'forbidden' } };
      },
    },
    {
      title: 'a disabled secret',
      exitCode: 78,
      mentions: ['403', 'SecretDisabled'],
      setup: (name) => {
        fake.setSecret(name, FAKE.apiKey, { enabled: false });
        return { ref: fake.secretUrl(name) };
      },
    },
    {
      title: 'not a credential',
      exitCode: 78,
      mentions: ['not a Claude credential'],
      setup: (name) => {
        fake.setSecret(name, NOT_A_CREDENTIAL);
        return { ref: fake.secretUrl(name) };
      },
    },
    {
      title: '#key that the JSON secret does not have',
      exitCode: 78,
      mentions: ['no key "claude"'],
      setup: (name) => {
        fake.setSecret(name, JSON.stringify({ other: FAKE.apiKey }));
        return { ref: `${fake.secretUrl(name)}#claude` };
      },
    },
    {
      title: 'a 400 from the vault',
      exitCode: 78,
      mentions: ['400', 'BadParameter'],
      setup: (name) => ({ ref: fake.secretUrl(name), behaviour: { kind: 'status', status: 400, code: 'BadParameter' } }),
    },
  ];

  it.each(cases)('$title: exit $exitCode', async ({ exitCode, mentions, setup }) => {
    const name = uniqueName('fail');
    const { ref, via, behaviour } = setup(name);
    if (behaviour) fake.script(name, behaviour);
    const r = await run(via === 'conventional' ? { CLAUDE_CREDENTIALS_AZURE_SECRET: ref } : { CLAUDE_ENTRY_SOURCE: ref });
    expectFailure(r, exitCode, ref, ...mentions);
  });

  it('500 until the deadline: 69 near CLAUDE_ENTRY_TIMEOUT=3s, naming the last answer', async () => {
    const name = uniqueName('e500');
    fake.script(name, { kind: 'status', status: 500, code: 'InternalServerError' });
    const before = fake.requests.length;
    const ref = fake.secretUrl(name);
    const r = await run({ CLAUDE_ENTRY_SOURCE: ref, CLAUDE_ENTRY_TIMEOUT: '3s' });
    expectFailure(r, 69, ref, 'HTTP 500 InternalServerError', 'CLAUDE_ENTRY_TIMEOUT');
    expect(fake.requests.slice(before).filter((q) => q.status === 500).length).toBeGreaterThanOrEqual(2); // retried (how often depends on the CPU)
    expect(r.elapsedMs).toBeGreaterThanOrEqual(2900);
    expect(r.elapsedMs).toBeLessThan(3000 + 15_000); // the deadline, not a hang or a long Retry-After: generous for a busy machine
  });

  it('accepts the connection and never answers: 69 at the deadline', async () => {
    const name = uniqueName('hang');
    fake.script(name, { kind: 'hang' });
    const ref = fake.secretUrl(name);
    const r = await run({ CLAUDE_ENTRY_SOURCE: ref, CLAUDE_ENTRY_TIMEOUT: '2s' });
    expectFailure(r, 69, ref, 'did not answer', 'CLAUDE_ENTRY_TIMEOUT');
    expect(r.elapsedMs).toBeGreaterThanOrEqual(1900);
    expect(r.elapsedMs).toBeLessThan(2000 + 15_000); // the deadline, not a hang or a long Retry-After: generous for a busy machine
  });

  it('throttled past the deadline (Retry-After longer than the time left): 69 naming 429 Throttled', async () => {
    const name = uniqueName('throttle-long');
    fake.setSecret(name, FAKE.apiKey);
    fake.script(name, { kind: 'throttle', times: 100, retryAfterSeconds: 30 });
    const ref = fake.secretUrl(name);
    const r = await run({ CLAUDE_ENTRY_SOURCE: ref, CLAUDE_ENTRY_TIMEOUT: '2s' });
    expectFailure(r, 69, ref, 'HTTP 429 Throttled');
    expect(r.elapsedMs).toBeLessThan(2000 + 15_000); // the deadline, not a hang or a long Retry-After: generous for a busy machine
  });

  it('the managed identity endpoint hangs: 69 at the deadline, naming the token', async () => {
    const name = uniqueName('token-hang');
    fake.setSecret(name, FAKE.apiKey);
    fake.scriptToken({ kind: 'hang' });
    try {
      const ref = fake.secretUrl(name);
      const r = await run({ CLAUDE_ENTRY_SOURCE: ref, CLAUDE_ENTRY_TIMEOUT: '2s' });
      expectFailure(r, 69, ref, 'no Azure access token');
      expect(r.elapsedMs).toBeLessThan(2000 + 15_000); // the deadline, not a hang or a long Retry-After: generous for a busy machine
    } finally {
      fake.scriptToken({ kind: 'ok' });
    }
  });

  it('the managed identity endpoint refuses: 69 naming the credential', async () => {
    const name = uniqueName('token-refused');
    fake.setSecret(name, FAKE.apiKey);
    fake.scriptToken({ kind: 'status', status: 400, error: 'invalid_request', description: 'Identity not found' });
    try {
      const ref = fake.secretUrl(name);
      const r = await run({ CLAUDE_ENTRY_SOURCE: ref });
      expectFailure(r, 69, ref, 'Azure credential', 'Identity not found');
    } finally {
      fake.scriptToken({ kind: 'ok' });
    }
  });

  it('a host that challenges for another resource gets no token: 69', async () => {
    const name = uniqueName('challenge');
    fake.setSecret(name, FAKE.apiKey);
    fake.script(name, { kind: 'challenge', resource: 'https://management.azure.com' });
    const before = fake.tokenRequests.length;
    const ref = fake.secretUrl(name);
    const r = await run({ CLAUDE_ENTRY_SOURCE: ref });
    expectFailure(r, 69, ref, 'https://management.azure.com', 'not a Key Vault resource');
    expect(fake.tokenRequests.length).toBe(before);
  });

  // DefaultAzureCredential's real chain: IMDS (169.254.169.254) is unreachable or probed for 1 s
  // off Azure; the developer tools (az, azd, pwsh) are absent or logged out in the temp HOME.
  it('no credential available at all: 69, saying what DefaultAzureCredential looks at', async () => {
    const name = uniqueName('nocred');
    fake.setSecret(name, FAKE.apiKey);
    const ref = fake.secretUrl(name);
    const r = await run({ CLAUDE_ENTRY_SOURCE: ref }, { identity: false });
    expectFailure(r, 69, ref, 'no Azure credential', 'AZURE_CLIENT_ID', 'managed identity');
  });

  it('the vault certificate is not trusted (no NODE_EXTRA_CA_CERTS): 69 naming the TLS error', async () => {
    const name = uniqueName('untrusted');
    fake.setSecret(name, FAKE.apiKey);
    const ref = fake.secretUrl(name);
    const r = await run({ CLAUDE_ENTRY_SOURCE: ref, CLAUDE_ENTRY_TIMEOUT: '3s' }, { trustCa: false });
    expectFailure(r, 69, ref, 'NODE_EXTRA_CA_CERTS');
  });

  it.each([
    ['http://127.0.0.1:1/secrets/x', 'https only'],
    ['https://myvault.vault.azure.net/keys/x', '/keys/'],
    ['https://myvault.vault.azure.net/secrets/x/latest', 'not a version id'],
    ['https://myhsm.managedhsm.azure.net/secrets/x', 'Managed HSM'],
  ])('bad reference %s: 78 before any request', async (ref, mention) => {
    const before = fake.requests.length + fake.tokenRequests.length;
    const r = await run({ CLAUDE_ENTRY_SOURCE: ref });
    expectFailure(r, 78, ref, mention);
    expect(fake.requests.length + fake.tokenRequests.length).toBe(before);
  });
});

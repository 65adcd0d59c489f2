/**
 * AWS Secrets Manager through the built bundle: the real SDK (default credential chain, env
 * keys) against the fake Secrets Manager, which verifies the SigV4 signature of every request.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_AWS_CREDENTIALS, FAKE_AWS_ROLE_CREDENTIALS, FAKE_ROLE_NAME, fakeAwsEnv, startFakeSecretsManager, type FakeSecretsManager } from '../fakes/aws.js';
import { FAKE, b64, baseEnv, credentialsJson, expectNoSecret, nodeBinary, runBundle, tempDir, type RunResult } from '../helpers.js';
import { needs } from '../needs.js';

const REGION = 'eu-west-3';
let fake: FakeSecretsManager;
let names = 0;
const unique = (prefix: string) => `${prefix}-${++names}`;

beforeAll(async () => {
  fake = await startFakeSecretsManager({ region: REGION });
});
afterAll(async () => {
  await fake?.close();
});

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
/** The command: prints hashes of what it was given, never the values. */
const REPORT = [
  process.execPath,
  '-e',
  "const h=s=>s?require('crypto').createHash('sha256').update(s).digest('hex'):'-';" +
    'console.log(JSON.stringify({oauth:h(process.env.CLAUDE_CODE_OAUTH_TOKEN),api:h(process.env.ANTHROPIC_API_KEY)}))',
];

interface Run extends RunResult {
  home: string;
  elapsedMs: number;
}

function awsEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...fakeAwsEnv(fake.url), ...extra };
}

async function run(extra: NodeJS.ProcessEnv, node?: string): Promise<Run> {
  const home = tempDir();
  const started = Date.now();
  const result = await runBundle(['--', ...REPORT], { env: baseEnv(home, awsEnv(extra)), timeoutMs: 30_000, node });
  return { ...result, home, elapsedMs: Date.now() - started };
}

function expectCredentialsFile(home: string, expected: Record<string, unknown>): void {
  const file = path.join(home, '.claude', '.credentials.json');
  expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual(expected);
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
}

const NOT_A_CREDENTIAL = 'postgres://app:hunter2hunter2hunter2@db.internal/app';
const SECRETS = [
  FAKE.accessToken,
  FAKE.refreshToken,
  FAKE.oauthToken,
  FAKE.apiKey,
  NOT_A_CREDENTIAL,
  FAKE_AWS_CREDENTIALS.secretAccessKey,
  FAKE_AWS_ROLE_CREDENTIALS.secretAccessKey,
  FAKE_AWS_ROLE_CREDENTIALS.sessionToken,
];

/** Every failure: its exit code, one error line naming the reference and the code, nothing written. */
function expectFailure(result: Run, exitCode: number, ...mentions: (string | RegExp)[]): void {
  const output = result.stdout + result.stderr;
  expect(result.code, output).toBe(exitCode);
  const errors = result.stderr.split('\n').filter((l) => l.startsWith('claude-entry: error:'));
  expect(errors, result.stderr).toHaveLength(1);
  for (const m of mentions) expect(errors[0]).toMatch(m);
  expect(result.stdout).toBe('');
  expect(fs.readdirSync(result.home)).toEqual([]);
  expectNoSecret(output, SECRETS);
}

describe('AWS Secrets Manager: reference forms', () => {
  const creds = credentialsJson();
  let name: string;
  let arn: string;
  beforeAll(() => {
    name = unique('prod/claude');
    fake.putSecret(name, JSON.stringify({ other: 'x' }));
    ({ arn } = fake.putSecret(name, JSON.stringify(creds)));
  });

  it.each([
    ['aws-sm:NAME (region from AWS_REGION)', () => ({ CLAUDE_ENTRY_SOURCE: `aws-sm:${name}`, AWS_REGION: REGION })],
    ['aws-sm:NAME (region from AWS_DEFAULT_REGION)', () => ({ CLAUDE_ENTRY_SOURCE: `aws-sm:${name}`, AWS_DEFAULT_REGION: REGION })],
    ['aws-sm:NAME?region=', () => ({ CLAUDE_ENTRY_SOURCE: `aws-sm:${name}?region=${REGION}` })],
    ['the full ARN (region from the ARN)', () => ({ CLAUDE_ENTRY_SOURCE: arn, AWS_REGION: 'us-west-2' })],
    ['a partial ARN (no random suffix)', () => ({ CLAUDE_ENTRY_SOURCE: arn.slice(0, -7) })],
    ['an ECS valueFrom with empty fields', () => ({ CLAUDE_ENTRY_SOURCE: `${arn}:::` })],
    ['CLAUDE_CREDENTIALS_AWS_SECRET=ARN', () => ({ CLAUDE_CREDENTIALS_AWS_SECRET: arn })],
    ['CLAUDE_CREDENTIALS_AWS_SECRET=aws-sm:NAME', () => ({ CLAUDE_CREDENTIALS_AWS_SECRET: `aws-sm:${name}`, AWS_REGION: REGION })],
    ['CLAUDE_CREDENTIALS_AWS_SECRET=NAME', () => ({ CLAUDE_CREDENTIALS_AWS_SECRET: name, AWS_REGION: REGION })],
  ])('%s', async (_, env) => {
    const before = fake.requests.length;
    const result = await run(env());
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('using Claude Code credentials JSON from');
    expectCredentialsFile(result.home, creds);
    expectNoSecret(result.stdout + result.stderr, SECRETS);
    const requests = fake.requests.slice(before);
    expect(requests.map((r) => [r.operation, r.region, r.service, r.status])).toEqual([['GetSecretValue', REGION, 'secretsmanager', 200]]);
  });

  it('a version stage: ?versionStage= and the ECS field select AWSPREVIOUS', async () => {
    const stale = credentialsJson({ subscriptionType: 'pro' });
    const n = unique('rotated');
    fake.putSecret(n, JSON.stringify(stale));
    const { arn: rotatedArn } = fake.putSecret(n, JSON.stringify(credentialsJson()));
    for (const ref of [`aws-sm:${n}?versionStage=AWSPREVIOUS`, `${rotatedArn}::AWSPREVIOUS:`]) {
      const result = await run({ CLAUDE_ENTRY_SOURCE: ref, AWS_REGION: REGION });
      expect(result.code, result.stderr).toBe(0);
      expectCredentialsFile(result.home, stale);
      expect(fake.requests.at(-1)!.body).toMatchObject({ VersionStage: 'AWSPREVIOUS' });
    }
  });

  it('a version id', async () => {
    const n = unique('by-id');
    const { versionId } = fake.putSecret(n, JSON.stringify(creds));
    fake.putSecret(n, JSON.stringify({ newer: true }));
    const result = await run({ CLAUDE_ENTRY_SOURCE: `aws-sm:${n}?versionId=${versionId}`, AWS_REGION: REGION });
    expect(result.code, result.stderr).toBe(0);
    expectCredentialsFile(result.home, creds);
    expect(fake.requests.at(-1)!.body).toEqual({ SecretId: n, VersionId: versionId });
  });
});

describe('AWS Secrets Manager: the SDK default credential chain, in the bundle', () => {
  const roleRun = (env: NodeJS.ProcessEnv) =>
    run({ AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_EC2_METADATA_DISABLED: undefined, ...env });

  it.each([
    [
      'an EC2 instance role (IMDSv2)',
      () => ({ AWS_EC2_METADATA_SERVICE_ENDPOINT: fake.url }),
      ['PUT /latest/api/token', 'GET /latest/meta-data/iam/security-credentials/', `GET /latest/meta-data/iam/security-credentials/${FAKE_ROLE_NAME}`],
    ],
    ['an ECS task role', () => ({ AWS_CONTAINER_CREDENTIALS_FULL_URI: `${fake.url}/ecs/credentials` }), ['GET /ecs/credentials']],
  ])('%s: temporary credentials, the session token signed', async (_, env, calls) => {
    const n = unique('role');
    const creds = credentialsJson();
    fake.putSecret(n, JSON.stringify(creds));
    const before = { requests: fake.requests.length, metadata: fake.metadataRequests.length };
    const result = await roleRun({ CLAUDE_ENTRY_SOURCE: `aws-sm:${n}`, AWS_REGION: REGION, ...env() });
    expect(result.code, result.stderr).toBe(0);
    expectCredentialsFile(result.home, creds);
    expect(fake.metadataRequests.slice(before.metadata)).toEqual(expect.arrayContaining(calls));
    expect(fake.requests.slice(before.requests).map((r) => [r.accessKeyId, r.status])).toEqual([[FAKE_AWS_ROLE_CREDENTIALS.accessKeyId, 200]]);
    expectNoSecret(result.stdout + result.stderr, SECRETS);
  });

  it('no credentials anywhere: 69, CredentialsProviderError, what to set', async () => {
    const result = await roleRun({ CLAUDE_ENTRY_SOURCE: 'aws-sm:x', AWS_REGION: REGION, AWS_EC2_METADATA_DISABLED: 'true', CLAUDE_ENTRY_TIMEOUT: '5s' });
    expectFailure(result, 69, 'aws-sm:x', 'CredentialsProviderError', /role/);
  });
});

describe('AWS Secrets Manager: Node versions', () => {
  it.for([18, 20, 22, 24] as const)('Node %i: fetches, and prints no SDK warning (the SDK warns on Node < 22)', async (major, ctx) => {
    needs.now(ctx, needs.node(major));
    const node = nodeBinary(major)!;
    const n = unique('node');
    const creds = credentialsJson();
    fake.putSecret(n, JSON.stringify(creds));
    const result = await run({ CLAUDE_ENTRY_SOURCE: `aws-sm:${n}`, AWS_REGION: REGION }, node);
    expect(result.code, result.stderr).toBe(0);
    expectCredentialsFile(result.home, creds);
    expect(result.stderr).not.toMatch(/warning|\(node:\d+\)|NodeVersionSupport/i);
  });
});

describe('AWS Secrets Manager: payloads', () => {
  it('an OAuth token under #key of a JSON object secret', async () => {
    const n = unique('app/env');
    fake.putSecret(n, JSON.stringify({ DATABASE_URL: NOT_A_CREDENTIAL, CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }));
    const result = await run({ CLAUDE_ENTRY_SOURCE: `aws-sm:${n}#CLAUDE_CODE_OAUTH_TOKEN`, AWS_REGION: REGION });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ oauth: sha(FAKE.oauthToken), api: '-' });
    expectNoSecret(result.stdout + result.stderr, SECRETS);
  });

  it('the ECS json-key field selects a key too', async () => {
    const n = unique('ecs/env');
    const { arn } = fake.putSecret(n, JSON.stringify({ ANTHROPIC_API_KEY: FAKE.apiKey }));
    const result = await run({ CLAUDE_ENTRY_SOURCE: `${arn}:ANTHROPIC_API_KEY::` });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ oauth: '-', api: sha(FAKE.apiKey) });
  });

  it('an API key as the whole secret', async () => {
    const n = unique('api-key');
    fake.putSecret(n, `${FAKE.apiKey}\n`);
    const result = await run({ CLAUDE_CREDENTIALS_AWS_SECRET: `aws-sm:${n}`, AWS_REGION: REGION });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ oauth: '-', api: sha(FAKE.apiKey) });
    expectNoSecret(result.stdout + result.stderr, SECRETS);
  });

  it('a credentials JSON as SecretBinary, base64-encoded', async () => {
    const creds = credentialsJson();
    const n = unique('binary');
    fake.putSecret(n, Buffer.from(b64(JSON.stringify(creds))));
    const result = await run({ CLAUDE_ENTRY_SOURCE: `aws-sm:${n}`, AWS_REGION: REGION });
    expect(result.code, result.stderr).toBe(0);
    expectCredentialsFile(result.home, creds);
  });

  it('a payload that is not a credential: 78, content never echoed', async () => {
    const n = unique('not-a-credential');
    fake.putSecret(n, NOT_A_CREDENTIAL);
    const result = await run({ CLAUDE_ENTRY_SOURCE: `aws-sm:${n}`, AWS_REGION: REGION });
    expectFailure(result, 78, `aws-sm:${n}`);
  });

  it('#key naming a key the secret does not have: 78, the keys named, no value', async () => {
    const n = unique('keys');
    fake.putSecret(n, JSON.stringify({ DATABASE_URL: NOT_A_CREDENTIAL }));
    const result = await run({ CLAUDE_ENTRY_SOURCE: `aws-sm:${n}#CLAUDE_CODE_OAUTH_TOKEN`, AWS_REGION: REGION });
    expectFailure(result, 78, `aws-sm:${n}`, /DATABASE_URL/);
  });
});

describe('AWS Secrets Manager: failures', () => {
  it('not found: 78, ResourceNotFoundException', async () => {
    const result = await run({ CLAUDE_ENTRY_SOURCE: 'aws-sm:does/not/exist', AWS_REGION: REGION });
    expectFailure(result, 78, 'aws-sm:does/not/exist', 'ResourceNotFoundException', REGION);
  });

  it('a version stage that does not exist: 78', async () => {
    const n = unique('stages');
    fake.putSecret(n, JSON.stringify(credentialsJson()));
    const result = await run({ CLAUDE_ENTRY_SOURCE: `aws-sm:${n}?versionStage=NOPE`, AWS_REGION: REGION });
    expectFailure(result, 78, `aws-sm:${n}`, 'ResourceNotFoundException', 'NOPE');
  });

  it('access denied: 69, AccessDeniedException, the IAM permissions to check', async () => {
    const n = unique('denied');
    const { arn } = fake.putSecret(n, JSON.stringify(credentialsJson()));
    fake.deny(n);
    const result = await run({ CLAUDE_CREDENTIALS_AWS_SECRET: arn });
    expectFailure(result, 69, arn, 'AccessDeniedException', 'secretsmanager:GetSecretValue', 'kms:Decrypt');
  });

  it('a wrong secret key: 69, InvalidSignatureException', async () => {
    const n = unique('signed');
    fake.putSecret(n, JSON.stringify(credentialsJson()));
    const before = fake.requests.length;
    const result = await run({ CLAUDE_ENTRY_SOURCE: `aws-sm:${n}`, AWS_REGION: REGION, AWS_SECRET_ACCESS_KEY: 'wrongSecretAccessKey/0000/0000/0000/0000+00' });
    expectFailure(result, 69, `aws-sm:${n}`, 'InvalidSignatureException', 'AWS_SECRET_ACCESS_KEY');
    expect(fake.requests.slice(before).map((r) => [r.status, r.errorType])).toEqual([[403, 'InvalidSignatureException']]);
  });

  it('an unknown access key id: 69, UnrecognizedClientException', async () => {
    const result = await run({ CLAUDE_ENTRY_SOURCE: 'aws-sm:anything', AWS_REGION: REGION, AWS_ACCESS_KEY_ID: 'AKIAUNKNOWNUNKNOWN00' });
    expectFailure(result, 69, 'aws-sm:anything', 'UnrecognizedClientException');
  });

  it('throttled twice, then OK: 0, three requests', async () => {
    const n = unique('throttled');
    const creds = credentialsJson();
    fake.putSecret(n, JSON.stringify(creds));
    const before = fake.requests.length;
    fake.failNext('throttle', 2);
    const result = await run({ CLAUDE_ENTRY_SOURCE: `aws-sm:${n}`, AWS_REGION: REGION });
    expect(result.code, result.stderr).toBe(0);
    expectCredentialsFile(result.home, creds);
    expect(fake.requests.slice(before).map((r) => r.errorType ?? r.status)).toEqual(['ThrottlingException', 'ThrottlingException', 200]);
  });

  it('500s until the deadline: 69 near CLAUDE_ENTRY_TIMEOUT, InternalServiceError', async () => {
    const before = fake.requests.length;
    fake.failNext('internal');
    try {
      const result = await run({ CLAUDE_ENTRY_SOURCE: 'aws-sm:flaky', AWS_REGION: REGION, CLAUDE_ENTRY_TIMEOUT: '3s' });
      expectFailure(result, 69, 'aws-sm:flaky', 'InternalServiceError', 'CLAUDE_ENTRY_TIMEOUT');
      expect(result.elapsedMs).toBeGreaterThan(2_900);
      expect(result.elapsedMs).toBeLessThan(3_000 + 15_000); // the deadline, not a hang or a long Retry-After: generous for a busy machine
      expect(fake.requests.length - before).toBeGreaterThan(1); // retried with backoff (how often depends on the CPU)
    } finally {
      fake.clearFailures();
    }
  });

  it('a server that accepts and never answers: the deadline fires, 69', async () => {
    fake.failNext('hang');
    try {
      const result = await run({ CLAUDE_ENTRY_SOURCE: 'aws-sm:hangs', AWS_REGION: REGION, CLAUDE_ENTRY_TIMEOUT: '3s' });
      expectFailure(result, 69, 'aws-sm:hangs', /no answer/, 'CLAUDE_ENTRY_TIMEOUT');
      expect(result.elapsedMs).toBeGreaterThan(2_900);
      expect(result.elapsedMs).toBeLessThan(3_000 + 15_000); // the deadline, not a hang or a long Retry-After: generous for a busy machine
    } finally {
      fake.clearFailures();
    }
  });

  it('nothing listening: 69, ECONNREFUSED', async () => {
    const port = await closedPort();
    const result = await run({ CLAUDE_ENTRY_SOURCE: 'aws-sm:x', AWS_REGION: REGION, AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`, CLAUDE_ENTRY_TIMEOUT: '3s' });
    expectFailure(result, 69, 'aws-sm:x', 'ECONNREFUSED');
  });

  it('AWS_ENDPOINT_URL_SECRETS_MANAGER wins over AWS_ENDPOINT_URL', async () => {
    const n = unique('endpoint');
    fake.putSecret(n, JSON.stringify(credentialsJson()));
    const port = await closedPort();
    const result = await run({
      CLAUDE_ENTRY_SOURCE: `aws-sm:${n}`,
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: fake.url,
    });
    expect(result.code, result.stderr).toBe(0);
  });

  it.each([
    ['no region', 'aws-sm:x', {}, /no AWS region/],
    ['a malformed ARN', 'arn:aws:secretsmanager:us-east-1:12345:secret:x', {}, /account/],
    ['another service', 'arn:aws:ssm:us-east-1:123456789012:parameter/x', {}, /not a Secrets Manager ARN/],
  ])('a bad reference (%s): 78 before any request', async (_, ref, env, message) => {
    const before = fake.requests.length;
    const result = await run({ CLAUDE_ENTRY_SOURCE: ref, ...env });
    expectFailure(result, 78, ref, message);
    expect(fake.requests.length).toBe(before);
  });
});

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * GCP Secret Manager through the built bundle, against a local fake speaking the real gRPC
 * protocol (test/fakes/gcp.ts) to the real SDK: every reference form, versions, `#key`, each
 * kind of payload; and every failure with its exit code, one error line naming the reference
 * and the gRPC status, nothing written, and no secret byte printed.
 */
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startFakeMetadata, startFakeSecretManager, startSilentServer, Status, type FakeSecretManager, type FakeSecretManagerOptions } from '../fakes/gcp.js';
import { FAKE, b64, baseEnv, credentialsJson, expectNoSecret, fileMode, runBundle, tempDir, type RunResult } from '../helpers.js';

const SECRETS = Object.values(FAKE);
const creds = credentialsJson();
const credsText = JSON.stringify(creds);
const oldCreds = credentialsJson({ subscriptionType: 'pro' });

/** The command prints the two variables Claude Code reads a token from. */
const PRINT_ENV = ['--', 'sh', '-c', 'echo "CLAUDE_CODE_OAUTH_TOKEN=${CLAUDE_CODE_OAUTH_TOKEN-UNSET}"; echo "ANTHROPIC_API_KEY=${ANTHROPIC_API_KEY-UNSET}"'];

/** A stand-in GCE metadata server (GCE_METADATA_HOST) for every run: a probe is recorded, not waited on. */
let metadata: Awaited<ReturnType<typeof startFakeMetadata>>;
beforeAll(async () => {
  metadata = await startFakeMetadata();
});
afterAll(() => metadata?.close());

async function store(options?: FakeSecretManagerOptions): Promise<FakeSecretManager> {
  const fake = await startFakeSecretManager(options);
  onTestFinishedClose(fake);
  fake.addVersion('projects/p/secrets/creds', JSON.stringify(oldCreds));
  fake.addVersion('projects/p/secrets/creds', credsText);
  fake.setAlias('projects/p/secrets/creds', 'stable', 1);
  fake.addVersion('projects/p/locations/europe-west1/secrets/creds', b64(credsText));
  fake.addVersion('projects/p/secrets/bundle', JSON.stringify({ claude: creds, token: FAKE.oauthToken, other: 'x' }));
  fake.addVersion('projects/p/secrets/token', `${FAKE.oauthToken}\n`);
  fake.addVersion('projects/p/secrets/api-key', FAKE.apiKey);
  return fake;
}

function onTestFinishedClose(server: { close(): Promise<void> }): void {
  onTestFinished(() => server.close());
}

function homeIn(dir: string): string {
  const home = path.join(dir, 'home');
  fs.mkdirSync(home);
  return home;
}

function gcpEnv(home: string, endpoint: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return baseEnv(home, { CLAUDE_ENTRY_GCP_ENDPOINT: endpoint, GCE_METADATA_HOST: metadata.host, ...extra });
}

async function timed(run: Promise<RunResult>): Promise<RunResult & { ms: number }> {
  const start = Date.now();
  const r = await run;
  return { ...r, ms: Date.now() - start };
}

function envLines(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

describe('credentials from GCP Secret Manager', () => {
  const cases: [string, NodeJS.ProcessEnv, Record<string, unknown>][] = [
    ['projects/P/secrets/S (latest)', { CLAUDE_ENTRY_SOURCE: 'projects/p/secrets/creds' }, creds],
    ['projects/P/secrets/S/versions/1', { CLAUDE_ENTRY_SOURCE: 'projects/p/secrets/creds/versions/1' }, oldCreds],
    ['projects/P/secrets/S/versions/latest', { CLAUDE_ENTRY_SOURCE: 'projects/p/secrets/creds/versions/latest' }, creds],
    ['a version alias', { CLAUDE_ENTRY_SOURCE: 'projects/p/secrets/creds/versions/stable' }, oldCreds],
    ['gcp:secretmanager:projects/...', { CLAUDE_ENTRY_SOURCE: 'gcp:secretmanager:projects/p/secrets/creds/versions/2' }, creds],
    ['gcp-sm:projects/...', { CLAUDE_ENTRY_SOURCE: 'gcp-sm:projects/p/secrets/creds' }, creds],
    ['gcp-sm:S with GOOGLE_CLOUD_PROJECT', { CLAUDE_ENTRY_SOURCE: 'gcp-sm:creds', GOOGLE_CLOUD_PROJECT: 'p' }, creds],
    ['gcp-sm:S/versions/V with CLOUDSDK_CORE_PROJECT', { CLAUDE_ENTRY_SOURCE: 'gcp-sm:creds/versions/1', CLOUDSDK_CORE_PROJECT: 'p' }, oldCreds],
    ['a regional secret holding base64', { CLAUDE_ENTRY_SOURCE: 'projects/p/locations/europe-west1/secrets/creds' }, creds],
    ['#key selecting an object', { CLAUDE_ENTRY_SOURCE: 'projects/p/secrets/bundle#claude' }, creds],
    ['CLAUDE_CREDENTIALS_GCP_SECRET', { CLAUDE_CREDENTIALS_GCP_SECRET: 'projects/p/secrets/creds' }, creds],
    ['CLAUDE_CREDENTIALS_GCP_SECRET with a prefix and a version', { CLAUDE_CREDENTIALS_GCP_SECRET: 'gcp-sm:projects/p/secrets/creds/versions/1' }, oldCreds],
  ];

  it.each(cases)('%s', async (_name, extra, expected) => {
    const fake = await store();
    const home = homeIn(tempDir());
    const r = await runBundle(PRINT_ENV, { env: gcpEnv(home, fake.endpoint, extra) });
    const ref = extra.CLAUDE_ENTRY_SOURCE ?? extra.CLAUDE_CREDENTIALS_GCP_SECRET;
    expect(r.stderr).toContain(`claude-entry: using Claude Code credentials JSON from ${ref}\n`);
    expect(r.code).toBe(0);
    const written = path.join(home, '.claude', '.credentials.json');
    expect(JSON.parse(fs.readFileSync(written, 'utf8'))).toEqual(expected);
    expect(fileMode(written)).toBe(0o600);
    expect(envLines(r.stdout)).toEqual({ CLAUDE_CODE_OAUTH_TOKEN: 'UNSET', ANTHROPIC_API_KEY: 'UNSET' });
    expect(r.stderr).not.toMatch(/warning|\(node:\d+\)|Metadata/i); // no SDK noise
    expectNoSecret(r.stderr, SECRETS);
  });

  it.each([
    ['an OAuth token', 'projects/p/secrets/token', { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken, ANTHROPIC_API_KEY: 'UNSET' }],
    ['an API key', 'projects/p/secrets/api-key', { CLAUDE_CODE_OAUTH_TOKEN: 'UNSET', ANTHROPIC_API_KEY: FAKE.apiKey }],
    ['an OAuth token under #key', 'gcp-sm:projects/p/secrets/bundle#token', { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken, ANTHROPIC_API_KEY: 'UNSET' }],
  ])('%s reaches the command', async (_name, ref, expected) => {
    const fake = await store();
    const home = homeIn(tempDir());
    const r = await runBundle(PRINT_ENV, { env: gcpEnv(home, fake.endpoint, { CLAUDE_ENTRY_SOURCE: ref }) });
    expect(r.code).toBe(0);
    expect(envLines(r.stdout)).toEqual(expected);
    expect(fs.existsSync(path.join(home, '.claude', '.credentials.json'))).toBe(false);
    expectNoSecret(r.stderr, SECRETS);
  });

  it('sends the routing header, never probes the metadata server, and honours SECRET_MANAGER_EMULATOR_HOST', async () => {
    const fake = await store();
    const home = homeIn(tempDir());
    const before = metadata.hits.length;
    const env = baseEnv(home, {
      CLAUDE_ENTRY_SOURCE: 'projects/p/secrets/creds',
      SECRET_MANAGER_EMULATOR_HOST: fake.address,
      GCE_METADATA_HOST: metadata.host,
      CLAUDE_ENTRY_LOG: 'debug',
    });
    const r = await runBundle(PRINT_ENV, { env });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      `accessing projects/p/secrets/creds/versions/latest at ${fake.address} (SECRET_MANAGER_EMULATOR_HOST, plaintext without credentials)`,
    );
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]).toMatchObject({ method: 'AccessSecretVersion', resource: 'projects/p/secrets/creds/versions/latest' });
    expect(fake.calls[0]!.metadata['x-goog-request-params']).toBe('name=projects%2Fp%2Fsecrets%2Fcreds%2Fversions%2Flatest');
    expect(fake.calls[0]!.metadata['x-goog-api-client']).toMatch(/gapic\/\S+ .*grpc\//);
    expect(fake.calls[0]!.metadata.authorization).toBeUndefined();
    expect(metadata.hits.slice(before)).toEqual([]);
    expectNoSecret(r.stderr, SECRETS);
  });

  it('retries RESOURCE_EXHAUSTED, then succeeds', async () => {
    const fake = await store();
    fake.failNext({ code: Status.RESOURCE_EXHAUSTED }, 2);
    const home = homeIn(tempDir());
    const r = await runBundle(PRINT_ENV, { env: gcpEnv(home, fake.endpoint, { CLAUDE_ENTRY_SOURCE: 'projects/p/secrets/creds', CLAUDE_ENTRY_LOG: 'debug' }) });
    expect(r.code).toBe(0);
    expect(fake.calls).toHaveLength(3);
    expect(r.stderr).toMatch(/attempt 1 failed with RESOURCE_EXHAUSTED; retrying in \d+ ms/);
    expect(r.stderr).toMatch(/attempt 2 failed with RESOURCE_EXHAUSTED; retrying in \d+ ms/);
    expect(JSON.parse(fs.readFileSync(path.join(home, '.claude', '.credentials.json'), 'utf8'))).toEqual(creds);
  });

  it.each([Status.UNAVAILABLE, Status.INTERNAL])('retries status %i once, then succeeds', async (code) => {
    const fake = await store();
    fake.failNext({ code }, 1);
    const home = homeIn(tempDir());
    const r = await runBundle(PRINT_ENV, { env: gcpEnv(home, fake.endpoint, { CLAUDE_ENTRY_SOURCE: 'projects/p/secrets/creds' }) });
    expect(r.code).toBe(0);
    expect(fake.calls).toHaveLength(2);
  });

  it('accepts a payload the service sent without a checksum', async () => {
    const fake = await store();
    fake.addVersion('projects/p/secrets/unsummed', credsText, { checksum: 'none' });
    const home = homeIn(tempDir());
    const r = await runBundle(PRINT_ENV, { env: gcpEnv(home, fake.endpoint, { CLAUDE_ENTRY_SOURCE: 'projects/p/secrets/unsummed' }) });
    expect(r.code).toBe(0);
  });
});

interface FailureCase {
  name: string;
  ref: string;
  /** Script the fake (or replace the endpoint) before the run. */
  // biome-ignore lint/suspicious/noConfusingVoidType: most setups return nothing; some resolve to an endpoint
  setup?: (fake: FakeSecretManager) => void | Promise<string | void>;
  env?: NodeJS.ProcessEnv;
  code: number;
  message: RegExp;
  /** Attempts the fake must have seen: a number, or at least [n]. */
  calls?: number | [number];
  /** The run must end near CLAUDE_ENTRY_TIMEOUT=3s. */
  deadline?: boolean;
}

const failures: FailureCase[] = [
  {
    name: 'a secret that does not exist',
    ref: 'projects/p/secrets/missing',
    code: 78,
    calls: 1,
    message:
      /^projects\/p\/secrets\/missing: GCP Secret Manager: not found \(NOT_FOUND: Secret \[projects\/p\/secrets\/missing\] not found or has no versions\.\); check the project, the secret name and the version$/,
  },
  {
    name: 'a version that does not exist',
    ref: 'gcp-sm:projects/p/secrets/creds/versions/9',
    code: 78,
    calls: 1,
    message: /^gcp-sm:projects\/p\/secrets\/creds\/versions\/9: GCP Secret Manager: not found \(NOT_FOUND: Secret Version \[.*\] not found\.\)/,
  },
  {
    name: 'a disabled version',
    ref: 'projects/p/secrets/creds',
    setup: (f) => f.setState('projects/p/secrets/creds/versions/2', 'DISABLED'),
    code: 78,
    calls: 1,
    message:
      /^projects\/p\/secrets\/creds: GCP Secret Manager: the version cannot be accessed \(FAILED_PRECONDITION: .*is in DISABLED state\.\); enable it or name another version$/,
  },
  {
    name: 'permission denied',
    ref: 'projects/p/secrets/creds',
    setup: (f) => f.deny('projects/p/secrets/creds'),
    code: 69,
    calls: 1,
    message:
      /^projects\/p\/secrets\/creds: GCP Secret Manager: permission denied \(PERMISSION_DENIED: Permission 'secretmanager\.versions\.access' denied .*\); grant the workload's service account roles\/secretmanager\.secretAccessor/,
  },
  {
    name: 'UNAUTHENTICATED',
    ref: 'projects/p/secrets/creds',
    setup: (f) => f.failNext({ code: Status.UNAUTHENTICATED, details: 'Request had invalid authentication credentials.' }),
    code: 69,
    calls: 1,
    message: /the credentials were rejected \(UNAUTHENTICATED: Request had invalid authentication credentials\.\); check GOOGLE_APPLICATION_CREDENTIALS/,
  },
  {
    name: 'an endpoint that is not Secret Manager',
    ref: 'projects/p/secrets/creds',
    setup: (f) => f.failNext({ code: Status.UNIMPLEMENTED, details: 'unknown service' }),
    code: 69,
    calls: 1,
    message: /request failed \(UNIMPLEMENTED: unknown service\); 127\.0\.0\.1:\d+ does not serve Secret Manager: check CLAUDE_ENTRY_GCP_ENDPOINT$/,
  },
  {
    name: 'INTERNAL until the deadline',
    ref: 'projects/p/secrets/creds',
    setup: (f) => f.failNext({ code: Status.INTERNAL }, Infinity),
    code: 69,
    calls: [2],
    deadline: true,
    message:
      /^projects\/p\/secrets\/creds: GCP Secret Manager: still failing with INTERNAL: Internal error encountered\. after \d+ attempts when the deadline passed \(CLAUDE_ENTRY_TIMEOUT\); the service failed; try again$/,
  },
  {
    name: 'UNAVAILABLE until the deadline',
    ref: 'projects/p/secrets/creds',
    setup: (f) => f.failNext({ code: Status.UNAVAILABLE }, Infinity),
    code: 69,
    calls: [2],
    deadline: true,
    message: /still failing with UNAVAILABLE: .* after \d+ attempts when the deadline passed \(CLAUDE_ENTRY_TIMEOUT\); could not reach 127\.0\.0\.1:\d+/,
  },
  {
    name: 'RESOURCE_EXHAUSTED until the deadline',
    ref: 'projects/p/secrets/creds',
    setup: (f) => f.failNext({ code: Status.RESOURCE_EXHAUSTED }, Infinity),
    code: 69,
    calls: [2],
    deadline: true,
    message: /still failing with RESOURCE_EXHAUSTED: Quota exceeded .* over its Secret Manager access quota/,
  },
  {
    name: 'a call accepted and never answered',
    ref: 'projects/p/secrets/creds',
    setup: (f) => f.failNext('hang', Infinity),
    code: 69,
    calls: 1,
    deadline: true,
    message:
      /^projects\/p\/secrets\/creds: GCP Secret Manager: no answer from 127\.0\.0\.1:\d+ within CLAUDE_ENTRY_TIMEOUT \(DEADLINE_EXCEEDED\); check network access to it$/,
  },
  {
    name: 'a server that accepts the connection and never speaks',
    ref: 'projects/p/secrets/creds',
    setup: async () => {
      const silent = await startSilentServer();
      onTestFinishedClose(silent);
      return silent.endpoint;
    },
    code: 69,
    deadline: true,
    message: /GCP Secret Manager: (no answer from 127\.0\.0\.1:\d+ within CLAUDE_ENTRY_TIMEOUT \(DEADLINE_EXCEEDED\)|still failing with UNAVAILABLE)/,
  },
  {
    name: 'nothing listening',
    ref: 'projects/p/secrets/creds',
    setup: async () => {
      const silent = await startSilentServer();
      await silent.close(); // a port that was free a moment ago
      return silent.endpoint;
    },
    code: 69,
    deadline: true,
    message: /still failing with UNAVAILABLE.* after \d+ attempts when the deadline passed \(CLAUDE_ENTRY_TIMEOUT\); could not reach 127\.0\.0\.1:\d+/,
  },
  {
    name: 'a payload that is not a credential',
    ref: 'projects/p/secrets/garbage',
    setup: (f) => void f.addVersion('projects/p/secrets/garbage', `garbage ${FAKE.accessToken.slice(13)}`),
    code: 78,
    calls: 1,
    message: /^projects\/p\/secrets\/garbage: not a Claude credential/,
  },
  {
    name: 'an empty payload',
    ref: 'projects/p/secrets/empty',
    setup: (f) => void f.addVersion('projects/p/secrets/empty', ''),
    code: 78,
    calls: 1,
    message: /^projects\/p\/secrets\/empty: .*empty/,
  },
  {
    name: '#key naming a key the secret lacks',
    ref: 'projects/p/secrets/bundle#nope',
    code: 78,
    calls: 1,
    message: /^projects\/p\/secrets\/bundle#nope: the secret has no key "nope" \(it has "claude", "token", "other"\)$/,
  },
  {
    name: '#key on a secret that is not JSON',
    ref: 'projects/p/secrets/token#claude',
    code: 78,
    calls: 1,
    message: /^projects\/p\/secrets\/token#claude: "#claude" selects a key, but the secret is not a JSON object$/,
  },
  {
    name: 'a payload that fails its checksum',
    ref: 'projects/p/secrets/corrupt',
    setup: (f) => void f.addVersion('projects/p/secrets/corrupt', credsText, { checksum: 'bad' }),
    code: 69,
    calls: 1,
    message: /^projects\/p\/secrets\/corrupt: GCP Secret Manager: the payload failed its CRC32C check \(DATA_LOSS\); try again$/,
  },
  {
    name: 'a malformed reference',
    ref: 'projects/p/secrets',
    code: 78,
    calls: 0,
    message: /^projects\/p\/secrets: not a GCP Secret Manager reference \(expected projects\/PROJECT\/secrets\/SECRET/,
  },
  {
    name: 'gcp-sm:S with no project anywhere',
    ref: 'gcp-sm:creds',
    code: 78,
    calls: 0,
    message: /^gcp-sm:creds: no project: write projects\/PROJECT\/secrets\/creds or set GOOGLE_CLOUD_PROJECT or CLOUDSDK_CORE_PROJECT or GCLOUD_PROJECT$/,
  },
  {
    name: 'an endpoint with a path',
    ref: 'projects/p/secrets/creds',
    setup: async (f) => `${f.endpoint}/v1`,
    code: 78,
    calls: 0,
    message: /^CLAUDE_ENTRY_GCP_ENDPOINT: "http:\/\/127\.0\.0\.1:\d+\/v1": a gRPC endpoint is host\[:port\] only, without a path$/,
  },
];

describe('SDK noise and leaks', () => {
  it('GOOGLE_SDK_NODE_LOGGING does not make the SDK print the response (the payload)', async () => {
    const fake = await store();
    const home = homeIn(tempDir());
    const env = gcpEnv(home, fake.endpoint, { CLAUDE_ENTRY_SOURCE: 'projects/p/secrets/creds', GOOGLE_SDK_NODE_LOGGING: '*', NODE_DEBUG: 'secret-manager' });
    const r = await runBundle(PRINT_ENV, { env });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/secret-manager|accessSecretVersion|"type":"Buffer"/);
    expect(
      r.stderr
        .trim()
        .split('\n')
        .every((l) => l.startsWith('claude-entry: ')),
    ).toBe(true);
    expectNoSecret(r.stderr, SECRETS);
  });
});

describe('GCP failures: exit code, one line naming the reference and the status, nothing written, no secret', () => {
  it.each(failures.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const fake = await store();
    const endpoint = (await c.setup?.(fake)) || fake.endpoint;
    const home = homeIn(tempDir());
    // The deadline cases get room for several attempts whatever the CPU (the client's set-up, in
    // the deadline, is CPU work too); the others end long before it.
    const env = gcpEnv(home, endpoint, { CLAUDE_ENTRY_SOURCE: c.ref, CLAUDE_ENTRY_TIMEOUT: c.deadline ? '6s' : '3s', ...c.env });
    const r = await timed(runBundle(PRINT_ENV, { env }));

    const errors = r.stderr.split('\n').filter((l) => l.startsWith('claude-entry: error: '));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.slice('claude-entry: error: '.length)).toMatch(c.message);
    expect(r.stderr.trim().split('\n')).toEqual(errors); // nothing else printed, no SDK noise
    expect(r.code).toBe(c.code);
    expect(r.stdout).toBe(''); // the command never ran
    expect(fs.readdirSync(home)).toEqual([]);
    if (typeof c.calls === 'number') expect(fake.calls).toHaveLength(c.calls);
    if (Array.isArray(c.calls)) expect(fake.calls.length).toBeGreaterThanOrEqual(c.calls[0]);
    if (c.deadline) {
      expect(r.ms).toBeGreaterThan(5900);
      expect(r.ms).toBeLessThan(6000 + 15_000); // the deadline plus the bundle's own start and exit, generous for a busy machine
    }
    expectNoSecret(r.stdout + r.stderr, [...SECRETS, credsText, b64(credsText)]);
  });
});

describe('the real path: TLS and Application Default Credentials', () => {
  /** A self-signed certificate for 127.0.0.1 and a service account key, both made here. */
  function tlsAndServiceAccount(dir: string) {
    const key = path.join(dir, 'tls.key');
    const cert = path.join(dir, 'tls.crt');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const account = {
      type: 'service_account',
      project_id: 'adc-project',
      private_key_id: 'test-key-id',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: 'claude@adc-project.iam.gserviceaccount.com',
      client_id: '1',
      token_uri: 'https://oauth2.googleapis.com/token',
    };
    const keyFile = path.join(dir, 'sa.json');
    fs.writeFileSync(keyFile, JSON.stringify(account), { mode: 0o600 });
    return { tls: { key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, certFile: cert, keyFile, account };
  }

  it('uses TLS and a self-signed JWT from GOOGLE_APPLICATION_CREDENTIALS; gcp-sm:S takes the project from it', async () => {
    const dir = tempDir();
    const { tls, certFile, keyFile, account } = tlsAndServiceAccount(dir);
    const fake = await startFakeSecretManager({ tls, requireBearer: true });
    onTestFinishedClose(fake);
    fake.addVersion('projects/adc-project/secrets/creds', credsText);
    const home = homeIn(dir);
    const env = gcpEnv(home, `https://127.0.0.1:${fake.port}`, {
      CLAUDE_ENTRY_SOURCE: 'gcp-sm:creds',
      GOOGLE_APPLICATION_CREDENTIALS: keyFile,
      GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: certFile,
    });
    const r = await runBundle(PRINT_ENV, { env });
    expect(r.stderr).toContain('using Claude Code credentials JSON from gcp-sm:creds');
    expect(r.code).toBe(0);
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]!.resource).toBe('projects/adc-project/secrets/creds/versions/latest');
    const jwt = fake.calls[0]!.metadata.authorization!.replace(/^Bearer /, '');
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ iss: account.client_email, sub: account.client_email });
    expectNoSecret(r.stderr, [...SECRETS, account.private_key.split('\n')[1]!]);
  });

  it('never downgrades: an https endpoint served in plaintext is unreachable (69), the credentials never sent', async () => {
    const dir = tempDir();
    const { keyFile } = tlsAndServiceAccount(dir);
    const fake = await store();
    const home = homeIn(dir);
    const env = gcpEnv(home, `https://127.0.0.1:${fake.port}`, {
      CLAUDE_ENTRY_SOURCE: 'projects/p/secrets/creds',
      // Room for the JWT signing and the TLS failures; the deadline is not what is tested.
      CLAUDE_ENTRY_TIMEOUT: '6s',
      GOOGLE_APPLICATION_CREDENTIALS: keyFile,
    });
    const r = await runBundle(PRINT_ENV, { env });
    // What the deadline finds depends on the CPU: the TLS handshakes failing (UNAVAILABLE,
    // retried), or on a very busy machine the first attempt, or the JWT signing before it,
    // still under way. Each is a 69 that names the source; none sends anything.
    expect(r.stderr).toMatch(
      /^claude-entry: error: projects\/p\/secrets\/creds: GCP Secret Manager: (still failing with UNAVAILABLE.* when the deadline passed|no answer from 127\.0\.0\.1:\d+ within CLAUDE_ENTRY_TIMEOUT \(DEADLINE_EXCEEDED\)|getting credentials took longer than CLAUDE_ENTRY_TIMEOUT)/,
    );
    expect(r.code).toBe(69);
    expect(fake.calls).toHaveLength(0);
    expect(fs.readdirSync(home)).toEqual([]);
  });

  it.each([
    [
      'not JSON (and holding a secret)',
      `garbage ${FAKE.accessToken}`,
      /GOOGLE_APPLICATION_CREDENTIALS=\S+ is not a valid credentials JSON file \(UNAUTHENTICATED\)$/,
    ],
    ['missing', undefined, /GOOGLE_APPLICATION_CREDENTIALS=\S+ does not exist or is not a file \(UNAUTHENTICATED\)$/],
  ])('a GOOGLE_APPLICATION_CREDENTIALS file that is %s: 69, the file never quoted', async (_name, content, message) => {
    const dir = tempDir();
    const keyFile = path.join(dir, 'sa.json');
    if (content !== undefined) fs.writeFileSync(keyFile, content);
    const fake = await store();
    const home = homeIn(dir);
    const env = gcpEnv(home, `127.0.0.1:${fake.port}`, { CLAUDE_ENTRY_SOURCE: 'projects/p/secrets/creds', GOOGLE_APPLICATION_CREDENTIALS: keyFile });
    const r = await runBundle(PRINT_ENV, { env });
    expect(r.stderr.trim()).toMatch(new RegExp('^claude-entry: error: projects/p/secrets/creds: GCP Secret Manager: ' + message.source));
    expect(r.code).toBe(69);
    expect(fake.calls).toHaveLength(0);
    expectNoSecret(r.stderr, SECRETS);
  });

  it('a service account key that cannot sign: 69, says getting a token failed', async () => {
    const dir = tempDir();
    const { tls, certFile, keyFile, account } = tlsAndServiceAccount(dir);
    fs.writeFileSync(
      keyFile,
      JSON.stringify({ ...account, private_key: '-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----\n' }),
    );
    const fake = await startFakeSecretManager({ tls, requireBearer: true });
    onTestFinishedClose(fake);
    const home = homeIn(dir);
    const env = gcpEnv(home, `https://127.0.0.1:${fake.port}`, {
      CLAUDE_ENTRY_SOURCE: 'projects/p/secrets/creds',
      CLAUDE_ENTRY_TIMEOUT: '10s', // the signing fails at once; not a deadline test
      GOOGLE_APPLICATION_CREDENTIALS: keyFile,
      GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: certFile,
    });
    const r = await runBundle(PRINT_ENV, { env });
    expect(r.stderr.trim()).toMatch(/^claude-entry: error: projects\/p\/secrets\/creds: GCP Secret Manager: .*getting an access token failed/);
    expect(r.code).toBe(69);
    expect(fake.calls).toHaveLength(0);
  });

  it('without any credentials: 69, says where credentials come from', async () => {
    const fake = await store();
    const home = homeIn(tempDir());
    const env = gcpEnv(home, `https://127.0.0.1:${fake.port}`, { CLAUDE_ENTRY_SOURCE: 'projects/p/secrets/creds', CLAUDE_ENTRY_TIMEOUT: '5s' });
    const r = await runBundle(PRINT_ENV, { env });
    expect(r.stderr).toMatch(
      /^claude-entry: error: projects\/p\/secrets\/creds: GCP Secret Manager: no Google credentials found \(UNAUTHENTICATED\); set GOOGLE_APPLICATION_CREDENTIALS/m,
    );
    expect(r.stderr.trim().split('\n')).toHaveLength(1); // no MetadataLookupWarning
    expect(r.code).toBe(69);
    expect(fake.calls).toHaveLength(0);
  });
});

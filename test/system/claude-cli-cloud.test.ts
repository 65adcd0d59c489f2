/**
 * The real Claude Code CLI (node_modules/.bin/claude, 2.1.330), started by the built bundle
 * with a credential fetched from each cloud provider's secret store (the local fakes of
 * test/fakes), against the fake Anthropic API: `claude -p "say hi"` exits 0, prints the
 * fake's reply, and the Authorization header the CLI sent carries the very token the store
 * held. Each provider holds a different shape of secret:
 *
 *  - AWS Secrets Manager: a Claude Code credentials JSON (written to .credentials.json);
 *  - GCP Secret Manager: an OAuth token from `claude setup-token` (CLAUDE_CODE_OAUTH_TOKEN);
 *  - Azure Key Vault: a JSON object secret, `#claude` selecting a credentials JSON in it, over
 *    HTTPS with a test CA in NODE_EXTRA_CA_CERTS, which the CLI inherits and must survive.
 *
 * The tokens are unique to each provider, so a header that matches proves the credential
 * came from that store and not from anywhere else.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic';
import { FAKE_AWS_CREDENTIALS, fakeAwsEnv, startFakeSecretsManager } from '../fakes/aws';
import { startFakeAzure } from '../fakes/azure';
import { startFakeSecretManager } from '../fakes/gcp';
import { makeTestCa } from '../fakes/tls';
import { ROOT, baseEnv, credentialsJson, expectNoSecret, fileMode, runBundle, tempDir, type RunResult } from '../helpers';
import { needs } from '../needs';
import { entryLines, expectOAuth } from './cli-assertions';

const BIN_DIR = path.join(ROOT, 'node_modules', '.bin');

/** Keeps the CLI from calling home: no updater, telemetry, error reports or extras. */
const QUIET = {
  DISABLE_AUTOUPDATER: '1',
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  DISABLE_TELEMETRY: '1',
  DISABLE_ERROR_REPORTING: '1',
};

/** Shaped like the real thing (`sk-ant-oat01-...-AA`), unique to one provider and one run. */
function fakeToken(kind: 'oat01' | 'ort01', tag: string): string {
  const body = `TEST${tag}${randomBytes(6).toString('hex')}`;
  return `sk-ant-${kind}-${body.padEnd(95, '0')}-TESTAA`;
}

/** A fake API for one test, closed when it ends; its reply is unique to the test. */
async function fakeApi(): Promise<{ fake: FakeAnthropic; reply: string }> {
  const reply = `Hi from the fake, ${randomUUID().slice(0, 8)}.`;
  const fake = await startFakeAnthropic({ replyText: reply });
  onTestFinished(() => fake.close());
  return { fake, reply };
}

interface CliRun extends RunResult {
  home: string;
  ms: number;
}

/** `claude-entry -- claude -p "say hi"` in a fresh HOME and cwd, the CLI on PATH, quiet. */
async function runCli(fake: FakeAnthropic, extra: NodeJS.ProcessEnv, command = ['claude', '-p', 'say hi']): Promise<CliRun> {
  const home = tempDir();
  const workspace = tempDir('claude-entry-ws-');
  const env = baseEnv(home, { PATH: `${BIN_DIR}:${process.env.PATH}`, ANTHROPIC_BASE_URL: fake.url, ...QUIET, ...extra });
  const started = Date.now();
  const result = await runBundle(['--', ...command], { env, cwd: workspace, timeoutMs: 90_000 });
  return { ...result, home, ms: Date.now() - started };
}

/** What every provider's run must show: success, the reply, the store's token, no leak. */
function expectCliUsed(r: CliRun, fake: FakeAnthropic, reply: string, token: string, secrets: string[], from: string): void {
  const context = `exit ${r.code} after ${r.ms} ms\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  expect(r.code, context).toBe(0);
  expect(r.stdout, context).toContain(reply);

  const messages = fake.messages();
  expect(messages.length, context).toBeGreaterThanOrEqual(1);
  for (const req of messages) {
    expect(req.url).toMatch(/^\/v1\/messages(\?beta=true)?$/);
    expectOAuth(req, token);
  }
  expect(JSON.stringify(messages[0]!.body.messages)).toContain('say hi');

  const ours = entryLines(r.stderr);
  expect(ours, context).toMatch(/^claude-entry: using /m); // else the secret check proves nothing
  expect(ours).toContain(from);
  expectNoSecret(ours, secrets);
  // the CLI's own output must not echo the token either
  expectNoSecret(r.stdout, secrets);
}

describe('claude -p through claude-entry, credential from a cloud secret store', needs(needs.claude()), () => {
  it('AWS Secrets Manager: a credentials JSON (CLAUDE_CREDENTIALS_AWS_SECRET=NAME)', async () => {
    const region = 'eu-west-3';
    const store = await startFakeSecretsManager({ region });
    onTestFinished(() => store.close());
    const accessToken = fakeToken('oat01', 'aws');
    const refreshToken = fakeToken('ort01', 'aws');
    const creds = credentialsJson({ accessToken, refreshToken });
    const name = `prod/claude-${randomBytes(3).toString('hex')}`;
    store.putSecret(name, JSON.stringify(creds));

    const { fake, reply } = await fakeApi();
    const r = await runCli(fake, {
      CLAUDE_CREDENTIALS_AWS_SECRET: name,
      AWS_REGION: region,
      ...fakeAwsEnv(store.url),
    });

    expectCliUsed(r, fake, reply, accessToken, [accessToken, refreshToken, FAKE_AWS_CREDENTIALS.secretAccessKey], name);
    expect(r.stderr).toContain('using Claude Code credentials JSON from');
    expect(store.requests.map((q) => [q.operation, q.region, q.status])).toEqual([['GetSecretValue', region, 200]]);
    const written = path.join(r.home, '.claude', '.credentials.json');
    expect(fileMode(written)).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(written, 'utf8')).claudeAiOauth.accessToken).toBe(accessToken);
  });

  it('GCP Secret Manager: an OAuth token from claude setup-token (CLAUDE_ENTRY_SOURCE=gcp-sm:projects/...)', async () => {
    const store = await startFakeSecretManager();
    onTestFinished(() => store.close());
    const token = fakeToken('oat01', 'gcp');
    store.addVersion('projects/p/secrets/claude-token', `${token}\n`);
    const ref = 'gcp-sm:projects/p/secrets/claude-token';

    const { fake, reply } = await fakeApi();
    const r = await runCli(fake, { CLAUDE_ENTRY_SOURCE: ref, CLAUDE_ENTRY_GCP_ENDPOINT: store.endpoint });

    expectCliUsed(r, fake, reply, token, [token], ref);
    expect(store.calls.map((c) => [c.method, c.resource])).toEqual([['AccessSecretVersion', 'projects/p/secrets/claude-token/versions/latest']]);
    // a token goes to the CLI in its environment: no credentials file
    expect(fs.existsSync(path.join(r.home, '.claude', '.credentials.json'))).toBe(false);
  });

  it('Azure Key Vault: #claude of a JSON object secret, over HTTPS with NODE_EXTRA_CA_CERTS (the CLI inherits it)', async () => {
    const ca = makeTestCa();
    onTestFinished(() => ca.cleanup());
    const vault = await startFakeAzure({ ca });
    onTestFinished(() => vault.close());
    const accessToken = fakeToken('oat01', 'azure');
    const refreshToken = fakeToken('ort01', 'azure');
    const creds = credentialsJson({ accessToken, refreshToken });
    const notACredential = 'postgres://app:hunter2hunter2hunter2@db.internal/app';
    const name = `claude-${randomBytes(3).toString('hex')}`;
    vault.setSecret(name, JSON.stringify({ database: notACredential, claude: creds }));
    const ref = `${vault.secretUrl(name)}#claude`;

    const { fake, reply } = await fakeApi();
    const env = { CLAUDE_ENTRY_SOURCE: ref, NODE_EXTRA_CA_CERTS: ca.caFile, ...vault.identityEnv };
    const r = await runCli(fake, env);

    const secrets = [accessToken, refreshToken, notACredential, vault.identityEnv.IDENTITY_HEADER!, ...vault.issuedTokens()];
    expectCliUsed(r, fake, reply, accessToken, secrets, vault.secretUrl(name));
    // the challenge flow over TLS the test CA vouches for: unauthenticated, then the identity's token
    expect(vault.requests.map((q) => [q.authorized, q.status])).toEqual([
      [false, 401],
      [true, 200],
    ]);
    expect(vault.tokenRequests.map((t) => [t.identityHeaderOk, t.status])).toEqual([[true, 200]]);
    const written = path.join(r.home, '.claude', '.credentials.json');
    expect(fileMode(written)).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(written, 'utf8'))).toEqual(creds);
    // NODE_EXTRA_CA_CERTS did not break the CLI (above), nor made it complain about the file
    expect(r.stderr).not.toMatch(/NODE_EXTRA_CA_CERTS|extra certs|ca\.pem/i);
    // ... and the CLI did get it: claude-entry passes it on (same env, a command that shows it)
    const shown = await runCli(fake, env, ['sh', '-c', 'printf "%s" "$NODE_EXTRA_CA_CERTS"']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toBe(ca.caFile);
  });
});

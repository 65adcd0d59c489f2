/**
 * What Claude Code will really use, proven with the real CLI (pinned and newest) against the
 * fake API: the header the fake received, claude-entry's warning at the start, and doctor.
 *  - ANTHROPIC_AUTH_TOKEN (a gateway's, with ANTHROPIC_BASE_URL) outranks the OAuth login;
 *  - a user settings env block that sets ANTHROPIC_API_KEY outranks the OAuth login;
 *  - apiKeyHelper in settings outranks CLAUDE_CODE_OAUTH_TOKEN;
 *  - --bare ignores the OAuth login;
 *  - ANTHROPIC_AUTH_TOKEN filled from a secret store by CLAUDE_ENTRY_ENV_ is what the CLI sends;
 *  - a command run as root asking for bypass permissions is refused by the CLI unless
 *    CLAUDE_ENTRY_ALLOW_ROOT_BYPASS=1 (IS_SANDBOX=1);
 *  - --bare ignores workload identity federation as it does the OAuth logins;
 *  - two credentials in one request (ANTHROPIC_AUTH_TOKEN or apiKeyHelper beside an API key);
 *  - as root, every way of asking for bypass permissions is refused, and IS_SANDBOX=true too;
 *  - two providers: Foundry before Vertex, as the CLI picks them; Mantle is one too;
 *  - a provider switched on by a settings env block with a JSON `true` (the CLI reads any value
 *    as its string); `--bare` after `--` is a prompt, not the option;
 *  - a managed-settings.d drop-in (in a private mount namespace over /etc), `--settings` in the
 *    command, and `--setting-sources` leaving the project's apiKeyHelper out;
 * each with a control where nothing shadows, so the warning is seen to depend on the cause.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { needs } from '../needs.js';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic';
import { fakeAwsEnv, startFakeSecretsManager } from '../fakes/aws';
import { FAKE, b64, baseEnv, credentialsJson, expectNoSecret, runBundle, tempDir } from '../helpers';
import { entryLines, expectApiKey, expectOAuth } from './cli-assertions';
import { CLAUDE_CLIS, LATEST_INSTALLED } from './claude-versions';

const QUIET = { DISABLE_AUTOUPDATER: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_TELEMETRY: '1', DISABLE_ERROR_REPORTING: '1' };
const GATEWAY_TOKEN = 'sk-ant-oat01-TESTgateway000000000000000000000000000000000000000000000000000000000000-TESTAA';
const HELPER_KEY = 'sk-ant-api03-TESThelper0000000000000000000000000000000000000000000000000000000000000-TESTAA';
const LOGIN_B64 = () => b64(JSON.stringify(credentialsJson()));
const SECRETS = [FAKE.accessToken, FAKE.refreshToken, FAKE.oauthToken, FAKE.apiKey, GATEWAY_TOKEN, HELPER_KEY];

async function fakeApi(): Promise<{ fake: FakeAnthropic; reply: string }> {
  const reply = `Hi from the fake, ${randomUUID().slice(0, 8)}.`;
  const fake = await startFakeAnthropic({ replyText: reply });
  onTestFinished(() => fake.close());
  return { fake, reply };
}

/** The user's settings.json: an object, or the file's text as it is. */
function userSettings(home: string, settings: object | string): void {
  fs.mkdirSync(path.join(home, '.claude'), { recursive: true });
  fs.writeFileSync(path.join(home, '.claude', 'settings.json'), typeof settings === 'string' ? settings : JSON.stringify(settings));
}

/**
 * A prefix that runs the rest in a private mount namespace whose /etc is an overlay holding
 * these files under /etc/claude-code (the host's /etc is untouched).
 */
function withManagedSettings(files: Record<string, object>): string[] {
  const stage = path.join(tempDir('claude-entry-etc-'), 'claude-code');
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(stage, name)), { recursive: true });
    fs.writeFileSync(path.join(stage, name), JSON.stringify(content));
  }
  const script = [
    'set -eu',
    'mount -t tmpfs tmpfs "$1"',
    'mkdir "$1/u" "$1/w"',
    'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/u,workdir=$1/w" /etc',
    'cp -r "$2" /etc/claude-code',
    'shift 2',
    'exec "$@"',
  ].join('\n');
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'ns', tempDir('claude-entry-ovl-'), stage];
}

it('the newest published CLI is installed for the drift tests (tools/claude-latest/install.sh)', () => {
  expect(LATEST_INSTALLED).toBe(true);
});

for (const cli of CLAUDE_CLIS) {
  describe(`what Claude Code will use, real CLI ${cli.version} (${cli.label})`, () => {
    async function start(
      extra: NodeJS.ProcessEnv | ((fakeUrl: string) => NodeJS.ProcessEnv),
      options: { settings?: object | string | ((fakeUrl: string) => object); project?: object; args?: string[]; prefix?: string[] } = {},
    ) {
      const { fake, reply } = await fakeApi();
      const home = tempDir();
      if (options.settings) userSettings(home, typeof options.settings === 'function' ? options.settings(fake.url) : options.settings);
      const variables = typeof extra === 'function' ? extra(fake.url) : extra;
      const env = baseEnv(home, { PATH: `${cli.binDir}:${process.env.PATH}`, ANTHROPIC_BASE_URL: fake.url, ...QUIET, ...variables });
      const cwd = tempDir('claude-entry-ws-');
      if (options.project) {
        fs.mkdirSync(path.join(cwd, '.claude'));
        fs.writeFileSync(path.join(cwd, '.claude', 'settings.json'), JSON.stringify(options.project));
      }
      const args = options.args ?? ['-p', 'say hi'];
      const result = await runBundle(['--', 'claude', ...args], { env, cwd, timeoutMs: 45_000, prefix: options.prefix });
      const doctor = await runBundle(['doctor', '--', 'claude', ...args], { env, cwd, prefix: options.prefix });
      const context = `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}\ndoctor:\n${doctor.stdout}`;
      const ours = entryLines(result.stderr);
      expectNoSecret(ours + doctor.stdout + doctor.stderr, SECRETS);
      return { fake, reply, result, doctor, context, ours };
    }

    it('control: the OAuth login alone is used, and nothing is said', async () => {
      const { fake, reply, result, doctor, context, ours } = await start({ CLAUDE_CREDENTIALS_B64: LOGIN_B64() });
      expect(result.code, context).toBe(0);
      expect(result.stdout).toContain(reply);
      for (const req of fake.messages()) expectOAuth(req, FAKE.accessToken);
      expect(ours).not.toMatch(/will not use/);
      expect(doctor.stdout).toMatch(/Claude Code will use: the credentials file/);
      expect(doctor.stdout).not.toMatch(/shadowing:/);
    });

    it('a stray CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR is removed: the CLI uses the delivered login, and nothing is said', async () => {
      const { fake, result, doctor, context, ours } = await start({ CLAUDE_CREDENTIALS_B64: LOGIN_B64(), CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR: '3' });
      expect(result.code, context).toBe(0);
      expect(fake.messages().length).toBeGreaterThanOrEqual(1);
      for (const req of fake.messages()) expectOAuth(req, FAKE.accessToken);
      expect(ours).not.toMatch(/will not use/);
      expect(doctor.stdout).toMatch(/Claude Code will use: the credentials file/);
    });

    it.each([
      ['an empty ANTHROPIC_AUTH_TOKEN', { ANTHROPIC_AUTH_TOKEN: '' }],
      ['CLAUDE_CODE_USE_BEDROCK=0', { CLAUDE_CODE_USE_BEDROCK: '0' }],
      ['CLAUDE_CODE_USE_VERTEX=false', { CLAUDE_CODE_USE_VERTEX: 'false' }],
    ])('control: %s is off for the CLI as for claude-entry: the OAuth login is used, and nothing is said', async (_name, off) => {
      const { fake, result, doctor, context, ours } = await start({ CLAUDE_CREDENTIALS_B64: LOGIN_B64(), ...off });
      expect(result.code, context).toBe(0);
      expect(fake.messages().length).toBeGreaterThanOrEqual(1);
      for (const req of fake.messages()) expectOAuth(req, FAKE.accessToken);
      expect(ours).not.toMatch(/will not use/);
      expect(doctor.code, doctor.stdout).toBe(0);
    });

    it('a stray CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR is removed: it would leave the CLI not logged in (no such descriptor reaches it)', async () => {
      const { fake, result, doctor, context, ours } = await start({ CLAUDE_CREDENTIALS_B64: LOGIN_B64(), CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR: '3' });
      expect(result.code, context).toBe(0);
      expect(fake.messages().length).toBeGreaterThanOrEqual(1);
      for (const req of fake.messages()) expectOAuth(req, FAKE.accessToken);
      expect(ours).not.toMatch(/will not use/);
      expect(doctor.stdout).toMatch(/Claude Code will use: the credentials file/);
    });

    it('ANTHROPIC_AUTH_TOKEN (a gateway) shadows the OAuth login: the CLI sends it, the start warns, doctor says so', async () => {
      const { fake, result, doctor, context, ours } = await start({ CLAUDE_CREDENTIALS_B64: LOGIN_B64(), ANTHROPIC_AUTH_TOKEN: GATEWAY_TOKEN });
      expect(result.code, context).toBe(0);
      expect(fake.messages().length).toBeGreaterThanOrEqual(1);
      for (const req of fake.messages()) {
        expect(req.headers.authorization).toBe(`Bearer ${GATEWAY_TOKEN}`);
        expect(String(req.headers['anthropic-beta'] ?? '')).not.toContain('oauth-2025-04-20');
      }
      expect(ours).toMatch(/warning: Claude Code will not use the login claude-entry installed \(a credentials file\) but ANTHROPIC_AUTH_TOKEN/);
      expect(ours.match(/will not use/g)).toHaveLength(1); // once
      expect(doctor.code).toBe(1);
      expect(doctor.stdout).toMatch(/Claude Code will use: ANTHROPIC_AUTH_TOKEN \(Authorization: Bearer\)/);
      expect(doctor.stdout).toMatch(/shadowing: the credentials file is not used: ANTHROPIC_AUTH_TOKEN outranks it/);
    });

    it('a gateway set up in the settings (ANTHROPIC_BASE_URL in an env block): ANTHROPIC_AUTH_TOKEN is its token, kept and sent', async () => {
      const { fake, result, doctor, context, ours } = await start(
        { CLAUDE_CREDENTIALS_B64: LOGIN_B64(), ANTHROPIC_AUTH_TOKEN: GATEWAY_TOKEN, ANTHROPIC_BASE_URL: undefined },
        { settings: (url) => ({ env: { ANTHROPIC_BASE_URL: url } }) },
      );
      expect(result.code, context).toBe(0);
      expect(fake.messages().length, context).toBeGreaterThanOrEqual(1);
      for (const req of fake.messages()) expect(req.headers.authorization).toBe(`Bearer ${GATEWAY_TOKEN}`);
      expect(ours).toMatch(/will not use the login claude-entry installed \(a credentials file\) but ANTHROPIC_AUTH_TOKEN/);
      expect(doctor.stdout).toMatch(/Claude Code will use: ANTHROPIC_AUTH_TOKEN/);
    });

    it('two credentials in one request: ANTHROPIC_AUTH_TOKEN or an apiKeyHelper beside the delivered API key; doctor calls it a conflict', async () => {
      const gateway = await start({ ANTHROPIC_API_KEY: FAKE.apiKey, ANTHROPIC_AUTH_TOKEN: GATEWAY_TOKEN });
      expect(gateway.result.code, gateway.context).toBe(0);
      expect(gateway.fake.messages().length).toBeGreaterThanOrEqual(1);
      for (const req of gateway.fake.messages()) {
        expect(req.headers.authorization).toBe(`Bearer ${GATEWAY_TOKEN}`);
        expect(req.headers['x-api-key']).toBe(FAKE.apiKey);
      }
      expect(gateway.doctor.stdout).toMatch(/Claude Code will use: ANTHROPIC_AUTH_TOKEN/);
      expect(gateway.doctor.stdout).toMatch(/- ANTHROPIC_API_KEY is sent too \(x-api-key\) beside ANTHROPIC_AUTH_TOKEN/);

      const helper = await start({ ANTHROPIC_API_KEY: FAKE.apiKey }, { settings: { apiKeyHelper: `echo ${HELPER_KEY}` } });
      expect(helper.result.code, helper.context).toBe(0);
      for (const req of helper.fake.messages()) {
        expect(req.headers['x-api-key']).toBe(FAKE.apiKey);
        expect(req.headers.authorization).toBe(`Bearer ${HELPER_KEY}`);
      }
      expect(helper.doctor.code).toBe(1);
      expect(helper.doctor.stdout).toMatch(/Claude Code will use: ANTHROPIC_API_KEY/);
      expect(helper.doctor.stdout).toMatch(/- apiKeyHelper in \S+settings.json is sent too \(Authorization\) beside ANTHROPIC_API_KEY/);
    });

    it('a user settings env block that sets ANTHROPIC_API_KEY shadows the OAuth login', async () => {
      const { fake, result, doctor, context, ours } = await start(
        { CLAUDE_CREDENTIALS_B64: LOGIN_B64() },
        { settings: { env: { ANTHROPIC_API_KEY: FAKE.apiKey } } },
      );
      expect(result.code, context).toBe(0);
      expect(fake.messages().length).toBeGreaterThanOrEqual(1);
      for (const req of fake.messages()) expectApiKey(req, FAKE.apiKey);
      expect(ours).toMatch(
        /will not use the login claude-entry installed \(a credentials file\) but ANTHROPIC_API_KEY: the env block of \S+settings.json sets ANTHROPIC_API_KEY/,
      );
      expect(doctor.stdout).toMatch(/Claude Code will use: ANTHROPIC_API_KEY \(x-api-key\)/);
      expect(doctor.stdout).toMatch(/shadowing: the env block of \S+settings.json sets ANTHROPIC_API_KEY/);
    });

    it('apiKeyHelper in settings shadows CLAUDE_CODE_OAUTH_TOKEN', async () => {
      const { fake, result, doctor, context, ours } = await start(
        { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken },
        { settings: { apiKeyHelper: `echo ${HELPER_KEY}` } },
      );
      expect(result.code, context).toBe(0);
      expect(fake.messages().length).toBeGreaterThanOrEqual(1);
      for (const req of fake.messages()) {
        expect(req.headers['x-api-key']).toBe(HELPER_KEY);
        expect(req.headers.authorization).toBe(`Bearer ${HELPER_KEY}`);
      }
      expect(ours).toMatch(/will not use the login claude-entry installed \(CLAUDE_CODE_OAUTH_TOKEN\) but apiKeyHelper in \S+settings.json/);
      expect(doctor.stdout).toMatch(/Claude Code will use: apiKeyHelper in \S+settings.json/);
    });

    it('--bare with an OAuth login: the CLI is not logged in, and the start said why', async () => {
      const { fake, result, doctor, context, ours } = await start({ CLAUDE_CREDENTIALS_B64: LOGIN_B64() }, { args: ['--bare', '-p', 'say hi'] });
      expect(result.code, context).not.toBe(0);
      expect(result.stdout + result.stderr).toMatch(/not logged in/i);
      expect(fake.messages()).toHaveLength(0);
      expect(ours).toMatch(/--bare in the command: Claude Code ignores the credentials file/);
      expect(doctor.stdout).toMatch(/Claude Code will use: nothing/);
    });

    it('CLAUDE_CODE_SIMPLE=1 is --bare: the CLI is not logged in with the OAuth login, and the start said why', async () => {
      const { fake, result, doctor, context, ours } = await start({ CLAUDE_CREDENTIALS_B64: LOGIN_B64(), CLAUDE_CODE_SIMPLE: '1' });
      expect(result.code, context).not.toBe(0);
      expect(result.stdout + result.stderr).toMatch(/not logged in/i);
      expect(fake.messages()).toHaveLength(0);
      expect(ours).toMatch(/CLAUDE_CODE_SIMPLE \(what --bare sets\): Claude Code ignores the credentials file/);
      expect(doctor.stdout).toMatch(/Claude Code will use: nothing/);
    });

    it('--bare ignores workload identity federation too: no token exchange, not logged in, and the start said why', async () => {
      const identity = path.join(tempDir(), 'identity-token');
      fs.writeFileSync(identity, 'TEST-identity-jwt');
      const federation = { ANTHROPIC_IDENTITY_TOKEN_FILE: identity, ANTHROPIC_FEDERATION_RULE_ID: 'fdrl_TEST', ANTHROPIC_ORGANIZATION_ID: randomUUID() };
      const bare = await start({ CLAUDE_ENTRY_OPTIONAL: '1', ...federation }, { args: ['--bare', '-p', 'say hi'] });
      expect(bare.result.code, bare.context).not.toBe(0);
      expect(bare.result.stdout + bare.result.stderr).toMatch(/not logged in/i);
      expect(bare.fake.requests, bare.context).toHaveLength(0);
      expect(bare.doctor.stdout).toMatch(/Claude Code will use: nothing/);
      expect(bare.doctor.stdout).toMatch(/--bare in the command: Claude Code ignores workload identity federation/);
      // control: without --bare the CLI exchanges the identity token at the API
      const exchanged = await start({ CLAUDE_ENTRY_OPTIONAL: '1', ...federation });
      expect(
        exchanged.fake.requests.map((r) => r.path),
        exchanged.context,
      ).toContain('/v1/oauth/token');
      expect(exchanged.doctor.stdout).toMatch(/Claude Code will use: workload identity federation/);
    });

    it('a provider switched on by a settings env block with JSON true: the CLI goes to Bedrock, the start warns', async () => {
      const { fake, result, doctor, context, ours } = await start(
        { CLAUDE_CREDENTIALS_B64: LOGIN_B64(), CLAUDE_CODE_SKIP_BEDROCK_AUTH: '1', AWS_REGION: 'us-east-1' },
        // The fake stands in for Bedrock too: the model calls it receives say where the CLI went.
        { settings: (url) => ({ env: { CLAUDE_CODE_USE_BEDROCK: true, ANTHROPIC_BEDROCK_BASE_URL: url } }) },
      );
      expect(fake.messages(), context).toHaveLength(0);
      expect(
        fake.requests.some((r) => r.path.startsWith('/model/')),
        context,
      ).toBe(true);
      expect(result.code).not.toBe(0); // the fake is no Bedrock
      expect(ours).toMatch(/will not use the login claude-entry installed \(a credentials file\) but Amazon Bedrock \(CLAUDE_CODE_USE_BEDROCK\)/);
      expect(doctor.stdout).toMatch(/Claude Code will use: Amazon Bedrock/);
    });

    it('Vertex and Foundry both on: the CLI takes Foundry, as doctor and the start say; Mantle is a provider too', async () => {
      const both = await start(
        (url) => ({
          CLAUDE_CREDENTIALS_B64: LOGIN_B64(),
          CLAUDE_CODE_USE_VERTEX: '1',
          CLAUDE_CODE_USE_FOUNDRY: '1',
          // The fake stands in for both: the path of the model calls says which one the CLI chose.
          ANTHROPIC_VERTEX_BASE_URL: `${url}/vertex`,
          CLAUDE_CODE_SKIP_VERTEX_AUTH: '1',
          ANTHROPIC_VERTEX_PROJECT_ID: 'test-project',
          CLOUD_ML_REGION: 'us-east5',
          ANTHROPIC_FOUNDRY_BASE_URL: `${url}/foundry`,
          CLAUDE_CODE_SKIP_FOUNDRY_AUTH: '1',
        }),
        { args: ['-p', 'say hi'] },
      );
      const paths = both.fake.requests.map((r) => r.path);
      expect(
        paths.some((p) => p.startsWith('/foundry/')),
        both.context,
      ).toBe(true);
      expect(
        paths.some((p) => p.startsWith('/vertex/') || p === '/v1/messages'),
        both.context,
      ).toBe(false);
      expect(both.ours).toMatch(/will not use the login claude-entry installed \(a credentials file\) but Microsoft Foundry \(CLAUDE_CODE_USE_FOUNDRY\)/);
      expect(both.doctor.stdout).toMatch(/Claude Code will use: Microsoft Foundry/);
      expect(both.doctor.stdout).toMatch(/CLAUDE_CODE_USE_FOUNDRY and CLAUDE_CODE_USE_VERTEX are all set: Claude Code uses Microsoft Foundry/);

      const mantle = await start({ CLAUDE_CREDENTIALS_B64: LOGIN_B64(), CLAUDE_CODE_USE_MANTLE: '1', AWS_REGION: 'us-east-1' });
      expect(mantle.fake.messages(), mantle.context).toHaveLength(0);
      expect(mantle.ours).toMatch(/but Amazon Bedrock \(Mantle\) \(CLAUDE_CODE_USE_MANTLE\)/);
    });

    it('control: --bare after -- is the prompt, not the option: the OAuth login is used, and nothing is said', async () => {
      const { fake, result, doctor, context, ours } = await start({ CLAUDE_CREDENTIALS_B64: LOGIN_B64() }, { args: ['-p', '--', '--bare'] });
      expect(result.code, context).toBe(0);
      expect(fake.messages().length).toBeGreaterThanOrEqual(1);
      for (const req of fake.messages()) expectOAuth(req, FAKE.accessToken);
      expect(ours).not.toMatch(/--bare|will not use/);
      expect(doctor.code, doctor.stdout).toBe(0);
      expect(doctor.stdout).toMatch(/Claude Code will use: the credentials file/);
    });

    it('a settings file that starts with a byte order mark is read, as the CLI reads it', async () => {
      const { fake, result, doctor, context, ours } = await start(
        { CLAUDE_CREDENTIALS_B64: LOGIN_B64() },
        { settings: `\uFEFF${JSON.stringify({ apiKeyHelper: `echo ${HELPER_KEY}` })}` },
      );
      expect(result.code, context).toBe(0);
      expect(fake.messages().length).toBeGreaterThanOrEqual(1);
      for (const req of fake.messages()) expect(req.headers['x-api-key']).toBe(HELPER_KEY);
      expect(ours).toMatch(/will not use the login claude-entry installed \(a credentials file\) but apiKeyHelper in \S+settings.json/);
      expect(doctor.stdout).toMatch(/Claude Code will use: apiKeyHelper/);
    });

    it('--settings in the command with an apiKeyHelper shadows the OAuth login', async () => {
      const { fake, result, doctor, context, ours } = await start(
        { CLAUDE_CREDENTIALS_B64: LOGIN_B64() },
        { args: ['--settings', JSON.stringify({ apiKeyHelper: `echo ${HELPER_KEY}` }), '-p', 'say hi'] },
      );
      expect(result.code, context).toBe(0);
      expect(fake.messages().length).toBeGreaterThanOrEqual(1);
      for (const req of fake.messages()) expect(req.headers['x-api-key']).toBe(HELPER_KEY);
      expect(ours).toMatch(/will not use the login claude-entry installed \(a credentials file\) but apiKeyHelper in --settings/);
      expect(doctor.stdout).toMatch(/Claude Code will use: apiKeyHelper in --settings/);
    });

    it('--bare keeps an apiKeyHelper given by --settings (and only that one): the CLI runs it, the start says the login is not used', async () => {
      const { fake, result, doctor, context, ours } = await start(
        { CLAUDE_CREDENTIALS_B64: LOGIN_B64() },
        {
          settings: { apiKeyHelper: 'echo sk-ant-api03-TESTnotused' },
          args: ['--bare', '--settings', JSON.stringify({ apiKeyHelper: `echo ${HELPER_KEY}` }), '-p', 'say hi'],
        },
      );
      expect(result.code, context).toBe(0);
      expect(fake.messages().length).toBeGreaterThanOrEqual(1);
      for (const req of fake.messages()) expect(req.headers['x-api-key']).toBe(HELPER_KEY);
      expect(ours).toMatch(/will not use the login claude-entry installed \(a credentials file\) but apiKeyHelper in --settings/);
      expect(doctor.stdout).toMatch(/Claude Code will use: apiKeyHelper in --settings/);
      expect(doctor.stdout).toMatch(/--bare in the command: Claude Code ignores apiKeyHelper in \S+\/.claude\/settings.json, the credentials file/);
    });

    it('control: --setting-sources user leaves the project settings out, their apiKeyHelper with them', async () => {
      const { fake, result, doctor, context, ours } = await start(
        { CLAUDE_CREDENTIALS_B64: LOGIN_B64() },
        { project: { apiKeyHelper: `echo ${HELPER_KEY}` }, args: ['--setting-sources', 'user', '-p', 'say hi'] },
      );
      expect(result.code, context).toBe(0);
      for (const req of fake.messages()) expectOAuth(req, FAKE.accessToken);
      expect(ours).not.toMatch(/will not use/);
      expect(doctor.stdout).toMatch(/Claude Code will use: the credentials file/);
    });

    it(
      'a managed-settings.d drop-in that sets ANTHROPIC_API_KEY outranks managed-settings.json and the login',
      needs(needs.root(), needs.unshare()),
      async () => {
        const prefix = withManagedSettings({
          'managed-settings.json': { env: { ANTHROPIC_API_KEY: FAKE.apiKey } },
          'managed-settings.d/50-gateway.json': { env: { ANTHROPIC_API_KEY: HELPER_KEY } },
          'managed-settings.d/.hidden.json': { env: { ANTHROPIC_API_KEY: GATEWAY_TOKEN } },
        });
        const { fake, result, doctor, context, ours } = await start({ CLAUDE_CREDENTIALS_B64: LOGIN_B64() }, { prefix });
        expect(result.code, context).toBe(0);
        expect(fake.messages().length).toBeGreaterThanOrEqual(1);
        for (const req of fake.messages()) expectApiKey(req, HELPER_KEY);
        expect(ours).toMatch(/the env block of \/etc\/claude-code\/managed-settings.d\/50-gateway.json sets ANTHROPIC_API_KEY/);
        expect(doctor.stdout).toMatch(/Claude Code will use: ANTHROPIC_API_KEY/);
        expect(doctor.stdout).not.toMatch(/hidden/);
      },
    );

    it('ANTHROPIC_AUTH_TOKEN filled from a (fake) AWS Secrets Manager by CLAUDE_ENTRY_ENV_: the CLI sends it', async () => {
      const store = await startFakeSecretsManager({ region: 'eu-west-1' });
      onTestFinished(() => store.close());
      store.putSecret('gateway/claude', JSON.stringify({ token: GATEWAY_TOKEN }));
      const { fake, reply, result, doctor, context, ours } = await start({
        CLAUDE_ENTRY_OPTIONAL: '1', // no login: the gateway's token is the credential
        CLAUDE_ENTRY_ENV_ANTHROPIC_AUTH_TOKEN: 'aws-sm:gateway/claude#token',
        AWS_REGION: 'eu-west-1',
        ...fakeAwsEnv(store.url),
      });
      expect(result.code, context).toBe(0);
      expect(result.stdout).toContain(reply);
      expect(fake.messages().length).toBeGreaterThanOrEqual(1);
      for (const req of fake.messages()) {
        expect(req.headers.authorization).toBe(`Bearer ${GATEWAY_TOKEN}`);
        expect(req.headers['x-api-key']).toBeUndefined();
      }
      expect(ours).toMatch(/filled ANTHROPIC_AUTH_TOKEN from aws-sm:gateway\/claude#token/);
      expectNoSecret(result.stdout, [GATEWAY_TOKEN]);
      expect(doctor.stdout).toMatch(/ANTHROPIC_AUTH_TOKEN +<- aws-sm:gateway\/claude#token/);
      expect(doctor.stdout).toMatch(/Claude Code will use: ANTHROPIC_AUTH_TOKEN/);
    });

    it.each([
      [['--allow-dangerously-skip-permissions', '-p', 'say hi'], undefined, /--allow-dangerously-skip-permissions with the command running as root/],
      [['--permission-mode', 'bypassPermissions', '-p', 'say hi'], undefined, /--permission-mode bypassPermissions with the command running as root/],
      [['-p', 'say hi'], { permissions: { defaultMode: 'bypassPermissions' } }, /permissions.defaultMode "bypassPermissions" in \S+settings.json/],
      [
        ['--settings', '{"permissions":{"defaultMode":"bypassPermissions"}}', '-p', 'say hi'],
        undefined,
        /permissions.defaultMode "bypassPermissions" in --settings/,
      ],
    ])('as root, %j (settings %j) is refused by the CLI too, and the start says so', needs(needs.root()), async (args, settings, said) => {
      const { result, context, ours } = await start({ ANTHROPIC_API_KEY: FAKE.apiKey }, { args, settings });
      expect(result.code, context).toBe(1);
      expect(result.stdout + result.stderr).toMatch(/cannot be used with root\/sudo privileges/);
      expect(ours).toMatch(said);
    });

    it('as root, IS_SANDBOX=true is not IS_SANDBOX=1: the CLI refuses, and so does the start', needs(needs.root()), async () => {
      const { result, context, ours } = await start(
        { ANTHROPIC_API_KEY: FAKE.apiKey, IS_SANDBOX: 'true' },
        { args: ['--dangerously-skip-permissions', '-p', 'say hi'] },
      );
      expect(result.code, context).toBe(1);
      expect(result.stdout + result.stderr).toMatch(/cannot be used with root\/sudo privileges/);
      expect(ours).toMatch(/--dangerously-skip-permissions with the command running as root/);
    });

    it(
      'as root, --dangerously-skip-permissions is refused by the CLI; the start says so with the fix; the opt-in makes it run',
      needs(needs.root()),
      async () => {
        expect(process.getuid!()).toBe(0);
        const refused = await start({ ANTHROPIC_API_KEY: FAKE.apiKey }, { args: ['--dangerously-skip-permissions', '-p', 'say hi'] });
        expect(refused.result.code, refused.context).toBe(1);
        expect(refused.result.stdout + refused.result.stderr).toMatch(/cannot be used with root\/sudo privileges/);
        expect(refused.ours).toMatch(
          /warning: --dangerously-skip-permissions with the command running as root: .*CLAUDE_ENTRY_USER.*CLAUDE_ENTRY_ALLOW_ROOT_BYPASS=1/,
        );
        expect(refused.doctor.stdout).toMatch(/- --dangerously-skip-permissions with the command running as root/);

        const allowed = await start(
          { ANTHROPIC_API_KEY: FAKE.apiKey, CLAUDE_ENTRY_ALLOW_ROOT_BYPASS: '1' },
          { args: ['--dangerously-skip-permissions', '-p', 'say hi'] },
        );
        expect(allowed.result.code, allowed.context).toBe(0);
        expect(allowed.result.stdout).toContain(allowed.reply);
        expect(allowed.ours).not.toMatch(/running as root/);
        expect(allowed.doctor.stdout).toMatch(/IS_SANDBOX=1 is set/);
      },
    );
  });
}

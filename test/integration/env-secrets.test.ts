/**
 * CLAUDE_ENTRY_ENV_NAME=REF: any variable of the command filled from the sources the credential
 * comes from, through the bundle: files, env: references, AWS Secrets Manager (the local fake),
 * `#key` selection; one fetch per secret; errors with the chain's exit codes; no value in any
 * output; doctor lists names and references only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { fakeAwsEnv, startFakeSecretsManager } from '../fakes/aws';
import { FAKE, baseEnv, expectNoSecret, runBundle, tempDir } from '../helpers';

const GH = 'ghp_TESTgithubtoken0000000000000000000000';
const NPM = 'npm_TESTnpmtoken00000000000000000000000000';
const MCP = 'mcp-TESTkey-0000000000000000000000000000';
const SECRETS = [GH, NPM, MCP, FAKE.apiKey];
/** Prints, for each name, a digest of its value (never the value) or "unset". */
const show = (...names: string[]) => [
  'sh',
  '-c',
  names.map((n) => `if [ -n "\${${n}+x}" ]; then printf '%s=' ${n}; printf %s "$${n}" | sha256sum | cut -c1-12; else echo ${n}=unset; fi`).join('; '),
];
const digest = (s: string) => require('node:crypto').createHash('sha256').update(s).digest('hex').slice(0, 12);

async function run(args: string[], env: NodeJS.ProcessEnv) {
  const r = await runBundle(args, { env: baseEnv(tempDir(), { ANTHROPIC_API_KEY: FAKE.apiKey, ...env }) });
  expectNoSecret(r.stdout + r.stderr, SECRETS);
  for (const s of [GH, NPM, MCP]) expect(r.stderr).not.toContain(s);
  return r;
}

function secretFile(content: string): string {
  const file = path.join(tempDir('claude-entry-secret-'), 'value');
  fs.writeFileSync(file, content, { mode: 0o400 });
  return file;
}

describe('CLAUDE_ENTRY_ENV_*', () => {
  it('fills variables from a file and an env: reference; removes the requests and the carrier', async () => {
    const r = await run(['--', ...show('GH_TOKEN', 'MCP_KEY', 'RAW_MCP', 'CLAUDE_ENTRY_ENV_GH_TOKEN')], {
      CLAUDE_ENTRY_ENV_GH_TOKEN: secretFile(`${GH}\n`),
      CLAUDE_ENTRY_ENV_MCP_KEY: 'env:RAW_MCP',
      RAW_MCP: MCP,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`GH_TOKEN=${digest(GH)}`); // the trailing newline of the file is not part of it
    expect(r.stdout).toContain(`MCP_KEY=${digest(MCP)}`);
    expect(r.stdout).toContain('RAW_MCP=unset');
    expect(r.stdout).toContain('CLAUDE_ENTRY_ENV_GH_TOKEN=unset');
    expect(r.stderr).toMatch(/filled GH_TOKEN from \//);
    expect(r.stderr).toMatch(/filled MCP_KEY from env:RAW_MCP/);
  });

  it('AWS Secrets Manager: five variables from two keys of one secret and another secret: two requests', async () => {
    const store = await startFakeSecretsManager({ region: 'eu-west-1' });
    onTestFinished(() => store.close());
    store.putSecret('ci/tokens', JSON.stringify({ gh: GH, npm: NPM }));
    store.putSecret('ci/mcp', MCP);
    const r = await run(['--', ...show('GH_TOKEN', 'GITHUB_TOKEN', 'NPM_TOKEN', 'NODE_AUTH_TOKEN', 'MCP_KEY')], {
      AWS_REGION: 'eu-west-1',
      ...fakeAwsEnv(store.url),
      CLAUDE_ENTRY_ENV_GH_TOKEN: 'aws-sm:ci/tokens#gh',
      CLAUDE_ENTRY_ENV_GITHUB_TOKEN: 'aws-sm:ci/tokens#gh',
      CLAUDE_ENTRY_ENV_NPM_TOKEN: 'aws-sm:ci/tokens#npm',
      CLAUDE_ENTRY_ENV_NODE_AUTH_TOKEN: 'aws-sm:ci/tokens#npm',
      CLAUDE_ENTRY_ENV_MCP_KEY: 'aws-sm:ci/mcp',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`GH_TOKEN=${digest(GH)}`);
    expect(r.stdout).toContain(`GITHUB_TOKEN=${digest(GH)}`);
    expect(r.stdout).toContain(`NPM_TOKEN=${digest(NPM)}`);
    expect(r.stdout).toContain(`NODE_AUTH_TOKEN=${digest(NPM)}`);
    expect(r.stdout).toContain(`MCP_KEY=${digest(MCP)}`);
    expect(store.requests.map((q) => [q.operation, q.body.SecretId]).sort()).toEqual([
      ['GetSecretValue', 'ci/mcp'],
      ['GetSecretValue', 'ci/tokens'],
    ]);
    expectNoSecret(r.stdout, SECRETS);
  });

  it('AWS: five secrets fetched at once, one client, so one resolution of the instance role', async () => {
    const store = await startFakeSecretsManager({ region: 'eu-west-1' });
    onTestFinished(() => store.close());
    const names = ['A', 'B', 'C', 'D', 'E'];
    for (const n of names) store.putSecret(`ci/${n}`, `${GH}-${n}`);
    const r = await run(['--', ...show(...names.map((n) => `TOKEN_${n}`))], {
      AWS_REGION: 'eu-west-1',
      AWS_EC2_METADATA_SERVICE_ENDPOINT: store.url,
      AWS_ENDPOINT_URL: store.url,
      ...Object.fromEntries(names.map((n) => [`CLAUDE_ENTRY_ENV_TOKEN_${n}`, `aws-sm:ci/${n}`])),
    });
    expect(r.code, r.stderr).toBe(0);
    for (const n of names) expect(r.stdout).toContain(`TOKEN_${n}=${digest(`${GH}-${n}`)}`);
    expect(store.requests.filter((q) => q.operation === 'GetSecretValue')).toHaveLength(5);
    // One client for the five, so one resolution of the role: its credentials asked for once
    // (five short-lived clients resolved it once each when the machine was busy).
    const roleCredentials = store.metadataRequests.filter((m) => /^GET \/latest\/meta-data\/iam\/security-credentials\/./.test(m));
    expect(roleCredentials, store.metadataRequests.join('\n')).toHaveLength(1);
  });

  it.each([
    [
      'a missing file',
      () => ({ CLAUDE_ENTRY_ENV_GH_TOKEN: '/claude-entry-no-such-dir/gh' }),
      78,
      /CLAUDE_ENTRY_ENV_GH_TOKEN: .*\/claude-entry-no-such-dir\/gh does not exist/,
    ],
    [
      'an env: reference to an unset variable',
      () => ({ CLAUDE_ENTRY_ENV_GH_TOKEN: 'env:NOT_SET_HERE' }),
      78,
      /CLAUDE_ENTRY_ENV_GH_TOKEN: env:NOT_SET_HERE: NOT_SET_HERE is not set/,
    ],
    ['an unknown reference', () => ({ CLAUDE_ENTRY_ENV_GH_TOKEN: 'vault:x' }), 78, /unrecognised reference "vault:x"/],
    ['an empty request', () => ({ CLAUDE_ENTRY_ENV_GH_TOKEN: ' ' }), 78, /CLAUDE_ENTRY_ENV_GH_TOKEN is empty/],
    ['a bad name', () => ({ 'CLAUDE_ENTRY_ENV_GH-TOKEN': '/x' }), 78, /"GH-TOKEN" is not a variable name/],
    ['a missing key', () => ({ CLAUDE_ENTRY_ENV_GH_TOKEN: `${secretFile('{"a":"b"}')}#gh` }), 78, /has no key "gh"/],
  ] as const)('%s: the exit code of the chain, before the command runs', async (_name, env, code, message) => {
    const marker = path.join(tempDir(), 'ran');
    const r = await run(['--', 'sh', '-c', `touch ${marker}`], env());
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('AWS unreachable: exit 69 within the deadline', async () => {
    const r = await run(['--', 'true'], {
      AWS_REGION: 'eu-west-1',
      ...fakeAwsEnv('http://127.0.0.1:9'),
      CLAUDE_ENTRY_TIMEOUT: '3s',
      CLAUDE_ENTRY_ENV_GH_TOKEN: 'aws-sm:ci/tokens#gh',
    });
    expect(r.code, r.stderr).toBe(69);
    expect(r.stderr).toMatch(/aws-sm:ci\/tokens/);
  });

  it('doctor lists each variable with its reference, fetches nothing, flags a bad one', async () => {
    const r = await run(['doctor'], { CLAUDE_ENTRY_ENV_GH_TOKEN: 'aws-sm:ci/tokens#gh', CLAUDE_ENTRY_ENV_MCP_KEY: 'vault:x' });
    expect(r.stdout).toMatch(/^ {2}GH_TOKEN +<- aws-sm:ci\/tokens#gh$/m);
    expect(r.stdout).toMatch(/^ {2}MCP_KEY +<- vault:x$/m);
    expect(r.stdout).toMatch(/- CLAUDE_ENTRY_ENV_MCP_KEY: .*unrecognised reference/);
    expect(r.code).toBe(1);
  });
});

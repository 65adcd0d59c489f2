/**
 * What Claude Code will use and root bypass, through the bundle, without the real CLI: what the
 * command's environment holds (ANTHROPIC_AUTH_TOKEN, IS_SANDBOX), what check and doctor print,
 * and settings files that are hostile (a FIFO) or in the project. The real CLI's side is in
 * test/system/cli-auth-surface.test.ts.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { needs } from '../needs.js';
import { describe, expect, it } from 'vitest';
import { FAKE, b64, baseEnv, credentialsJson, expectNoSecret, runBundle, tempDir } from '../helpers';

const GATEWAY = 'sk-ant-oat01-TESTgateway000000000000000000000000000000000000000000000000000000000000-TESTAA';
const SECRETS = [...Object.values(FAKE), GATEWAY];
/** Prints whether each variable is set, never its value. */
const SHOW = [
  'sh',
  '-c',
  'for v in ANTHROPIC_AUTH_TOKEN CLAUDE_CODE_OAUTH_TOKEN IS_SANDBOX; do eval "x=\\${$v+set}"; echo "$v=${x:-unset}"; done; echo "IS_SANDBOX_VALUE=${IS_SANDBOX:-}"',
];

async function run(args: string[], env: NodeJS.ProcessEnv, cwd?: string) {
  const home = env.HOME ?? tempDir();
  const r = await runBundle(args, { env: baseEnv(home, env), cwd });
  expectNoSecret(r.stdout + r.stderr, SECRETS);
  return r;
}

describe('ANTHROPIC_AUTH_TOKEN beside the credential the chain delivered', () => {
  it('without ANTHROPIC_BASE_URL it is a stray: removed, and nothing shadows', async () => {
    const r = await run(['--', ...SHOW], { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken, ANTHROPIC_AUTH_TOKEN: GATEWAY });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('ANTHROPIC_AUTH_TOKEN=unset');
    expect(r.stdout).toContain('CLAUDE_CODE_OAUTH_TOKEN=set');
    expect(r.stderr).not.toMatch(/will not use/);
  });

  it('with ANTHROPIC_BASE_URL (a gateway) it is kept, and the start warns once that the login is not used', async () => {
    const r = await run(['--', ...SHOW], { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken, ANTHROPIC_AUTH_TOKEN: GATEWAY, ANTHROPIC_BASE_URL: 'http://127.0.0.1:9' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('ANTHROPIC_AUTH_TOKEN=set');
    expect(
      r.stderr.match(/warning: Claude Code will not use the login claude-entry installed \(CLAUDE_CODE_OAUTH_TOKEN\) but ANTHROPIC_AUTH_TOKEN/g),
    ).toHaveLength(1);
  });

  it('CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR is removed like CLAUDE_CODE_OAUTH_TOKEN: it would outrank the delivered file', async () => {
    const show = ['sh', '-c', 'echo "FD=${CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR:-unset}"'];
    const r = await run(['--', ...show], { CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())), CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR: '3' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('FD=unset');
    expect(r.stderr).not.toMatch(/will not use/);
    const doctor = await run(['doctor'], { CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())), CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR: '3' });
    expect(doctor.stdout).toMatch(/Claude Code will use: the credentials file/);
    expect(doctor.stdout).toMatch(/note: CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR is set but .* wins, so it is removed/);
  });

  it('with ANTHROPIC_BASE_URL filled from a secret (CLAUDE_ENTRY_ENV_) it is a gateway too: kept', async () => {
    const url = path.join(tempDir(), 'gateway-url');
    fs.writeFileSync(url, 'http://127.0.0.1:9\n');
    const env = { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken, ANTHROPIC_AUTH_TOKEN: GATEWAY, CLAUDE_ENTRY_ENV_ANTHROPIC_BASE_URL: url };
    const r = await run(['--', ...SHOW], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('ANTHROPIC_AUTH_TOKEN=set');
    expect(r.stderr).toMatch(/will not use the login claude-entry installed \(CLAUDE_CODE_OAUTH_TOKEN\) but ANTHROPIC_AUTH_TOKEN/);
    expect((await run(['doctor'], env)).stdout).toMatch(/Claude Code will use: ANTHROPIC_AUTH_TOKEN/);
  });

  it('check prints the winner and the shadowing only when something shadows; JSON always', async () => {
    const home = tempDir();
    fs.mkdirSync(path.join(home, '.claude'));
    fs.writeFileSync(path.join(home, '.claude', '.credentials.json'), JSON.stringify(credentialsJson()), { mode: 0o600 });
    const plain = await run(['check'], { HOME: home });
    expect(plain.stdout.trim().split('\n')).toHaveLength(1);
    const shadowed = await run(['check'], { HOME: home, ANTHROPIC_AUTH_TOKEN: GATEWAY });
    expect(shadowed.stdout).toMatch(/^Claude Code will use: ANTHROPIC_AUTH_TOKEN \(Authorization: Bearer\)$/m);
    expect(shadowed.stdout).toMatch(/^shadowing: the credentials file is not used: ANTHROPIC_AUTH_TOKEN outranks it$/m);
    const json = JSON.parse((await run(['check', '--json'], { HOME: home, ANTHROPIC_AUTH_TOKEN: GATEWAY })).stdout);
    expect(json.claudeWillUse).toBe('ANTHROPIC_AUTH_TOKEN');
    expect(json.shadowings).toHaveLength(1);
  });
});

describe('settings files', () => {
  it('doctor reads the project and local settings under the working directory', async () => {
    const cwd = tempDir('claude-entry-ws-');
    fs.mkdirSync(path.join(cwd, '.claude'));
    fs.writeFileSync(path.join(cwd, '.claude', 'settings.local.json'), JSON.stringify({ env: { CLAUDE_CODE_OAUTH_TOKEN: '' } }));
    const r = await run(['doctor', '--', 'claude', '-p', 'hi'], { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }, cwd);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Claude Code will use: nothing/);
    expect(r.stdout).toContain(`shadowing: the env block of ${cwd}/.claude/settings.local.json unsets CLAUDE_CODE_OAUTH_TOKEN, which the command was given`);
  });

  it('a FIFO as the user settings file is skipped, not waited on', async () => {
    const home = tempDir();
    fs.mkdirSync(path.join(home, '.claude'));
    execFileSync('mkfifo', [path.join(home, '.claude', 'settings.json')]);
    const r = await run(['doctor'], { HOME: home, ANTHROPIC_API_KEY: FAKE.apiKey });
    expect(r.stdout).toMatch(/Claude Code will use: ANTHROPIC_API_KEY/);
    const start = await run(['--', 'true'], { HOME: home, ANTHROPIC_API_KEY: FAKE.apiKey });
    expect(start.code, start.stderr).toBe(0);
  });
});

describe('root and bypass permissions', needs(needs.root()), () => {
  it('as root without the opt-in: a warning with the fix, IS_SANDBOX not set', async () => {
    // the flag must be an argument of the command: sh -c SCRIPT --dangerously-skip-permissions
    const r = await run(['--', ...SHOW, '--dangerously-skip-permissions'], { ANTHROPIC_API_KEY: FAKE.apiKey });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('IS_SANDBOX=unset');
    expect(r.stderr).toMatch(
      /warning: --dangerously-skip-permissions with the command running as root: Claude Code refuses it .*CLAUDE_ENTRY_USER.*CLAUDE_ENTRY_ALLOW_ROOT_BYPASS=1/,
    );
  });

  it('as root with CLAUDE_ENTRY_ALLOW_ROOT_BYPASS=1 (or --allow-root-bypass): IS_SANDBOX=1, no warning', async () => {
    for (const [args, env] of [
      [['--', ...SHOW, '--dangerously-skip-permissions'], { CLAUDE_ENTRY_ALLOW_ROOT_BYPASS: '1' }],
      [['--allow-root-bypass', '--', ...SHOW, '--dangerously-skip-permissions'], {}],
    ] as const) {
      const r = await run([...args], { ANTHROPIC_API_KEY: FAKE.apiKey, ...env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('IS_SANDBOX_VALUE=1');
      expect(r.stderr).not.toMatch(/running as root/);
    }
  });

  it('as a user: neither the warning nor IS_SANDBOX, even with the opt-in', async () => {
    const home = tempDir();
    fs.chownSync(home, 65534, 65534);
    const r = await run(['--', ...SHOW, '--dangerously-skip-permissions'], {
      HOME: home,
      CLAUDE_ENTRY_USER: '65534',
      CLAUDE_ENTRY_ALLOW_ROOT_BYPASS: '1',
      ANTHROPIC_API_KEY: FAKE.apiKey,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('IS_SANDBOX=unset');
    expect(r.stderr).not.toMatch(/running as root/);
  });

  it('doctor says it, given the command', async () => {
    const r = await run(['doctor', '--', 'claude', '--dangerously-skip-permissions'], { ANTHROPIC_API_KEY: FAKE.apiKey });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/- --dangerously-skip-permissions with the command running as root/);
  });
});

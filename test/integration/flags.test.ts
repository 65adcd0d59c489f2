/**
 * Exit codes for bad values, through the built bundle: a bad flag value is a usage error
 * (64, named by the flag); the same value in the flag's CLAUDE_ENTRY_* twin is a
 * configuration error (78, named by the variable). Nothing runs, nothing is written.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FAKE, baseEnv, expectNoSecret, runBundle, tempDir } from '../helpers.js';

const RUN = ['--', 'sh', '-c', 'echo SHOULD-NOT-RUN'];

describe('a bad flag value exits 64, its variable 78', () => {
  it.each([
    ['--log', 'verbose', 'CLAUDE_ENTRY_LOG', RUN],
    ['--log-format', 'yaml', 'CLAUDE_ENTRY_LOG_FORMAT', RUN],
    ['--timeout', 'soon', 'CLAUDE_ENTRY_TIMEOUT', RUN],
    ['--sync', 'sideways', 'CLAUDE_ENTRY_SYNC', RUN],
    ['--log', 'verbose', 'CLAUDE_ENTRY_LOG', ['check']],
    ['--log', 'verbose', 'CLAUDE_ENTRY_LOG', ['doctor']],
    ['--timeout', '5 minutes', 'CLAUDE_ENTRY_TIMEOUT', ['check']],
  ])('%s %s (then %s)', async (flag, value, variable, command) => {
    const home = tempDir();
    const env = baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken });
    const byFlag = await runBundle([flag, value, ...command], { env });
    expect(byFlag.code).toBe(64);
    expect(byFlag.stderr).toMatch(new RegExp(`^claude-entry: error: ${flag}: "${value}" is not `, 'm'));
    expect(byFlag.stdout).not.toContain('SHOULD-NOT-RUN');

    const byVariable = await runBundle(command, { env: { ...env, [variable]: value } });
    expect(byVariable.code).toBe(78);
    expect(byVariable.stderr).toMatch(new RegExp(`^claude-entry: error: ${variable}: "${value}" is not `, 'm'));
    expect(fs.readdirSync(home)).toEqual([]);
    expectNoSecret(byFlag.stderr + byVariable.stderr, [FAKE.oauthToken]);
  });

  it.each([
    [['check', '--min-valid', 'tomorrow'], /^claude-entry: error: --min-valid: "tomorrow" is not a duration/m],
    [['export', '--format', 'yaml'], /^claude-entry: error: export: --format must be b64, json or env/m],
    [['check', '--bogus'], /Unknown option '--bogus'/],
    [['--user'], /argument missing/],
  ])('%j exits 64', async (args, message) => {
    const r = await runBundle(args, { env: baseEnv(tempDir()) });
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(message);
  });

  it('a flag value that looks like a credential is not echoed by the usage error', async () => {
    const r = await runBundle(['--log', FAKE.oauthToken, ...RUN], { env: baseEnv(tempDir()) });
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/--log: the value \(not shown: it looks like a credential\) is not one of/);
    expectNoSecret(r.stdout + r.stderr, [FAKE.oauthToken]);
  });
});

describe('fleet settings: bad or absurd values exit before anything is written', () => {
  it.each([
    [['--fleet', 'sideways', ...RUN], {}, 64, /^claude-entry: error: --fleet: "sideways" is not on, off or auto/m],
    [RUN, { CLAUDE_ENTRY_FLEET: 'bogus' }, 78, /^claude-entry: error: CLAUDE_ENTRY_FLEET: "bogus" is not on, off or auto/m],
    // 0 or 1ms would read the store in a busy loop (thousands of reads a second); 1000000h overflows Node's timers (fires at once).
    [RUN, { CLAUDE_ENTRY_FLEET_POLL: '0' }, 78, /^claude-entry: error: CLAUDE_ENTRY_FLEET_POLL: "0" is not between 1s and 24h/m],
    [RUN, { CLAUDE_ENTRY_FLEET_POLL: '1ms' }, 78, /^claude-entry: error: CLAUDE_ENTRY_FLEET_POLL: "1ms" is not between 1s and 24h/m],
    [RUN, { CLAUDE_ENTRY_FLEET_POLL: '1000000h' }, 78, /^claude-entry: error: CLAUDE_ENTRY_FLEET_POLL: "1000000h" is not between 1s and 24h/m],
    // 0 refreshes only once the access token has expired: every replica would be refused first.
    [RUN, { CLAUDE_ENTRY_FLEET_REFRESH_BEFORE: '0' }, 78, /^claude-entry: error: CLAUDE_ENTRY_FLEET_REFRESH_BEFORE: "0" is not between 1m and 24h/m],
    [
      RUN,
      { CLAUDE_ENTRY_FLEET_REFRESH_BEFORE: '100000h' },
      78,
      /^claude-entry: error: CLAUDE_ENTRY_FLEET_REFRESH_BEFORE: "100000h" is not between 1m and 24h/m,
    ],
  ])('%j %j: exit %i', async (args, extra, code, message) => {
    const home = tempDir();
    const r = await runBundle(args, { env: baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken, ...extra }) });
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).not.toContain('SHOULD-NOT-RUN');
    expect(fs.readdirSync(home)).toEqual([]);
    expectNoSecret(r.stdout + r.stderr, [FAKE.oauthToken]);
  });
});

describe('parseArgs errors never quote a credential', () => {
  it.each([[['check', FAKE.oauthToken]], [['doctor', JSON.stringify({ claudeAiOauth: { accessToken: 'TESTopaque' } })]], [[`--${FAKE.apiKey}`, '--', 'true']]])(
    '%j: 64, the argument not shown',
    async (args) => {
      const r = await runBundle(args, { env: baseEnv(tempDir()) });
      expect(r.code).toBe(64);
      expect(r.stderr).toMatch(/not shown: it looks like a credential|sk-ant-\[REDACTED\]/);
      expectNoSecret(r.stdout + r.stderr, Object.values(FAKE));
      expect(r.stderr).not.toContain('TESTopaque');
    },
  );
});

/**
 * The dialogs an interactive session can stop at, verified under tmux with the real CLI
 * (pinned and newest), through the bundle:
 *  - the bypass-permissions warning: suppressed by bypassPermissionsModeAccepted in
 *    .claude.json (CLAUDE_ENTRY_SKIP_PERMISSIONS_PROMPT) and, equally, by
 *    skipDangerousModePermissionPrompt in the user's settings.json; neither: the warning, with
 *    "No, exit" as the default. As root this also needs CLAUDE_ENTRY_ALLOW_ROOT_BYPASS.
 *  - workspace trust inside a git repository: an entry for a directory covers the cwd at it
 *    and below it (not only the repository root), and not the directories above it;
 *  - auto mode, the default permission mode: a banner above the prompt, not a screen to answer;
 *  - "Detected a custom API key ... use it?" for an ANTHROPIC_API_KEY that .claude.json has not
 *    approved: not asked for one a CLAUDE_ENTRY_ENV_ANTHROPIC_API_KEY filled (a start approves
 *    it, as it does the chain's); asked for one a settings env block sets, and the start and
 *    doctor say so; the default, No, uses the login.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startFakeAnthropic } from '../fakes/anthropic';
import { BUNDLE, FAKE, b64, baseEnv, credentialsJson, runBundle, tempDir } from '../helpers';
import { entryLines, expectApiKey, expectOAuth } from './cli-assertions';
import { CLAUDE_CLIS } from './claude-versions';
import { PROMPT, Tmux, blocker } from './tmux';
import { needs } from '../needs';

const QUIET = { DISABLE_AUTOUPDATER: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_TELEMETRY: '1', DISABLE_ERROR_REPORTING: '1' };
const BYPASS_WARNING = /WARNING: Claude Code running in Bypass Permissions mode/;
const stops = (screen: string) => (BYPASS_WARNING.test(screen) ? 'the bypass-permissions warning' : blocker(screen));

for (const cli of CLAUDE_CLIS) {
  describe(`dialogs, interactive, real CLI ${cli.version} (${cli.label})`, needs(needs.claude(), needs.tool('tmux')), () => {
    /** Starts `claude ARGS` through the bundle; resolves with the first screen that is a prompt or a dialog. */
    async function firstScreen(options: { extra?: NodeJS.ProcessEnv; args?: string[]; cwd?: string; settings?: object }) {
      const fake = await startFakeAnthropic({ replyText: `hi ${randomUUID().slice(0, 8)}` });
      onTestFinished(() => fake.close());
      const home = tempDir();
      if (options.settings) {
        fs.mkdirSync(path.join(home, '.claude'));
        fs.writeFileSync(path.join(home, '.claude', 'settings.json'), JSON.stringify(options.settings));
      }
      const cwd = options.cwd ?? tempDir('claude-entry-ws-');
      const env = baseEnv(home, {
        PATH: `${cli.binDir}:${process.env.PATH}`,
        ANTHROPIC_BASE_URL: fake.url,
        CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken,
        ...QUIET,
        ...options.extra,
      });
      const tmux = new Tmux(tempDir('claude-entry-tmux-'));
      tmux.start([process.execPath, BUNDLE, '--', 'claude', ...(options.args ?? [])], { env, cwd });
      return tmux.waitFor('the prompt or a dialog', (s) => PROMPT.test(s) || stops(s) !== undefined);
    }

    describe('the bypass-permissions warning (as root, with CLAUDE_ENTRY_ALLOW_ROOT_BYPASS)', () => {
      const base = { args: ['--dangerously-skip-permissions'], extra: { CLAUDE_ENTRY_ALLOW_ROOT_BYPASS: '1' } };

      it('CLAUDE_ENTRY_SKIP_PERMISSIONS_PROMPT (bypassPermissionsModeAccepted): straight to the prompt, in bypass mode', async () => {
        const dir = tempDir('claude-entry-ws-');
        const screen = await firstScreen({ ...base, cwd: dir, extra: { ...base.extra, CLAUDE_ENTRY_TRUST: dir, CLAUDE_ENTRY_SKIP_PERMISSIONS_PROMPT: '1' } });
        expect(stops(screen), screen).toBeUndefined();
        expect(screen).toMatch(/bypass permissions on/);
      });

      it('skipDangerousModePermissionPrompt in the user settings: straight to the prompt too', async () => {
        const dir = tempDir('claude-entry-ws-');
        const screen = await firstScreen({
          ...base,
          cwd: dir,
          extra: { ...base.extra, CLAUDE_ENTRY_TRUST: dir },
          settings: { skipDangerousModePermissionPrompt: true },
        });
        expect(stops(screen), screen).toBeUndefined();
        expect(screen).toMatch(/bypass permissions on/);
      });

      it('control: neither key, the warning stops the session with "No, exit" selected', async () => {
        const dir = tempDir('claude-entry-ws-');
        const screen = await firstScreen({ ...base, cwd: dir, extra: { ...base.extra, CLAUDE_ENTRY_TRUST: dir } });
        expect(stops(screen), screen).toBe('the bypass-permissions warning');
        expect(screen).toMatch(/❯ No, exit/);
      });
    });

    describe('CLAUDE_ENTRY_TRUST inside a git repository', () => {
      function repo(): { root: string; sub: string; deeper: string } {
        const root = tempDir('claude-entry-repo-');
        execFileSync('git', ['init', '-q', root]);
        const sub = path.join(root, 'sub');
        const deeper = path.join(sub, 'deeper');
        fs.mkdirSync(deeper, { recursive: true });
        return { root, sub, deeper };
      }

      it.each([
        ['the repository root, cwd below it', 'root', 'deeper', undefined],
        ['a subdirectory, cwd at it', 'sub', 'sub', undefined],
        ['a subdirectory, cwd below it', 'sub', 'deeper', undefined],
        ['a subdirectory, cwd at the root above it: the trust dialog', 'sub', 'root', 'the trust dialog'],
      ] as const)('trust on %s', async (_name, trusted, at, expected) => {
        const dirs = repo();
        const screen = await firstScreen({ cwd: dirs[at], extra: { CLAUDE_ENTRY_TRUST: dirs[trusted] } });
        expect(stops(screen), screen).toBe(expected);
        if (!expected) expect(screen).toMatch(PROMPT);
      });
    });

    describe('the custom API key question', () => {
      const SECOND_KEY = 'sk-ant-api03-TESTsecond000000000000000000000000000000000000000000000000000000000000-TESTAA';

      /** A login from the chain, an ANTHROPIC_API_KEY from elsewhere; the session and the fake. */
      async function session(extra: NodeJS.ProcessEnv, settings?: object) {
        const fake = await startFakeAnthropic({ replyText: `hi ${randomUUID().slice(0, 8)}` });
        onTestFinished(() => fake.close());
        const home = tempDir();
        if (settings) {
          fs.mkdirSync(path.join(home, '.claude'));
          fs.writeFileSync(path.join(home, '.claude', 'settings.json'), JSON.stringify(settings));
        }
        const cwd = tempDir('claude-entry-ws-');
        const env = baseEnv(home, {
          PATH: `${cli.binDir}:${process.env.PATH}`,
          ANTHROPIC_BASE_URL: fake.url,
          CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())),
          CLAUDE_ENTRY_TRUST: cwd,
          ...QUIET,
          ...extra,
        });
        const doctor = await runBundle(['doctor', '--', 'claude'], { env, cwd });
        const tmux = new Tmux(tempDir('claude-entry-tmux-'));
        tmux.start([process.execPath, BUNDLE, '--', 'claude'], { env, cwd });
        const screen = await tmux.waitFor('the prompt or a dialog', (s) => PROMPT.test(s) || stops(s) !== undefined);
        /** Types a message at the prompt; resolves with the model call the fake received. */
        const ask = () => {
          const request = fake.waitForRequest('/v1/messages', 60_000);
          tmux.type('say hi');
          tmux.keys('Enter');
          return request;
        };
        return { tmux, screen, doctor, ask, ours: () => entryLines(tmux.rawOutput()) };
      }

      it('CLAUDE_ENTRY_ENV_ANTHROPIC_API_KEY: approved by the start, straight to the prompt, the key is sent', async () => {
        const keyFile = path.join(tempDir(), 'key');
        fs.writeFileSync(keyFile, `${SECOND_KEY}\n`);
        const { screen, doctor, ask, ours } = await session({ CLAUDE_ENTRY_ENV_ANTHROPIC_API_KEY: keyFile });
        expect(stops(screen), screen).toBeUndefined();
        expectApiKey(await ask(), SECOND_KEY);
        expect(ours()).toMatch(/will not use the login claude-entry installed \(a credentials file\) but ANTHROPIC_API_KEY/);
        expect(doctor.stdout).not.toMatch(/question:/);
      });

      it('an ANTHROPIC_API_KEY from a settings env block: the question stops the session, said by the start and doctor; No uses the login', async () => {
        const { tmux, screen, doctor, ask, ours } = await session({}, { env: { ANTHROPIC_API_KEY: SECOND_KEY } });
        expect(stops(screen), screen).toBe('the custom API key question');
        await tmux.waitFor('"No" selected', (s) => /❯ No/.test(s));
        expect(ours()).toMatch(/warning: an interactive session stops at Claude Code's question "Detected a custom API key/);
        expect(ours()).not.toMatch(/will not use the login/);
        expect(doctor.code).toBe(1);
        expect(doctor.stdout).toMatch(/Claude Code will use: the credentials file/);
        expect(doctor.stdout).toMatch(/question: an interactive session stops at .* its default, No, uses the credentials file/);
        tmux.keys('Enter'); // No, the default
        await tmux.waitFor('the prompt', (s) => PROMPT.test(s) && stops(s) === undefined);
        expectOAuth(await ask(), FAKE.accessToken);
      });
    });

    it('auto mode is the default permission mode: a banner above the prompt, nothing to answer', async () => {
      const dir = tempDir('claude-entry-ws-');
      const screen = await firstScreen({ cwd: dir, extra: { CLAUDE_ENTRY_TRUST: dir } });
      expect(stops(screen), screen).toBeUndefined();
      expect(screen).toMatch(PROMPT);
      expect(screen).toMatch(/auto mode on/);
      expect(screen).toMatch(/Auto mode is now Claude Code's default permission mode/);
    });
  });
}

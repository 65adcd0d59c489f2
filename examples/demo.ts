/**
 * `npm run demo`: claude-entry's main job, end to end, on this machine, with no cloud account
 * and no network: a secret goes in, the real Claude Code CLI comes out logged in.
 *
 * A local fake Anthropic API stands in for api.anthropic.com (ANTHROPIC_BASE_URL); the
 * credential is an obviously fake one. Everything lives in a temp dir removed at the end.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startFakeAnthropic } from '../test/fakes/anthropic.js';

const root = path.resolve(__dirname, '..');
const bundle = path.join(root, 'dist', 'claude-entry');
const claudeBin = path.join(root, 'node_modules', '.bin');
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (s: string) => console.log(`\n${bold(`== ${s}`)}`);

async function main(): Promise<number> {
  if (!fs.existsSync(path.join(claudeBin, 'claude'))) {
    console.error('The real Claude Code CLI is not installed: run `npm ci` first (it is a dev dependency).');
    return 1;
  }
  const api = await startFakeAnthropic({ replyText: 'Hi! I am Claude Code, logged in by claude-entry.' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claude-entry-demo-'));
  try {
    const home = path.join(dir, 'home');
    fs.mkdirSync(home);
    const accessToken = `sk-ant-oat01-DEMO${'0'.repeat(80)}-DEMOAA`;
    const credentials = {
      claudeAiOauth: {
        accessToken,
        refreshToken: `sk-ant-ort01-DEMO${'0'.repeat(80)}-DEMOAA`,
        expiresAt: Date.now() + 8 * 3600_000,
        scopes: ['user:inference', 'user:profile'],
        subscriptionType: 'max',
      },
    };
    const b64 = Buffer.from(JSON.stringify(credentials)).toString('base64');

    step('The container starts: ENTRYPOINT ["claude-entry", "--"], CMD ["claude", "-p", "say hi"]');
    console.log(`CLAUDE_CREDENTIALS_B64=${b64.slice(0, 24)}... (a fake login, base64)`);
    console.log(`ANTHROPIC_BASE_URL=${api.url} (a local fake of the Anthropic API)`);
    console.log(`HOME=${home} (empty: no login, no onboarding done)\n`);
    const env = {
      PATH: `${claudeBin}:${process.env.PATH}`,
      HOME: home,
      LANG: 'C.UTF-8',
      CLAUDE_CREDENTIALS_B64: b64,
      CLAUDE_ENTRY_TRUST: home,
      ANTHROPIC_BASE_URL: api.url,
      DISABLE_AUTOUPDATER: '1',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
    };
    // Asynchronously: the fake API answers from this very process.
    const run = await runNode([bundle, '--', 'claude', '-p', 'say hi'], env, home);
    process.stdout.write(run.stderr);
    console.log(`\nclaude answered: ${bold(run.stdout.trim())}`);
    console.log(`exit code: ${run.status}`);

    step('What the real CLI sent to the API');
    const call = api.messages()[0];
    if (call) {
      const auth = String(call.headers.authorization ?? '');
      console.log(`POST ${call.url}`);
      console.log(`Authorization: ${auth.slice(0, 'Bearer sk-ant-oat01-DEMO'.length)}... (the access token from the secret)`);
      console.log(`anthropic-beta: ${call.headers['anthropic-beta']}`);
    } else console.log('(no request reached the fake API)');

    step('What claude-entry wrote');
    for (const file of [path.join(home, '.claude'), path.join(home, '.claude', '.credentials.json'), path.join(home, '.claude.json')]) {
      const st = fs.statSync(file);
      console.log(`${(st.mode & 0o777).toString(8).padStart(4, '0')}  ${path.relative(dir, file)}${st.isDirectory() ? '/' : ''}`);
    }
    const claudeJson = JSON.parse(fs.readFileSync(path.join(home, '.claude.json'), 'utf8'));
    console.log(`.claude.json: hasCompletedOnboarding=${claudeJson.hasCompletedOnboarding}, trusted ${Object.keys(claudeJson.projects ?? {}).join(', ')}`);

    step('The health check a HEALTHCHECK or a probe runs: claude-entry check');
    const check = await runNode([bundle, 'check'], { ...env, CLAUDE_CREDENTIALS_B64: '' }, home);
    process.stdout.write(check.stdout);
    console.log(`exit code: ${check.status}`);

    const ok = run.status === 0 && call !== undefined && check.status === 0;
    console.log(`\n${bold(ok ? 'Demo passed: the real Claude Code CLI ran logged in, with no onboarding.' : 'Demo FAILED.')}`);
    return ok ? 0 : 1;
  } finally {
    await api.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function runNode(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), 90_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

main().then((code) => process.exit(code));

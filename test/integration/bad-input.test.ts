/**
 * Bad input, through the built bundle: one clear error line naming the source, the
 * documented exit code, nothing written (or the old file intact), and no secret byte in
 * anything printed.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLE, FAKE, b64, baseEnv, credentialsJson, expectNoSecret, runBundle, runProcess, tempDir } from '../helpers.js';
import { needs } from '../needs.js';

const SECRETS = Object.values(FAKE);
const json = (over: Record<string, unknown>) => JSON.stringify(credentialsJson(over));

interface Case {
  name: string;
  /** Builds the environment (and any files) in `dir`; the home is dir/home. */
  setup: (dir: string) => NodeJS.ProcessEnv;
  args?: string[];
  code: number;
  message: RegExp;
  /** Run as this uid:gid instead of root. */
  as?: string;
}

function file(dir: string, name: string, content: string | Buffer, mode = 0o600): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content, { mode });
  return p;
}

const cases: Case[] = [
  {
    name: 'invalid base64',
    setup: () => ({ CLAUDE_CREDENTIALS_B64: `${FAKE.accessToken.slice(13)}$$$%%%` }),
    code: 78,
    message: /^CLAUDE_CREDENTIALS_B64: not a Claude credential/,
  },
  {
    name: 'base64 of garbage',
    setup: () => ({ CLAUDE_CREDENTIALS_B64: b64(`garbage ${FAKE.accessToken.slice(13)}`) }),
    code: 78,
    message: /^CLAUDE_CREDENTIALS_B64: base64 that does not decode to a Claude credential/,
  },
  {
    name: 'JSON that is not an object',
    setup: () => ({ CLAUDE_CREDENTIALS_JSON: JSON.stringify([FAKE.accessToken]) }),
    code: 78,
    message: /^CLAUDE_CREDENTIALS_JSON: the JSON is not an object/,
  },
  {
    name: 'claudeAiOauth missing',
    setup: () => ({ CLAUDE_CREDENTIALS_B64: b64(JSON.stringify({ accessToken: FAKE.accessToken })) }),
    code: 78,
    message: /^CLAUDE_CREDENTIALS_B64 \(base64-decoded\): the JSON has no "claudeAiOauth" object/,
  },
  {
    name: 'token empty',
    setup: () => ({ CLAUDE_CREDENTIALS_JSON: json({ accessToken: '' }) }),
    code: 78,
    message: /"claudeAiOauth.accessToken" is missing or empty/,
  },
  {
    name: 'scopes without user:inference',
    setup: () => ({ CLAUDE_CREDENTIALS_JSON: json({ scopes: ['user:profile'] }) }),
    code: 78,
    message: /lacks "user:inference"/,
  },
  {
    name: 'blanked by a failed refresh',
    setup: () => ({ CLAUDE_CREDENTIALS_JSON: json({ accessToken: '', refreshToken: '', expiresAt: 0 }) }),
    code: 78,
    message: /blanked by a failed token refresh; log in again/,
  },
  {
    name: 'an API key in CLAUDE_CODE_OAUTH_TOKEN',
    setup: () => ({ CLAUDE_CODE_OAUTH_TOKEN: FAKE.apiKey }),
    code: 78,
    message: /^CLAUDE_CODE_OAUTH_TOKEN: holds an API key/,
  },
  {
    name: 'a 50 MB file',
    setup: (d) => ({ CLAUDE_CREDENTIALS_FILE: file(d, 'big', Buffer.alloc(50 * 1024 * 1024, 'A')) }),
    code: 78,
    message: /is 52428800 bytes, more than a credential can be/,
  },
  { name: 'a directory where a file was expected', setup: (d) => ({ CLAUDE_CREDENTIALS_FILE: d }), code: 78, message: /is a directory, not a file/ },
  {
    name: 'a FIFO (must not block)',
    setup: (d) => {
      execFileSync('mkfifo', [path.join(d, 'fifo')]);
      return { CLAUDE_ENTRY_SOURCE: path.join(d, 'fifo') };
    },
    code: 78,
    message: /^file:.*fifo is not a regular file \(a FIFO\)/,
  },
  { name: 'a missing file', setup: (d) => ({ CLAUDE_CREDENTIALS_FILE: path.join(d, 'nope') }), code: 78, message: /nope does not exist/ },
  {
    name: 'an unreadable file',
    setup: (d) => {
      fs.chmodSync(d, 0o755);
      fs.mkdirSync(path.join(d, 'home'), { mode: 0o700 });
      fs.chownSync(path.join(d, 'home'), 65534, 65534);
      return { CLAUDE_CREDENTIALS_FILE: file(d, 'root-only', json({}), 0o600) };
    },
    as: '65534:65534',
    code: 78,
    message: /root-only is not readable by uid 65534/,
  },
  {
    name: 'unknown user',
    setup: () => ({ CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken, CLAUDE_ENTRY_USER: 'no-such-user-xyz' }),
    code: 78,
    message: /^CLAUDE_ENTRY_USER: unknown user "no-such-user-xyz"/,
  },
  {
    name: 'uid with no passwd entry',
    setup: () => ({ CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken, CLAUDE_ENTRY_USER: '48213' }),
    code: 78,
    message: /uid 48213 has no entry in \/etc\/passwd/,
  },
  {
    name: 'a home owned by another user while not root',
    setup: (d) => {
      fs.chmodSync(d, 0o755);
      fs.mkdirSync(path.join(d, 'home'), { mode: 0o755 }); // root's
      return { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken };
    },
    as: '65534:65534',
    code: 73,
    message: /home is not writable by uid 65534 \(owned by uid 0\)/,
  },
  { name: 'no command after --', setup: () => ({ CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }), args: ['--'], code: 64, message: /^no command to run/ },
  {
    name: 'an unknown flag',
    setup: () => ({ CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }),
    args: ['--bogus', '--', 'true'],
    code: 64,
    message: /Unknown option '--bogus'/,
  },
  {
    name: 'a bad CLAUDE_ENTRY_SOURCE reference',
    setup: () => ({ CLAUDE_ENTRY_SOURCE: 'vault:secret/x' }),
    code: 78,
    message: /^CLAUDE_ENTRY_SOURCE: unrecognised reference "vault:secret\/x"/,
  },
  {
    name: 'no credential at all',
    setup: () => ({}),
    code: 78,
    message: /^no credential found \(looked at CLAUDE_CREDENTIALS_FILE, .*\/run\/secrets\/claude-credentials, .*\.credentials\.json \(already in place\)\)/,
  },
];

describe('bad input', () => {
  it.for(cases.map((c) => [c.name, c] as const))('%s', async ([, c], ctx) => {
    // Another uid than ours: setpriv to it, and chown a home to it, need root.
    if (c.as) needs.now(ctx, needs.root(), needs.tool('setpriv'));
    const dir = tempDir();
    const home = path.join(dir, 'home');
    const env = baseEnv(home, c.setup(dir));
    const before = snapshot(home);
    const args = c.args ?? ['--', 'sh', '-c', 'echo SHOULD-NOT-RUN'];
    const r = c.as
      ? await runProcess(['setpriv', `--reuid=${c.as.split(':')[0]}`, `--regid=${c.as.split(':')[1]}`, '--clear-groups', process.execPath, BUNDLE, ...args], {
          env,
          timeoutMs: 10_000,
        })
      : await runBundle(args, { env, timeoutMs: 10_000 });

    expect(r.code).toBe(c.code);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('claude-entry: error: '));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.slice('claude-entry: error: '.length)).toMatch(c.message);
    expect(r.stdout).toBe('');
    expect(snapshot(home)).toEqual(before);
    expectNoSecret(r.stdout + r.stderr, SECRETS);
  });

  it('a bad payload leaves the old .credentials.json intact', async () => {
    const home = tempDir();
    const old = JSON.stringify(credentialsJson({ accessToken: 'sk-ant-oat01-TESTold' }));
    fs.mkdirSync(path.join(home, '.claude'), { mode: 0o700 });
    fs.writeFileSync(path.join(home, '.claude', '.credentials.json'), old, { mode: 0o600 });
    fs.writeFileSync(path.join(home, '.claude.json'), '{"numStartups":1}');
    const before = snapshot(home);
    const r = await runBundle(['--', 'true'], { env: baseEnv(home, { CLAUDE_CREDENTIALS_JSON: json({ scopes: [] }) }) });
    expect(r.code).toBe(78);
    expect(snapshot(home)).toEqual(before);
  });

  it('a working directory deleted before the start: 78 that says so (not 70, a bug of ours), nothing written', async () => {
    const home = tempDir();
    const gone = path.join(tempDir(), 'workdir');
    fs.mkdirSync(gone);
    const env = baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken });
    const r = await runProcess(['sh', '-c', 'cd "$0" && rmdir "$0" && exec "$@"', gone, process.execPath, BUNDLE, '--', 'sh', '-c', 'echo SHOULD-NOT-RUN'], {
      env,
    });
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr).toMatch(/^claude-entry: error: the working directory no longer exists \(ENOENT\); start in an existing directory$/m);
    expect(r.stdout).toBe('');
    expect(fs.readdirSync(home)).toEqual([]);
  });

  it('a command not on PATH exits 127, one not executable 126', async () => {
    const home = tempDir();
    const env = baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken });
    const notFound = await runBundle(['--', 'no-such-command-xyz'], { env });
    expect(notFound.code).toBe(127);
    expect(notFound.stderr).toMatch(/^claude-entry: error: no-such-command-xyz: command not found on PATH$/m);
    const script = file(home, 'script.sh', '#!/bin/sh\necho hi\n', 0o644);
    const notExec = await runBundle(['--', script], { env });
    expect(notExec.code).toBe(126);
    expect(notExec.stderr).toMatch(/permission denied/);
    expectNoSecret(notFound.stderr + notExec.stderr, SECRETS);
  });

  it.each([
    ['missing', '#!/no/such/interpreter\necho hi\n', /bad interpreter \/no\/such\/interpreter: no such file/],
    ['a directory', '#! /tmp -x\necho hi\n', /bad interpreter \/tmp: is a directory/],
  ])('a script whose #! interpreter is %s: 126 before anything is written', async (_name, text, why) => {
    const home = tempDir();
    const dir = tempDir();
    const script = file(dir, 'script.sh', text, 0o755);
    const r = await runBundle(['--', script], { env: baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }) });
    expect(r.code, r.stderr).toBe(126);
    expect(r.stderr).toMatch(why);
    expect(fs.readdirSync(home)).toEqual([]);
  });

  it('a script whose interpreter exists runs (#!/bin/sh, and #!/usr/bin/env sh)', async () => {
    const home = tempDir();
    const dir = tempDir();
    for (const line of ['#!/bin/sh', '#! /usr/bin/env sh']) {
      const script = file(dir, `ok-${line.length}.sh`, `${line}\necho ran\n`, 0o755);
      const r = await runBundle(['--', script], { env: baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }) });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('ran\n');
    }
  });
});

/** Every path under dir with its content (files) or type, to prove nothing was written. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string) => {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(p);
    } catch {
      return;
    }
    if (stat.isDirectory()) {
      out[p] = `dir ${stat.mode & 0o777}`;
      for (const name of fs.readdirSync(p)) walk(path.join(p, name));
    } else if (stat.isFile()) out[p] = fs.readFileSync(p, 'utf8');
    else out[p] = 'other';
  };
  walk(dir);
  return out;
}

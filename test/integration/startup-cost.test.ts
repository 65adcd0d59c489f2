/**
 * Start-up costs that once were paid and are not any more (issue 13), checked on the built
 * bundle: what `check` loads, and what a start syncs to disk.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLE, FAKE, baseEnv, credentialsJson, runBundle, runProcess, tempDir } from '../helpers.js';
import { needs } from '../needs.js';

/** A preload that prints, at exit or just before an execve (Node 22.15+), the built-in modules the process loaded. */
function moduleListPreload(): string {
  const file = path.join(tempDir(), 'modules.cjs');
  fs.writeFileSync(
    file,
    `const list = () => require('node:fs').writeSync(2, 'MODULES ' + JSON.stringify(process.moduleLoadList) + '\\n');\n` +
      `process.on('exit', list);\n` +
      `const execve = process.execve;\n` +
      `if (execve) process.execve = function (...args) { list(); return execve.apply(this, args); };\n`,
  );
  return file;
}

function loadedModules(stderr: string): string[] {
  const line = stderr.split('\n').find((l) => l.startsWith('MODULES '));
  expect(line, stderr).toBeDefined();
  return JSON.parse(line!.slice('MODULES '.length)) as string[];
}

describe('start-up cost', () => {
  it('check answers on fd 1 without loading the stream modules or node:os', async () => {
    const home = tempDir();
    const env = baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken });
    expect((await runBundle(['--', 'true'], { env })).code).toBe(0);
    const r = await runProcess([process.execPath, '-r', moduleListPreload(), BUNDLE, 'check'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^healthy \| OAuth token in CLAUDE_CODE_OAUTH_TOKEN/);
    const modules = loadedModules(r.stderr);
    expect(modules).not.toContain('NativeModule stream');
    expect(modules).not.toContain('NativeModule net');
    expect(modules).not.toContain('NativeModule os');
  });

  it('a local start (an env token, a file) loads nothing of the cloud path: no zlib (the SDK loader), tls, https or http2', async () => {
    const home = tempDir();
    const dir = tempDir();
    const creds = path.join(dir, 'creds.json');
    fs.writeFileSync(creds, JSON.stringify(credentialsJson()), { mode: 0o600 });
    for (const extra of [{ CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }, { CLAUDE_CREDENTIALS_FILE: creds }]) {
      const r = await runProcess([process.execPath, '-r', moduleListPreload(), BUNDLE, '--', 'true'], { env: baseEnv(home, extra) });
      expect(r.code, r.stderr).toBe(0);
      const modules = loadedModules(r.stderr);
      for (const cloud of ['zlib', 'tls', 'https', 'http2', 'dns', 'crypto']) expect(modules).not.toContain(`NativeModule ${cloud}`);
    }
  });

  it('a start syncs .claude.json and its directory, not the state file it rewrites at every start', needs(needs.tool('strace')), async () => {
    const home = tempDir();
    const trace = path.join(tempDir(), 'trace');
    const r = await runProcess(['strace', '-f', '-y', '-e', 'trace=fsync,fdatasync', '-o', trace, process.execPath, BUNDLE, '--', 'true'], {
      env: baseEnv(home, { CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(home, '.claude', '.claude-entry-state.json'), 'utf8')).source).toBe('CLAUDE_CODE_OAUTH_TOKEN');
    const syncs = fs
      .readFileSync(trace, 'utf8')
      .split('\n')
      .filter((l) => /\bf(data)?sync\(/.test(l));
    expect(syncs.some((l) => l.includes('.claude.json.claude-entry-'))).toBe(true);
    expect(syncs.some((l) => l.includes(`<${home}>`))).toBe(true);
    expect(syncs.filter((l) => l.includes('claude-entry-state'))).toEqual([]);
    expect(syncs.filter((l) => l.includes(`<${path.join(home, '.claude')}>`))).toEqual([]);
  });
});

/**
 * The real Claude Code CLI against a strict OAuth proxy, for the sync tests (cli-sync*.test.ts):
 * a login whose tokens the proxy alone knows, an API that refuses any other access token, and a
 * replica that is one `claude -p` started through the bundle from a source or store.
 */
import * as path from 'node:path';
import { expect, onTestFinished } from 'vitest';
import { startRefreshRig, type RefreshRig } from '../fakes/oauth-proxy';
import { FAKE, ROOT, baseEnv, runBundle, tempDir, type RunResult } from '../helpers';

export const BIN_DIR = path.join(ROOT, 'node_modules', '.bin');

/** The proxy knows only the login's pair (FAKE): a refresh token presented twice is refused. */
export async function strictRig(): Promise<RefreshRig> {
  const r = await startRefreshRig({
    proxy: { strict: true, refreshTokens: [FAKE.refreshToken], accessTokens: [FAKE.accessToken] },
    gate: true,
  });
  onTestFinished(() => r.close());
  return r;
}

/** One replica: `claude -p "say hi"` through the bundle in a fresh home, with the rig's environment and `env`. */
export async function replica(r: RefreshRig, env: NodeJS.ProcessEnv) {
  const home = tempDir();
  const result = await runBundle(['--', 'claude', '-p', 'say hi'], {
    env: baseEnv(home, { PATH: `${BIN_DIR}:${process.env.PATH}`, ...r.env, ...env }),
    cwd: tempDir('claude-entry-ws-'),
    timeoutMs: 60_000,
  });
  return { ...result, home };
}

/** Replica A answered after refreshing once: the pair it was issued. */
export function expectRefreshedOnce(r: RefreshRig, a: RunResult) {
  expect(a.code, a.stderr).toBe(0);
  expect(a.stdout).toContain(r.reply);
  expect(r.proxy.refreshes()).toHaveLength(1);
  return r.proxy.issued[0]!;
}

/** Replica B, started later from the same store, uses `pair`: accepted, and no second refresh. */
export function expectStartedFrom(r: RefreshRig, b: RunResult, pair: { accessToken: string }): void {
  expect(b.code, b.stderr).toBe(0);
  expect(b.stdout).toContain(r.reply);
  expect(r.messageTokens().at(-1)).toBe(pair.accessToken);
  expect(r.proxy.refreshes()).toHaveLength(1);
}

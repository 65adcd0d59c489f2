/**
 * Credential sync with the real Claude Code CLI (2.1.330): replica A's CLI refreshes its
 * tokens (through a local HTTPS proxy standing in for platform.claude.com), claude-entry pushes
 * the rotated pair back to the source, and replica B started afterwards from that source
 * authenticates with it. Refresh tokens are single-use at the fake token endpoint and the fake
 * API accepts only live access tokens, as Anthropic's do.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RefreshRig } from '../fakes/oauth-proxy';
import { FAKE, baseEnv, credentialsJson, expectNoSecret, runBundle, runSupervised, shWaitFor, tempDir } from '../helpers';
import { needs } from '../needs';
import { BIN_DIR, expectRefreshedOnce, expectStartedFrom, replica as replicaOf, strictRig } from './sync-rig';

const replica = (r: RefreshRig, source: string, extra: NodeJS.ProcessEnv = {}) => replicaOf(r, { CLAUDE_ENTRY_SOURCE: source, ...extra });

/** The source: a login whose access token has a minute left, so the first CLI refreshes. */
function sourceFile(): string {
  const file = path.join(tempDir(), 'claude-credentials.json');
  fs.writeFileSync(file, JSON.stringify(credentialsJson({ expiresAt: Date.now() + 60_000 })), { mode: 0o600 });
  return file;
}

const oauthOf = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')).claudeAiOauth;

/** A file a command can wait for (shWaitFor(file, 'x')), written by the test at an event. */
function signal(): { file: string; raise: () => void } {
  const file = path.join(tempDir(), 'signal');
  return { file, raise: () => fs.writeFileSync(file, 'x') };
}

describe('sync with the real CLI', needs(needs.claude()), () => {
  it('the rotated pair reaches the source, and a second replica started from it authenticates', async () => {
    const r = await strictRig();
    const source = sourceFile();

    const a = await replica(r, source, { CLAUDE_ENTRY_SYNC: 'both' });
    const rotated = expectRefreshedOnce(r, a);

    // The source now holds the pair the CLI was issued: the live refresh token.
    const stored = oauthOf(source);
    expect(stored.accessToken).toBe(rotated.accessToken);
    expect(stored.refreshToken).toBe(rotated.refreshToken);
    expect(a.stderr).toMatch(/^claude-entry: sync push: pushed the refreshed login to file:/m);
    const local = path.join(a.home, '.claude', '.credentials.json');
    const lag = fs.statSync(source).mtimeMs - fs.statSync(local).mtimeMs;
    console.log(`sync: ${a.stderr.match(/sync push: pushed/g)?.length ?? 0} push(es); the store had the new pair ${Math.round(lag)} ms after the CLI's write`);
    expectNoSecret(a.stderr, [FAKE.accessToken, FAKE.refreshToken, rotated.accessToken, rotated.refreshToken]);

    // Replica B, started later from the same source, uses that pair: no refresh, accepted.
    expectStartedFrom(r, await replica(r, source), rotated);
  });

  it("a running replica whose refresh lost the race pulls the winner's pair, and its next claude -p works", { timeout: 300_000 }, async () => {
    const r = await strictRig();
    const source = sourceFile();
    const bin = `${BIN_DIR}:${process.env.PATH}`;
    // Replica B starts first; its command runs the CLI once replica A has refreshed and pushed,
    // and again once B's supervisor has pulled A's pair.
    const homeB = tempDir();
    const aDone = signal();
    const pulled = signal();
    const script = `${shWaitFor(aDone.file, 'x', 120)}; claude -p "say hi"; echo "first=$?"; ${shWaitFor(pulled.file, 'x', 120)}; claude -p "say hi"; echo "second=$?"`;
    let bStarted!: () => void;
    const bIsRunning = new Promise<void>((resolve) => (bStarted = resolve));
    const b = runSupervised(script, [], {
      env: baseEnv(homeB, { PATH: bin, ...r.env, CLAUDE_ENTRY_SOURCE: source, CLAUDE_ENTRY_SYNC: 'both' }),
      cwd: tempDir('claude-entry-ws-'),
      timeoutMs: 300_000,
      whenStarted: bStarted,
      onStderr: (stderr) => {
        if (/claude-entry: sync pull: replaced /.test(stderr)) pulled.raise();
      },
    });
    await bIsRunning;
    const a = await replica(r, source, { CLAUDE_ENTRY_SYNC: 'both' });
    expect(a.code, a.stderr).toBe(0);
    const winner = r.proxy.issued[0]!;
    expect(oauthOf(source).accessToken).toBe(winner.accessToken);
    aDone.raise();

    const rb = await b;
    // B's first CLI refreshed with the refresh token A had already spent: refused, file blanked.
    // The pull lands within a second; observed (2.1.330): that CLI usually picks the pulled pair
    // up and answers (first=0), else it exits 1 and the next run starts from the pulled pair.
    console.log(`sync: B's first claude -p after losing the refresh race: ${rb.stdout.match(/first=\d+/)?.[0]}`);
    expect(rb.stdout).toMatch(/first=[01]/);
    expect(rb.stderr).toMatch(/claude-entry: warning: .*\.credentials\.json was blanked by a failed refresh/);
    expect(rb.stderr).toMatch(/claude-entry: sync pull: replaced .*\.credentials\.json with the newer login from file:/);
    // Its second CLI starts from the pulled pair: accepted, no new refresh.
    expect(rb.stdout).toMatch(/second=0/);
    expect(r.messageTokens().at(-1)).toBe(winner.accessToken);
    expect(oauthOf(path.join(homeB, '.claude', '.credentials.json')).accessToken).toBe(winner.accessToken);
  });

  it('control: the same race without sync leaves the running replica logged out', { timeout: 300_000 }, async () => {
    const r = await strictRig();
    const source = sourceFile();
    const homeB = tempDir();
    // Without sync the source never changes: B's start may come before or after A's; its CLI runs once A has refreshed.
    const aDone = signal();
    const script = `${shWaitFor(aDone.file, 'x', 120)}; claude -p "say hi"; echo "first=$?"; claude -p "say hi"; echo "second=$?"`;
    const b = runBundle(['--', 'sh', '-c', script], {
      env: baseEnv(homeB, { PATH: `${BIN_DIR}:${process.env.PATH}`, ...r.env, CLAUDE_ENTRY_SOURCE: source }),
      cwd: tempDir('claude-entry-ws-'),
      timeoutMs: 300_000,
    });
    const a = await replica(r, source);
    expect(a.code, a.stderr).toBe(0);
    aDone.raise();
    const rb = await b;
    // Logged out by the end. The first call may still pass on the old access token while it
    // lasts (60 s from the source's writing: on a starved CPU B's CLI gets there in time and
    // the CLI carries on with it after the failed refresh); the second never does.
    expect(rb.stdout).toMatch(/first=[01]/);
    expect(rb.stdout).toMatch(/second=1/);
    expect(rb.stdout + rb.stderr).toMatch(/OAuth session expired and could not be refreshed/);
  });

  it("control: without sync, the second replica is logged out by the first one's rotation", async () => {
    const r = await strictRig();
    const source = sourceFile();
    const a = await replica(r, source);
    expect(a.code, a.stderr).toBe(0);
    expect(oauthOf(source).refreshToken).toBe(FAKE.refreshToken); // the spent one

    const b = await replica(r, source);
    expect(b.code).toBe(1);
    expect(b.stdout + b.stderr).toMatch(/OAuth session expired and could not be refreshed/);
  });
});

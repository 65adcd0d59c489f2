/**
 * Credential sync with the real Claude Code CLI and AWS Secrets Manager (the fake, SigV4
 * verified, through the real SDK): replica A's CLI refreshes its tokens (through a local HTTPS
 * proxy standing in for platform.claude.com), claude-entry pushes the rotated pair to the
 * secret as a new AWSCURRENT version (conditionally, from the version it read), and replica B
 * started afterwards from the secret authenticates with it. Refresh tokens are single-use at
 * the fake token endpoint and the fake API accepts only live access tokens.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FAKE_AWS_CREDENTIALS, fakeAwsEnv, startFakeSecretsManager, type FakeSecretsManager } from '../fakes/aws';
import type { RefreshRig } from '../fakes/oauth-proxy';
import { FAKE, credentialsJson, expectNoSecret } from '../helpers';
import { needs } from '../needs';
import { expectRefreshedOnce, expectStartedFrom, replica as replicaOf, strictRig } from './sync-rig';

const REGION = 'eu-west-3';
const NAME = 'prod/claude-code';

async function awsStore(): Promise<FakeSecretsManager> {
  const aws = await startFakeSecretsManager({ region: REGION });
  onTestFinished(() => aws.close());
  // A login whose access token has a minute left, so the first CLI refreshes.
  aws.putSecret(NAME, JSON.stringify(credentialsJson({ expiresAt: Date.now() + 60_000 })));
  return aws;
}

const replica = (r: RefreshRig, aws: FakeSecretsManager, extra: NodeJS.ProcessEnv = {}) =>
  replicaOf(r, { ...fakeAwsEnv(aws.url, REGION), CLAUDE_ENTRY_SOURCE: `aws-sm:${NAME}`, ...extra });

const oauthOf = (aws: FakeSecretsManager, stage = 'AWSCURRENT') => JSON.parse(String(aws.valueOf(NAME, stage))).claudeAiOauth;

describe('sync with the real CLI and AWS Secrets Manager', needs(needs.claude()), () => {
  it('the rotated pair reaches the secret, and a second replica started from it authenticates', async () => {
    const r = await strictRig();
    const aws = await awsStore();

    const before = aws.requests.length;
    const a = await replica(r, aws, { CLAUDE_ENTRY_SYNC: 'both' });
    const rotated = expectRefreshedOnce(r, a);

    // The secret's AWSCURRENT now holds the pair the CLI was issued: the live refresh token.
    const stored = oauthOf(aws);
    expect(stored.accessToken).toBe(rotated.accessToken);
    expect(stored.refreshToken).toBe(rotated.refreshToken);
    expect(oauthOf(aws, 'AWSPREVIOUS').refreshToken).toBe(FAKE.refreshToken); // the spent one
    expect(a.stderr).toMatch(new RegExp(`^claude-entry: sync push: pushed the refreshed login to aws-sm:${NAME}`, 'm'));
    expectNoSecret(a.stderr, [FAKE.accessToken, FAKE.refreshToken, rotated.accessToken, rotated.refreshToken, FAKE_AWS_CREDENTIALS.secretAccessKey]);

    // Figures: the pushes, and the time from the CLI's write to the store's new AWSCURRENT.
    const calls = aws.requests.slice(before);
    const moves = calls.filter((q) => q.operation === 'UpdateSecretVersionStage' && q.status === 200);
    const local = path.join(a.home, '.claude', '.credentials.json');
    const lag = moves[0]!.at! - fs.statSync(local).mtimeMs;
    console.log(
      `sync (aws-sm): ${a.stderr.match(/sync push: pushed/g)?.length ?? 0} push(es) copied, ${a.stderr.match(/sync pull: replaced/g)?.length ?? 0} pull(s); ` +
        `AWS calls: ${calls.map((q) => `${q.operation} ${q.status}`).join(', ')}; ` +
        `the store had the new AWSCURRENT ${Math.round(lag)} ms after the CLI's write`,
    );
    expect(moves).toHaveLength(1);
    expect(lag).toBeGreaterThan(0);

    // Replica B, started later from the same secret, uses that pair: no refresh, accepted.
    expectStartedFrom(r, await replica(r, aws), rotated);
  });
});

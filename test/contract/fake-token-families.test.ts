/**
 * The test fake's token endpoint in families mode (test/fakes/oauth-proxy.ts): a spent refresh
 * token presented again is refused and revokes every token of its family, live ones included;
 * a logout's revoke call does the same. The fleet tests count on it, so it is tested itself.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { startOAuthProxy, type OAuthProxy } from '../fakes/oauth-proxy';

let proxy: OAuthProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

/** POST JSON to https://platform.claude.com<path> through the proxy, as the CLI does. */
function post(p: OAuthProxy, path: string, body: object): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const connect = http.request({ host: '127.0.0.1', port: p.port, method: 'CONNECT', path: 'platform.claude.com:443' });
    connect.on('error', reject);
    connect.on('connect', (_res, socket) => {
      const secure = tls.connect({ socket, servername: 'platform.claude.com', ca: fs.readFileSync(p.caFile) });
      const text = JSON.stringify(body);
      const req = http.request(
        {
          createConnection: () => secure,
          host: 'platform.claude.com',
          method: 'POST',
          path,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            secure.destroy();
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
          });
        },
      );
      req.on('error', reject);
      req.end(text);
    });
    connect.end();
  });
}

const refresh = (p: OAuthProxy, token: string) => post(p, '/v1/oauth/token', { grant_type: 'refresh_token', refresh_token: token, scope: 'user:inference' });

describe('fake token endpoint, families mode', () => {
  it('a rotation chain stays good while each refresh token is used once', async () => {
    proxy = await startOAuthProxy({ revokeFamilyOnReuse: true, refreshTokens: ['sk-ant-ort01-TEST-seed'], accessTokens: ['sk-ant-oat01-TEST-seed'] });
    const first = await refresh(proxy, 'sk-ant-ort01-TEST-seed');
    expect(first.status).toBe(200);
    const second = await refresh(proxy, String(first.body.refresh_token));
    expect(second.status).toBe(200);
    expect(proxy.isValidAccessToken(String(second.body.access_token))).toBe(true);
    expect(proxy.isValidAccessToken('sk-ant-oat01-TEST-seed')).toBe(true); // not revoked: it just ages out
    expect(proxy.stats).toMatchObject({ tokenCalls: 2, rotations: 2, reuseAttempts: 0, familiesRevoked: 0 });
  });

  it('a spent refresh token presented again is refused and revokes the whole family', async () => {
    proxy = await startOAuthProxy({ revokeFamilyOnReuse: true, refreshTokens: ['sk-ant-ort01-TEST-seed'], accessTokens: ['sk-ant-oat01-TEST-seed'] });
    const winner = await refresh(proxy, 'sk-ant-ort01-TEST-seed');
    expect(winner.status).toBe(200);
    const loser = await refresh(proxy, 'sk-ant-ort01-TEST-seed');
    expect(loser.status).toBe(400);
    expect(loser.body.error).toBe('invalid_grant');
    // The winner's pair dies with the family, and so does the seed's access token.
    expect(proxy.isValidAccessToken(String(winner.body.access_token))).toBe(false);
    expect(proxy.isValidAccessToken('sk-ant-oat01-TEST-seed')).toBe(false);
    expect(proxy.isRevoked(String(winner.body.refresh_token))).toBe(true);
    expect((await refresh(proxy, String(winner.body.refresh_token))).status).toBe(400);
    expect(proxy.stats).toMatchObject({ tokenCalls: 3, rotations: 1, reuseAttempts: 2, familiesRevoked: 1 });
  });

  it("a logout's revoke call ends the family; a token it never issued is only refused", async () => {
    proxy = await startOAuthProxy({ revokeFamilyOnReuse: true, refreshTokens: ['sk-ant-ort01-TEST-seed'], accessTokens: ['sk-ant-oat01-TEST-seed'] });
    expect((await refresh(proxy, 'sk-ant-ort01-TEST-unknown')).status).toBe(400);
    expect(proxy.stats.reuseAttempts).toBe(0);
    const pair = await refresh(proxy, 'sk-ant-ort01-TEST-seed');
    expect((await post(proxy, '/v1/oauth/token/revoke', { token: pair.body.refresh_token })).status).toBe(200);
    expect(proxy.isValidAccessToken(String(pair.body.access_token))).toBe(false);
    expect(proxy.stats).toMatchObject({ logouts: 1, familiesRevoked: 1 });
  });
});

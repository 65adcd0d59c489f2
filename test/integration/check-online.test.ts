/**
 * `check --online` against the fake Anthropic API, through the built bundle: only a 2xx is
 * healthy, 401/403 are rejected, anything else is said as it is and is unhealthy unless
 * --online-accept-unknown; a redirect is never followed (it would carry the key elsewhere).
 */
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorBody, startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { FAKE, baseEnv, credentialsJson, expectNoSecret, runBundle, tempDir } from '../helpers.js';

let api: FakeAnthropic;
let elsewhere: FakeAnthropic;
beforeAll(async () => {
  api = await startFakeAnthropic();
  elsewhere = await startFakeAnthropic();
});
afterAll(async () => {
  await api?.close();
  await elsewhere?.close();
});

function loggedInHome(): string {
  const home = tempDir();
  fs.mkdirSync(path.join(home, '.claude'), { mode: 0o700 });
  fs.writeFileSync(path.join(home, '.claude', '.credentials.json'), JSON.stringify(credentialsJson()), { mode: 0o600 });
  return home;
}

const answer =
  (status: number, body = errorBody(status), headers: Record<string, string> = {}) =>
  (_req: unknown, res: http.ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body);
  };

describe('check --online', () => {
  it.each([
    // status, what check says, exit without and with --online-accept-unknown
    [200, /online: accepted \(HTTP 200\)$/, 0, 0],
    [201, /online: accepted \(HTTP 201\)$/, 0, 0],
    [401, /^unhealthy: the Anthropic API rejected the credential \(HTTP 401 authentication_error\).*online: rejected \(HTTP 401\)$/, 1, 1],
    [403, /^unhealthy: the Anthropic API rejected the credential \(HTTP 403 permission_error\).*online: rejected \(HTTP 403\)$/, 1, 1],
    [
      404,
      /^unhealthy: the Anthropic API answered HTTP 404 not_found_error, which neither accepts nor rejects the credential.*online: unexpected \(HTTP 404\)$/,
      1,
      0,
    ],
    [429, /^unhealthy: the Anthropic API answered HTTP 429 rate_limit_error.*online: unexpected \(HTTP 429\)$/, 1, 0],
    [500, /^unhealthy: the Anthropic API answered HTTP 500 api_error.*online: unexpected \(HTTP 500\)$/, 1, 0],
    [529, /^unhealthy: the Anthropic API answered HTTP 529 overloaded_error.*online: unexpected \(HTTP 529\)$/, 1, 0],
  ])('HTTP %i', async (status, line, code, codeAcceptingUnknown) => {
    api.setRoute('/v1/messages', status === 200 ? undefined : answer(status));
    const home = loggedInHome();
    const r = await runBundle(['check', '--online'], { env: baseEnv(home, { ANTHROPIC_BASE_URL: api.url }) });
    expect(r.stdout.trim()).toMatch(line);
    expect(r.code).toBe(code);
    const lenient = await runBundle(['check', '--online-accept-unknown'], { env: baseEnv(home, { ANTHROPIC_BASE_URL: api.url }) });
    expect(lenient.code).toBe(codeAcceptingUnknown);
    const json = await runBundle(['check', '--online', '--json'], { env: baseEnv(home, { ANTHROPIC_BASE_URL: api.url }) });
    expect(JSON.parse(json.stdout).online.status).toBe(status);
    expectNoSecret(r.stdout + r.stderr + lenient.stdout + lenient.stderr + json.stdout + json.stderr, Object.values(FAKE));
  });

  it('a redirect is reported, not followed: the key never reaches the other host', async () => {
    api.setRoute('/v1/messages', answer(307, '', { location: `${elsewhere.url}/v1/messages` }));
    const home = tempDir();
    const r = await runBundle(['check', '--online'], { env: baseEnv(home, { ANTHROPIC_BASE_URL: api.url, ANTHROPIC_API_KEY: FAKE.apiKey }) });
    expect(r.code).toBe(1);
    expect(r.stdout.trim()).toMatch(
      /^unhealthy: the Anthropic API answered HTTP 307, which neither accepts nor rejects the credential.*online: unexpected \(HTTP 307\)$/,
    );
    expect(elsewhere.requests).toEqual([]);
  });

  it("an error body that is not the API's JSON is not quoted", async () => {
    api.setRoute('/v1/messages', answer(500, `<html>${FAKE.accessToken} upstream failed</html>`));
    const r = await runBundle(['check', '--online', '--json'], { env: baseEnv(loggedInHome(), { ANTHROPIC_BASE_URL: api.url }) });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).online).toEqual({ state: 'unexpected', status: 500 });
    expect(r.stdout).not.toContain('upstream');
    expectNoSecret(r.stdout + r.stderr, Object.values(FAKE));
  });

  it('documents the flag in check --help', async () => {
    const r = await runBundle(['check', '--help'], { env: baseEnv(tempDir()) });
    expect(r.stdout).toMatch(/--online-accept-unknown/);
    expect(r.stdout).toMatch(/healthy only on a 2xx answer/);
  });
});

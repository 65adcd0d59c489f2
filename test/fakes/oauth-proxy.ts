/**
 * A local HTTPS proxy that stands in for Anthropic's OAuth hosts, so the real Claude Code CLI
 * can refresh its tokens offline.
 *
 * The CLI sends its refresh to `https://platform.claude.com/v1/oauth/token` and its profile
 * look-up to `https://api.anthropic.com/api/oauth/profile`; neither follows
 * ANTHROPIC_BASE_URL, but both follow HTTPS_PROXY. This proxy listens on 127.0.0.1 (port 0),
 * accepts `CONNECT host:443`, terminates TLS itself with a certificate issued by a throwaway
 * test CA (test/fakes/tls.ts) whose PEM the CLI is told to trust with NODE_EXTRA_CA_CERTS
 * (the native CLI honours it: observed with 2.1.330, see .notes/cli-refresh.md), and answers
 * the requests inside the tunnel itself:
 *
 *  - `POST /v1/oauth/token` (grant_type refresh_token): a rotated pair, in the shape the CLI
 *    accepts (see `tokenResponse`), or 400 invalid_grant, or whatever a test installs;
 *  - `GET /api/oauth/profile`, `/api/oauth/roles`, `/api/claude_cli_profile` ...: plausible 200s;
 *  - anything else on an intercepted host: 404; CONNECT to any other host: 403, no tunnel.
 *
 * Plain-HTTP proxy requests (absolute-form `GET http://127.0.0.1:PORT/...`) are forwarded to
 * 127.0.0.1 only, so a CLI that sends its ANTHROPIC_BASE_URL traffic through the proxy still
 * reaches the fake API; `env()` also sets NO_PROXY for 127.0.0.1 so that it normally does not.
 *
 * Every request is recorded (host, method, path, headers, body, time). The server keeps a
 * realistic token book when `strict` is on: a refresh token is good once (rotation), and the
 * access tokens it issued are known, so a fake API can answer 401 to anything else
 * (`gateMessages`).
 *
 * `startRefreshRig()` starts the fake API and this proxy together and returns the environment
 * a test sets to run the real CLI against them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as tls from 'node:tls';
import { answerMessage, startFakeAnthropic, type FakeAnthropic, type FakeAnthropicOptions, type RecordedRequest } from './anthropic';
import { makeTestCa, type TestCa } from './tls';

/** Hosts the CLI may call besides ANTHROPIC_BASE_URL; the certificate covers all of them. */
export const OAUTH_HOSTS = [
  'platform.claude.com',
  '*.claude.com',
  'claude.com',
  'api.anthropic.com',
  'console.anthropic.com',
  'statsig.anthropic.com',
  '*.anthropic.com',
  'claude.ai',
  '*.claude.ai',
  'statsig.com',
  '*.statsig.com',
  '*.statsigapi.net',
  '*.sentry.io',
  '*.datadoghq.com',
  'storage.googleapis.com',
];

export const TOKEN_PATH = '/v1/oauth/token';
export const PROFILE_PATH = '/api/oauth/profile';

/** The scopes a Claude.ai login carries (what `claude /login` asks for, 2.1.330). */
export const DEFAULT_SCOPES = ['user:inference', 'user:profile', 'user:sessions:claude_code', 'user:mcp_servers'];

export interface ProxiedRequest extends RecordedRequest {
  /** Host from the CONNECT line (or the absolute URL), without the port. */
  host: string;
  /** `https` inside a CONNECT tunnel, `http` for a plain proxy request. */
  scheme: 'https' | 'http';
  /** Date.now() when the request was complete. */
  at: number;
  /** The status answered, once the answer is sent. */
  status?: number;
}

export interface ConnectRecord {
  host: string;
  port: number;
  intercepted: boolean;
  at: number;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  /** ms since the epoch, as the CLI would compute it from expires_in. */
  expiresAt: number;
  scopes: string[];
}

/** How `/v1/oauth/token` answers a refresh. */
export type TokenMode =
  | 'rotate' // a new access and refresh token (strict: only for a refresh token still good)
  | 'invalid_grant' // 400 {"error":"invalid_grant"}
  | 'hang' // never answer (the CLI gives up after its own timeout)
  | number // this status with an OAuth-style error body
  | ((req: ProxiedRequest, res: http.ServerResponse, proxy: OAuthProxy) => void);

export type Handler = (req: ProxiedRequest, res: http.ServerResponse) => void;

export interface OAuthProxyOptions {
  /** What the token endpoint does (default 'rotate'). */
  tokenMode?: TokenMode;
  /** expires_in of the access tokens it issues, in seconds (default 8 h, as Anthropic's). */
  expiresInSec?: number;
  /**
   * Rotation enforced: a refresh token is accepted once, and only if it was issued here or
   * registered with `addRefreshToken` (else 400 invalid_grant). Default false: any refresh
   * token is accepted.
   */
  strict?: boolean;
  /** Refresh tokens accepted at start (strict mode). */
  refreshTokens?: string[];
  /** Access tokens that count as valid at start (for `isValidAccessToken`). */
  accessTokens?: string[];
  /** Delay before answering the token endpoint, ms. */
  tokenDelayMs?: number;
  /** An existing test CA (its key and cert must cover OAUTH_HOSTS); made here otherwise. */
  ca?: TestCa;
  /** Tag put in every issued token, so that tests can tell proxies apart. */
  tag?: string;
  /** Called with every request as soon as it is complete, before it is answered. */
  onRequest?: (req: ProxiedRequest) => void;
  /**
   * Token families, as OAuth servers that detect reuse keep them (implies `strict`): every
   * pair issued from a refresh token belongs to that token's family (the tokens given at start
   * are one family). A spent refresh token presented again is refused (400 invalid_grant) and
   * revokes its whole family: every access and refresh token of it, live ones included, is
   * refused from then on. `POST /v1/oauth/token/revoke` (what `claude auth logout` sends)
   * revokes the family of the token it names.
   */
  revokeFamilyOnReuse?: boolean;
}

/** What the token endpoint saw (families mode counts reuse; the others count always). */
export interface TokenStats {
  /** POST /v1/oauth/token with grant_type refresh_token. */
  tokenCalls: number;
  /** Refreshes answered with a new pair. */
  rotations: number;
  /** A refresh token presented after it was spent (or after its family was revoked). */
  reuseAttempts: number;
  /** Families revoked (by reuse or by a logout's revoke call). */
  familiesRevoked: number;
  /** POST /v1/oauth/token/revoke (`claude auth logout`). */
  logouts: number;
}

export interface OAuthProxy {
  /** `http://127.0.0.1:PORT`: the value for HTTPS_PROXY. */
  url: string;
  port: number;
  /** PEM file of the test CA: the value for NODE_EXTRA_CA_CERTS. */
  caFile: string;
  /** Every request received inside tunnels and as plain proxy requests, in order. */
  requests: ProxiedRequest[];
  /** Every CONNECT, intercepted or refused. */
  connects: ConnectRecord[];
  /** The refresh requests (POST /v1/oauth/token with grant_type refresh_token). */
  refreshes(): ProxiedRequest[];
  /** Every pair issued by the token endpoint, in order. */
  issued: TokenPair[];
  /** The environment that routes a client through this proxy and trusts its CA. */
  env(): Record<string, string>;
  setTokenMode(mode: TokenMode): void;
  /** Issue a new pair and answer with it, as mode 'rotate' does (for a custom TokenMode). */
  rotate(req: ProxiedRequest, res: http.ServerResponse): void;
  /** Called with every request before it is answered (replaces options.onRequest). */
  onRequest: ((req: ProxiedRequest) => void) | undefined;
  /** Answer `host` + `path` (host `*` for any intercepted host) yourself; undefined removes. */
  setRoute(host: string, path: string, handler: Handler | undefined): void;
  /** Strict mode: accept this refresh token (once). */
  addRefreshToken(token: string): void;
  /** True for an access token registered at start or issued by a refresh, not revoked and not expired. */
  isValidAccessToken(token: string): boolean;
  /** Count this access token as valid (as if issued here), until `expiresAt` when given. */
  addAccessToken(token: string, expiresAt?: number): void;
  /** Forget an access token (a later `isValidAccessToken` is false). */
  revokeAccessToken(token: string): void;
  /** The token endpoint's counters. */
  stats: TokenStats;
  /** Families mode: true once the family of this (access or refresh) token has been revoked. */
  isRevoked(token: string): boolean;
  /** Resolves at the next request matching `path` (and host, when given). */
  waitForRequest(path: string, options?: { host?: string; timeoutMs?: number }): Promise<ProxiedRequest>;
  close(): Promise<void>;
}

const b58 = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789';
function requestId(): string {
  const bytes = randomBytes(24);
  return `req_011C${Array.from(bytes, (b) => b58[b % b58.length]).join('')}`;
}

function sendJson(res: http.ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'request-id': requestId(),
  });
  res.end(text);
}

/** A token shaped like Anthropic's (prefix, 80+ url-safe characters, suffix), obviously fake. */
export function fakeToken(kind: 'oat' | 'ort', tag: string): string {
  const body = `FAKE${tag}${randomBytes(48).toString('base64url')}`.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 86);
  return `sk-ant-${kind}01-${body.padEnd(86, '0')}-${randomBytes(3).toString('hex').slice(0, 6).toUpperCase()}AA`;
}

export const FAKE_ACCOUNT = {
  uuid: '00000000-0000-4000-8000-0000000000a1',
  email: 'fake.user@example.com',
};
export const FAKE_ORG = {
  uuid: '00000000-0000-4000-8000-0000000000b2',
  name: 'Fake Org',
};

/**
 * The token endpoint's answer to a refresh, in the shape of Anthropic's (what the CLI reads:
 * access_token, refresh_token (optional: the old one is kept when absent), expires_in
 * (seconds), scope (space-separated; must keep user:inference or the CLI does not save the
 * pair), refresh_token_expires_in (optional), account / organization (optional)).
 */
export function tokenResponse(pair: TokenPair, expiresInSec: number): Record<string, unknown> {
  return {
    token_type: 'Bearer',
    access_token: pair.accessToken,
    expires_in: expiresInSec,
    refresh_token: pair.refreshToken,
    scope: pair.scopes.join(' '),
    organization: { uuid: FAKE_ORG.uuid, name: FAKE_ORG.name },
    account: { uuid: FAKE_ACCOUNT.uuid, email_address: FAKE_ACCOUNT.email },
  };
}

/** `GET /api/oauth/profile`, as Anthropic answers it for a Max subscription. */
export function profileResponse(): Record<string, unknown> {
  return {
    account: {
      uuid: FAKE_ACCOUNT.uuid,
      email: FAKE_ACCOUNT.email,
      full_name: 'Fake User',
      display_name: 'Fake',
      has_claude_max: true,
      has_claude_pro: false,
      created_at: '2025-01-01T00:00:00Z',
    },
    organization: {
      uuid: FAKE_ORG.uuid,
      name: FAKE_ORG.name,
      organization_type: 'claude_max',
      billing_type: 'stripe_subscription',
      rate_limit_tier: 'default_claude_max_20x',
      has_extra_usage_enabled: false,
      subscription_created_at: '2025-01-01T00:00:00Z',
      cc_onboarding_flags: {},
    },
  };
}

function oauthError(res: http.ServerResponse, status: number, error: string, description: string): void {
  sendJson(res, status, { error, error_description: description });
}

export async function startOAuthProxy(options: OAuthProxyOptions = {}): Promise<OAuthProxy> {
  const ca = options.ca ?? makeTestCa({ dnsNames: OAUTH_HOSTS });
  const ownCa = !options.ca;
  const tag = options.tag ?? 'rot';
  const expiresInSec = options.expiresInSec ?? 8 * 3600;
  let tokenMode: TokenMode = options.tokenMode ?? 'rotate';
  const requests: ProxiedRequest[] = [];
  const connects: ConnectRecord[] = [];
  const issued: TokenPair[] = [];
  const goodRefresh = new Set(options.refreshTokens ?? []);
  const goodAccess = new Set(options.accessTokens ?? []);
  /** When an access token stops being accepted (ms); none: until revoked. */
  const accessExpiry = new Map<string, number>();
  const families = options.revokeFamilyOnReuse === true;
  const strict = options.strict === true || families;
  // Families: token -> family id; the tokens given at start are family 0.
  const familyOf = new Map<string, number>();
  const revokedFamilies = new Set<number>();
  for (const t of [...goodRefresh, ...goodAccess]) familyOf.set(t, 0);
  let nextFamily = 1;
  const stats: TokenStats = { tokenCalls: 0, rotations: 0, reuseAttempts: 0, familiesRevoked: 0, logouts: 0 };
  const revokeFamily = (family: number | undefined) => {
    if (family === undefined || revokedFamilies.has(family)) return;
    revokedFamilies.add(family);
    stats.familiesRevoked++;
    for (const [t, f] of familyOf) {
      if (f !== family) continue;
      goodRefresh.delete(t);
      goodAccess.delete(t);
    }
  };
  const routes = new Map<string, Handler>(); // `${host} ${path}`
  const waiters: { path: string; host?: string; resolve: (r: ProxiedRequest) => void }[] = [];
  const tunnelHost = new WeakMap<Socket, string>();
  const sockets = new Set<Socket>();
  let counter = 0;
  let proxy!: OAuthProxy;

  const intercepts = (host: string) =>
    OAUTH_HOSTS.some((h) => (h.startsWith('*.') ? host.endsWith(h.slice(1)) && host.split('.').length === h.split('.').length : host === h));

  function record(incoming: http.IncomingMessage, host: string, scheme: 'https' | 'http', text: string, url: string): ProxiedRequest {
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    const path = url.split('?')[0]!;
    const req: ProxiedRequest = { method: incoming.method ?? 'GET', url, path, headers: incoming.headers, text, body, host, scheme, at: Date.now() };
    requests.push(req);
    proxy.onRequest?.(req);
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (w.path === path && (w.host === undefined || w.host === host)) {
        waiters.splice(i, 1);
        w.resolve(req);
      }
    }
    return req;
  }

  function answerToken(req: ProxiedRequest, res: http.ServerResponse): void {
    if (typeof tokenMode === 'function') return tokenMode(req, res, proxy);
    if (tokenMode === 'hang') return; // the socket is destroyed at close()
    if (typeof tokenMode === 'number') return oauthError(res, tokenMode, 'server_error', `fake: status ${tokenMode}`);
    if (tokenMode === 'invalid_grant') return oauthError(res, 400, 'invalid_grant', 'Invalid refresh token');
    rotate(req, res);
  }

  function rotate(req: ProxiedRequest, res: http.ServerResponse): void {
    const body = req.body ?? Object.fromEntries(new URLSearchParams(req.text));
    if (body?.grant_type !== 'refresh_token' || typeof body.refresh_token !== 'string' || !body.refresh_token) {
      return oauthError(res, 400, 'invalid_request', 'fake: only grant_type=refresh_token is served');
    }
    let family: number | undefined;
    if (strict) {
      if (!goodRefresh.has(body.refresh_token)) {
        if (families && familyOf.has(body.refresh_token)) {
          // A token this server issued, spent or revoked: reuse. The whole family dies.
          stats.reuseAttempts++;
          revokeFamily(familyOf.get(body.refresh_token));
        }
        return oauthError(res, 400, 'invalid_grant', 'Invalid refresh token');
      }
      goodRefresh.delete(body.refresh_token);
      family = familyOf.get(body.refresh_token);
    }
    if (family === undefined) family = nextFamily++;
    stats.rotations++;
    const scopes = typeof body.scope === 'string' && body.scope.trim() ? body.scope.trim().split(/\s+/) : DEFAULT_SCOPES;
    counter++;
    const pair: TokenPair = {
      accessToken: fakeToken('oat', `${tag}${counter}`),
      refreshToken: fakeToken('ort', `${tag}${counter}`),
      expiresAt: Date.now() + expiresInSec * 1000,
      scopes,
    };
    issued.push(pair);
    goodRefresh.add(pair.refreshToken);
    goodAccess.add(pair.accessToken);
    accessExpiry.set(pair.accessToken, pair.expiresAt);
    familyOf.set(pair.refreshToken, family);
    familyOf.set(pair.accessToken, family);
    sendJson(res, 200, tokenResponse(pair, expiresInSec));
  }

  function answer(req: ProxiedRequest, res: http.ServerResponse): void {
    const custom = routes.get(`${req.host} ${req.path}`) ?? routes.get(`* ${req.path}`);
    if (custom) return custom(req, res);
    if (req.method === 'POST' && req.path === `${TOKEN_PATH}/revoke`) {
      stats.logouts++;
      const token = req.body?.token ?? req.body?.refresh_token ?? new URLSearchParams(req.text).get('token');
      if (typeof token === 'string') revokeFamily(familyOf.get(token));
      return sendJson(res, 200, {});
    }
    if (req.method === 'POST' && req.path === TOKEN_PATH) {
      const grant = req.body?.grant_type ?? new URLSearchParams(req.text).get('grant_type');
      if (grant === 'refresh_token') stats.tokenCalls++;
      if (options.tokenDelayMs) setTimeout(() => answerToken(req, res), options.tokenDelayMs);
      else answerToken(req, res);
      return;
    }
    if (req.path === PROFILE_PATH) return sendJson(res, 200, profileResponse());
    if (req.path === '/api/oauth/claude_cli/roles' || req.path === '/api/oauth/roles') {
      return sendJson(res, 200, { organization_role: 'admin', workspace_role: null, organization_name: FAKE_ORG.name });
    }
    if (req.path.startsWith('/v1/mcp_servers')) return sendJson(res, 200, { data: [], has_more: false });
    if (req.path.startsWith('/api/')) return sendJson(res, 200, {});
    sendJson(res, 404, { type: 'error', error: { type: 'not_found_error', message: `fake proxy: no route for ${req.method} ${req.host}${req.path}` } });
  }

  // Requests inside the tunnels: an http.Server that never listens, fed TLS sockets.
  const inner = http.createServer((incoming, res) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (c: Buffer) => chunks.push(c));
    incoming.on('end', () => {
      const host = tunnelHost.get(incoming.socket) ?? String(incoming.headers.host ?? '').split(':')[0]!;
      const req = record(incoming, host, 'https', Buffer.concat(chunks).toString('utf8'), incoming.url ?? '/');
      res.on('finish', () => (req.status = res.statusCode));
      answer(req, res);
    });
  });

  const outer = http.createServer((incoming, res) => {
    // A plain proxy request: absolute-form URL. Forward to 127.0.0.1 only.
    const chunks: Buffer[] = [];
    incoming.on('data', (c: Buffer) => chunks.push(c));
    incoming.on('end', () => {
      let target: URL;
      try {
        target = new URL(incoming.url ?? '');
      } catch {
        res.writeHead(400).end();
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      record(incoming, target.hostname, 'http', text, target.pathname + target.search);
      if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') {
        res.writeHead(403, { 'content-type': 'text/plain' }).end('fake proxy: only 127.0.0.1 is forwarded\n');
        return;
      }
      const headers = { ...incoming.headers };
      delete headers['proxy-connection'];
      delete headers['proxy-authorization'];
      const upstream = http.request(
        { host: '127.0.0.1', port: target.port || 80, method: incoming.method, path: target.pathname + target.search, headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
      upstream.end(chunks.length ? Buffer.concat(chunks) : undefined);
    });
  });

  outer.on('connect', (incoming: http.IncomingMessage, socket: Socket, head: Buffer) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const [host = '', portText = '443'] = (incoming.url ?? '').split(/:(?=\d+$)/);
    const intercepted = intercepts(host.toLowerCase());
    connects.push({ host, port: Number(portText), intercepted, at: Date.now() });
    if (!intercepted) {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) socket.unshift(head);
    const secure = new tls.TLSSocket(socket, {
      isServer: true,
      key: ca.key,
      cert: ca.cert,
      ALPNProtocols: ['http/1.1'],
    });
    secure.on('error', () => socket.destroy());
    tunnelHost.set(secure, host.toLowerCase());
    sockets.add(secure);
    secure.on('close', () => sockets.delete(secure));
    inner.emit('connection', secure);
  });
  outer.on('clientError', (_err, socket) => socket.destroy());
  inner.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    outer.once('error', reject);
    outer.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = outer.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  proxy = {
    url,
    port,
    caFile: ca.caFile,
    requests,
    connects,
    issued,
    refreshes: () =>
      requests.filter(
        (r) => r.method === 'POST' && r.path === TOKEN_PATH && (r.body?.grant_type ?? new URLSearchParams(r.text).get('grant_type')) === 'refresh_token',
      ),
    env: () => ({
      HTTPS_PROXY: url,
      https_proxy: url,
      NO_PROXY: '127.0.0.1,localhost',
      no_proxy: '127.0.0.1,localhost',
      NODE_EXTRA_CA_CERTS: ca.caFile,
    }),
    setTokenMode(mode) {
      tokenMode = mode;
    },
    rotate,
    onRequest: options.onRequest,
    setRoute(host, path, handler) {
      if (handler) routes.set(`${host} ${path}`, handler);
      else routes.delete(`${host} ${path}`);
    },
    addRefreshToken(token) {
      goodRefresh.add(token);
      if (!familyOf.has(token)) familyOf.set(token, 0);
    },
    isValidAccessToken: (token) => goodAccess.has(token) && Date.now() < (accessExpiry.get(token) ?? Number.POSITIVE_INFINITY),
    addAccessToken(token, expiresAt) {
      goodAccess.add(token);
      if (expiresAt !== undefined) accessExpiry.set(token, expiresAt);
      if (!familyOf.has(token)) familyOf.set(token, 0);
    },
    revokeAccessToken(token) {
      goodAccess.delete(token);
    },
    stats,
    isRevoked: (token) => {
      const family = familyOf.get(token);
      return family !== undefined && revokedFamilies.has(family);
    },
    waitForRequest(path, { host, timeoutMs = 30_000 } = {}) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`oauth proxy: no request to ${host ?? ''}${path} in ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          path,
          host,
          resolve: (r) => {
            clearTimeout(timer);
            resolve(r);
          },
        });
      });
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((done) => {
        outer.close(() => {
          if (ownCa) ca.cleanup();
          done();
        });
        outer.closeAllConnections?.();
      });
    },
  };
  return proxy;
}

// ---------------------------------------------------------------------------------------
// The fake API and the proxy together

export function bearer(req: RecordedRequest): string | undefined {
  const h = req.headers.authorization;
  return typeof h === 'string' && h.startsWith('Bearer ') ? h.slice(7) : undefined;
}

/**
 * Makes the fake API check the access token of every `/v1/messages`: 401 (the API's
 * authentication_error) unless `accept(token)`, else the fake API's usual reply (streamed when asked).
 */
export function gateMessages(
  api: FakeAnthropic,
  accept: (token: string | undefined, req: RecordedRequest) => boolean,
  replyText: () => string,
  onUnauthorized?: (req: RecordedRequest) => void,
): void {
  api.setRoute('/v1/messages', (req, res) => {
    if (!accept(bearer(req), req)) {
      onUnauthorized?.(req);
      const text = JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: 'OAuth token has expired.' } });
      res.writeHead(401, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'request-id': requestId() });
      res.end(text);
      return;
    }
    answerMessage(req, res, replyText());
  });
}

export interface RefreshRig {
  api: FakeAnthropic;
  proxy: OAuthProxy;
  /** The reply text of the fake API (unique to the rig). */
  reply: string;
  /**
   * Everything to add to the CLI's environment: ANTHROPIC_BASE_URL, HTTPS_PROXY (and
   * lower-case), NO_PROXY, NODE_EXTRA_CA_CERTS and the quiet flags.
   */
  env: Record<string, string>;
  /** The bearer tokens /v1/messages received, in order. */
  messageTokens(): (string | undefined)[];
  /** `/v1/messages` answered 401 by the gate. */
  unauthorized(): number;
  close(): Promise<void>;
}

export interface RefreshRigOptions {
  proxy?: OAuthProxyOptions;
  api?: FakeAnthropicOptions;
  /**
   * The fake API answers 401 to an access token the proxy does not know (registered with
   * `proxy.accessTokens` or issued by a refresh). Default false: every token is accepted.
   */
  gate?: boolean;
}

/** Keeps the CLI from calling home: no updater, telemetry, error reports or extras. */
export const QUIET_ENV = {
  DISABLE_AUTOUPDATER: '1',
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  DISABLE_TELEMETRY: '1',
  DISABLE_ERROR_REPORTING: '1',
};

export async function startRefreshRig(options: RefreshRigOptions = {}): Promise<RefreshRig> {
  const reply = `Hi from the fake, ${randomUUID().slice(0, 8)}.`;
  const api = await startFakeAnthropic({ replyText: reply, ...options.api });
  let proxy: OAuthProxy;
  try {
    proxy = await startOAuthProxy(options.proxy);
  } catch (e) {
    await api.close();
    throw e;
  }
  let unauthorized = 0;
  if (options.gate)
    gateMessages(
      api,
      (t) => t !== undefined && proxy.isValidAccessToken(t),
      () => reply,
      () => unauthorized++,
    );
  return {
    api,
    proxy,
    reply,
    env: { ANTHROPIC_BASE_URL: api.url, ...proxy.env(), ...QUIET_ENV },
    messageTokens: () => api.messages().map(bearer),
    unauthorized: () => unauthorized,
    async close() {
      await Promise.all([api.close(), proxy.close()]);
    },
  };
}

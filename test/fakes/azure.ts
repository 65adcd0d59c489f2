/**
 * A local fake of Azure Key Vault and of a managed-identity token endpoint, speaking the wire
 * protocol the real SDK (@azure/keyvault-secrets + DefaultAzureCredential) speaks:
 *
 * - the vault, over HTTPS with a certificate from a test CA (test/fakes/tls.ts, trusted through
 *   NODE_EXTRA_CA_CERTS): `GET /secrets/{name}[/{version}]?api-version=...` and
 *   `PUT /secrets/{name}`. A request without a bearer token gets the 401 challenge
 *   (`WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/TENANT",
 *   resource="https://vault.azure.net"`), as the real service answers; a token the identity
 *   endpoint did not issue for that resource gets 401 too.
 * - the token endpoint of App Service / Container Apps managed identity, over plain HTTP like
 *   the real one: `GET /msi/token?api-version=2019-08-01&resource=...` with the
 *   `X-IDENTITY-HEADER` secret. `identityEnv` holds IDENTITY_ENDPOINT and IDENTITY_HEADER, which
 *   DefaultAzureCredential's ManagedIdentityCredential picks up with no other configuration.
 *
 * Scriptable per secret name: not found, forbidden (for reads, writes or both), disabled,
 * throttled N times, 500 forever, accept and never answer; the token endpoint can refuse or hang
 * too. `PUT /secrets/{name}` creates the secret or adds a new current version, as setSecret does;
 * `onAnswered` lets a test act as another writer at a chosen moment.
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import type { TestCa } from './tls.js';

export const KEY_VAULT_RESOURCE = 'https://vault.azure.net';

export interface RecordedVaultRequest {
  method: string;
  /** Path and query as sent. */
  url: string;
  path: string;
  apiVersion: string | null;
  /** Whether a bearer token came with it (the first request of a client never has one). */
  authorized: boolean;
  status?: number;
}

export interface RecordedTokenRequest {
  resource: string | null;
  apiVersion: string | null;
  identityHeaderOk: boolean;
  status?: number;
}

/** What the vault does for a secret name instead of answering from its store. */
export type VaultBehaviour =
  | { kind: 'forbidden'; methods?: ('GET' | 'PUT')[] } // 403 Forbidden / ForbiddenByRbac (for these methods only: a read-only role)
  | { kind: 'throttle'; times: number; retryAfterSeconds?: number } // 429 Throttled N times, then normal
  | { kind: 'status'; status: number; code?: string; message?: string } // this answer, every time
  | { kind: 'hang' } // accept the request and never answer
  | { kind: 'challenge'; resource: string }; // challenge for another resource (a host that is not a vault)

export type TokenBehaviour = { kind: 'ok' } | { kind: 'status'; status: number; error?: string; description?: string } | { kind: 'hang' };

export interface StoredVersion {
  version: string;
  value: string;
  enabled: boolean;
  contentType?: string;
  created: number;
}

export interface FakeAzureOptions {
  ca: TestCa;
  tenantId?: string;
}

export interface FakeAzure {
  /** `https://127.0.0.1:PORT`: the vault's base URL. */
  vaultUrl: string;
  /** `https://127.0.0.1:PORT/secrets/NAME[/VERSION]`: a secret identifier for this vault. */
  secretUrl(name: string, version?: string): string;
  /** IDENTITY_ENDPOINT and IDENTITY_HEADER: managed identity, App Service / Container Apps style. */
  identityEnv: Record<string, string>;
  tenantId: string;
  /** Adds a new current version of a secret; returns its version id (32 hex characters). */
  setSecret(name: string, value: string, options?: { enabled?: boolean; contentType?: string }): string;
  /** Every version of a secret, oldest first. */
  versions(name: string): StoredVersion[];
  /** A behaviour for one secret name, or `*` for all; undefined restores the normal answer. */
  script(name: string, behaviour: VaultBehaviour | undefined): void;
  scriptToken(behaviour: TokenBehaviour): void;
  requests: RecordedVaultRequest[];
  tokenRequests: RecordedTokenRequest[];
  /**
   * Called after each request to the vault is answered (a secret's GET or PUT), e.g. to make
   * another writer's version land between a reader's read and its write; undefined: none.
   */
  onAnswered(hook: ((request: RecordedVaultRequest, name: string) => void) | undefined): void;
  /** Tokens issued so far (to check that none ever reaches the output). */
  issuedTokens(): string[];
  close(): Promise<void>;
}

const NAME = /^[0-9a-zA-Z-]{1,127}$/;

export async function startFakeAzure(options: FakeAzureOptions): Promise<FakeAzure> {
  const tenantId = options.tenantId ?? '72f988bf-0000-4000-8000-00000000fa4e';
  const identityHeader = randomBytes(16).toString('hex');
  const store = new Map<string, StoredVersion[]>();
  const behaviours = new Map<string, VaultBehaviour>();
  const throttled = new Map<string, number>();
  let tokenBehaviour: TokenBehaviour = { kind: 'ok' };
  const tokens = new Map<string, string>(); // token -> resource
  const requests: RecordedVaultRequest[] = [];
  const tokenRequests: RecordedTokenRequest[] = [];
  const sockets = new Set<Socket>();
  let vaultUrl = '';
  let answered: ((request: RecordedVaultRequest, name: string) => void) | undefined;

  const setSecret: FakeAzure['setSecret'] = (name, value, opts = {}) => {
    const version = randomBytes(16).toString('hex');
    const list = store.get(name) ?? [];
    list.push({ version, value, enabled: opts.enabled ?? true, contentType: opts.contentType, created: Math.floor(Date.now() / 1000) });
    store.set(name, list);
    return version;
  };

  const bundle = (name: string, v: StoredVersion) => ({
    value: v.value,
    ...(v.contentType ? { contentType: v.contentType } : {}),
    id: `${vaultUrl}/secrets/${name}/${v.version}`,
    attributes: { enabled: v.enabled, created: v.created, updated: v.created, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 },
    tags: {},
  });

  const sendJson = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
      'x-ms-keyvault-service-version': '1.9.0.0',
      'x-ms-request-id': randomBytes(8).toString('hex'),
      ...headers,
    });
    res.end(text);
  };
  const sendError = (
    res: http.ServerResponse,
    status: number,
    code: string,
    message: string,
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) => sendJson(res, status, { error: { code, message, ...extra } }, headers);

  const challenge = (error?: string, resource = KEY_VAULT_RESOURCE) =>
    `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="${resource}"` + (error ? `, error="${error}"` : '');

  const vault = https.createServer({ key: options.ca.key, cert: options.ca.cert }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://fake');
    const auth = req.headers.authorization ?? '';
    const record: RecordedVaultRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      path: url.pathname,
      apiVersion: url.searchParams.get('api-version'),
      authorized: auth.startsWith('Bearer '),
    };
    requests.push(record);
    const reply = (status: number, fn: () => void) => {
      record.status = status;
      fn();
      const name = url.pathname.split('/')[2];
      if (answered && name) answered(record, name);
    };
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const named = url.pathname.split('/')[2] ?? '';
      const scripted = behaviours.get(named) ?? behaviours.get('*');
      if (scripted?.kind === 'challenge') {
        return reply(401, () =>
          sendError(
            res,
            401,
            'Unauthorized',
            'AKV10000: Request is missing a Bearer or PoP token.',
            {},
            { 'www-authenticate': challenge(undefined, scripted.resource) },
          ),
        );
      }
      if (!record.authorized) {
        return reply(401, () =>
          sendError(res, 401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', {}, { 'www-authenticate': challenge() }),
        );
      }
      const token = auth.slice('Bearer '.length);
      if (tokens.get(token) !== KEY_VAULT_RESOURCE) {
        return reply(401, () =>
          sendError(res, 401, 'Unauthorized', 'AKV10022: Invalid audience or token.', {}, { 'www-authenticate': challenge('invalid_token') }),
        );
      }
      if (!record.apiVersion) {
        return reply(400, () => sendError(res, 400, 'BadParameter', 'The api-version query parameter is required.'));
      }
      const parts = url.pathname.split('/').filter(Boolean);
      if (parts[0] !== 'secrets' || parts.length < 2 || parts.length > 3 || !NAME.test(parts[1]!)) {
        return reply(404, () => sendError(res, 404, 'NotFound', 'The requested resource was not found.'));
      }
      const name = parts[1]!;
      const behaviour = behaviours.get(name) ?? behaviours.get('*');
      if (behaviour?.kind === 'hang') return; // the socket stays open until close()
      if (behaviour?.kind === 'forbidden' && (!behaviour.methods || behaviour.methods.includes(req.method as 'GET' | 'PUT'))) {
        const action = req.method === 'PUT' ? 'setSecret' : 'getSecret';
        return reply(403, () =>
          sendError(
            res,
            403,
            'Forbidden',
            `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=fake;oid=fake;iss=https://sts.windows.net/${tenantId}/\r\nAction: 'Microsoft.KeyVault/vaults/secrets/${action}/action'\r\nResource: '/subscriptions/fake/resourcegroups/fake/providers/microsoft.keyvault/vaults/fake/secrets/${name}'\r\nAssignment: (not found)\r\nDecisionReason: 'DeniedWithNoValidRBAC'\r\nVault: fake;location=westeurope\r\n`,
            { innererror: { code: 'ForbiddenByRbac' } },
          ),
        );
      }
      if (behaviour?.kind === 'throttle') {
        const count = throttled.get(name) ?? 0;
        if (count < behaviour.times) {
          throttled.set(name, count + 1);
          return reply(429, () =>
            sendError(
              res,
              429,
              'Throttled',
              'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached',
              {},
              { 'retry-after': String(behaviour.retryAfterSeconds ?? 1) },
            ),
          );
        }
      }
      if (behaviour?.kind === 'status') {
        return reply(behaviour.status, () =>
          sendError(
            res,
            behaviour.status,
            behaviour.code ?? (behaviour.status >= 500 ? 'InternalServerError' : 'BadRequest'),
            behaviour.message ?? `fake: status ${behaviour.status}`,
          ),
        );
      }

      if (req.method === 'PUT' && parts.length === 2) {
        let parsed: { value?: unknown; contentType?: unknown };
        try {
          parsed = JSON.parse(body);
        } catch {
          return reply(400, () => sendError(res, 400, 'BadParameter', 'The request body is not valid JSON.'));
        }
        if (typeof parsed.value !== 'string') return reply(400, () => sendError(res, 400, 'BadParameter', 'Property value is required.'));
        const version = setSecret(name, parsed.value, { contentType: typeof parsed.contentType === 'string' ? parsed.contentType : undefined });
        const stored = store.get(name)!.find((v) => v.version === version)!;
        return reply(200, () => sendJson(res, 200, bundle(name, stored)));
      }
      if (req.method !== 'GET') return reply(405, () => sendError(res, 405, 'MethodNotAllowed', `${req.method} is not allowed here.`));

      const versions = store.get(name);
      const found = parts[2] ? versions?.find((v) => v.version === parts[2]) : versions?.at(-1);
      if (!found) {
        return reply(404, () =>
          sendError(
            res,
            404,
            'SecretNotFound',
            `A secret with (name/id) ${parts[2] ? `${name}/${parts[2]}` : name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
          ),
        );
      }
      if (!found.enabled) {
        return reply(403, () =>
          sendError(res, 403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', { innererror: { code: 'SecretDisabled' } }),
        );
      }
      return reply(200, () => sendJson(res, 200, bundle(name, found)));
    });
  });

  const identity = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const record: RecordedTokenRequest = {
      resource: url.searchParams.get('resource'),
      apiVersion: url.searchParams.get('api-version'),
      identityHeaderOk: req.headers['x-identity-header'] === identityHeader,
    };
    tokenRequests.push(record);
    const behaviour = tokenBehaviour;
    if (behaviour.kind === 'hang') return;
    const fail = (status: number, error: string, description: string) => {
      record.status = status;
      sendJson(res, status, { statusCode: status, message: description, error, error_description: description, correlationId: randomBytes(8).toString('hex') });
    };
    if (url.pathname !== '/msi/token') return fail(404, 'not_found', 'No such endpoint.');
    if (!record.identityHeaderOk) return fail(401, 'unauthorized_client', 'The X-IDENTITY-HEADER header is missing or wrong.');
    if (record.apiVersion !== '2019-08-01') return fail(400, 'invalid_request', `Unsupported api-version ${record.apiVersion}.`);
    if (!record.resource) return fail(400, 'invalid_request', 'The resource parameter is required.');
    if (behaviour.kind === 'status') {
      return fail(behaviour.status, behaviour.error ?? 'invalid_request', behaviour.description ?? `fake: status ${behaviour.status}`);
    }
    const token = `fake-aad-token-${randomBytes(24).toString('hex')}`;
    tokens.set(token, record.resource.replace(/\/$/, ''));
    record.status = 200;
    sendJson(res, 200, {
      access_token: token,
      expires_on: String(Math.floor(Date.now() / 1000) + 3600),
      resource: record.resource,
      token_type: 'Bearer',
      client_id: '00000000-0000-4000-8000-00000000c11e',
    });
  });

  for (const server of [vault, identity]) {
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    // A TLS handshake a client aborts is not a test failure.
    server.on('tlsClientError', () => {});
  }
  const listen = (server: http.Server | https.Server) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
  const vaultPort = await listen(vault);
  const identityPort = await listen(identity);
  vaultUrl = `https://127.0.0.1:${vaultPort}`;

  return {
    vaultUrl,
    secretUrl: (name, version) => `${vaultUrl}/secrets/${name}${version ? `/${version}` : ''}`,
    identityEnv: { IDENTITY_ENDPOINT: `http://127.0.0.1:${identityPort}/msi/token`, IDENTITY_HEADER: identityHeader },
    tenantId,
    setSecret,
    versions: (name) => [...(store.get(name) ?? [])],
    script(name, behaviour) {
      throttled.delete(name);
      if (behaviour) behaviours.set(name, behaviour);
      else behaviours.delete(name);
    },
    scriptToken(behaviour) {
      tokenBehaviour = behaviour;
    },
    onAnswered(hook) {
      answered = hook;
    },
    requests,
    tokenRequests,
    issuedTokens: () => [...tokens.keys()],
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all([vault, identity].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}

/**
 * The Azure SDK module: loaded only through loadCloudModule('azure'), when an Azure Key Vault
 * reference is fetched. SecretClient with DefaultAzureCredential (the AZURE_* service principal
 * variables, workload identity, managed identity, then the developer tools), so claude-entry
 * adds no authentication of its own: getSecret for a start, and for a sync or `export --to`,
 * getSecret and setSecret (readSecret, writeSecret).
 *
 * The SDK reads its configuration (AZURE_*, IDENTITY_ENDPOINT, ...) from process.env itself.
 */
import { webcrypto } from 'node:crypto';
import { format } from 'node:util';
import { DefaultAzureCredential } from '@azure/identity';
import { SecretClient, type KeyVaultSecret } from '@azure/keyvault-secrets';
import { AzureLogger, setLogLevel, type AzureLogLevel } from '@azure/logger';
import type { GetTokenOptions, TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { startDeadline } from '../deadline.js';
import { ConfigError, SourceUnavailableError, safeDetail, type EntryError } from '../errors.js';
import { StoreConflictError } from '../sync/store.js';
import type { Logger } from '../log.js';
import { KEY_VAULT_ZONES } from '../sources/azure-hosts.js';
import type { AzureSecretRef, CloudFetchOptions, StoredValue } from './types.js';

/** Retries stop at the deadline, not at a count: enough for any CLAUDE_ENTRY_TIMEOUT. */
const RETRY_OPTIONS = { maxRetries: 50, retryDelayInMs: 500, maxRetryDelayInMs: 4000 };

const NETWORK_RULES = "and the vault's network rules must admit this network";
/** What a start (read only) needs. */
const READ_HINT = `the identity needs the Key Vault Secrets User role on the vault (RBAC) or a Get secret access policy, ${NETWORK_RULES}`;
/** What a sync or `export --to` (read, then write) needs. */
const STORE_HINT = `to write the secret, the identity needs the Key Vault Secrets Officer role on the vault (RBAC) or Get and Set secret access policies, ${NETWORK_RULES}`;

/** What the vault or the network last answered, for the message when the deadline fires. */
interface LastAnswer {
  status?: number;
  code?: string;
  /** A network error code (ECONNREFUSED, ENOTFOUND, a TLS error...). */
  networkError?: string;
  /** Set while the credential is getting a token: a stall there is not the vault's. */
  gettingToken: boolean;
}

export async function fetchSecret(ref: AzureSecretRef, options: CloudFetchOptions): Promise<string> {
  return callVault(ref, options, READ_HINT, async (client, abortSignal) => {
    options.log.debug(`${ref.ref}: getting secret ${ref.name}${ref.version ? ` version ${ref.version}` : ''} from ${ref.vaultUrl}`);
    const secret = await client.getSecret(ref.name, { version: ref.version, abortSignal });
    if (typeof secret.value !== 'string') throw new ConfigError(`${ref.ref}: the secret has no value`);
    return secret.value;
  });
}

/**
 * For a sync or `export --to REF#key`: the current value (or the referenced version) and its
 * version id; a secret that does not exist yet is `payload: undefined`, not an error.
 */
export async function readSecret(ref: AzureSecretRef, options: CloudFetchOptions): Promise<StoredValue> {
  return callVault(ref, options, STORE_HINT, async (client, abortSignal) => {
    options.log.debug(`${ref.ref}: reading secret ${ref.name}${ref.version ? ` version ${ref.version}` : ''} from ${ref.vaultUrl} for a sync`);
    const current = await getOrUndefined(client, ref.name, ref.version, abortSignal);
    if (current === undefined) return { payload: undefined };
    return { payload: typeof current.value === 'string' ? current.value : undefined, version: current.properties.version };
  });
}

/**
 * setSecret: creates the secret, or adds a new current version to it.
 *
 * Key Vault has no conditional set (no If-Match on PUT /secrets/NAME), so `ifVersion` is
 * emulated: the current version is read first, and the write is refused with
 * StoreConflictError when it is no longer `ifVersion`; after the write, the current version is
 * read once more, and a version other than the one just written means someone wrote in between:
 * StoreConflictError again, so that the syncer re-reads and re-decides by expiresAt (and pushes
 * again if its pair is the newer one). What remains is a race of one round trip: two writers
 * that both pass the check before either writes, and both read their own version back before
 * the other's write lands. The last write then wins even if its pair is the older one; the
 * other replica's next push (at its next refresh, and when its command exits) or pull repairs it.
 * A secret that does not exist yet is created unconditionally (there is no create-if-absent).
 */
export async function writeSecret(ref: AzureSecretRef, payload: string, options: CloudFetchOptions & { ifVersion?: string }): Promise<void> {
  if (ref.version) {
    throw new ConfigError(
      `${ref.ref}: this reference names one version (${ref.version}), which cannot be written: a write adds a new version; leave the version out of the URL`,
    );
  }
  const { ifVersion, log } = options;
  await callVault(ref, options, STORE_HINT, async (client, abortSignal) => {
    if (ifVersion !== undefined) {
      const current = await getOrUndefined(client, ref.name, undefined, abortSignal);
      if (current?.properties.version !== ifVersion) {
        log.debug(`${ref.ref}: the current version is ${current?.properties.version ?? 'gone'}, not ${ifVersion}; not writing`);
        throw new StoreConflictError(ref.ref);
      }
    }
    log.debug(`${ref.ref}: setting secret ${ref.name} in ${ref.vaultUrl}`);
    const written = await client.setSecret(ref.name, payload, { abortSignal });
    log.debug(`${ref.ref}: new version ${written.properties.version ?? '?'}`);
    if (ifVersion !== undefined) {
      const after = await getOrUndefined(client, ref.name, undefined, abortSignal);
      if (after?.properties.version !== written.properties.version) {
        log.debug(`${ref.ref}: another version (${after?.properties.version ?? 'none'}) became current right after ours`);
        throw new StoreConflictError(ref.ref);
      }
    }
  });
}

/** getSecret, with a secret (or version) that does not exist as undefined. */
async function getOrUndefined(client: SecretClient, name: string, version: string | undefined, abortSignal: AbortSignal): Promise<KeyVaultSecret | undefined> {
  try {
    return await client.getSecret(name, { version, abortSignal });
  } catch (error) {
    const e = error as { statusCode?: number; code?: string; details?: unknown };
    if (e.statusCode === 404 && [errorCodeIn(e.details), e.code].some((c) => c?.includes('SecretNotFound'))) return undefined;
    throw error;
  }
}

/**
 * One or more vault calls, within the deadline: a SecretClient with DefaultAzureCredential,
 * aborted when the deadline fires; SDK errors become ConfigError or SourceUnavailableError.
 */
async function callVault<T>(
  ref: AzureSecretRef,
  options: CloudFetchOptions,
  accessHint: string,
  work: (client: SecretClient, abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  const { log, deadline } = options;
  provideWebCrypto();
  routeSdkLogs(log, options.env);
  const last: LastAnswer = { gettingToken: false };
  if (deadline <= Date.now()) throw timedOut(ref, last);

  // The managed identity token request takes no abort signal: the deadline must not wait for it.
  const limit = startDeadline(deadline, () => timedOut(ref, last));

  try {
    const client = new SecretClient(ref.vaultUrl, keyVaultOnly(new DefaultAzureCredential(), ref, last), {
      // A host outside Azure's Key Vault zones (emulator, proxy, test) is challenged with a
      // vault.azure.net resource: keyVaultOnly() then limits what a token can be got for.
      disableChallengeResourceVerification: !ref.azureHost,
      retryOptions: RETRY_OPTIONS,
      additionalPolicies: [{ policy: answerRecorder(last), position: 'perRetry' }],
      userAgentOptions: { userAgentPrefix: 'claude-entry' },
    });
    return await limit.race(work(client, limit.signal));
  } catch (error) {
    if (isEntryError(error) || error instanceof StoreConflictError) throw error;
    if (limit.signal.aborted || (error instanceof Error && error.name === 'AbortError')) throw timedOut(ref, last);
    throw describeFailure(error, ref, log, accessHint);
  } finally {
    limit.clear();
  }
}

/**
 * The SDK calls the global `crypto.randomUUID()`, which Node 18 has only behind
 * --experimental-global-webcrypto (the SDK itself requires Node >= 20).
 */
function provideWebCrypto(): void {
  if ((globalThis as { crypto?: unknown }).crypto === undefined) {
    Object.defineProperty(globalThis, 'crypto', { value: webcrypto, configurable: true, writable: true, enumerable: false });
  }
}

/**
 * DefaultAzureCredential, asked only for a Key Vault token: a resource in a Key Vault zone,
 * or one whose zone contains the vault's host (the SDK's own rule, which covers Azure Stack).
 */
function keyVaultOnly(inner: TokenCredential, ref: AzureSecretRef, last: LastAnswer): TokenCredential {
  const vaultHost = new URL(ref.vaultUrl).hostname;
  const allowed = (scope: string) => {
    let host: string;
    try {
      host = new URL(scope).hostname;
    } catch {
      return false;
    }
    return KEY_VAULT_ZONES.includes(host) || vaultHost.endsWith(`.${host}`);
  };
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions) {
      const list = Array.isArray(scopes) ? scopes : [scopes];
      const refused = list.find((s) => !allowed(s));
      if (refused !== undefined) {
        throw new SourceUnavailableError(
          `${ref.ref}: the vault asked for a token for "${refused.slice(0, 100)}", which is not a Key Vault resource; refused (is ${vaultHost} really a Key Vault?)`,
        );
      }
      last.gettingToken = true;
      try {
        return await inner.getToken(scopes, options);
      } finally {
        last.gettingToken = false;
      }
    },
  };
}

/** A per-try pipeline policy that remembers the last status and Key Vault error code. */
function answerRecorder(last: LastAnswer): PipelinePolicy {
  return {
    name: 'claudeEntryAnswerRecorder',
    async sendRequest(request, next) {
      try {
        const response = await next(request);
        // A 401 with a challenge is the protocol's first step, not the vault's answer.
        if (response.status === 401 && response.headers.get('www-authenticate')) return response;
        last.status = response.status;
        last.code = response.status >= 400 ? errorCodeOf(response.bodyAsText) : undefined;
        last.networkError = undefined;
        return response;
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (typeof code === 'string' && (error as { statusCode?: unknown }).statusCode === undefined) last.networkError = code;
        throw error;
      }
    },
  };
}

function errorCodeOf(body: string | null | undefined): string | undefined {
  try {
    return errorCodeIn(JSON.parse(body ?? ''));
  } catch {
    return undefined;
  }
}

/** `Forbidden/ForbiddenByRbac` from a Key Vault error body `{error: {code, innererror: {code}}}`. */
function errorCodeIn(body: unknown): string | undefined {
  type Inner = { code?: unknown };
  const error = (body as { error?: { code?: unknown; innererror?: Inner; innerError?: Inner } } | undefined)?.error;
  // The raw body says innererror; the SDK's deserialised RestError.details says innerError.
  const inner = error?.innererror ?? error?.innerError;
  return [error?.code, inner?.code].filter((c) => typeof c === 'string').join('/') || undefined;
}

function timedOut(ref: AzureSecretRef, last: LastAnswer): SourceUnavailableError {
  const within = 'before the deadline (CLAUDE_ENTRY_TIMEOUT)';
  if (last.gettingToken) {
    return new SourceUnavailableError(
      `${ref.ref}: no Azure access token ${within}: the credential's token endpoint did not answer (managed identity endpoint, AZURE_AUTHORITY_HOST)`,
    );
  }
  if (last.status !== undefined) {
    const answer = `HTTP ${last.status}${last.code ? ` ${last.code}` : ''}`;
    const hint =
      last.status === 429
        ? 'the vault is throttling requests (too many callers on this vault)'
        : last.status >= 500
          ? 'the vault kept failing; check the Azure status page and retry'
          : 'check the vault and the network';
    return new SourceUnavailableError(`${ref.ref}: no usable answer ${within}, the last was ${answer}; ${hint}`);
  }
  if (last.networkError) {
    return new SourceUnavailableError(`${ref.ref}: cannot reach ${ref.vaultUrl} ${within} (${last.networkError}); ${networkHint(last.networkError)}`);
  }
  return new SourceUnavailableError(
    `${ref.ref}: ${ref.vaultUrl} did not answer ${within}; check that the vault is reachable from here (firewall, private endpoint DNS, proxy)`,
  );
}

function networkHint(code: string): string {
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'check the vault name and DNS (a private endpoint needs its privatelink zone)';
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/i.test(code)) return "the vault's TLS certificate is not trusted (a private CA goes in NODE_EXTRA_CA_CERTS)";
  return 'check that the vault is reachable from here (firewall, private endpoint, proxy)';
}

/** An SDK error -> ConfigError (78) or SourceUnavailableError (69), naming the reference and code. */
function describeFailure(error: unknown, ref: AzureSecretRef, log: Logger, accessHint: string): EntryError {
  const e = (error ?? {}) as { name?: string; message?: string; statusCode?: number; code?: string; details?: unknown };
  const at = ref.ref;
  if (e.name === 'CredentialUnavailableError' || e.name === 'AggregateAuthenticationError' || e.name === 'AuthenticationError') {
    log.debug(`${at}: ${e.name}: ${safeDetail(e.message)}`);
    const failed = configuredButFailed(error);
    return new SourceUnavailableError(
      failed
        ? `${at}: the Azure credential could not get a token (${failed}); check the identity's configuration`
        : `${at}: no Azure credential available; ${CREDENTIAL_HINT}`,
      { cause: error },
    );
  }
  if (typeof e.statusCode === 'number') {
    const status = e.statusCode;
    const code = errorCodeIn(e.details) ?? e.code ?? '';
    const answer = `HTTP ${status}${code ? ` ${code}` : ''}`;
    const secret = `secret "${ref.name}"${ref.version ? ` version ${ref.version}` : ''} in ${ref.vaultUrl}`;
    if (status === 404) {
      return new ConfigError(`${at}: not found (${answer}); check the ${secret} exists${ref.version ? ' (or leave the version out for the current one)' : ''}`);
    }
    if (status === 403 && code.includes('SecretDisabled')) {
      return new ConfigError(`${at}: the secret is disabled (${answer}); enable the ${secret} or name another version`);
    }
    if (status === 403) return new SourceUnavailableError(`${at}: access denied (${answer}); ${accessHint}`);
    if (status === 409) {
      return new ConfigError(
        `${at}: the vault refused the write (${answer}); a deleted ${secret} that is still recoverable must be recovered or purged before it can be set again`,
      );
    }
    if (status === 401) {
      return new SourceUnavailableError(`${at}: the vault rejected the access token (${answer}); check that the identity is in the vault's tenant`);
    }
    if (status === 429) return new SourceUnavailableError(`${at}: throttled (${answer}) past the retries; the vault is under too much load`);
    if (status >= 500) return new SourceUnavailableError(`${at}: the vault failed (${answer}) past the retries; check the Azure status page and retry`);
    return new ConfigError(`${at}: the vault refused the request (${answer}); check the reference`);
  }
  if (typeof e.code === 'string') {
    return new SourceUnavailableError(`${at}: cannot reach ${ref.vaultUrl} (${e.code}); ${networkHint(e.code)}`, { cause: error });
  }
  log.debug(`${at}: ${e.name ?? 'error'}: ${safeDetail(e.message ?? String(error))}`);
  return new SourceUnavailableError(`${at}: the Azure SDK failed (${e.name ?? 'error'}: ${firstLine(e.message)})`, { cause: error });
}

const CREDENTIAL_HINT =
  'DefaultAzureCredential looks at AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, workload identity ' +
  '(AZURE_FEDERATED_TOKEN_FILE), then managed identity (IDENTITY_ENDPOINT or IMDS); CLAUDE_ENTRY_LOG=debug shows what each one answered';

/**
 * The first line of the error of a credential that was configured but failed (a token endpoint
 * that answered with an error), rather than one that found nothing to use.
 */
function configuredButFailed(error: unknown): string | undefined {
  const errors = ((error as { errors?: unknown[] }).errors ?? [error]) as { name?: string; message?: string }[];
  const failed = errors.find((e) => e?.name !== 'CredentialUnavailableError' || /Authentication failed|status code [45]\d\d/i.test(e.message ?? ''));
  return failed ? firstLine(failed.message) : undefined;
}

function firstLine(message: string | undefined): string {
  return safeDetail((message ?? '').split(/\r?\n/)[0], 200);
}

function isEntryError(error: unknown): error is EntryError {
  return error instanceof ConfigError || error instanceof SourceUnavailableError;
}

/**
 * The SDK's warnings (which users would take for errors: deprecated options, skipped
 * credentials), and more if AZURE_LOG_LEVEL asks, go through our logger at debug level: one
 * prefixed, redacted line each, never straight to stderr.
 */
function routeSdkLogs(log: Logger, env: NodeJS.ProcessEnv): void {
  AzureLogger.log = (...args: unknown[]) => log.debug(`azure sdk: ${format(...args)}`);
  const wanted = env.AZURE_LOG_LEVEL?.toLowerCase();
  const levels: AzureLogLevel[] = ['verbose', 'info', 'warning', 'error'];
  setLogLevel(levels.includes(wanted as AzureLogLevel) ? (wanted as AzureLogLevel) : 'warning');
}

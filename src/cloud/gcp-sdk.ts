/**
 * GCP Secret Manager through @google-cloud/secret-manager (gRPC). Imported only through
 * loadCloudModule('gcp'), when a GCP reference is fetched.
 *
 * Authentication is the SDK's own chain (ADC: GOOGLE_APPLICATION_CREDENTIALS, gcloud's
 * application-default login, workload identity, the metadata server). The endpoint, first
 * found wins:
 *   CLAUDE_ENTRY_GCP_ENDPOINT     `host[:port]` or `https://host[:port]`: TLS with ADC (private
 *                                 endpoints); `http://host:port`: plaintext, no credentials
 *   SECRET_MANAGER_EMULATOR_HOST  `host:port`, the emulators' convention: plaintext, no credentials
 *   a regional reference          secretmanager.LOCATION.rep.UNIVERSE (projects/P/locations/L/...)
 *   default                       secretmanager.UNIVERSE (GOOGLE_CLOUD_UNIVERSE_DOMAIN, else googleapis.com)
 */
import { SecretManagerServiceClient, type protos } from '@google-cloud/secret-manager';
import { grpc, loggingUtils, type CallOptions } from 'google-gax';
import { beforeDeadline } from '../deadline.js';
import { ConfigError, SourceUnavailableError, safeDetail } from '../errors.js';
import { StoreConflictError } from '../sync/store.js';
import { backoff, retry } from '../retry.js';
import type { Logger } from '../log.js';
import { PROJECT_VARIABLES, parentName, secretName, versionName, versionNumber, type GcpSecretRef } from '../sources/gcp-names.js';
import type { CloudFetchOptions, StoredValue } from './types.js';

const { status: Status } = grpc;
const RETRY_CODES = [Status.UNAVAILABLE, Status.RESOURCE_EXHAUSTED, Status.INTERNAL];
/** Backoff between attempts: each pause is random between 0 and the current delay. */
const BACKOFF = { initialMs: 250, multiplier: 2, maxMs: 4000 };
/** gax call options: no gax retries (retry: null), and this attempt's gRPC deadline. */
const ONE_ATTEMPT = (timeout: number): CallOptions => ({ timeout, retry: null });

export interface GcpEndpoint {
  host: string;
  port: number;
  /** Plaintext gRPC and no credentials at all: emulators and tests. */
  plaintext: boolean;
  /** Where the endpoint came from, for messages. */
  origin: string;
}

export async function fetchSecret(ref: GcpSecretRef, options: CloudFetchOptions): Promise<Buffer> {
  return withClient(ref, options, async ({ client, project, endpoint, debug }) => {
    const name = versionName(ref, project);
    options.log.debug(`${ref.text}: accessing ${name} at ${describeEndpoint(endpoint)}`);
    if (ref.version === 'latest') return payloadOf((await accessCurrent(client, ref, project, options.deadline, debug))!, ref);
    const response = await accessWithRetries(client, name, options.deadline, debug);
    return payloadOf(response, ref);
  });
}

/**
 * A fleet's store (src/fleet): the annotation on the Secret that names its current version.
 * AddSecretVersion takes no precondition, but UpdateSecret takes the Secret's etag: a fenced
 * write adds its version, then moves this annotation to it with the etag it read before, so
 * of two writers that read the same state exactly one moves it (the other gets
 * FAILED_PRECONDITION and throws StoreConflictError; its version is never current).
 */
export const CURRENT_ANNOTATION = 'claude-entry-current';
/**
 * A fleet's document carries this key (src/fleet/setup.ts FLEET_KEY; not imported: this is a
 * separate bundle). Only payloads carrying it are written fenced, and only a latest version
 * carrying it sends a read to the annotation: plain sources and syncs make
 * the same calls as before, and need no new permission.
 */
const FLEET_MARK = '"claudeEntryFleet"';

interface SecretMeta {
  etag: string;
  annotations: Record<string, string>;
  /** The version the annotation names (a number), if it names one. */
  pointed?: string;
}

/** GetSecret: the etag and the annotations; undefined when the secret does not exist. */
async function getMeta(client: SecretManagerServiceClient, secret: string, deadline: number, debug: (m: string) => void): Promise<SecretMeta | undefined> {
  let answer: protos.google.cloud.secretmanager.v1.ISecret;
  try {
    answer = await withRetries(deadline, debug, (timeout) => client.getSecret({ name: secret }, ONE_ATTEMPT(timeout)).then(([r]) => r));
  } catch (error) {
    if (grpcCode(error) === Status.NOT_FOUND) return undefined;
    throw new CallFailure(error, 'get');
  }
  const annotations = { ...(answer.annotations ?? {}) } as Record<string, string>;
  const value = annotations[CURRENT_ANNOTATION];
  return { etag: answer.etag ?? '', annotations, pointed: value !== undefined && /^\d+$/.test(value) ? value : undefined };
}

/**
 * The current version of an unpinned reference: `latest`, unless the secret is a fleet's
 * store, whose current version is the one its annotation names (a newer version is one that
 * lost its compare-and-swap, or one still being written). Latest is a fleet's when its
 * payload carries the fleet record; a latest version without it was written by someone else
 * (a plain write, gcloud) and is current. undefined: no secret or no versions
 * (`missing: 'undefined'`), else NOT_FOUND.
 * With `meta`, that GetSecret answer is used (a write reads it first, before latest).
 */
async function accessCurrent(
  client: SecretManagerServiceClient,
  ref: GcpSecretRef,
  project: string,
  deadline: number,
  debug: (m: string) => void,
  missing: 'throw' | 'undefined' = 'throw',
  meta?: SecretMeta | null,
): Promise<AccessResponse | undefined> {
  const secret = secretName(ref, project);
  let latest: AccessResponse;
  const pointer = async () => (meta === undefined ? ((await getMeta(client, secret, deadline, debug)) ?? null) : meta)?.pointed;
  try {
    latest = await accessWithRetries(client, `${secret}/versions/latest`, deadline, debug);
  } catch (error) {
    if (grpcCode(error) === Status.NOT_FOUND && missing === 'undefined') return undefined;
    throw error;
  }
  if (!payloadOf(latest, ref).includes(FLEET_MARK)) return latest;
  const pointed = await pointer();
  const newest = versionNumber(latest.name ?? undefined);
  if (pointed === undefined || pointed === newest) return latest;
  debug(`version ${newest} is not current (not committed, or it lost); ${CURRENT_ANNOTATION} names version ${pointed}`);
  return accessWithRetries(client, `${secret}/versions/${pointed}`, deadline, debug);
}

/**
 * Read for a sync or a `#key` write: the referenced version (default `latest`); a secret that
 * does not exist, or has no versions yet, is `payload: undefined`. `version` is the resolved
 * version name the service answered with (projects/NUMBER/secrets/S/versions/7).
 */
export async function readSecret(ref: GcpSecretRef, options: CloudFetchOptions): Promise<StoredValue> {
  return withClient(ref, options, async ({ client, project, endpoint, debug }) => {
    const name = versionName(ref, project);
    options.log.debug(`${ref.text}: reading ${name} at ${describeEndpoint(endpoint)}`);
    const response =
      ref.version === 'latest'
        ? await accessCurrent(client, ref, project, options.deadline, debug, 'undefined')
        : await readVersion(client, name, options.deadline, debug);
    if (!response) return { payload: undefined };
    return { payload: payloadOf(response, ref).toString('utf8'), version: response.name ?? undefined };
  });
}

/**
 * Store `payload` as a new version (AddSecretVersion), creating the secret with automatic
 * replication (a regional secret: in its location) when it does not exist.
 *
 * A fleet's document (a payload carrying the fleet record) is written fenced, an exact
 * compare-and-swap: see fencedWrite.
 *
 * Concurrency otherwise: AddSecretVersion takes no precondition (and the Secret's etag guards only
 * UpdateSecret/DeleteSecret, which change metadata, not versions), so with `ifVersion` this
 * emulates a compare-and-swap with reads around the add:
 *   1. before: `latest` must still be `ifVersion`, else StoreConflictError;
 *   2. add the version;
 *   3. after: `latest` must be the version just added. If another writer's version landed
 *      after ours it is the current one, and this throws StoreConflictError: the syncer reads
 *      again and decides by expiresAt (ours is pushed again only if it is newer).
 * Residual race: a writer whose whole add (1 to 3) falls between our step 1 and our step 2 is
 * shadowed by our version, and neither side sees a conflict. The window is one round trip;
 * the shadowed writer holds its pair locally and pushes it again at its next change or exit
 * (the decision by expiresAt then puts the newer pair back on top). Detected here as a
 * version number that is not `ifVersion + 1`, and logged.
 */
export async function writeSecret(ref: GcpSecretRef, payload: string, options: CloudFetchOptions & { ifVersion?: string }): Promise<void> {
  if (ref.version !== 'latest') {
    throw new ConfigError(
      `${ref.text}: a reference pinned to version "${ref.version}" cannot be written; ` +
        'name the secret without /versions/ (a new version is added and becomes latest)',
    );
  }
  const { ifVersion, deadline, log } = options;
  await withClient(ref, options, async ({ client, project, endpoint, debug }) => {
    const secret = secretName(ref, project);
    if (payload.includes(FLEET_MARK)) return fencedWrite(client, ref, project, payload, ifVersion, deadline, debug);
    const latest = `${secret}/versions/latest`;
    log.debug(
      `${ref.text}: adding a version to ${secret} at ${describeEndpoint(endpoint)}${ifVersion ? ` if version ${versionNumber(ifVersion)} is still the latest` : ''}`,
    );
    if (ifVersion !== undefined) {
      const before = versionNumber((await readVersion(client, latest, deadline, debug))?.name ?? undefined);
      if (before !== versionNumber(ifVersion)) {
        debug(`the latest version is ${before ?? 'none'}, not ${versionNumber(ifVersion)}: conflict`);
        throw new StoreConflictError(ref.text);
      }
    }
    const data = Buffer.from(payload, 'utf8');
    const request = { parent: secret, payload: { data, dataCrc32c: crc32c(data) } };
    let added: AddResponse;
    try {
      added = await withRetries(deadline, debug, (timeout) => client.addSecretVersion(request, ONE_ATTEMPT(timeout)).then(([r]) => r));
    } catch (error) {
      if (grpcCode(error) !== Status.NOT_FOUND) throw new CallFailure(error, 'add');
      await createSecret(client, ref, project, deadline, debug);
      try {
        added = await withRetries(deadline, debug, (timeout) => client.addSecretVersion(request, ONE_ATTEMPT(timeout)).then(([r]) => r));
      } catch (again) {
        throw new CallFailure(again, 'add');
      }
    }
    const ours = versionNumber(added.name ?? undefined);
    debug(`added version ${ours}`);
    if (ifVersion === undefined) return;
    const expected = Number(versionNumber(ifVersion)) + 1;
    if (ours !== undefined && Number(ours) !== expected) {
      log.debug(`${ref.text}: version ${ours} is not ${expected}: another writer added a version between our check and our write`);
    }
    const after = versionNumber((await readVersion(client, latest, deadline, debug))?.name ?? undefined);
    if (after !== ours) {
      debug(`version ${after} landed after ours (${ours}): conflict, to be decided again`);
      throw new StoreConflictError(ref.text);
    }
  });
}

type AddResponse = protos.google.cloud.secretmanager.v1.ISecretVersion;

/**
 * An exact compare-and-swap for a fleet's document:
 *   1. GetSecret: the etag, and the annotation naming the current version;
 *   2. the current version (accessCurrent with that answer) must be `ifVersion`, else
 *      StoreConflictError (nothing written);
 *   3. AddSecretVersion (the new version is not current yet: readers follow the annotation);
 *   4. UpdateSecret, annotation to the new version, with the etag of step 1. A writer that
 *      committed since step 1 changed the etag: FAILED_PRECONDITION, and this throws
 *      StoreConflictError. The new version stays, enabled and never current: readers follow
 *      the annotation past it. (Not disabled: a disabled latest version fails every reader of
 *      `latest`, gcloud's and plain sources' included, and disabling needs one more permission.)
 * Every commit moves the annotation, so the etag of step 1 covers the check of step 2. Without
 * `ifVersion` (export --to), the annotation is moved with the etag just read, read again on
 * a conflict: the last writer wins, and no reader is left on an older version.
 */
async function fencedWrite(
  client: SecretManagerServiceClient,
  ref: GcpSecretRef,
  project: string,
  payload: string,
  ifVersion: string | undefined,
  deadline: number,
  debug: (m: string) => void,
): Promise<void> {
  const secret = secretName(ref, project);
  let meta = await getMeta(client, secret, deadline, debug);
  if (!meta) {
    if (ifVersion !== undefined) {
      debug('the secret does not exist, it was read at a version: conflict');
      throw new StoreConflictError(ref.text);
    }
    await createSecret(client, ref, project, deadline, debug);
    meta = await getMeta(client, secret, deadline, debug);
    if (!meta) throw new StoreConflictError(ref.text);
  }
  const current = versionNumber((await accessCurrent(client, ref, project, deadline, debug, 'undefined', meta))?.name ?? undefined);
  if (ifVersion !== undefined && current !== versionNumber(ifVersion)) {
    debug(`the current version is ${current ?? 'none'}, not ${versionNumber(ifVersion)}: conflict`);
    throw new StoreConflictError(ref.text);
  }
  if (meta.pointed === undefined && current !== undefined) {
    // The first fenced write: the annotation names the current version first, so that a
    // version that fails to become current never shadows it (whatever happens next).
    meta = await movePointer(client, secret, meta, current, deadline, debug).catch((error: unknown) => {
      if (grpcCode(error) === Status.FAILED_PRECONDITION || grpcCode(error) === Status.ABORTED) throw new StoreConflictError(ref.text);
      throw new CallFailure(error, 'update');
    });
  }
  const data = Buffer.from(payload, 'utf8');
  let added: AddResponse;
  try {
    added = await withRetries(deadline, debug, (timeout) =>
      client.addSecretVersion({ parent: secret, payload: { data, dataCrc32c: crc32c(data) } }, ONE_ATTEMPT(timeout)).then(([r]) => r),
    );
  } catch (error) {
    throw new CallFailure(error, 'add');
  }
  const ours = versionNumber(added.name ?? undefined);
  if (ours === undefined) throw new SourceUnavailableError(`${ref.text}: GCP Secret Manager: AddSecretVersion answered without a version name`);
  for (let attempt = 1; ; attempt++) {
    try {
      await movePointer(client, secret, meta, ours, deadline, debug);
      debug(`version ${ours} is current (${CURRENT_ANNOTATION} moved from ${meta.pointed ?? 'none'})`);
      return;
    } catch (error) {
      const code = grpcCode(error);
      if (code !== Status.FAILED_PRECONDITION && code !== Status.ABORTED) throw new CallFailure(error, 'update');
    }
    // The etag moved on. An attempt that reached the service before its answer was lost
    // (retried) moved it too: then the annotation already names ours.
    const now = await getMeta(client, secret, deadline, debug);
    if (now?.pointed === ours) return;
    if (ifVersion !== undefined || !now || attempt >= 5) {
      debug(`another writer moved ${CURRENT_ANNOTATION} to ${now?.pointed ?? 'none'} first: version ${ours} lost (never current), conflict`);
      throw new StoreConflictError(ref.text);
    }
    meta = now;
  }
}

/** UpdateSecret: the annotation names `version`, if the Secret's etag is still the one in `meta`. The Secret's new state. */
async function movePointer(
  client: SecretManagerServiceClient,
  secret: string,
  meta: SecretMeta,
  version: string,
  deadline: number,
  debug: (m: string) => void,
): Promise<SecretMeta> {
  const request = {
    secret: { name: secret, etag: meta.etag, annotations: { ...meta.annotations, [CURRENT_ANNOTATION]: version } },
    updateMask: { paths: ['annotations'] },
  };
  const answer = await withRetries(deadline, debug, (timeout) => client.updateSecret(request, ONE_ATTEMPT(timeout)).then(([r]) => r));
  return { etag: answer.etag ?? '', annotations: { ...request.secret.annotations }, pointed: version };
}

/** CreateSecret; a secret created meanwhile by someone else (ALREADY_EXISTS) is as good. */
async function createSecret(
  client: SecretManagerServiceClient,
  ref: GcpSecretRef,
  project: string,
  deadline: number,
  debug: (m: string) => void,
): Promise<void> {
  // Regional secrets live in their location and take no replication policy.
  const secret = ref.location ? {} : { replication: { automatic: {} } };
  try {
    await withRetries(deadline, debug, (timeout) =>
      client.createSecret({ parent: parentName(ref, project), secretId: ref.secret, secret }, ONE_ATTEMPT(timeout)).then(([r]) => r),
    );
    debug(`created the secret ${secretName(ref, project)}`);
  } catch (error) {
    if (grpcCode(error) === Status.ALREADY_EXISTS) return;
    throw new CallFailure(error, 'create');
  }
}

/** AccessSecretVersion with retries; NOT_FOUND (no secret, no versions, no such version) is undefined. */
async function readVersion(
  client: SecretManagerServiceClient,
  name: string,
  deadline: number,
  debug: (m: string) => void,
): Promise<AccessResponse | undefined> {
  try {
    return await accessWithRetries(client, name, deadline, debug);
  } catch (error) {
    if (grpcCode(error) === Status.NOT_FOUND) return undefined;
    throw error;
  }
}

/** A call beyond reading a version that failed, and which one: a denial names the permission that call needs. */
class CallFailure extends Error {
  constructor(
    readonly failure: unknown,
    readonly call: 'add' | 'create' | 'get' | 'update',
  ) {
    super(safeDetail(failure instanceof Error ? failure.message : String(failure)));
    this.name = 'CallFailure';
  }
}

const FLEET_PERMISSIONS =
  "a fleet's store needs secretmanager.secrets.get and secretmanager.secrets.update on the secret (its compare-and-swap moves an annotation), " +
  'besides versions.access and versions.add; roles/secretmanager.admin has them, or grant a custom role';

interface Session {
  client: SecretManagerServiceClient;
  project: string;
  endpoint: GcpEndpoint;
  debug: (message: string) => void;
}

/** A client for one operation: the endpoint, quiet SDK, credentials and project; errors described. */
async function withClient<T>(ref: GcpSecretRef, { env, log, deadline }: CloudFetchOptions, work: (session: Session) => Promise<T>): Promise<T> {
  const endpoint = resolveEndpoint(ref, env);
  // GOOGLE_SDK_NODE_LOGGING would make the SDK print every response, the payload with it.
  loggingUtils.setBackend(null);
  const restoreWarnings = warningsToDebug(log);
  const client = new SecretManagerServiceClient({
    servicePath: endpoint.host,
    port: endpoint.port,
    ...(endpoint.plaintext
      ? {
          sslCreds: grpc.credentials.createInsecure(),
          // Without a universe the client asks the credentials for one, which probes the GCE
          // metadata server (a delay, then a MetadataLookupWarning) although none are used.
          universeDomain: env.GOOGLE_CLOUD_UNIVERSE_DOMAIN || 'googleapis.com',
        }
      : {}),
  });
  try {
    // Credentials and the project are resolved before the first attempt; gRPC times each attempt.
    const project = await beforeDeadline(
      deadline,
      async () => {
        const p = ref.project ?? (await projectFromCredentials(ref, client, endpoint));
        await client.initialize();
        return p;
      },
      () => new GuardTimeout(),
    );
    return await work({ client, project, endpoint, debug: (message) => log.debug(`${ref.text}: ${message}`) });
  } catch (error) {
    throw describeFailure(error, ref, endpoint, env);
  } finally {
    restoreWarnings();
    client.close().catch(() => {});
  }
}

type AccessResponse = protos.google.cloud.secretmanager.v1.IAccessSecretVersionResponse;

/**
 * Attempts until one succeeds, one fails with a status not worth retrying, or the deadline
 * passes. The retry loop is ours rather than gax's: gax sleeps a jittered delay without
 * looking at the total deadline (overshooting it by up to the maximum delay), then reports
 * DEADLINE_EXCEEDED with the status that kept failing only inside its message text.
 */
async function accessWithRetries(
  client: SecretManagerServiceClient,
  name: string,
  deadline: number,
  debug: (message: string) => void,
): Promise<AccessResponse> {
  return withRetries(deadline, debug, async (timeout) => (await client.accessSecretVersion({ name }, ONE_ATTEMPT(timeout)))[0]);
}

/** One call, attempted until it succeeds, fails with a status not worth retrying, or the deadline passes. */
async function withRetries<T>(deadline: number, debug: (message: string) => void, call: (timeout: number) => Promise<T>): Promise<T> {
  let lastFailure: RetryableFailure | undefined;
  return retry(
    async (n) => {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw lastFailure ? new RetriesExhausted(lastFailure, n - 1) : new GuardTimeout();
      return call(remaining);
    },
    (error, n) => {
      const code = grpcCode(error);
      if (code === Status.DEADLINE_EXCEEDED && lastFailure) throw new RetriesExhausted(lastFailure, n);
      if (code === undefined || !RETRY_CODES.includes(code)) throw error;
      lastFailure = error as RetryableFailure;
      const pause = Math.min(Math.random() * backoff(n, BACKOFF), Math.max(0, deadline - Date.now())); // full jitter
      debug(`attempt ${n} failed with ${Status[code]}; retrying in ${Math.round(pause)} ms`);
      return pause;
    },
  );
}

type RetryableFailure = Error & { code: number; details?: string };

class RetriesExhausted extends Error {
  constructor(
    readonly last: RetryableFailure,
    readonly attempts: number,
  ) {
    super(`deadline passed after ${attempts} attempts`);
    this.name = 'RetriesExhausted';
  }
}

function grpcCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

function describeEndpoint(endpoint: GcpEndpoint): string {
  return `${endpoint.host}:${endpoint.port} (${endpoint.origin}${endpoint.plaintext ? ', plaintext without credentials' : ''})`;
}

export function resolveEndpoint(ref: GcpSecretRef, env: NodeJS.ProcessEnv): GcpEndpoint {
  const explicit = env.CLAUDE_ENTRY_GCP_ENDPOINT?.trim();
  if (explicit) return parseEndpoint(explicit, 'CLAUDE_ENTRY_GCP_ENDPOINT', false);
  const emulator = env.SECRET_MANAGER_EMULATOR_HOST?.trim();
  if (emulator) return parseEndpoint(emulator, 'SECRET_MANAGER_EMULATOR_HOST', true);
  const universe = env.GOOGLE_CLOUD_UNIVERSE_DOMAIN?.trim() || 'googleapis.com';
  if (ref.location) return { host: `secretmanager.${ref.location}.rep.${universe}`, port: 443, plaintext: false, origin: 'regional endpoint' };
  return { host: `secretmanager.${universe}`, port: 443, plaintext: false, origin: 'default endpoint' };
}

function parseEndpoint(value: string, variable: string, emulator: boolean): GcpEndpoint {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `${emulator ? 'http' : 'https'}://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ConfigError(`${variable}: "${value}" is not host[:port] or http(s)://host[:port]`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${variable}: "${value}": use https://host[:port] (TLS) or http://host:port (plaintext, for emulators)`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.username) {
    throw new ConfigError(`${variable}: "${value}": a gRPC endpoint is host[:port] only, without a path`);
  }
  const plaintext = url.protocol === 'http:';
  const port = url.port ? Number(url.port) : plaintext ? 80 : 443;
  return { host: url.hostname, port, plaintext, origin: variable };
}

/** `gcp-sm:SECRET` with no project variable: the project of the credentials (key file, metadata server). */
async function projectFromCredentials(ref: GcpSecretRef, client: SecretManagerServiceClient, endpoint: GcpEndpoint): Promise<string> {
  const missing = () =>
    new ConfigError(
      `${ref.text}: no project: write projects/PROJECT/secrets/${ref.secret} or set ${PROJECT_VARIABLES.join(' or ')}` +
        (endpoint.plaintext ? '' : ' (the credentials did not name one either)'),
    );
  if (endpoint.plaintext) throw missing();
  try {
    const project = await client.getProjectId();
    if (project) return project;
  } catch {
    // fall through: reported as a configuration error below
  }
  throw missing();
}

function payloadOf(response: AccessResponse, ref: GcpSecretRef): Buffer {
  const data = response.payload?.data;
  const payload = data === undefined || data === null ? Buffer.alloc(0) : Buffer.from(data as Uint8Array);
  // A proto3 `optional` field: the oneof marker says whether the service sent a checksum.
  const sent = (response.payload as { _dataCrc32c?: string } | null | undefined)?._dataCrc32c === 'dataCrc32c';
  const expected = sent ? response.payload?.dataCrc32c : undefined;
  if (expected !== undefined && expected !== null && String(expected) !== String(crc32c(payload))) {
    throw new SourceUnavailableError(`${ref.text}: GCP Secret Manager: the payload failed its CRC32C check (DATA_LOSS); try again`);
  }
  return payload;
}

/** One line: the reference, what happened, the gRPC status name, what to check. Never the payload. */
export function describeFailure(error: unknown, ref: GcpSecretRef, endpoint: GcpEndpoint, env: NodeJS.ProcessEnv): Error {
  if (error instanceof ConfigError || error instanceof SourceUnavailableError || error instanceof StoreConflictError) return error;
  if (error instanceof CallFailure) {
    if (grpcCode(error.failure) === Status.PERMISSION_DENIED) {
      const failure = error.failure;
      if (error.call === 'get' || error.call === 'update') {
        return new SourceUnavailableError(
          `${ref.text}: GCP Secret Manager: permission denied ${error.call === 'get' ? 'reading the secret (GetSecret)' : 'updating the secret (UpdateSecret)'} ` +
            `(PERMISSION_DENIED${said(failure)}); ${FLEET_PERMISSIONS}`,
          { cause: failure },
        );
      }
      return new SourceUnavailableError(
        error.call === 'add'
          ? `${ref.text}: GCP Secret Manager: permission denied adding a version (PERMISSION_DENIED${said(failure)}); grant the workload's ` +
              'service account roles/secretmanager.secretVersionAdder (secretmanager.versions.add) on the secret or its project, ' +
              'and roles/secretmanager.secretAccessor to read it back'
          : `${ref.text}: GCP Secret Manager: the secret does not exist and creating it was denied (PERMISSION_DENIED${said(failure)}); ` +
              'create it first (gcloud secrets create), or grant a role with secretmanager.secrets.create on the project ' +
              '(e.g. roles/secretmanager.admin)',
        { cause: failure },
      );
    }
    return describeFailure(error.failure, ref, endpoint, env);
  }
  const at = `${endpoint.host}:${endpoint.port}`;
  const prefix = `${ref.text}: GCP Secret Manager`;
  if (error instanceof RetriesExhausted) {
    const name = Status[error.last.code]!;
    return new SourceUnavailableError(
      `${prefix}: still failing with ${name}${said(error.last)} after ${error.attempts} attempts when the deadline passed ` +
        `(CLAUDE_ENTRY_TIMEOUT); ${hintFor(name, at, error.last)}`,
      { cause: error.last },
    );
  }
  if (error instanceof GuardTimeout) {
    return new SourceUnavailableError(
      `${prefix}: getting credentials took longer than CLAUDE_ENTRY_TIMEOUT (DEADLINE_EXCEEDED); ` +
        'check the credentials and access to the metadata server (workload identity) or the token endpoint',
    );
  }
  const code = grpcCode(error);
  const name = code === undefined ? undefined : (Status[code] ?? `code ${code}`);
  switch (code) {
    case undefined:
      return new SourceUnavailableError(`${prefix}: ${localFailure(error, env)}`, { cause: error });
    case Status.NOT_FOUND:
      return new ConfigError(`${prefix}: not found (NOT_FOUND${said(error)}); check the project, the secret name and the version`, { cause: error });
    case Status.FAILED_PRECONDITION:
      return new ConfigError(`${prefix}: the version cannot be accessed (FAILED_PRECONDITION${said(error)}); enable it or name another version`, {
        cause: error,
      });
    case Status.INVALID_ARGUMENT:
    case Status.OUT_OF_RANGE:
      return new ConfigError(`${prefix}: the service rejected the request (${name}${said(error)}); check the reference`, { cause: error });
    case Status.PERMISSION_DENIED:
      return new SourceUnavailableError(
        `${prefix}: permission denied (PERMISSION_DENIED${said(error)}); grant the workload's service account ` +
          'roles/secretmanager.secretAccessor (secretmanager.versions.access) on the secret or its project; ' +
          'a secret that does not exist is reported the same way',
        { cause: error },
      );
    case Status.UNAUTHENTICATED:
      return new SourceUnavailableError(
        `${prefix}: the credentials were rejected (UNAUTHENTICATED${said(error)}); ` + 'check GOOGLE_APPLICATION_CREDENTIALS or the workload identity binding',
        { cause: error },
      );
    case Status.DEADLINE_EXCEEDED:
      return new SourceUnavailableError(`${prefix}: no answer from ${at} within CLAUDE_ENTRY_TIMEOUT (DEADLINE_EXCEEDED); check network access to it`, {
        cause: error,
      });
    default:
      return new SourceUnavailableError(`${prefix}: request failed (${name}${said(error)}); ${hintFor(name!, at, error)}`, { cause: error });
  }
}

function hintFor(code: string, at: string, error: unknown): string {
  // how grpc-js reports a failure of the credentials plugin (getting an access token)
  if (/Getting metadata from plugin failed/.test(said(error))) {
    return 'getting an access token failed: check the credentials (GOOGLE_APPLICATION_CREDENTIALS, workload identity) and access to the token endpoint';
  }
  switch (code) {
    case 'RESOURCE_EXHAUSTED':
      return 'the project is over its Secret Manager access quota; retry later or raise the quota';
    case 'UNAVAILABLE':
      return `could not reach ${at}: check network egress, Private Google Access or CLAUDE_ENTRY_GCP_ENDPOINT`;
    case 'UNIMPLEMENTED':
      return `${at} does not serve Secret Manager: check CLAUDE_ENTRY_GCP_ENDPOINT`;
    default:
      return 'the service failed; try again';
  }
}

/**
 * Failures before a call reached the service (credentials): never echoes their text, which
 * may quote a key file (a JSON parse error shows a piece of the file).
 */
function localFailure(error: unknown, env: NodeJS.ProcessEnv): string {
  const message = error instanceof Error ? error.message : String(error);
  const keyFile = env.GOOGLE_APPLICATION_CREDENTIALS;
  if (/Could not load the default credentials/i.test(message)) {
    return (
      'no Google credentials found (UNAUTHENTICATED); set GOOGLE_APPLICATION_CREDENTIALS, ' +
      'run on GCP with a service account (workload identity, metadata server), or use gcloud auth application-default login'
    );
  }
  if (keyFile && /does not exist, or it is not a file/.test(message)) {
    return `GOOGLE_APPLICATION_CREDENTIALS=${keyFile} does not exist or is not a file (UNAUTHENTICATED)`;
  }
  if (keyFile && error instanceof SyntaxError) {
    return `GOOGLE_APPLICATION_CREDENTIALS=${keyFile} is not a valid credentials JSON file (UNAUTHENTICATED)`;
  }
  const kind = error instanceof Error ? error.name : typeof error;
  return `could not get credentials (UNAUTHENTICATED: ${kind}); check GOOGLE_APPLICATION_CREDENTIALS and the workload identity setup`;
}

/** What the service said about a failure, as `: text`: one short line (failures carry no payload). */
function said(error: unknown): string {
  const details = (error as { details?: unknown } | undefined)?.details;
  if (typeof details !== 'string' || details.trim() === '') return '';
  return `: ${safeDetail(details, 240)}`;
}

class GuardTimeout extends Error {
  constructor() {
    super('deadline passed');
    this.name = 'GuardTimeout';
  }
}

/**
 * The SDK reports through process warnings (MetadataLookupWarning off GCP, gax deprecations),
 * which users mistake for errors: while it runs, they go to the debug log instead.
 */
function warningsToDebug(log: Logger): () => void {
  const original = process.emitWarning;
  process.emitWarning = ((warning: string | Error) => {
    log.debug(`GCP SDK warning: ${safeDetail(warning instanceof Error ? `${warning.name}: ${warning.message}` : String(warning))}`);
  }) as typeof process.emitWarning;
  return () => {
    process.emitWarning = original;
  };
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32C (Castagnoli), the checksum Secret Manager sends with every payload. */
export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

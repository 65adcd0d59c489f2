/**
 * The AWS SDK module: GetSecretValue (and, for export --to and sync, PutSecretValue,
 * CreateSecret and UpdateSecretVersionStage) through @aws-sdk/client-secrets-manager, with the SDK's
 * default credential chain (env keys, shared config and SSO, web identity / IRSA, ECS and EC2
 * roles) and its standard retry strategy (throttling and 5xx retried with backoff, not-found
 * and access-denied not), bounded by one overall deadline. Loaded only through
 * loadCloudModule('aws'): in the bundle it is compiled only when an AWS reference is fetched.
 */
import { randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
  type CreateSecretCommandOutput,
  type GetSecretValueCommandOutput,
  type PutSecretValueCommandOutput,
  type UpdateSecretVersionStageCommandOutput,
} from '@aws-sdk/client-secrets-manager';
import { state as nodeVersionWarning } from '@aws-sdk/core/client';
import { startDeadline } from '../deadline.js';
import { ConfigError, SourceUnavailableError, safeDetail } from '../errors.js';
import { StoreConflictError } from '../sync/store.js';
import type { AwsSecretRef, CloudFetchOptions, StoredValue } from './types.js';

/** Attempts are bounded by the deadline, not by a count: a brief outage is ridden out. */
const MAX_ATTEMPTS = 100;

/** What a failed attempt said, for the error at the deadline. */
interface Attempt {
  code: string;
  status?: number;
}

export async function fetchSecret(ref: AwsSecretRef, options: CloudFetchOptions): Promise<string | Buffer> {
  const source = describe(ref);
  const session = openSession(ref, options, source);
  try {
    const command = new GetSecretValueCommand({ SecretId: ref.secretId, VersionStage: ref.versionStage, VersionId: ref.versionId });
    const result = await session.send(command);
    if (result.SecretString !== undefined) return result.SecretString;
    if (result.SecretBinary !== undefined) return Buffer.from(result.SecretBinary);
    throw new ConfigError(`${source}: the secret version has no value (neither SecretString nor SecretBinary)`);
  } catch (error) {
    throw session.explain(error, 'read');
  } finally {
    session.close();
  }
}

/**
 * Read for a sync or a `#key` write: the value of the referenced version and its VersionId.
 * A secret (or version) that does not exist is `payload: undefined`, with a version that tells
 * writeSecret to create it only if it still does not exist.
 */
export async function readSecret(ref: AwsSecretRef, options: CloudFetchOptions): Promise<StoredValue> {
  const source = describe(ref);
  const session = openSession(ref, options, source);
  try {
    const result = await session.send(new GetSecretValueCommand({ SecretId: ref.secretId, VersionStage: ref.versionStage, VersionId: ref.versionId }));
    const payload = result.SecretString ?? (result.SecretBinary !== undefined ? Buffer.from(result.SecretBinary).toString('utf8') : undefined);
    return { payload, version: result.VersionId };
  } catch (error) {
    if (errorCode(error) === 'ResourceNotFoundException') return { payload: undefined, version: ABSENT };
    throw session.explain(error, 'read');
  } finally {
    session.close();
  }
}

/**
 * readSecret's version for a secret with no current value: a conditional write then creates
 * the secret, or gives it its first AWSCURRENT, and loses (StoreConflictError) when someone
 * else did that first.
 */
const ABSENT = 'claude-entry:absent';

/**
 * The staging label a conditional write puts on its new version before moving AWSCURRENT to
 * it. Not AWSPENDING: that one belongs to the secret's rotation, if it has one.
 */
export const PENDING_STAGE = 'CLAUDE_ENTRY_PENDING';

/**
 * Store a new AWSCURRENT value (always as SecretString), creating the secret when it does not
 * exist. Without `ifVersion`: PutSecretValue (CreateSecret when there is no such secret).
 *
 * With `ifVersion` (a VersionId read earlier): Secrets Manager has no conditional put, but
 * UpdateSecretVersionStage fails when RemoveFromVersionId is not the version that holds the
 * label now. So the value goes in as a new version carrying only PENDING_STAGE (AWSCURRENT
 * untouched, readers unaffected), then AWSCURRENT is moved to it from `ifVersion`; when
 * another writer moved AWSCURRENT in between, that move fails and this is StoreConflictError.
 * The new version, left without AWSCURRENT, is deprecated and reclaimed by Secrets Manager.
 */
export async function writeSecret(ref: AwsSecretRef, payload: string, options: CloudFetchOptions & { ifVersion?: string }): Promise<void> {
  const source = describe(ref);
  if (ref.versionId !== undefined || (ref.versionStage !== undefined && ref.versionStage !== 'AWSCURRENT')) {
    throw new ConfigError(
      `${source}: a reference pinned to ${ref.versionId ? 'a version id' : `the stage ${ref.versionStage}`} cannot be written; name the secret without a version (its AWSCURRENT value is what is written)`,
    );
  }
  const session = openSession(ref, options, source);
  try {
    if (options.ifVersion === undefined) await putValue(session, ref, source, payload);
    else await swapValue(session, ref, source, payload, options.ifVersion);
  } catch (error) {
    throw session.explain(error, 'write');
  } finally {
    session.close();
  }
}

/** Unconditional: PutSecretValue, or CreateSecret when there is no such secret. */
async function putValue(session: Session, ref: AwsSecretRef, source: string, payload: string): Promise<void> {
  const put = () => session.send(new PutSecretValueCommand({ SecretId: ref.secretId, SecretString: payload, ClientRequestToken: randomUUID() }));
  try {
    await put();
  } catch (error) {
    if (errorCode(error) !== 'ResourceNotFoundException') throw error;
    try {
      await create(session, ref, source, payload);
    } catch (createError) {
      // Created by someone else meanwhile: an unconditional write just puts its value.
      if (errorCode(createError) !== 'ResourceExistsException') throw createError;
      await put();
    }
  }
}

/** Conditional on `ifVersion` (see writeSecret): staged under PENDING_STAGE, then AWSCURRENT moved to it. */
async function swapValue(session: Session, ref: AwsSecretRef, source: string, payload: string, ifVersion: string): Promise<void> {
  const secretId = ref.secretId;
  let removeFrom: string | undefined = ifVersion;
  if (ifVersion === ABSENT) {
    try {
      await create(session, ref, source, payload);
      return;
    } catch (error) {
      // The secret exists: either someone created it since (then AWSCURRENT is on a
      // version, and the move below fails), or it never had a value (then it succeeds).
      if (errorCode(error) !== 'ResourceExistsException') throw error;
      removeFrom = undefined;
    }
  }
  let staged: string | undefined;
  try {
    const put = await session.send(
      new PutSecretValueCommand({ SecretId: secretId, SecretString: payload, ClientRequestToken: randomUUID(), VersionStages: [PENDING_STAGE] }),
    );
    staged = put.VersionId;
  } catch (error) {
    // Deleted since it was read: the caller reads again (and then creates it).
    if (errorCode(error) === 'ResourceNotFoundException') throw new StoreConflictError(source);
    throw error;
  }
  if (!staged) throw new SourceUnavailableError(`${source}: PutSecretValue answered without a VersionId`);
  try {
    await session.send(
      new UpdateSecretVersionStageCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT', MoveToVersionId: staged, RemoveFromVersionId: removeFrom }),
    );
  } catch (error) {
    if (errorCode(error) !== 'InvalidParameterException' && errorCode(error) !== 'ResourceNotFoundException') throw error;
    // The documented failure when AWSCURRENT is no longer on RemoveFromVersionId; confirmed
    // by reading where it is now, so that another invalid request is not taken for a race.
    const now = await session
      .send(new GetSecretValueCommand({ SecretId: secretId }))
      .then((r) => r.VersionId)
      .catch((readError: unknown) => (errorCode(readError) === 'ResourceNotFoundException' ? undefined : Promise.reject(readError)));
    // A retried move whose first attempt went through: AWSCURRENT is on the new version.
    if (now === staged) return;
    if (now !== removeFrom) throw new StoreConflictError(source);
    throw error;
  }
}

/** CreateSecret with its first value. An ARN names a secret that exists: it cannot be created. */
async function create(session: Session, ref: AwsSecretRef, source: string, payload: string): Promise<void> {
  if (ref.secretId.startsWith('arn:')) {
    throw new ConfigError(`${source}: no such secret; an ARN cannot be created (its random suffix is chosen by AWS): create it, or write to aws-sm:NAME`);
  }
  await session.send(new CreateSecretCommand({ Name: ref.secretId, SecretString: payload, ClientRequestToken: randomUUID() }));
}

interface Session {
  /** One call, bounded by the deadline (retries included). */
  send(command: GetSecretValueCommand): Promise<GetSecretValueCommandOutput>;
  send(command: PutSecretValueCommand): Promise<PutSecretValueCommandOutput>;
  send(command: CreateSecretCommand): Promise<CreateSecretCommandOutput>;
  send(command: UpdateSecretVersionStageCommand): Promise<UpdateSecretVersionStageCommandOutput>;
  /** The error to throw for a failed call. */
  explain(error: unknown, op: Operation): Error;
  close(): void;
}

type Operation = 'read' | 'write';

/**
 * A client for one fetch, read or write: the SDK's default credential chain and retries, the
 * attempts recorded for the error at the deadline, and every call raced against that deadline.
 */
function openSession(ref: AwsSecretRef, { env, log, deadline: at }: CloudFetchOptions, source: string): Session {
  // The SDK warns on Node < 22 that future SDK releases will need it: not this binary's
  // concern, and a user would take it for an error. Only that warning is silenced.
  nodeVersionWarning.warningEmitted = true;

  const endpoint = endpointFrom(env);
  const shared = acquireClient(ref.region, endpoint, env);
  const client = shared.client;
  const attempts: Attempt[] = [];
  const record = (error: unknown) => {
    attempts.push({ code: errorCode(error), status: httpStatus(error) });
    log.debug(`${source}: attempt ${attempts.length} failed: ${errorCode(error)}${httpStatus(error) ? ` (HTTP ${httpStatus(error)})` : ''}`);
  };

  const deadline = startDeadline(at, () => deadlineError(source, attempts));

  return {
    send: ((command: GetSecretValueCommand) => {
      shared.attempts.set(command.input, record);
      return deadline.race(client.send(command, { abortSignal: deadline.signal }));
    }) as Session['send'],
    explain(error, op) {
      if (error instanceof ConfigError || error instanceof SourceUnavailableError || error instanceof StoreConflictError) return error;
      if (deadline.signal.aborted) return deadlineError(source, attempts);
      return classify(error, ref, source, endpoint, op);
    },
    close() {
      deadline.clear();
      shared.release();
    },
  };
}

interface SharedClient {
  client: SecretsManagerClient;
  /** Each command's input -> the session that records its failed attempts. */
  attempts: WeakMap<object, (error: unknown) => void>;
  release(): void;
}

/**
 * Fetches under way at the same time to the same region and endpoint share one client, so one
 * credential resolution (an instance role, web identity, SSO) serves them all: a start with
 * five references to one store makes one client. The last session to close destroys it.
 */
const clients = new Map<string, { shared: SharedClient; users: number }>();

function acquireClient(region: string | undefined, endpoint: string | undefined, env: NodeJS.ProcessEnv): SharedClient {
  const key = JSON.stringify([region ?? null, endpoint ?? null, env.AWS_MAX_ATTEMPTS ?? null]);
  let entry = clients.get(key);
  if (!entry) {
    const client = new SecretsManagerClient({
      region,
      ...(endpoint ? { endpoint } : {}),
      ...(env.AWS_MAX_ATTEMPTS ? {} : { maxAttempts: MAX_ATTEMPTS }),
    });
    const attempts = new WeakMap<object, (error: unknown) => void>();
    client.middlewareStack.add(
      (next) => async (args) => {
        try {
          return await next(args);
        } catch (error) {
          attempts.get(args.input as object)?.(error);
          throw error;
        }
      },
      { step: 'deserialize', priority: 'high', name: 'claudeEntryAttempts' },
    );
    const created: { shared: SharedClient; users: number } = {
      users: 0,
      shared: {
        client,
        attempts,
        release() {
          if (--created.users > 0) return;
          clients.delete(key);
          client.destroy();
        },
      },
    };
    entry = created;
    clients.set(key, entry);
  }
  entry.users++;
  return entry.shared;
}

/** The reference as the user would recognise it. */
function describe(ref: AwsSecretRef): string {
  const id = ref.secretId.startsWith('arn:') ? ref.secretId : `aws-sm:${ref.secretId}`;
  const version = ref.versionId ? ` version ${ref.versionId}` : ref.versionStage ? ` stage ${ref.versionStage}` : '';
  return `${id}${version}`;
}

/**
 * The SDK's own convention (it reads these from process.env too); read from the env we were
 * given so that the module does what its caller's environment says.
 */
function endpointFrom(env: NodeJS.ProcessEnv): string | undefined {
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.toLowerCase() === 'true') return undefined;
  return env.AWS_ENDPOINT_URL_SECRETS_MANAGER || env.AWS_ENDPOINT_URL || undefined;
}

function errorCode(error: unknown): string {
  if (typeof error !== 'object' || error === null) return 'Error';
  const e = error as { name?: unknown; code?: unknown; Code?: unknown };
  // Node network errors carry an errno code (ECONNREFUSED); SDK exceptions their AWS code as name.
  if (typeof e.code === 'string' && /^E[A-Z_]+$/.test(e.code)) return e.code;
  if (typeof e.Code === 'string') return e.Code;
  return typeof e.name === 'string' && e.name !== 'Error' ? e.name : 'Error';
}

function httpStatus(error: unknown): number | undefined {
  const metadata = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata;
  return metadata?.httpStatusCode;
}

/** The provider's own message, for the codes where it helps (it names the principal, the policy). */
function providerMessage(error: unknown): string {
  const message = error instanceof Error && !(error instanceof SyntaxError) ? safeDetail(error.message) : '';
  if (message === '' || message === 'UnknownError') return '';
  return `: "${message}"`;
}

const CREDENTIAL_REFUSED = new Set([
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'ExpiredTokenException',
  'ExpiredToken',
  'MissingAuthenticationTokenException',
  'MissingAuthenticationToken',
]);
const THROTTLED = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded']);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/** What a write needs, for the access-denied error (the reads are needed too, by a sync and a #key write). */
const WRITE_PERMISSIONS =
  'secretsmanager:PutSecretValue, secretsmanager:UpdateSecretVersionStage and secretsmanager:CreateSecret (and secretsmanager:GetSecretValue to read it back) on the secret (identity and resource policies), and kms:GenerateDataKey on its KMS key if it uses a customer managed key';

function classify(error: unknown, ref: AwsSecretRef, source: string, endpoint: string | undefined, op: Operation = 'read'): Error {
  const code = errorCode(error);
  const status = httpStatus(error);
  const where = `${source} (AWS ${code}${status ? `, HTTP ${status}` : ''})`;
  const message = error instanceof Error ? error.message : '';
  const cause = { cause: error };

  if (code === 'ResourceNotFoundException') {
    const what = ref.versionId || ref.versionStage ? 'no such secret or version' : 'no such secret';
    return new ConfigError(`${where}: ${what}; check the name, the region (${ref.region ?? 'from the profile'}) and the account`, cause);
  }
  if (code === 'AccessDeniedException' && op === 'write') {
    return new SourceUnavailableError(
      `${where}: access denied writing${providerMessage(error)}; check that the role or user may call ${WRITE_PERMISSIONS}`,
      cause,
    );
  }
  if (code === 'EncryptionFailure' || (op === 'write' && /^KMS/.test(code))) {
    return new SourceUnavailableError(
      `${where}: the new value cannot be encrypted${providerMessage(error)}; check kms:GenerateDataKey on the secret's KMS key and that the key is enabled`,
      cause,
    );
  }
  if (code === 'AccessDeniedException') {
    return new SourceUnavailableError(
      `${where}: access denied${providerMessage(error)}; check that the role or user may call secretsmanager:GetSecretValue on the secret (identity and resource policies), and kms:Decrypt on its KMS key if it uses a customer managed key`,
      cause,
    );
  }
  if (code === 'DecryptionFailure') {
    return new SourceUnavailableError(`${where}: the secret cannot be decrypted${providerMessage(error)}; check kms:Decrypt on the secret's KMS key`, cause);
  }
  if (CREDENTIAL_REFUSED.has(code)) {
    // No provider message: a signature error's message can quote the signed headers.
    return new SourceUnavailableError(
      `${where}: the AWS credentials were refused; check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_PROFILE, or the role the container runs with`,
      cause,
    );
  }
  if (code === 'CredentialsProviderError' || /could not load credentials/i.test(message)) {
    return new SourceUnavailableError(
      `${source} (AWS CredentialsProviderError): no AWS credentials found; give the container a role (IRSA, ECS task role, EC2 instance profile) or set AWS_PROFILE or AWS keys`,
      cause,
    );
  }
  if (/region is missing/i.test(message)) {
    return new ConfigError(`${source}: no AWS region; use the full ARN, or set AWS_REGION (or AWS_DEFAULT_REGION)`, cause);
  }
  if (code === 'LimitExceededException' && op === 'write') {
    return new SourceUnavailableError(
      `${where}: Secrets Manager refused a new version${providerMessage(error)}; too many versions or secrets in the account: try again later`,
      cause,
    );
  }
  if (code === 'InvalidRequestException' || code === 'InvalidParameterException' || code === 'ValidationException') {
    return new ConfigError(
      `${where}: the request was refused${providerMessage(error)}; check the secret's state (scheduled for deletion?) and the version`,
      cause,
    );
  }
  if (THROTTLED.has(code)) {
    return new SourceUnavailableError(`${where}: still throttled after the SDK's retries; try again later or raise the account's Secrets Manager quota`, cause);
  }
  if (NETWORK.has(code)) {
    return new SourceUnavailableError(
      `${where}: cannot reach ${endpoint ?? `Secrets Manager in ${ref.region ?? 'the profile region'}`}; check the network path (VPC endpoint, proxy, DNS)`,
      cause,
    );
  }
  if (status !== undefined && status >= 500) {
    return new SourceUnavailableError(`${where}: Secrets Manager is failing; try again later`, cause);
  }
  return new SourceUnavailableError(`${where}: the request failed${providerMessage(error)}`, cause);
}

function deadlineError(source: string, attempts: Attempt[]): SourceUnavailableError {
  const last = attempts.at(-1);
  if (!last) {
    return new SourceUnavailableError(
      `${source} (no answer from AWS): nothing came back before the deadline (CLAUDE_ENTRY_TIMEOUT); check the network path to Secrets Manager (VPC endpoint, proxy, security groups)`,
    );
  }
  const n = attempts.length;
  return new SourceUnavailableError(
    `${source} (AWS ${last.code}${last.status ? `, HTTP ${last.status}` : ''}): still failing at the deadline (CLAUDE_ENTRY_TIMEOUT) after ${n} attempt${n === 1 ? '' : 's'}; check the network path to Secrets Manager and the service's health`,
  );
}

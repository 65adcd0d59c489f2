/**
 * The AWS SDK module: GetSecretValue through @aws-sdk/client-secrets-manager, with the SDK's
 * default credential chain (env keys, shared config and SSO, web identity / IRSA, ECS and EC2
 * roles) and its standard retry strategy (throttling and 5xx retried with backoff, not-found
 * and access-denied not), bounded by one overall deadline. Loaded only through
 * loadCloudModule('aws'): in the bundle it is compiled only when an AWS reference is fetched.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { state as nodeVersionWarning } from '@aws-sdk/core/client';
import { ConfigError, SourceUnavailableError } from '../errors.js';
import type { AwsSecretRef } from '../sources/aws.js';
import type { CloudFetchOptions } from './types.js';

/** Attempts are bounded by the deadline, not by a count: a brief outage is ridden out. */
const MAX_ATTEMPTS = 100;

/** What a failed attempt said, for the error at the deadline. */
interface Attempt {
  code: string;
  status?: number;
}

export async function fetchSecret(ref: AwsSecretRef, { env, log, deadline }: CloudFetchOptions): Promise<string | Buffer> {
  // The SDK warns on Node < 22 that future SDK releases will need it: not this binary's
  // concern, and a user would take it for an error. Only that warning is silenced.
  nodeVersionWarning.warningEmitted = true;

  const source = describe(ref);
  const endpoint = endpointFrom(env);
  const client = new SecretsManagerClient({
    region: ref.region,
    ...(endpoint ? { endpoint } : {}),
    ...(env.AWS_MAX_ATTEMPTS ? {} : { maxAttempts: MAX_ATTEMPTS }),
  });
  const attempts: Attempt[] = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        attempts.push({ code: errorCode(error), status: httpStatus(error) });
        log.debug(`${source}: attempt ${attempts.length} failed: ${errorCode(error)}${httpStatus(error) ? ` (HTTP ${httpStatus(error)})` : ''}`);
        throw error;
      }
    },
    { step: 'deserialize', priority: 'high', name: 'claudeEntryAttempts' },
  );

  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(deadlineError(source, attempts));
    }, Math.max(0, deadline - Date.now()));
  });
  try {
    const command = new GetSecretValueCommand({ SecretId: ref.secretId, VersionStage: ref.versionStage, VersionId: ref.versionId });
    const result = await Promise.race([client.send(command, { abortSignal: abort.signal }), timeout]);
    if (result.SecretString !== undefined) return result.SecretString;
    if (result.SecretBinary !== undefined) return Buffer.from(result.SecretBinary);
    throw new ConfigError(`${source}: the secret version has no value (neither SecretString nor SecretBinary)`);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof SourceUnavailableError) throw error;
    if (abort.signal.aborted) throw deadlineError(source, attempts);
    throw classify(error, ref, source, endpoint);
  } finally {
    clearTimeout(timer);
    client.destroy();
  }
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
  const message = error instanceof Error ? error.message.replace(/\s+/g, ' ').trim() : '';
  if (message === '' || message === 'UnknownError') return '';
  return `: "${message.length > 300 ? message.slice(0, 300) + '...' : message}"`;
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

function classify(error: unknown, ref: AwsSecretRef, source: string, endpoint: string | undefined): Error {
  const code = errorCode(error);
  const status = httpStatus(error);
  const where = `${source} (AWS ${code}${status ? `, HTTP ${status}` : ''})`;
  const message = error instanceof Error ? error.message : '';
  const cause = { cause: error };

  if (code === 'ResourceNotFoundException') {
    const what = ref.versionId || ref.versionStage ? 'no such secret or version' : 'no such secret';
    return new ConfigError(`${where}: ${what}; check the name, the region (${ref.region ?? 'from the profile'}) and the account`, cause);
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
  if (code === 'InvalidRequestException' || code === 'InvalidParameterException' || code === 'ValidationException') {
    return new ConfigError(`${where}: the request was refused${providerMessage(error)}; check the secret's state (scheduled for deletion?) and the version`, cause);
  }
  if (THROTTLED.has(code)) {
    return new SourceUnavailableError(`${where}: still throttled after the SDK's retries; try again later or raise the account's Secrets Manager quota`, cause);
  }
  if (NETWORK.has(code)) {
    return new SourceUnavailableError(`${where}: cannot reach ${endpoint ?? `Secrets Manager in ${ref.region ?? 'the profile region'}`}; check the network path (VPC endpoint, proxy, DNS)`, cause);
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

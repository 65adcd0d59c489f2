/**
 * A local fake of AWS Secrets Manager, speaking its wire protocol (AWS JSON 1.1 over HTTP,
 * `X-Amz-Target: secretsmanager.OPERATION`) to the real SDK, and verifying the SigV4 signature
 * of every request against one known fake key pair, as AWS does: a request signed with any
 * other secret key gets 403 InvalidSignatureException, an unknown key id 403
 * UnrecognizedClientException.
 *
 * Operations: GetSecretValue, CreateSecret, PutSecretValue (with version stages: AWSCURRENT
 * moves, the version it leaves becomes AWSPREVIOUS; VersionStages such as AWSPENDING put a
 * version without touching AWSCURRENT; ClientRequestToken is the VersionId and idempotent),
 * UpdateSecretVersionStage (as documented: moving a label attached to another version needs
 * RemoveFromVersionId naming that version, else 400 InvalidParameterException; this is what a
 * conditional write relies on), DescribeSecret.
 * Scriptable failures: deny(name, operations?), failNext(kind, times) with kind throttle |
 * internal | hang.
 *
 * The same server also plays the role's credential endpoints, which hand out temporary
 * credentials (FAKE_AWS_ROLE_CREDENTIALS, whose session token must then be signed in
 * x-amz-security-token): EC2 instance metadata (IMDSv2: PUT /latest/api/token, then
 * /latest/meta-data/iam/security-credentials/ROLE; AWS_EC2_METADATA_SERVICE_ENDPOINT=url)
 * and the ECS container endpoint (GET /ecs/credentials; AWS_CONTAINER_CREDENTIALS_FULL_URI).
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export const FAKE_AWS_CREDENTIALS = {
  accessKeyId: 'AKIAFAKEFAKEFAKE0001',
  secretAccessKey: 'fakeSecretAccessKey/0000/0000/0000/0000+00',
};

/** What the role endpoints hand out (what an EC2 instance profile or an ECS task role gets). */
export const FAKE_AWS_ROLE_CREDENTIALS = {
  accessKeyId: 'ASIAFAKEFAKEFAKE0002',
  secretAccessKey: 'fakeRoleSecretAccessKey/000/0000/0000+0000',
  sessionToken: 'FwoGZXIvYXdzEFAKEsessiontoken0000000000000000000000000000000000000000000000==',
};
export const FAKE_ROLE_NAME = 'claude-entry-test-role';

/** The environment that points the real SDK at a fake (`url`) with the fake keys, and no instance metadata. */
export function fakeAwsEnv(url: string, region?: string): NodeJS.ProcessEnv {
  return {
    AWS_ACCESS_KEY_ID: FAKE_AWS_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: FAKE_AWS_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL: url,
    AWS_EC2_METADATA_DISABLED: 'true',
    ...(region ? { AWS_REGION: region } : {}),
  };
}

export type Failure = 'throttle' | 'internal' | 'hang';

export interface RecordedRequest {
  operation: string;
  /** The region and service of the signature's credential scope. */
  region: string;
  service: string;
  body: Record<string, unknown>;
  /** The access key id that signed the request. */
  accessKeyId?: string;
  /** The HTTP status answered (undefined while hanging). */
  status?: number;
  errorType?: string;
  /** When it was answered (Date.now()). */
  at?: number;
}

interface Version {
  id: string;
  stages: Set<string>;
  string?: string;
  binary?: Buffer;
  created: number;
}

interface Secret {
  name: string;
  arn: string;
  versions: Version[];
  created: number;
  changed: number;
}

export interface FakeSecretsManager {
  /** http://127.0.0.1:PORT, for AWS_ENDPOINT_URL. */
  url: string;
  accountId: string;
  requests: RecordedRequest[];
  /** Requests to the role credential endpoints (IMDS, ECS), as `METHOD path`. */
  metadataRequests: string[];
  /** Create a secret (or add a version), returning its full ARN (with the random suffix). */
  putSecret(name: string, value: string | Buffer, options?: { region?: string; stages?: string[] }): { arn: string; versionId: string };
  /** These operations (default: all) on this secret answer AccessDeniedException. */
  deny(name: string, operations?: string[]): void;
  /** Called before each operation is carried out (after the signature check), e.g. to interleave another writer. */
  onRequest(hook: ((operation: string, body: Record<string, unknown>) => void) | undefined): void;
  /** Every version of a secret still labelled, oldest first, for assertions. */
  versionsOf(name: string): { id: string; stages: string[]; value: string | Buffer | undefined }[];
  /** The next `times` requests (default: all) fail this way. */
  failNext(kind: Failure, times?: number): void;
  /** Forget the scripted failures not yet used (hanging requests stay hung until close). */
  clearFailures(): void;
  /** The stored value of a secret's version (default AWSCURRENT), for assertions. */
  valueOf(name: string, stage?: string): string | Buffer | undefined;
  close(): Promise<void>;
}

class AwsError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startFakeSecretsManager(options: { region?: string; accountId?: string } = {}): Promise<FakeSecretsManager> {
  const defaultRegion = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '123456789012';
  const secrets = new Map<string, Secret>();
  /** secret name -> the operations denied on it (undefined: all). */
  const denied = new Map<string, Set<string> | undefined>();
  function checkAllowed(operation: string, name: string): void {
    if (!denied.has(name)) return;
    const ops = denied.get(name);
    if (ops && !ops.has(operation)) return;
    throw new AwsError(
      400,
      'AccessDeniedException',
      `User: arn:aws:iam::${accountId}:user/fake is not authorized to perform: secretsmanager:${operation} on resource: ${name} because no identity-based policy allows the secretsmanager:${operation} action`,
    );
  }
  const failures: { kind: Failure; remaining: number }[] = [];
  let requestHook: ((operation: string, body: Record<string, unknown>) => void) | undefined;
  const requests: RecordedRequest[] = [];
  const metadataRequests: string[] = [];
  const imdsTokens = new Set<string>();

  const arnFor = (name: string, region: string) =>
    `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${randomBytes(6).toString('base64url').replace(/[-_]/g, 'x').slice(0, 6)}`;

  function find(secretId: unknown): Secret {
    if (typeof secretId !== 'string' || secretId === '') throw new AwsError(400, 'InvalidParameterException', 'SecretId is required.');
    for (const secret of secrets.values()) {
      // A name, the full ARN, or a partial ARN (without the random suffix).
      if (secret.name === secretId || secret.arn === secretId || secret.arn.slice(0, -7) === secretId) return secret;
    }
    throw new AwsError(400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
  }

  function addVersion(secret: Secret, value: { string?: string; binary?: Buffer }, stages: string[], id: string = randomUUID()): Version {
    const version: Version = { id, stages: new Set(), ...value, created: Date.now() / 1000 };
    for (const stage of stages) {
      for (const other of secret.versions) {
        if (!other.stages.delete(stage)) continue;
        if (stage === 'AWSCURRENT') {
          for (const v of secret.versions) v.stages.delete('AWSPREVIOUS');
          other.stages.add('AWSPREVIOUS');
        }
      }
      version.stages.add(stage);
    }
    secret.versions.push(version);
    secret.changed = Date.now() / 1000;
    return version;
  }

  function valueFrom(body: Record<string, unknown>): { string?: string; binary?: Buffer } {
    if (typeof body.SecretString === 'string') return { string: body.SecretString };
    if (typeof body.SecretBinary === 'string') return { binary: Buffer.from(body.SecretBinary, 'base64') };
    throw new AwsError(400, 'InvalidParameterException', 'You must provide either SecretString or SecretBinary.');
  }

  const operations: Record<string, (body: Record<string, unknown>, region: string) => unknown> = {
    GetSecretValue(body) {
      const secret = find(body.SecretId);
      checkAllowed('GetSecretValue', secret.name);
      const { VersionId: id, VersionStage: stage } = body as { VersionId?: string; VersionStage?: string };
      const version =
        id !== undefined
          ? secret.versions.find((v) => v.id === id && (stage === undefined || v.stages.has(stage)))
          : secret.versions.find((v) => v.stages.has(stage ?? 'AWSCURRENT'));
      if (!version) {
        throw new AwsError(
          400,
          'ResourceNotFoundException',
          `Secrets Manager can't find the specified secret value for ${id ? `VersionId: ${id}` : `staging label: ${stage}`}`,
        );
      }
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.id,
        VersionStages: [...version.stages],
        CreatedDate: version.created,
        ...(version.string !== undefined ? { SecretString: version.string } : { SecretBinary: version.binary!.toString('base64') }),
      };
    },
    CreateSecret(body, region) {
      const name = body.Name;
      if (typeof name !== 'string' || !/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) throw new AwsError(400, 'InvalidParameterException', 'Invalid name.');
      checkAllowed('CreateSecret', name);
      if ([...secrets.values()].some((s) => s.name === name))
        throw new AwsError(400, 'ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
      const secret: Secret = { name, arn: arnFor(name, region), versions: [], created: Date.now() / 1000, changed: Date.now() / 1000 };
      secrets.set(name, secret);
      const hasValue = body.SecretString !== undefined || body.SecretBinary !== undefined;
      const version = hasValue
        ? addVersion(secret, valueFrom(body), ['AWSCURRENT'], typeof body.ClientRequestToken === 'string' ? body.ClientRequestToken : undefined)
        : undefined;
      return { ARN: secret.arn, Name: name, ...(version ? { VersionId: version.id } : {}) };
    },
    PutSecretValue(body) {
      const secret = find(body.SecretId);
      checkAllowed('PutSecretValue', secret.name);
      const value = valueFrom(body);
      const token = typeof body.ClientRequestToken === 'string' ? body.ClientRequestToken : undefined;
      const existing = token ? secret.versions.find((v) => v.id === token) : undefined;
      if (existing) {
        const same = existing.string === value.string && (existing.binary?.equals(value.binary ?? Buffer.alloc(0)) ?? value.binary === undefined);
        if (!same) throw new AwsError(400, 'ResourceExistsException', 'A version with this ClientRequestToken already exists with a different value.');
        return { ARN: secret.arn, Name: secret.name, VersionId: existing.id, VersionStages: [...existing.stages] };
      }
      const stages = Array.isArray(body.VersionStages) ? body.VersionStages.map(String) : ['AWSCURRENT'];
      const version = addVersion(secret, value, stages, token);
      return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
    },
    UpdateSecretVersionStage(body) {
      const secret = find(body.SecretId);
      checkAllowed('UpdateSecretVersionStage', secret.name);
      const stage = body.VersionStage;
      if (typeof stage !== 'string' || !/^[A-Za-z0-9/_+=.@-]{1,256}$/.test(stage))
        throw new AwsError(400, 'InvalidParameterException', 'VersionStage is required.');
      const moveTo = typeof body.MoveToVersionId === 'string' ? body.MoveToVersionId : undefined;
      const removeFrom = typeof body.RemoveFromVersionId === 'string' ? body.RemoveFromVersionId : undefined;
      const holder = secret.versions.find((v) => v.stages.has(stage));
      if (moveTo === undefined) {
        // Only removing the label.
        if (removeFrom === undefined) throw new AwsError(400, 'InvalidParameterException', 'You must specify MoveToVersionId or RemoveFromVersionId.');
        if (holder?.id !== removeFrom)
          throw new AwsError(400, 'InvalidParameterException', `The staging label ${stage} is not attached to version ${removeFrom}.`);
        if (stage === 'AWSCURRENT')
          throw new AwsError(400, 'InvalidParameterException', 'You can only move the staging label AWSCURRENT to another version, not remove it.');
        holder.stages.delete(stage);
        secret.changed = Date.now() / 1000;
        return { ARN: secret.arn, Name: secret.name };
      }
      const target = secret.versions.find((v) => v.id === moveTo);
      if (!target) throw new AwsError(400, 'ResourceNotFoundException', `Secrets Manager can't find the specified secret value for VersionId: ${moveTo}`);
      if (holder && holder !== target) {
        if (removeFrom === undefined) {
          throw new AwsError(
            400,
            'InvalidParameterException',
            `The parameter RemoveFromVersionId can't be empty. Staging label ${stage} is currently attached to version ${holder.id}, so you must explicitly reference that version in RemoveFromVersionId.`,
          );
        }
        if (removeFrom !== holder.id) {
          throw new AwsError(
            400,
            'InvalidParameterException',
            `You can only move staging label ${stage} from the version that has it now: RemoveFromVersionId must be ${holder.id}.`,
          );
        }
        holder.stages.delete(stage);
        if (stage === 'AWSCURRENT') {
          for (const v of secret.versions) v.stages.delete('AWSPREVIOUS');
          holder.stages.add('AWSPREVIOUS');
        }
      } else if (!holder && removeFrom !== undefined) {
        throw new AwsError(400, 'InvalidParameterException', `The staging label ${stage} is not attached to version ${removeFrom}.`);
      } else if (holder === target && removeFrom !== undefined && removeFrom !== target.id) {
        throw new AwsError(
          400,
          'InvalidParameterException',
          `You can only move staging label ${stage} from the version that has it now: RemoveFromVersionId must be ${holder.id}.`,
        );
      }
      target.stages.add(stage);
      // A version left with no label is deprecated: Secrets Manager reclaims it.
      secret.versions = secret.versions.filter((v) => v.stages.size > 0 || v === target);
      secret.changed = Date.now() / 1000;
      return { ARN: secret.arn, Name: secret.name };
    },
    DescribeSecret(body) {
      const secret = find(body.SecretId);
      return {
        ARN: secret.arn,
        Name: secret.name,
        CreatedDate: secret.created,
        LastChangedDate: secret.changed,
        VersionIdsToStages: Object.fromEntries(secret.versions.filter((v) => v.stages.size > 0).map((v) => [v.id, [...v.stages]])),
      };
    },
  };

  /** IMDSv2 and the ECS container endpoint: temporary credentials for a role. */
  function metadata(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = req.url ?? '';
    if (!url.startsWith('/latest/') && !url.startsWith('/ecs/')) return false;
    metadataRequests.push(`${req.method} ${url}`);
    const expiration = new Date(Date.now() + 6 * 3600_000).toISOString();
    const role = {
      AccessKeyId: FAKE_AWS_ROLE_CREDENTIALS.accessKeyId,
      SecretAccessKey: FAKE_AWS_ROLE_CREDENTIALS.secretAccessKey,
      Token: FAKE_AWS_ROLE_CREDENTIALS.sessionToken,
      Expiration: expiration,
    };
    const text = (status: number, body: string, type = 'text/plain') => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (url === '/latest/api/token' && req.method === 'PUT') {
      const token = randomBytes(24).toString('base64');
      imdsTokens.add(token);
      text(200, token);
    } else if (url.startsWith('/latest/')) {
      if (!imdsTokens.has(String(req.headers['x-aws-ec2-metadata-token'] ?? ''))) {
        text(401, '');
        return true;
      }
      if (url === '/latest/meta-data/iam/security-credentials/') text(200, FAKE_ROLE_NAME);
      else if (url === `/latest/meta-data/iam/security-credentials/${FAKE_ROLE_NAME}`) {
        text(200, JSON.stringify({ Code: 'Success', LastUpdated: new Date().toISOString(), Type: 'AWS-HMAC', ...role }), 'application/json');
      } else text(404, '');
    } else if (url === '/ecs/credentials' && req.method === 'GET') {
      text(200, JSON.stringify({ ...role, RoleArn: `arn:aws:iam::${accountId}:role/${FAKE_ROLE_NAME}` }), 'application/json');
    } else text(404, '');
    return true;
  }

  const server = http.createServer((req, res) => {
    if (metadata(req, res)) return;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const record: RecordedRequest = {
        operation: String(req.headers['x-amz-target'] ?? '').replace(/^secretsmanager\./, ''),
        region: '',
        service: '',
        body: {},
      };
      requests.push(record);
      const send = (status: number, payload: unknown, errorType?: string) => {
        record.status = status;
        record.errorType = errorType;
        record.at = Date.now();
        const text = JSON.stringify(payload);
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': randomUUID() });
        res.end(text);
      };
      try {
        const scope = verifySignature(req, raw);
        record.region = scope.region;
        record.service = scope.service;
        record.accessKeyId = scope.accessKeyId;
        const failure = failures[0];
        if (failure) {
          if (--failure.remaining <= 0) failures.shift();
          if (failure.kind === 'hang') return; // the connection stays open, unanswered
          if (failure.kind === 'throttle') throw new AwsError(400, 'ThrottlingException', 'Rate exceeded');
          throw new AwsError(500, 'InternalServiceError', 'An error occurred on the server side.');
        }
        if (req.method !== 'POST' || req.url !== '/') throw new AwsError(404, 'UnknownOperationException', 'Not found');
        if (!String(req.headers['content-type']).startsWith('application/x-amz-json-1.1'))
          throw new AwsError(400, 'SerializationException', 'Bad content type');
        const operation = operations[record.operation];
        if (!operation) throw new AwsError(400, 'UnknownOperationException', `Unknown operation ${record.operation}`);
        let body: Record<string, unknown>;
        try {
          body = raw.length === 0 ? {} : (JSON.parse(raw.toString()) as Record<string, unknown>);
        } catch {
          throw new AwsError(400, 'SerializationException', 'Body is not JSON');
        }
        record.body = body;
        requestHook?.(record.operation, body);
        send(200, operation(body, scope.region));
      } catch (error) {
        if (!(error instanceof AwsError)) throw error;
        send(error.status, { __type: error.type, message: error.message }, error.type);
      }
    });
  });

  /** SigV4, as AWS checks it: the canonical request, the string to sign, the derived signing key. */
  function verifySignature(req: http.IncomingMessage, body: Buffer): { region: string; service: string; accessKeyId: string } {
    const authorization = String(req.headers.authorization ?? '');
    const match =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
        authorization,
      );
    if (!match) throw new AwsError(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
    const [, accessKeyId, date, region, service, signedHeaderList, signature] = match as unknown as string[];
    const keyPair = [FAKE_AWS_CREDENTIALS, FAKE_AWS_ROLE_CREDENTIALS].find((k) => k.accessKeyId === accessKeyId);
    if (!keyPair) throw new AwsError(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    const sessionToken = 'sessionToken' in keyPair ? keyPair.sessionToken : undefined;
    if (req.headers['x-amz-security-token'] !== sessionToken) {
      throw new AwsError(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    const amzDate = String(req.headers['x-amz-date'] ?? '');
    if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date) throw new AwsError(403, 'IncompleteSignatureException', 'Bad X-Amz-Date.');
    const signedAt = Date.UTC(
      +amzDate.slice(0, 4),
      +amzDate.slice(4, 6) - 1,
      +amzDate.slice(6, 8),
      +amzDate.slice(9, 11),
      +amzDate.slice(11, 13),
      +amzDate.slice(13, 15),
    );
    if (Math.abs(Date.now() - signedAt) > 15 * 60_000) throw new AwsError(403, 'InvalidSignatureException', 'Signature expired.');
    const signedHeaders = signedHeaderList!.split(';');
    for (const required of ['host', 'x-amz-date', 'x-amz-target', ...(sessionToken ? ['x-amz-security-token'] : [])]) {
      if (!signedHeaders.includes(required)) throw new AwsError(403, 'InvalidSignatureException', `${required} must be signed.`);
    }
    const url = new URL(req.url ?? '/', 'http://fake');
    const canonicalRequest = [
      req.method,
      url.pathname.split('/').map(encodeRfc3986).join('/'),
      [...url.searchParams]
        .map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)])
        .sort(([a, x], [b, y]) => (a! < b! ? -1 : a! > b! ? 1 : x! < y! ? -1 : 1))
        .map(([k, v]) => `${k}=${v}`)
        .join('&'),
      signedHeaders.map((h) => `${h}:${headerValue(req, h)}\n`).join(''),
      signedHeaderList,
      sha256Hex(body),
    ].join('\n');
    const scope = `${date}/${region}/${service}/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
    let key: Buffer = hmac(`AWS4${keyPair.secretAccessKey}`, date!);
    for (const part of [region!, service!, 'aws4_request']) key = hmac(key, part);
    const expected = hmac(key, stringToSign);
    if (!timingSafeEqual(expected, Buffer.from(signature!, 'hex'))) {
      throw new AwsError(
        403,
        'InvalidSignatureException',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
      );
    }
    if (service !== 'secretsmanager') throw new AwsError(403, 'InvalidSignatureException', `Credential should be scoped to correct service: 'secretsmanager'.`);
    return { region: region!, service: service!, accessKeyId: accessKeyId! };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    accountId,
    requests,
    metadataRequests,
    putSecret(name, value, opts = {}) {
      let secret = secrets.get(name);
      if (!secret) {
        secret = { name, arn: arnFor(name, opts.region ?? defaultRegion), versions: [], created: Date.now() / 1000, changed: Date.now() / 1000 };
        secrets.set(name, secret);
      }
      const version = addVersion(secret, typeof value === 'string' ? { string: value } : { binary: value }, opts.stages ?? ['AWSCURRENT']);
      return { arn: secret.arn, versionId: version.id };
    },
    deny(name, operations) {
      denied.set(name, operations ? new Set(operations) : undefined);
    },
    onRequest(hook) {
      requestHook = hook;
    },
    versionsOf(name) {
      return (secrets.get(name)?.versions ?? [])
        .filter((v) => v.stages.size > 0)
        .map((v) => ({ id: v.id, stages: [...v.stages], value: v.string ?? v.binary }));
    },
    failNext(kind, times = Infinity) {
      failures.push({ kind, remaining: times });
    },
    clearFailures() {
      failures.length = 0;
    },
    valueOf(name, stage = 'AWSCURRENT') {
      const version = secrets.get(name)?.versions.find((v) => v.stages.has(stage));
      return version?.string ?? version?.binary;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function headerValue(req: http.IncomingMessage, name: string): string {
  const value = req.headers[name];
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  return text.trim().replace(/\s+/g, ' ');
}

function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

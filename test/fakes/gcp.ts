/**
 * A local fake of GCP Secret Manager, speaking the real gRPC protocol to the real SDK: an
 * @grpc/grpc-js server on 127.0.0.1 (ephemeral port, plaintext, or TLS with a key and
 * certificate the test made) built from the Secret Manager .proto files that ship inside
 * @google-cloud/secret-manager. Serves AccessSecretVersion, AddSecretVersion, CreateSecret,
 * GetSecret and UpdateSecret (annotations, with the Secret's etag as a precondition: a stale etag
 * is FAILED_PRECONDITION, as the service answers) over an in-memory store
 * with the real service's resource names (optionally the
 * project as its number in answers), versions, `latest`, states, CRC32C checksums, replication
 * rules, IAM denials per permission and error messages; records every call with its
 * metadata (x-goog-request-params, authorization, ...); and lets a test script faults: an
 * error status for the next N calls, or a call that is accepted and never answered.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';

const Status = grpc.status;
export { Status };

export interface RecordedCall {
  method: string;
  /** `name` or `parent` of the request. */
  resource: string;
  /** Request metadata, lower-case keys, first value of each. */
  metadata: Record<string, string>;
  at: number;
}

/** What a scripted call does instead of the normal answer. */
export type Fault = { code: grpc.status; details?: string } | 'hang';

export interface FakeSecretManagerOptions {
  /** Serve TLS with this key and certificate (PEM) instead of plaintext. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Refuse (UNAUTHENTICATED) calls without `authorization: Bearer ...`. */
  requireBearer?: boolean;
  /**
   * Answer with resource names carrying the project number, as the real service does
   * (a request for projects/my-project/... is answered projects/123456789012/...).
   */
  projectNumbers?: Record<string, string>;
}

/**
 * What a denial covers, each with the permission IAM names: versions.access, versions.add,
 * secrets.create, secrets.get, secrets.update.
 */
export type GcpOperation = 'access' | 'add' | 'create' | 'get' | 'update';

const PERMISSION: Record<GcpOperation, string> = {
  access: 'secretmanager.versions.access',
  add: 'secretmanager.versions.add',
  create: 'secretmanager.secrets.create',
  get: 'secretmanager.secrets.get',
  update: 'secretmanager.secrets.update',
};

export interface FakeSecretManager {
  /** `127.0.0.1:PORT`, the SECRET_MANAGER_EMULATOR_HOST form. */
  address: string;
  /** `http://127.0.0.1:PORT` (plaintext) or `https://localhost:PORT` (TLS): the CLAUDE_ENTRY_GCP_ENDPOINT form. */
  endpoint: string;
  port: number;
  calls: RecordedCall[];
  /** Add a version to a secret (`projects/P/secrets/S` or `projects/P/locations/L/secrets/S`), creating the secret. Returns the version name. */
  addVersion(secret: string, data: string | Buffer, options?: { checksum?: 'bad' | 'none' }): string;
  /** Set a version's state, e.g. DISABLED (access then answers FAILED_PRECONDITION). */
  setState(version: string, state: 'ENABLED' | 'DISABLED' | 'DESTROYED'): void;
  /** Name a version by an alias (`projects/P/secrets/S/versions/ALIAS`). */
  setAlias(secret: string, alias: string, version: number): void;
  /**
   * Answer PERMISSION_DENIED for these operations on this secret (default all), as IAM does
   * without secretAccessor (access), secretVersionAdder (add) or secrets.create on the project.
   */
  deny(secret: string, operations?: GcpOperation[]): void;
  /**
   * The next `times` calls of these methods (default AccessSecretVersion only) get this fault
   * (Infinity: every call).
   */
  failNext(fault: Fault, times?: number, methods?: string[]): void;
  /**
   * Called before each call is served (after it is recorded), e.g. to let another writer's
   * version land between two calls of a conditional write. Replaces any earlier hook.
   */
  beforeCall(hook: ((call: RecordedCall) => void) | undefined): void;
  /** The secret's versions, oldest first (undefined: no such secret). */
  versions(secret: string): { number: number; data: string; state: string }[] | undefined;
  /** The payload of the secret's latest version, as text. */
  latest(secret: string): string | undefined;
  /** The secret's annotations (undefined: no such secret). */
  annotations(secret: string): Record<string, string> | undefined;
  /** Set one annotation (as `gcloud secrets update --update-annotations` does: the etag changes). */
  annotate(secret: string, key: string, value: string): void;
  close(): Promise<void>;
}

interface Version {
  number: number;
  data: Buffer;
  /** Absent only when a test asks (the service always sends one). */
  crc32c?: string;
  state: 'ENABLED' | 'DISABLED' | 'DESTROYED';
  createTime: { seconds: number; nanos: number };
}

interface Secret {
  name: string;
  versions: Version[];
  aliases: Map<string, number>;
  annotations: Record<string, string>;
  /** Changes with every UpdateSecret (not with AddSecretVersion), quoted as the service sends it. */
  etag: string;
  createTime: { seconds: number; nanos: number };
}

const SECRET_NAME = /^projects\/[^/]+(?:\/locations\/[^/]+)?\/secrets\/[^/]+$/;
const VERSION_NAME = /^(projects\/[^/]+(?:\/locations\/[^/]+)?\/secrets\/[^/]+)\/versions\/([^/]+)$/;

let servicePromise: Promise<grpc.ServiceDefinition> | undefined;

/** The service definition from the .proto files shipped in the SDK package (and google-gax's common protos). */
export function secretManagerService(): Promise<grpc.ServiceDefinition> {
  servicePromise ??= (async () => {
    const sdkProtos = path.join(path.dirname(require.resolve('@google-cloud/secret-manager/package.json')), 'build', 'protos');
    // google-gax (the SDK's own dependency) carries the common google/api, google/iam and google/rpc protos.
    const gaxProtos = path.resolve(path.dirname(require.resolve('google-gax')), '..', 'protos');
    const definition = await protoLoader.load('google/cloud/secretmanager/v1/service.proto', {
      includeDirs: [sdkProtos, gaxProtos],
      keepCase: false,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(definition) as any;
    return pkg.google.cloud.secretmanager.v1.SecretManagerService.service as grpc.ServiceDefinition;
  })();
  return servicePromise;
}

export async function startFakeSecretManager(options: FakeSecretManagerOptions = {}): Promise<FakeSecretManager> {
  const service = await secretManagerService();
  const secrets = new Map<string, Secret>();
  const denied = new Map<string, Set<GcpOperation>>();
  const faults: { fault: Fault; remaining: number; methods: string[] }[] = [];
  /** A resource name as the service writes it in answers: the project as its number. */
  const answered = (name: string) =>
    name.replace(/^projects\/([^/]+)/, (whole, project: string) => (options.projectNumbers?.[project] ? `projects/${options.projectNumbers[project]}` : whole));
  const isDenied = (secret: string | undefined, operation: GcpOperation) => secret !== undefined && (denied.get(secret)?.has(operation) ?? false);
  /** A scripted fault for this method, if one is due; consumes it. */
  const scriptedFor = (method: string): Fault | undefined => {
    const index = faults.findIndex((f) => f.methods.includes(method));
    if (index < 0) return undefined;
    const scripted = faults[index]!;
    if (--scripted.remaining <= 0) faults.splice(index, 1);
    return scripted.fault;
  };
  const answerFault = (fault: Fault, call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) => {
    if (fault === 'hang') {
      hanging.add(call); // accepted, never answered
      return;
    }
    callback({ code: fault.code, details: fault.details ?? faultDetails(fault.code) });
  };
  const calls: RecordedCall[] = [];
  const hanging = new Set<grpc.ServerUnaryCall<any, any>>();
  let hook: ((call: RecordedCall) => void) | undefined;
  let etags = 0;
  const nextEtag = () => `"${(0x5f3a1c00 + ++etags).toString(16)}${Date.now().toString(16).slice(-6)}"`;
  const deniedAnswer = (operation: GcpOperation, resource: string) => ({
    code: Status.PERMISSION_DENIED,
    details: `Permission '${PERMISSION[operation]}' denied for resource '${resource}' (or it may not exist).`,
  });
  const secretMessage = (secret: Secret) => ({
    name: answered(secret.name),
    createTime: secret.createTime,
    ...(secret.name.includes('/locations/') ? {} : { replication: { automatic: {} } }),
    annotations: { ...secret.annotations },
    etag: secret.etag,
  });
  const now = () => {
    const ms = Date.now();
    return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
  };

  const record = (method: string, call: grpc.ServerUnaryCall<any, any>, resource: string) => {
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(call.metadata.getMap())) metadata[k] = Buffer.isBuffer(v) ? v.toString('base64') : String(v);
    const recorded = { method, resource, metadata, at: Date.now() };
    calls.push(recorded);
    hook?.(recorded);
    if (options.requireBearer && !/^Bearer \S+/.test(metadata.authorization ?? '')) {
      return {
        code: Status.UNAUTHENTICATED,
        details: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
      };
    }
    return undefined;
  };

  const createSecret = (name: string): Secret => {
    let secret = secrets.get(name);
    if (!secret) {
      secret = { name, versions: [], aliases: new Map(), annotations: {}, etag: nextEtag(), createTime: now() };
      secrets.set(name, secret);
    }
    return secret;
  };

  const addVersion = (secretName: string, data: Buffer, checksum?: 'bad' | 'none'): Version => {
    const secret = createSecret(secretName);
    const crc = crc32c(data);
    const version: Version = {
      number: secret.versions.length + 1,
      data,
      crc32c: checksum === 'none' ? undefined : String(checksum === 'bad' ? (crc ^ 1) >>> 0 : crc),
      state: 'ENABLED',
      createTime: now(),
    };
    secret.versions.push(version);
    return version;
  };

  const findVersion = (name: string): { secret: Secret; version: Version } | { code: grpc.status; details: string } => {
    const match = VERSION_NAME.exec(name);
    if (!match) return { code: Status.INVALID_ARGUMENT, details: `Invalid resource field value in the request.` };
    const [, secretName, id] = match;
    const secret = secrets.get(secretName!);
    if (!secret || secret.versions.length === 0) {
      return { code: Status.NOT_FOUND, details: `Secret [${secretName}] not found or has no versions.` };
    }
    let version: Version | undefined;
    // As the service does: `latest` is the newest version, whatever its state.
    if (id === 'latest') version = secret.versions.at(-1);
    else if (/^\d+$/.test(id!)) version = secret.versions[Number(id) - 1];
    else if (secret.aliases.has(id!)) version = secret.versions[secret.aliases.get(id!)! - 1];
    if (!version) return { code: Status.NOT_FOUND, details: `Secret Version [${name}] not found.` };
    if (version.state !== 'ENABLED') {
      return { code: Status.FAILED_PRECONDITION, details: `Secret Version [${secretName}/versions/${version.number}] is in ${version.state} state.` };
    }
    return { secret, version };
  };

  const implementation: grpc.UntypedServiceImplementation = {
    accessSecretVersion(call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) {
      const name: string = call.request.name;
      const refused = record('AccessSecretVersion', call, name);
      if (refused) return callback(refused);
      const scripted = scriptedFor('AccessSecretVersion');
      if (scripted) return answerFault(scripted, call, callback);
      const secretName = VERSION_NAME.exec(name)?.[1];
      if (isDenied(secretName, 'access')) {
        return callback({
          code: Status.PERMISSION_DENIED,
          details: `Permission 'secretmanager.versions.access' denied for resource '${name}' (or it may not exist).`,
        });
      }
      const found = findVersion(name);
      if ('code' in found) return callback(found);
      callback(null, {
        name: answered(`${found.secret.name}/versions/${found.version.number}`),
        payload: { data: found.version.data, ...(found.version.crc32c === undefined ? {} : { dataCrc32c: found.version.crc32c }) },
      });
    },

    addSecretVersion(call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) {
      const parent: string = call.request.parent;
      const refused = record('AddSecretVersion', call, parent);
      if (refused) return callback(refused);
      const scripted = scriptedFor('AddSecretVersion');
      if (scripted) return answerFault(scripted, call, callback);
      if (!SECRET_NAME.test(parent)) return callback({ code: Status.INVALID_ARGUMENT, details: 'Invalid resource field value in the request.' });
      // IAM answers before the service looks: a missing secret is denied the same way.
      if (isDenied(parent, 'add')) {
        return callback({
          code: Status.PERMISSION_DENIED,
          details: `Permission 'secretmanager.versions.add' denied for resource '${parent}' (or it may not exist).`,
        });
      }
      const secret = secrets.get(parent);
      if (!secret) return callback({ code: Status.NOT_FOUND, details: `Secret [${parent}] not found.` });
      const data: Buffer = call.request.payload?.data ?? Buffer.alloc(0);
      if (data.length > 65536) {
        return callback({ code: Status.INVALID_ARGUMENT, details: 'Secret Payload cannot be larger than 65536 bytes.' });
      }
      const sent = call.request.payload?.dataCrc32c;
      if (sent !== undefined && sent !== null && call.request.payload?._dataCrc32c && String(sent) !== String(crc32c(data))) {
        return callback({ code: Status.INVALID_ARGUMENT, details: 'Checksum mismatch: the payload data_crc32c does not match the data.' });
      }
      const version = addVersion(parent, data);
      callback(null, {
        name: answered(`${parent}/versions/${version.number}`),
        createTime: version.createTime,
        state: 'ENABLED',
        clientSpecifiedPayloadChecksum: Boolean(call.request.payload?._dataCrc32c),
      });
    },

    createSecret(call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) {
      const parent: string = call.request.parent;
      const refused = record('CreateSecret', call, parent);
      if (refused) return callback(refused);
      const scripted = scriptedFor('CreateSecret');
      if (scripted) return answerFault(scripted, call, callback);
      const name = `${parent}/secrets/${call.request.secretId}`;
      if (!SECRET_NAME.test(name) || !/^[A-Za-z0-9_-]{1,255}$/.test(call.request.secretId ?? '')) {
        return callback({ code: Status.INVALID_ARGUMENT, details: 'Invalid resource field value in the request.' });
      }
      if (isDenied(name, 'create')) {
        return callback({
          code: Status.PERMISSION_DENIED,
          details: `Permission 'secretmanager.secrets.create' denied for resource '${parent}' (or it may not exist).`,
        });
      }
      // As the service does: a global secret needs a replication policy, a regional one takes none.
      const replication = call.request.secret?.replication;
      const regional = parent.includes('/locations/');
      if (!regional && !replication?.replication) {
        return callback({ code: Status.INVALID_ARGUMENT, details: 'Secret.replication must be specified.' });
      }
      if (regional && replication?.replication) {
        return callback({ code: Status.INVALID_ARGUMENT, details: 'Replication policy is not supported for regional secrets.' });
      }
      if (secrets.has(name)) return callback({ code: Status.ALREADY_EXISTS, details: `Secret [${answered(name)}] already exists.` });
      const secret = createSecret(name);
      callback(null, { name: answered(name), createTime: secret.createTime, ...(regional ? {} : { replication }) });
    },

    getSecret(call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) {
      const name: string = call.request.name;
      const refused = record('GetSecret', call, name);
      if (refused) return callback(refused);
      const scripted = scriptedFor('GetSecret');
      if (scripted) return answerFault(scripted, call, callback);
      if (isDenied(name, 'get')) return callback(deniedAnswer('get', name));
      const secret = secrets.get(name);
      if (!secret) return callback({ code: Status.NOT_FOUND, details: `Secret [${name}] not found.` });
      callback(null, secretMessage(secret));
    },

    updateSecret(call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) {
      const name: string = call.request.secret?.name ?? '';
      const refused = record('UpdateSecret', call, name);
      if (refused) return callback(refused);
      const scripted = scriptedFor('UpdateSecret');
      if (scripted) return answerFault(scripted, call, callback);
      if (isDenied(name, 'update')) return callback(deniedAnswer('update', name));
      const paths: string[] = call.request.updateMask?.paths ?? [];
      if (paths.length === 0) return callback({ code: Status.INVALID_ARGUMENT, details: 'update_mask must be specified.' });
      const unsupported = paths.find((p) => p !== 'annotations' && p !== 'labels');
      if (unsupported) return callback({ code: Status.INVALID_ARGUMENT, details: `The field [${unsupported}] cannot be updated by this fake.` });
      const secret = secrets.get(name);
      if (!secret) return callback({ code: Status.NOT_FOUND, details: `Secret [${name}] not found.` });
      const etag: string = call.request.secret?.etag ?? '';
      if (etag !== '' && etag !== secret.etag) {
        return callback({
          code: Status.FAILED_PRECONDITION,
          details: `The etag provided [${etag}] does not match the current etag of Secret [${answered(name)}].`,
        });
      }
      if (paths.includes('annotations')) {
        const annotations: Record<string, string> = call.request.secret?.annotations ?? {};
        for (const [key, value] of Object.entries(annotations)) {
          if (!/^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$/.test(key) || String(value).length > 16384) {
            return callback({ code: Status.INVALID_ARGUMENT, details: `Invalid annotation [${key}].` });
          }
        }
        secret.annotations = { ...annotations };
      }
      secret.etag = nextEtag();
      callback(null, secretMessage(secret));
    },
  };

  const server = new grpc.Server();
  server.addService(service, implementation);
  const credentials = options.tls
    ? grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(options.tls.key), cert_chain: Buffer.from(options.tls.cert) }], false)
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (error, p) => (error ? reject(error) : resolve(p))));

  return {
    address: `127.0.0.1:${port}`,
    endpoint: options.tls ? `https://localhost:${port}` : `http://127.0.0.1:${port}`,
    port,
    calls,
    addVersion(secret, data, opts = {}) {
      if (!SECRET_NAME.test(secret)) throw new Error(`fake: not a secret name: ${secret}`);
      return `${secret}/versions/${addVersion(secret, Buffer.from(data), opts.checksum).number}`;
    },
    setState(version, state) {
      const match = VERSION_NAME.exec(version);
      const v = match && secrets.get(match[1]!)?.versions[Number(match[2]) - 1];
      if (!v) throw new Error(`fake: no version ${version}`);
      v.state = state;
    },
    setAlias(secret, alias, version) {
      createSecret(secret).aliases.set(alias, version);
    },
    deny(secret, operations = ['access', 'add', 'create', 'get', 'update']) {
      const set = denied.get(secret) ?? new Set<GcpOperation>();
      for (const o of operations) set.add(o);
      denied.set(secret, set);
    },
    failNext(fault, times = 1, methods = ['AccessSecretVersion']) {
      faults.push({ fault, remaining: times, methods });
    },
    beforeCall(h) {
      hook = h;
    },
    versions(secret) {
      return secrets.get(secret)?.versions.map((v) => ({ number: v.number, data: v.data.toString('utf8'), state: v.state }));
    },
    latest(secret) {
      return secrets.get(secret)?.versions.at(-1)?.data.toString('utf8');
    },
    annotations(secret) {
      const s = secrets.get(secret);
      return s && { ...s.annotations };
    },
    annotate(secret, key, value) {
      const s = createSecret(secret);
      s.annotations = { ...s.annotations, [key]: value };
      s.etag = nextEtag();
    },
    close: () =>
      new Promise<void>((resolve) => {
        hanging.clear();
        server.forceShutdown(); // also ends calls that were never answered
        resolve();
      }),
  };
}

function faultDetails(code: grpc.status): string {
  switch (code) {
    case Status.RESOURCE_EXHAUSTED:
      return "Quota exceeded for quota metric 'Access requests' and limit 'Access requests per minute' of service 'secretmanager.googleapis.com'.";
    case Status.UNAVAILABLE:
      return 'The service is currently unavailable.';
    case Status.INTERNAL:
      return 'Internal error encountered.';
    default:
      return 'fake fault';
  }
}

/**
 * A stand-in GCE metadata server (for GCE_METADATA_HOST): a probe is recorded in `hits` and
 * answered 404 at once, instead of waiting on 169.254.169.254.
 */
export async function startFakeMetadata(): Promise<{ host: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    hits,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A TCP server that accepts connections and never sends a byte (not even the HTTP/2 preface). */
export async function startSilentServer(): Promise<{ address: string; endpoint: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** CRC32C (Castagnoli), as Secret Manager computes `data_crc32c`; written independently of the product's. */
export function crc32c(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * AWS Secrets Manager references, parsed cheaply: the SDK is loaded only when fetched
 * (src/cloud/aws-sdk.ts, through loadCloudModule).
 *
 *   arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME[:JSON_KEY[:VERSION_STAGE[:VERSION_ID]]]
 *   aws-sm:NAME[:JSON_KEY[:VERSION_STAGE[:VERSION_ID]]]
 *
 * The colon fields are ECS's `valueFrom` syntax, so a value copied from a task definition works.
 * Either form also takes `?versionStage=S`, `?versionId=ID` (and `aws-sm:` a `?region=R`), and
 * the `#key` suffix every reference takes. The region comes from the ARN, else `?region=`,
 * else AWS_REGION / AWS_DEFAULT_REGION, else the SDK's shared config profile.
 */
import { ConfigError } from '../errors.js';
import { cloudLink } from '../cloud/link.js';
import { splitKeySelector } from './json-key.js';
import type { ReferenceProvider, SourceContext } from './types.js';
import type { AwsSecretRef } from '../cloud/types.js';

export type { AwsSecretRef } from '../cloud/types.js';

export interface ParsedAwsReference {
  ref: AwsSecretRef;
  /** `#key` or ECS's json-key field. */
  key?: string;
}

const ARN_PREFIX = /^arn:(aws(?:-[a-z]+)*):secretsmanager:/;
const NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const REGION = /^[a-z]{2,}(?:-[a-z]+)+-\d{1,2}$/;
const ACCOUNT = /^\d{12}$/;
const STAGE = /^[A-Za-z0-9/_+=.@-]{1,256}$/;
const VERSION_ID = /^[A-Za-z0-9-]{32,64}$/;

export function isAwsReference(ref: string): boolean {
  return ref.startsWith('aws-sm:') || ref.startsWith('arn:aws');
}

export function parseAwsReference(reference: string, env: NodeJS.ProcessEnv): ParsedAwsReference {
  const bad = (why: string) => new ConfigError(`${reference}: ${why}`);
  const { ref: withoutKey, key: hashKey } = splitKeySelector(reference);
  const [written = '', query] = splitOnce(withoutKey, '?');
  const body = written.startsWith('aws-sm:arn:') ? written.slice('aws-sm:'.length) : written;
  const params = parseQuery(query, bad);

  let secretId: string;
  let region: string | undefined;
  let fields: string[];
  if (body.startsWith('arn:')) {
    const match = ARN_PREFIX.exec(body);
    if (!match) throw bad('not a Secrets Manager ARN (expected arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)');
    const parts = body.split(':');
    const [, partition, , arnRegion = '', account = '', resource = '', name = ''] = parts;
    if (!REGION.test(arnRegion)) throw bad(`"${arnRegion}" is not an AWS region`);
    if (!ACCOUNT.test(account)) throw bad(`"${account}" is not a 12-digit AWS account id`);
    if (resource !== 'secret') throw bad('the ARN names no secret (expected ...:secret:NAME)');
    checkName(name, bad);
    if (params.region !== undefined && params.region !== arnRegion) throw bad('?region= contradicts the region in the ARN');
    secretId = `arn:${partition}:secretsmanager:${arnRegion}:${account}:secret:${name}`;
    region = arnRegion;
    fields = parts.slice(7);
  } else if (body.startsWith('aws-sm:')) {
    const parts = body.slice('aws-sm:'.length).split(':');
    const name = parts[0] ?? '';
    checkName(name, bad);
    secretId = name;
    region = params.region ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION);
    if (region !== undefined && !REGION.test(region)) {
      throw bad(`"${region}" (from ${params.region ? '?region=' : env.AWS_REGION ? 'AWS_REGION' : 'AWS_DEFAULT_REGION'}) is not an AWS region`);
    }
    fields = parts.slice(1);
  } else {
    throw bad('not an AWS Secrets Manager reference (expected arn:aws:secretsmanager:... or aws-sm:NAME)');
  }

  // ECS: NAME:json-key:version-stage:version-id, empty fields meaning "not given".
  if (fields.length > 3) throw bad('too many ":" fields (expected NAME:JSON_KEY:VERSION_STAGE:VERSION_ID)');
  const [jsonKey, stage, id] = fields.map(nonEmpty);
  const key = pickOne(jsonKey, hashKey, 'a JSON key', bad);
  const versionStage = pickOne(stage, params.versionStage, 'a version stage', bad);
  const versionId = pickOne(id, params.versionId, 'a version id', bad);
  if (versionStage !== undefined && !STAGE.test(versionStage)) throw bad(`"${versionStage}" is not a valid version stage`);
  if (versionId !== undefined && !VERSION_ID.test(versionId)) throw bad(`"${versionId}" is not a valid version id (32-64 letters, digits, "-")`);

  return { ref: { secretId, region, versionStage, versionId }, key };
}

function checkName(name: string, bad: (why: string) => ConfigError): void {
  if (name === '') throw bad('no secret name');
  if (!NAME.test(name)) throw bad('a secret name has 1-512 letters, digits and /_+=.@- only');
}

function splitOnce(s: string, separator: string): [string, string | undefined] {
  const i = s.indexOf(separator);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

function parseQuery(query: string | undefined, bad: (why: string) => ConfigError): Record<string, string> {
  const params: Record<string, string> = {};
  if (query === undefined) return params;
  for (const [name, value] of new URLSearchParams(query)) {
    if (name !== 'versionStage' && name !== 'versionId' && name !== 'region') {
      throw bad(`unknown parameter "?${name}" (expected versionStage, versionId or region)`);
    }
    if (value === '') throw bad(`"?${name}=" has no value`);
    params[name] = value;
  }
  return params;
}

function pickOne(a: string | undefined, b: string | undefined, what: string, bad: (why: string) => ConfigError): string | undefined {
  if (a !== undefined && b !== undefined && a !== b) throw bad(`${what} is given twice, differently`);
  return a ?? b;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

export const awsReferences: ReferenceProvider = {
  matches: isAwsReference,
  link(reference: string, ctx: SourceContext) {
    const { ref, key } = parseAwsReference(reference, ctx.env);
    return cloudLink({ provider: 'aws', ref, key, source: reference }, ctx);
  },
};

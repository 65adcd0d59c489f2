/**
 * Cloud references: AWS parsing (cheap, no SDK), which provider each form goes to, the cloud
 * link (deadline, #key), and the embedded-SDK loader on a synthetic bundle.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { embed } from '../../build/build.mjs';
import { loadEmbedded, readEmbedded } from '../../src/cloud/embedded.js';
import { cloudLink } from '../../src/cloud/link.js';
import { ConfigError, SourceUnavailableError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { awsReferences, parseAwsReference } from '../../src/sources/aws.js';
import { azureReferences } from '../../src/sources/azure.js';
import { envReferences } from '../../src/sources/env.js';
import { fileReferences } from '../../src/sources/file.js';
import { gcpReferences } from '../../src/sources/gcp.js';
import { linkForReference, referenceProviders } from '../../src/sources/references.js';
import type { SourceContext } from '../../src/sources/types.js';
import { tempDir } from '../helpers.js';

const fetchSecret = vi.hoisted(() => vi.fn());
vi.mock('../../src/cloud/aws-sdk.js', () => ({ fetchSecret }));
afterEach(() => {
  fetchSecret.mockReset();
});

const ACCOUNT = '123456789012';
const ARN = `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:prod/claude-AbCdEf`;
const VERSION_ID = 'EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE';

describe('parseAwsReference', () => {
  it.each<[string, NodeJS.ProcessEnv, ReturnType<typeof parseAwsReference>]>([
    ['aws-sm:prod/claude', { AWS_REGION: 'us-east-1' }, { ref: { secretId: 'prod/claude', region: 'us-east-1' } }],
    ['aws-sm:prod/claude', { AWS_DEFAULT_REGION: 'eu-central-1' }, { ref: { secretId: 'prod/claude', region: 'eu-central-1' } }],
    ['aws-sm:prod/claude', { AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'eu-central-1' }, { ref: { secretId: 'prod/claude', region: 'us-east-1' } }],
    ['aws-sm:prod/claude', {}, { ref: { secretId: 'prod/claude' } }],
    ['aws-sm:prod/claude?region=ap-south-1', { AWS_REGION: 'us-east-1' }, { ref: { secretId: 'prod/claude', region: 'ap-south-1' } }],
    ['aws-sm:a/b_c+d=e.f@g-h', { AWS_REGION: 'us-east-1' }, { ref: { secretId: 'a/b_c+d=e.f@g-h', region: 'us-east-1' } }],
    ['aws-sm:app#CLAUDE_CODE_OAUTH_TOKEN', {}, { ref: { secretId: 'app' }, key: 'CLAUDE_CODE_OAUTH_TOKEN' }],
    ['aws-sm:app?versionStage=AWSPREVIOUS', {}, { ref: { secretId: 'app', versionStage: 'AWSPREVIOUS' } }],
    [`aws-sm:app?versionId=${VERSION_ID}#k`, {}, { ref: { secretId: 'app', versionId: VERSION_ID }, key: 'k' }],
    [`aws-sm:app:k:AWSCURRENT:${VERSION_ID}`, {}, { ref: { secretId: 'app', versionStage: 'AWSCURRENT', versionId: VERSION_ID }, key: 'k' }],
    [`aws-sm:${ARN}`, {}, { ref: { secretId: ARN, region: 'eu-west-1' } }],
    [ARN, { AWS_REGION: 'us-east-1' }, { ref: { secretId: ARN, region: 'eu-west-1' } }],
    [`${ARN}#key`, {}, { ref: { secretId: ARN, region: 'eu-west-1' }, key: 'key' }],
    [`${ARN}:json-key:AWSPREVIOUS:`, {}, { ref: { secretId: ARN, region: 'eu-west-1', versionStage: 'AWSPREVIOUS' }, key: 'json-key' }],
    [`${ARN}::AWSPREVIOUS:`, {}, { ref: { secretId: ARN, region: 'eu-west-1', versionStage: 'AWSPREVIOUS' } }],
    [`${ARN}:::${VERSION_ID}`, {}, { ref: { secretId: ARN, region: 'eu-west-1', versionId: VERSION_ID } }],
    [`${ARN}:::`, {}, { ref: { secretId: ARN, region: 'eu-west-1' } }],
    [`${ARN}?versionStage=AWSPENDING`, {}, { ref: { secretId: ARN, region: 'eu-west-1', versionStage: 'AWSPENDING' } }],
    [
      `arn:aws-cn:secretsmanager:cn-north-1:${ACCOUNT}:secret:x`,
      {},
      { ref: { secretId: `arn:aws-cn:secretsmanager:cn-north-1:${ACCOUNT}:secret:x`, region: 'cn-north-1' } },
    ],
    [
      `arn:aws-us-gov:secretsmanager:us-gov-west-1:${ACCOUNT}:secret:x`,
      {},
      { ref: { secretId: `arn:aws-us-gov:secretsmanager:us-gov-west-1:${ACCOUNT}:secret:x`, region: 'us-gov-west-1' } },
    ],
  ])('%s %j', (ref, env, expected) => {
    const parsed = parseAwsReference(ref, env);
    expect({ ...parsed, ref: Object.fromEntries(Object.entries(parsed.ref).filter(([, v]) => v !== undefined)) }).toEqual(
      Object.fromEntries(Object.entries(expected).filter(([, v]) => v !== undefined)),
    );
  });

  it.each<[string, NodeJS.ProcessEnv, RegExp]>([
    ['aws-sm:', {}, /no secret name/],
    ['aws-sm:bad name!', {}, /letters, digits and \/_\+=\.@- only/],
    ['aws-sm:x?foo=bar', {}, /unknown parameter "\?foo"/],
    ['aws-sm:x?versionStage=', {}, /has no value/],
    ['aws-sm:x:a:b:c:d', {}, /too many ":" fields/],
    ['aws-sm:x:k1#k2', {}, /a JSON key is given twice/],
    ['aws-sm:x::S1?versionStage=S2', {}, /a version stage is given twice/],
    ['aws-sm:x?versionId=short', {}, /not a valid version id/],
    ['aws-sm:x#', {}, /empty key/],
    ['aws-sm:x', { AWS_REGION: 'mars' }, /"mars" \(from AWS_REGION\) is not an AWS region/],
    ['arn:aws:ssm:us-east-1:123456789012:parameter/x', {}, /not a Secrets Manager ARN/],
    [`arn:aws:secretsmanager:nowhere:${ACCOUNT}:secret:x`, {}, /"nowhere" is not an AWS region/],
    ['arn:aws:secretsmanager:us-east-1:123:secret:x', {}, /12-digit AWS account id/],
    [`arn:aws:secretsmanager:us-east-1:${ACCOUNT}:parameter:x`, {}, /names no secret/],
    [`arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:`, {}, /no secret name/],
    [`${ARN}?region=us-east-1`, {}, /contradicts the region in the ARN/],
  ])('%s: a ConfigError naming it', (ref, env, message) => {
    let error: unknown;
    try {
      parseAwsReference(ref, env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message.startsWith(ref.replace(/#$/, '#'))).toBe(true);
  });
});

function context(env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): SourceContext {
  return { env, log: createLogger({ level: 'silent' }), timeoutMs, credentialsPath: '/claude-entry-no-such-dir/.credentials.json' };
}

describe('linkForReference: which provider takes which form', () => {
  const providers = { aws: awsReferences, gcp: gcpReferences, azure: azureReferences, file: fileReferences, env: envReferences };
  it.each<[string, keyof typeof providers]>([
    ['aws-sm:prod/claude', 'aws'],
    [ARN, 'aws'],
    ['arn:aws:ssm:us-east-1:123456789012:parameter/x', 'aws'],
    ['projects/p/secrets/s', 'gcp'],
    ['projects/p/secrets/s/versions/3', 'gcp'],
    ['gcp-sm:projects/p/secrets/s', 'gcp'],
    ['gcp:secretmanager:projects/p/secrets/s', 'gcp'],
    ['https://my-vault.vault.azure.net/secrets/claude', 'azure'],
    ['https://my-vault.vault.usgovcloudapi.net/secrets/claude/0123456789abcdef0123456789abcdef', 'azure'],
    ['/run/secrets/claude', 'file'],
    ['file:/run/secrets/claude', 'file'],
    ['env:CLAUDE', 'env'],
  ])('%s -> %s', (ref, provider) => {
    expect(referenceProviders.find((p) => p.matches(ref))).toBe(providers[provider]);
  });

  it('an unrecognised reference names the forms it knows', () => {
    expect(() => linkForReference('s3://bucket/key', context())).toThrow(/aws-sm:NAME.*projects\/P\/secrets\/S.*vault\.azure\.net/);
  });

  it('an AWS reference is parsed when the chain is built, before anything is fetched', () => {
    expect(() => linkForReference('aws-sm:x?nope=1', context())).toThrow(ConfigError);
    expect(fetchSecret).not.toHaveBeenCalled();
  });
});

describe('cloudLink', () => {
  it('passes the parsed reference and a deadline; #key selects from a JSON object', async () => {
    fetchSecret.mockResolvedValue(JSON.stringify({ TOKEN: 'sk-ant-oat01-x', OTHER: 'y' }));
    const before = Date.now();
    const fetched = await linkForReference('aws-sm:app#TOKEN', context({ AWS_REGION: 'us-east-1' }, 5_000)).fetch();
    expect(fetched).toEqual({ payload: 'sk-ant-oat01-x', source: 'aws-sm:app#TOKEN', carriedBy: [], writable: expect.any(Function) });
    const [ref, options] = fetchSecret.mock.calls[0]!;
    expect(ref).toEqual({ secretId: 'app', region: 'us-east-1', versionStage: undefined, versionId: undefined });
    expect(options.deadline).toBeGreaterThanOrEqual(before + 5_000);
    expect(options.deadline).toBeLessThanOrEqual(Date.now() + 5_000);
  });

  it('an SDK module that ignores the deadline is cut off: SourceUnavailableError', async () => {
    fetchSecret.mockReturnValue(new Promise(() => {}));
    const link = cloudLink({ provider: 'aws', ref: {}, source: 'aws-sm:slow' }, context({}, 50));
    await expect(link.fetch()).rejects.toThrow(SourceUnavailableError);
    await expect(link.fetch()).rejects.toThrow(/aws-sm:slow: no answer within .* \(CLAUDE_ENTRY_TIMEOUT\)/);
  });

  it('errors from the SDK module pass through unchanged', async () => {
    const error = new ConfigError('aws-sm:x (AWS ResourceNotFoundException): no such secret');
    fetchSecret.mockRejectedValue(error);
    await expect(cloudLink({ provider: 'aws', ref: {}, source: 'aws-sm:x' }, context()).fetch()).rejects.toBe(error);
  });
});

describe('the embedded SDK loader', () => {
  function bundleWith(name: string, code: string): string {
    const file = path.join(tempDir(), 'claude-entry');
    fs.writeFileSync(file, `#!/usr/bin/env node\nconsole.log("main")\n${embed({ name, code: Buffer.from(code) }).text}\n`);
    return file;
  }

  it('reads back, decompresses and compiles a module; require gives built-ins and the shared errors', async () => {
    const file = bundleWith(
      'aws',
      `const { ConfigError } = require('claude-entry:errors');
       exports.fetchSecret = async (ref) => { if (ref === 'bad') throw new ConfigError('bad'); return require('node:path').basename(__filename) + ' ' + __dirname; };`,
    );
    const sdk = loadEmbedded('aws', file);
    await expect(sdk.fetchSecret('ok', { env: {}, log: createLogger({ level: 'silent' }), deadline: 0 })).resolves.toBe(
      `claude-entry-aws-sdk.js ${path.dirname(file)}`,
    );
    // The same class as this process's: main.ts's instanceof holds.
    await expect(sdk.fetchSecret('bad', { env: {}, log: createLogger({ level: 'silent' }), deadline: 0 })).rejects.toBeInstanceOf(ConfigError);
  });

  it('the embedded file stays valid JavaScript: the payload is a comment', () => {
    const file = bundleWith('gcp', 'exports.fetchSecret = async () => "*/ not the end";');
    expect(() => new Function(fs.readFileSync(file, 'utf8').replace(/^#!.*/, ''))).not.toThrow();
    expect(readEmbedded('gcp', file)).toBe('exports.fetchSecret = async () => "*/ not the end";');
  });

  it('a file without the SDK, or with a damaged one, says so', () => {
    const file = bundleWith('aws', 'exports.fetchSecret = 1');
    expect(() => readEmbedded('azure', file)).toThrow(/carries no azure SDK/);
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, text.replace(/(claude-entry-sdk aws br )\d+/, '$1999'));
    expect(() => readEmbedded('aws', file)).toThrow(/damaged/);
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { isGcpReference, parseGcpReference, versionName } from '../../src/sources/gcp.js';
import { linkForReference } from '../../src/sources/references.js';
import { createLogger } from '../../src/log.js';
import { crc32c, resolveEndpoint } from '../../src/cloud/gcp-sdk.js';

const NO_ENV = {};

describe('GCP references parse', () => {
  it.each([
    ['projects/p1/secrets/s', { project: 'p1', secret: 's', version: 'latest' }],
    ['projects/p1/secrets/s/versions/7', { project: 'p1', secret: 's', version: '7' }],
    ['projects/p1/secrets/s/versions/latest', { project: 'p1', secret: 's', version: 'latest' }],
    ['projects/p1/secrets/s/versions/prod-alias', { project: 'p1', secret: 's', version: 'prod-alias' }],
    ['projects/123456789012/secrets/Claude_Creds-1', { project: '123456789012', secret: 'Claude_Creds-1', version: 'latest' }],
    ['projects/example.com:legacy-proj/secrets/s', { project: 'example.com:legacy-proj', secret: 's', version: 'latest' }],
    ['projects/p1/locations/europe-west1/secrets/s', { project: 'p1', location: 'europe-west1', secret: 's', version: 'latest' }],
    ['projects/p1/locations/us-east4/secrets/s/versions/2', { project: 'p1', location: 'us-east4', secret: 's', version: '2' }],
    ['gcp:secretmanager:projects/p1/secrets/s', { project: 'p1', secret: 's', version: 'latest' }],
    ['gcp:secretmanager:projects/p1/secrets/s/versions/3', { project: 'p1', secret: 's', version: '3' }],
    ['gcp-sm:projects/p1/secrets/s', { project: 'p1', secret: 's', version: 'latest' }],
    ['gcp-sm:projects/p1/secrets/s/versions/3', { project: 'p1', secret: 's', version: '3' }],
    ['projects/p1/secrets/s#claude', { project: 'p1', secret: 's', version: 'latest', key: 'claude' }],
    ['gcp-sm:projects/p1/secrets/s/versions/4#token', { project: 'p1', secret: 's', version: '4', key: 'token' }],
    ['gcp-sm:short', { project: undefined, secret: 'short', version: 'latest' }],
  ])('%s', (text, expected) => {
    expect(isGcpReference(text)).toBe(true);
    expect(parseGcpReference(text, NO_ENV)).toEqual({ text, location: undefined, key: undefined, ...expected });
  });

  it.each([
    [{ GOOGLE_CLOUD_PROJECT: 'from-google', CLOUDSDK_CORE_PROJECT: 'from-gcloud' }, 'from-google'],
    [{ CLOUDSDK_CORE_PROJECT: 'from-gcloud', GCLOUD_PROJECT: 'legacy' }, 'from-gcloud'],
    [{ GCLOUD_PROJECT: 'legacy' }, 'legacy'],
    [{ GOOGLE_CLOUD_PROJECT: ' ', CLOUDSDK_CORE_PROJECT: 'from-gcloud' }, 'from-gcloud'],
    [{}, undefined],
  ])('gcp-sm:SECRET takes the project from %j', (env, project) => {
    const ref = parseGcpReference('gcp-sm:s/versions/2#k', env);
    expect(ref).toMatchObject({ project, secret: 's', version: '2', key: 'k' });
  });

  it('builds the resource name to access', () => {
    expect(versionName(parseGcpReference('projects/p/secrets/s', NO_ENV))).toBe('projects/p/secrets/s/versions/latest');
    expect(versionName(parseGcpReference('projects/p/locations/eu/secrets/s/versions/2', NO_ENV))).toBe('projects/p/locations/eu/secrets/s/versions/2');
    expect(versionName(parseGcpReference('gcp-sm:s', NO_ENV), 'from-adc')).toBe('projects/from-adc/secrets/s/versions/latest');
  });
});

describe('GCP references are rejected (78)', () => {
  it.each([
    'projects/p',
    'projects/p/secrets',
    'projects/p/secrets/',
    'projects/p/secrets/s/versions',
    'projects/p/secrets/s/versions/',
    'projects/p/secrets/s/extra',
    'projects/p/secrets/s/versions/1/more',
    'projects/P_UPPER/secrets/s',
    'projects/p/secrets/has.dot',
    'projects/p/secrets/s#',
    'projects/p/locations//secrets/s',
    'gcp-sm:',
    'gcp-sm:has/slash',
    'gcp:secretmanager:short', // the secrets-init form always names the project
    'gcp:secretmanager:',
    'projects/p/secrets/' + 'x'.repeat(256),
  ])('%s', (text) => {
    expect(() => parseGcpReference(text, { GOOGLE_CLOUD_PROJECT: 'p' })).toThrow(ConfigError);
  });

  it('names the reference and the expected form', () => {
    expect(() => parseGcpReference('projects/p/secrets', NO_ENV)).toThrow(
      /^projects\/p\/secrets: not a GCP Secret Manager reference \(expected projects\/PROJECT\/secrets\/SECRET\[\/versions\/VERSION\]/,
    );
  });

  it('rejects a project variable that is not a project ID', () => {
    expect(() => parseGcpReference('gcp-sm:s', { GOOGLE_CLOUD_PROJECT: 'Not A Project' })).toThrow(/not a valid GCP project ID/);
  });
});

describe('GCP references in the chain', () => {
  it.each(['projects/p/secrets/s', 'gcp-sm:x', 'gcp:secretmanager:projects/p/secrets/s'])('%s is a GCP link', (ref) => {
    const ctx = { env: {}, log: createLogger({ level: 'silent' }), timeoutMs: 1000, credentialsPath: '/claude-entry-no-such-dir' };
    expect(linkForReference(ref, ctx).describe).toBe(ref);
  });

  it.each(['/projects/p/secrets/s', 'file:/projects/p', 'env:GCP', 'aws-sm:x', 'gcp:other:x', 'project/p/secrets/s'])('%s is not', (ref) => {
    expect(isGcpReference(ref)).toBe(false);
  });
});

describe('GCP endpoint', () => {
  const global = parseGcpReference('projects/p/secrets/s', NO_ENV);
  const regional = parseGcpReference('projects/p/locations/europe-west1/secrets/s', NO_ENV);

  it.each([
    ['default', global, {}, { host: 'secretmanager.googleapis.com', port: 443, plaintext: false }],
    ['regional', regional, {}, { host: 'secretmanager.europe-west1.rep.googleapis.com', port: 443, plaintext: false }],
    [
      'another universe',
      global,
      { GOOGLE_CLOUD_UNIVERSE_DOMAIN: 'example-universe.net' },
      { host: 'secretmanager.example-universe.net', port: 443, plaintext: false },
    ],
    [
      'a private endpoint, bare',
      global,
      { CLAUDE_ENTRY_GCP_ENDPOINT: 'secretmanager-psc.p.googleapis.com' },
      { host: 'secretmanager-psc.p.googleapis.com', port: 443, plaintext: false },
    ],
    ['https with a port', regional, { CLAUDE_ENTRY_GCP_ENDPOINT: 'https://sm.internal:8443/' }, { host: 'sm.internal', port: 8443, plaintext: false }],
    ['http: plaintext', global, { CLAUDE_ENTRY_GCP_ENDPOINT: 'http://127.0.0.1:9090' }, { host: '127.0.0.1', port: 9090, plaintext: true }],
    ['IPv6', global, { CLAUDE_ENTRY_GCP_ENDPOINT: 'http://[::1]:9090' }, { host: '[::1]', port: 9090, plaintext: true }],
    ['the emulator variable', global, { SECRET_MANAGER_EMULATOR_HOST: 'localhost:8085' }, { host: 'localhost', port: 8085, plaintext: true }],
    [
      'ours over the emulator variable',
      global,
      { CLAUDE_ENTRY_GCP_ENDPOINT: 'sm.internal', SECRET_MANAGER_EMULATOR_HOST: 'localhost:8085' },
      { host: 'sm.internal', port: 443, plaintext: false },
    ],
  ])('%s', (_name, ref, env, expected) => {
    expect(resolveEndpoint(ref, env)).toMatchObject(expected);
  });

  it.each(['http://h:1/v1', 'ftp://h', 'https://user@h', 'http://', 'h:99999'])('rejects %s (78)', (value) => {
    expect(() => resolveEndpoint(global, { CLAUDE_ENTRY_GCP_ENDPOINT: value })).toThrow(ConfigError);
  });
});

describe('crc32c', () => {
  it.each([
    ['', 0],
    ['123456789', 0xe3069283], // the CRC-32C check value
    ['a', 0xc1d04330],
  ])('%j', (text, expected) => {
    expect(crc32c(Buffer.from(text))).toBe(expected);
  });
});

import { describe, expect, it } from 'vitest';
import { maskCredentialShapes, messageOf, safeDetail } from '../../src/errors.js';
import { credentialShape } from '../../src/secret-shape.js';
import { FAKE, b64, credentialsJson } from '../helpers.js';

describe('credentialShape', () => {
  it.each([
    [FAKE.oauthToken, 'an sk-ant- token or key'],
    [`/run/secrets/${FAKE.apiKey}`, 'an sk-ant- token or key'],
    [JSON.stringify(credentialsJson()), 'an sk-ant- token or key'],
    [JSON.stringify({ claudeAiOauth: { accessToken: 'opaque' } }), 'JSON'],
    ['AbCdEfGhIjKlMnOpQrStUvWx0123', 'a long random string (a token or key?)'],
    ['{"a":1}', 'JSON'],
    ['-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----', 'a PEM block'],
    [b64(JSON.stringify(credentialsJson())), 'base64 of a credential'],
    ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig', 'base64 of JSON (a token?)'],
    ['Zq8TESTx3Lr0Vb7Nw2Kc5Hs9Jd4Mf6Pg1Ty0Ue3Wa8Rb2Xc7Yd4Ze', 'a long random string (a token or key?)'],
    ['line one\nline two', 'several lines of text'],
  ])('%s -> %s', (value, shape) => {
    expect(credentialShape(value)).toBe(shape);
  });

  it.each([
    '/run/secrets/claude-credentials',
    'file:/var/run/secrets/kubernetes.io/serviceaccount/..2024_01_01_12_00_00.123456789/token',
    'arn:aws:secretsmanager:eu-west-3:123456789012:secret:prod/claude-entry/Team_Alpha-2024-AbCdEf',
    'aws-sm:prod/claude?versionId=01234567-89ab-cdef-0123-456789abcdef',
    'projects/my-project-123456/locations/europe-west1/secrets/claude-credentials-production/versions/latest',
    'https://my-vault-01.vault.azure.net/secrets/claude-credentials/0123456789abcdef0123456789abcdef',
    'env:CLAUDE_CREDENTIALS_FOR_THE_PRODUCTION_CLUSTER_0123456789',
    'agent',
    '1000:1000',
    '/workspace,/home/agent/projects',
    'http://127.0.0.1:4010',
    'eu-west-3',
    'ClaudeCredentialsProduction2024',
    'AKIAFAKEFAKEFAKE0001',
    'gcp-sm:claude-credentials-0123456789abcdef0123456789abcdef',
  ])('%s is a reference', (value) => {
    expect(credentialShape(value)).toBeUndefined();
  });
});

describe('third-party messages', () => {
  it('a JSON.parse message is never passed on', () => {
    let error: unknown;
    try {
      JSON.parse(FAKE.oauthToken);
    } catch (e) {
      error = e;
    }
    expect(messageOf(error)).not.toContain('sk-ant');
    expect(safeDetail((error as Error).message)).toMatch(/could not be parsed/);
  });

  it('masks credential shapes and keeps the rest', () => {
    expect(safeDetail(`User: arn:aws:iam::123456789012:user/x is not authorized; token ${FAKE.apiKey}`)).toBe(
      'User: arn:aws:iam::123456789012:user/x is not authorized; token sk-ant-[REDACTED]',
    );
    expect(maskCredentialShapes('an sk-ant-oat01- token')).toBe('an sk-ant-oat01- token');
  });
});

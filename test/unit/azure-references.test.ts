import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { isAzureReference, parseAzureSecretRef } from '../../src/sources/azure.js';

const V = '0123456789abcdef0123456789ABCDEF';

describe('isAzureReference', () => {
  it.each([
    ['https://myvault.vault.azure.net/secrets/claude', true],
    ['https://MyVault.Vault.Azure.Net/secrets/claude', true],
    ['https://myvault.vault.azure.cn/secrets/claude', true],
    ['https://myvault.vault.usgovcloudapi.net/secrets/claude', true],
    ['https://myvault.vault.microsoftazure.de/secrets/claude', true],
    // Claimed so that the mistake gets a Key Vault message, not "unrecognised reference".
    ['https://myvault.vault.azure.net/keys/claude', true],
    ['http://myvault.vault.azure.net/secrets/claude', true],
    ['https://myhsm.managedhsm.azure.net/secrets/claude', true],
    ['https://127.0.0.1:8443/secrets/claude', true],
    ['https://localhost:8443/secrets/claude#key', true],
    ['https://example.com/other/claude', false],
    ['https://example.com/', false],
    ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:claude', false],
    ['projects/p/secrets/s', false],
    ['/run/secrets/claude', false],
    ['env:CLAUDE', false],
    ['https://', false],
  ])('%s -> %s', (ref, expected) => {
    expect(isAzureReference(ref)).toBe(expected);
  });
});

describe('parseAzureSecretRef: accepted', () => {
  it.each([
    ['https://myvault.vault.azure.net/secrets/claude', { vaultUrl: 'https://myvault.vault.azure.net', name: 'claude', azureHost: true }],
    ['https://myvault.vault.azure.net/secrets/claude/', { vaultUrl: 'https://myvault.vault.azure.net', name: 'claude' }],
    [`https://myvault.vault.azure.net/secrets/claude/${V}`, { name: 'claude', version: V }],
    ['https://myvault.vault.azure.net/secrets/claude#token', { name: 'claude', key: 'token' }],
    [`https://myvault.vault.azure.net/secrets/claude-creds/${V}#a.b`, { name: 'claude-creds', version: V, key: 'a.b' }],
    ['https://MY-Vault-01.VAULT.AZURE.NET/secrets/Claude-2', { vaultUrl: 'https://my-vault-01.vault.azure.net', name: 'Claude-2' }],
    ['https://myvault.vault.azure.net:443/secrets/claude', { vaultUrl: 'https://myvault.vault.azure.net' }],
    ['https://myvault.vault.azure.cn/secrets/claude', { vaultUrl: 'https://myvault.vault.azure.cn', azureHost: true }],
    ['https://myvault.vault.usgovcloudapi.net/secrets/claude', { azureHost: true }],
    ['https://myvault.vault.microsoftazure.de/secrets/claude', { azureHost: true }],
    // Emulators, proxies, Azure Stack Hub, tests: any https host with a /secrets/ path.
    ['https://127.0.0.1:8443/secrets/claude', { vaultUrl: 'https://127.0.0.1:8443', name: 'claude', azureHost: false }],
    ['https://vault.local.azurestack.external/secrets/claude', { vaultUrl: 'https://vault.local.azurestack.external', azureHost: false }],
    [`https://${'a'.repeat(24)}.vault.azure.net/secrets/${'n'.repeat(127)}`, { name: 'n'.repeat(127) }],
  ])('%s', (ref, expected) => {
    const parsed = parseAzureSecretRef(ref);
    expect(parsed).toMatchObject({ ref, ...expected });
    if (!('version' in expected)) expect(parsed.version).toBeUndefined();
    if (!('key' in expected)) expect(parsed.key).toBeUndefined();
  });
});

describe('parseAzureSecretRef: refused with a configuration error', () => {
  it.each([
    ['http://myvault.vault.azure.net/secrets/claude', 'https only'],
    ['https://vault.azure.net/secrets/claude', 'no vault name'],
    ['https://my_vault.vault.azure.net/secrets/claude', 'not a vault name'],
    ['https://ab.vault.azure.net/secrets/claude', 'not a vault name'],
    ['https://my--vault.vault.azure.net/secrets/claude', 'not a vault name'],
    ['https://1vault.vault.azure.net/secrets/claude', 'not a vault name'],
    [`https://${'a'.repeat(25)}.vault.azure.net/secrets/claude`, 'not a vault name'],
    ['https://a.b.vault.azure.net/secrets/claude', 'not a vault name'],
    ['https://myvault.vault.azure.net/keys/claude', 'points at /keys/'],
    ['https://myvault.vault.azure.net/certificates/claude', 'points at /certificates/'],
    ['https://myvault.vault.azure.net/', 'no /secrets/NAME'],
    ['https://myvault.vault.azure.net/secrets/', 'no secret name'],
    ['https://myvault.vault.azure.net/secrets/claude_creds', 'not a secret name'],
    ['https://myvault.vault.azure.net/secrets/clau%20de', 'not a secret name'],
    [`https://myvault.vault.azure.net/secrets/${'n'.repeat(128)}`, 'not a secret name'],
    ['https://myvault.vault.azure.net/secrets/claude/latest', 'not a version id'],
    ['https://myvault.vault.azure.net/secrets/claude/0123', 'not a version id'],
    [`https://myvault.vault.azure.net/secrets/claude/${V}/extra`, 'too many path segments'],
    ['https://myvault.vault.azure.net/secrets/claude?api-version=7.4', 'query string'],
    ['https://user:pw@myvault.vault.azure.net/secrets/claude', 'user name or password'],
    ['https://myhsm.managedhsm.azure.net/secrets/claude', 'Managed HSM'],
    ['https://myvault.vault.azure.net/secrets/claude#', 'empty key'],
    ['https://[::1/secrets/claude', 'not a valid URL'],
  ])('%s: %s', (ref, message) => {
    let error: unknown;
    try {
      parseAzureSecretRef(ref);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ name: 'ConfigError', exitCode: ExitCode.config });
    expect((error as Error).message).toContain(message);
    if (!ref.endsWith('#')) expect((error as Error).message).toContain(ref);
  });
});

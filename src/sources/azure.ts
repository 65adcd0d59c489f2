/**
 * Azure Key Vault references: the secret identifier URL the portal and `az keyvault secret show`
 * give, `https://VAULT.vault.azure.net/secrets/NAME[/VERSION]`, with an optional `#key`.
 * Recognised and checked here without the SDK; src/cloud/azure-sdk.ts fetches.
 *
 * Hosts: the Key Vault DNS zones of the public and sovereign clouds (azure-hosts.ts). Any other https
 * host is accepted too, as `https://HOST[:PORT]/secrets/NAME[/VERSION]`: Key Vault emulators,
 * a proxy, Azure Stack Hub, tests. For such a host the SDK's check that the authentication
 * challenge names the host's own zone is off, and the SDK module asks for a token only for a
 * Key Vault resource: a host you name can get a Key Vault token for the identity, nothing more.
 * Private endpoints need nothing special: they keep the vault's usual name (DNS resolves it
 * to the private address).
 */
import { cloudLink } from '../cloud/link.js';
import { ConfigError } from '../errors.js';
import { KEY_VAULT_ZONES, MANAGED_HSM_ZONES, zoneOf } from './azure-hosts.js';
import { splitKeySelector } from './json-key.js';
import type { ReferenceProvider, SourceContext, SourceLink } from './types.js';
import type { AzureSecretRef } from '../cloud/types.js';

export type { AzureSecretRef } from '../cloud/types.js';

/** Secret names: 1-127 letters, digits and hyphens. */
const SECRET_NAME = /^[0-9A-Za-z-]{1,127}$/;
/** Version ids: 32 hex characters. */
const VERSION_ID = /^[0-9A-Fa-f]{32}$/;
/** Vault names: 3-24 characters, a letter first, a letter or digit last, no "--". */
const VAULT_NAME = /^(?!.*--)[A-Za-z][0-9A-Za-z-]{1,22}[0-9A-Za-z]$/;

/** A path segment as the user wrote it, for a message. */
function readable(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Cheap: any http(s) URL in a Key Vault zone, or any http(s) URL whose path is /secrets/... */
export function isAzureReference(ref: string): boolean {
  if (!/^https?:\/\//i.test(ref)) return false;
  let url: URL;
  try {
    url = new URL(ref);
  } catch {
    return false;
  }
  return zoneOf(url.hostname, [...KEY_VAULT_ZONES, ...MANAGED_HSM_ZONES]) !== undefined || /^\/secrets(\/|$)/i.test(url.pathname);
}

export function parseAzureSecretRef(ref: string): AzureSecretRef {
  const bad = (why: string) => new ConfigError(`${ref}: ${why} (expected https://VAULT.vault.azure.net/secrets/NAME[/VERSION][#key])`);
  const { ref: urlText, key } = splitKeySelector(ref);
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    throw bad('not a valid URL');
  }
  if (url.protocol !== 'https:') throw bad('Key Vault is reached over https only');
  if (url.username || url.password) throw bad('a user name or password in the URL is not supported');
  if (url.search) throw bad('a query string is not part of a secret identifier');
  const host = url.hostname;
  if (zoneOf(host, MANAGED_HSM_ZONES)) throw bad('a Managed HSM holds keys, not secrets');
  const zone = zoneOf(host, KEY_VAULT_ZONES);
  if (zone) {
    const vault = host === zone ? '' : host.slice(0, -zone.length - 1);
    if (vault === '') throw bad('the host has no vault name');
    if (!VAULT_NAME.test(vault)) throw bad(`"${vault}" is not a vault name (3-24 letters, digits and single hyphens)`);
  }

  const parts = url.pathname.replace(/\/$/, '').split('/').slice(1);
  const [collection, name, version, ...rest] = parts;
  if (collection !== 'secrets') {
    throw bad(collection ? `points at /${collection}/, not at a secret` : 'no /secrets/NAME in the URL');
  }
  if (!name) throw bad('no secret name after /secrets/');
  if (!SECRET_NAME.test(name)) throw bad(`"${readable(name).slice(0, 130)}" is not a secret name (1-127 letters, digits and hyphens)`);
  if (version !== undefined && !VERSION_ID.test(version)) {
    throw bad(`"${readable(version).slice(0, 40)}" is not a version id (32 hex characters; leave it out for the current version)`);
  }
  if (rest.length > 0) throw bad('too many path segments');
  return { ref, vaultUrl: `https://${url.host}`, name, version, key, azureHost: zone !== undefined };
}

export function azureLink(ref: string, ctx: SourceContext): SourceLink {
  const parsed = parseAzureSecretRef(ref);
  return cloudLink({ provider: 'azure', ref: parsed, key: parsed.key, source: ref }, ctx);
}

export const azureReferences: ReferenceProvider = {
  matches: isAzureReference,
  link: azureLink,
};

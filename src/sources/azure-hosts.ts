/**
 * Azure Key Vault's DNS zones, shared by the reference parser (src/sources/azure.ts) and the SDK
 * module (src/cloud/azure-sdk.ts). Data only: the SDK module's own bundle imports it without
 * pulling in the parser and, through it, the loader.
 */

/** Key Vault zones: public, China (21Vianet), US Government, Germany (closed in 2021). */
export const KEY_VAULT_ZONES = ['vault.azure.net', 'vault.azure.cn', 'vault.usgovcloudapi.net', 'vault.microsoftazure.de'];

/** Managed HSM holds keys only: a secret URL there is a mistake worth naming. */
export const MANAGED_HSM_ZONES = ['managedhsm.azure.net', 'managedhsm.azure.cn', 'managedhsm.usgovcloudapi.net'];

/** The zone `host` is in (the host itself or a subdomain), if any. */
export function zoneOf(host: string, zones: string[]): string | undefined {
  return zones.find((zone) => host === zone || host.endsWith(`.${zone}`));
}

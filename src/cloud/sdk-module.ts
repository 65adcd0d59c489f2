/**
 * Loads an SDK module only when a reference of its provider is fetched or written, once per
 * process: from the bundle's own tail in dist/claude-entry (src/cloud/embedded.ts), or with a
 * plain dynamic import when vitest runs the sources.
 */
import type { CloudProviderName, CloudSdkModule } from './types.js';

/** Set to true by build/build.mjs for the bundle; undeclared when vitest runs the sources. */
declare const __CLOUD_SDKS_EMBEDDED__: boolean | undefined;

const loaded = new Map<CloudProviderName, Promise<CloudSdkModule<unknown>>>();

export function loadCloudModule<Ref>(name: CloudProviderName): Promise<CloudSdkModule<Ref>> {
  let module = loaded.get(name);
  if (!module) {
    module =
      typeof __CLOUD_SDKS_EMBEDDED__ !== 'undefined' && __CLOUD_SDKS_EMBEDDED__
        ? import('./embedded.js').then(({ loadEmbedded }) => loadEmbedded(name))
        : importSource(name);
    loaded.set(name, module);
  }
  return module as Promise<CloudSdkModule<Ref>>;
}

/** The unbundled path. build/build.mjs replaces these imports with stubs in the bundle. */
async function importSource(name: CloudProviderName): Promise<CloudSdkModule<unknown>> {
  switch (name) {
    case 'aws':
      return (await import('./aws-sdk.js')) as CloudSdkModule<unknown>;
    case 'gcp':
      return (await import('./gcp-sdk.js')) as CloudSdkModule<unknown>;
    case 'azure':
      return (await import('./azure-sdk.js')) as CloudSdkModule<unknown>;
  }
}

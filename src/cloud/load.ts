/**
 * Loads an SDK module only when a cloud reference is fetched.
 * PLACEHOLDER: plain dynamic import (esbuild inlines it, so every start parses the SDKs).
 * To be replaced by the embedded, compiled-on-demand loader (issue 3).
 */
import type { CloudProviderName, CloudSdkModule } from './types.js';

export async function loadCloudModule<Ref>(name: CloudProviderName): Promise<CloudSdkModule<Ref>> {
  switch (name) {
    case 'aws':
      return (await import('./aws-sdk.js')) as CloudSdkModule<Ref>;
    case 'gcp':
      return (await import('./gcp-sdk.js')) as CloudSdkModule<Ref>;
    case 'azure':
      return (await import('./azure-sdk.js')) as CloudSdkModule<Ref>;
  }
}

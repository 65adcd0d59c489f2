/**
 * The contract between the always-loaded reference parsers (src/sources/{aws,gcp,azure}.ts)
 * and the SDK modules (src/cloud/{aws,gcp,azure}-sdk.ts), which are loaded only when a
 * reference of theirs is fetched: the parsed references, the options and the module's exports.
 * (GCP's reference, with the functions that name its resources, is in src/sources/gcp-names.ts.)
 */
import type { Logger } from '../log.js';

export interface CloudFetchOptions {
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** Absolute time (Date.now() based) by which the fetch must have succeeded or failed. */
  deadline: number;
}

/** A secret's whole current value as a sync or `export --to` sees it. */
export interface StoredValue {
  /** undefined when the secret (or the referenced version) does not exist yet. */
  payload: string | undefined;
  /** The store's own version of that value (version id, etag), for a conditional write. */
  version?: string;
}

/** What an SDK module exports. It throws ConfigError (78) or SourceUnavailableError (69). */
export interface CloudSdkModule<Ref> {
  fetchSecret(ref: Ref, options: CloudFetchOptions): Promise<string | Buffer>;
  /** Read for a sync: like fetchSecret, but a missing secret is `payload: undefined`. */
  readSecret?(ref: Ref, options: CloudFetchOptions): Promise<StoredValue>;
  /**
   * Store a new current value, creating the secret when it does not exist. With `ifVersion`,
   * use the store's own concurrency control so that the write fails with StoreConflictError
   * (from ../sync/store.js) when the current version is no longer `ifVersion`.
   */
  writeSecret?(ref: Ref, payload: string, options: CloudFetchOptions & { ifVersion?: string }): Promise<void>;
}

export type CloudProviderName = 'aws' | 'gcp' | 'azure';

/** What the SDK module needs: the GetSecretValue input, and where to send it. */
export interface AwsSecretRef {
  /** A name, or an ARN (full, or partial without the random suffix). */
  secretId: string;
  /** From the ARN, `?region=` or the environment; undefined: the SDK's shared config. */
  region?: string;
  versionStage?: string;
  versionId?: string;
}

export interface AzureSecretRef {
  /** The reference as written, `#key` included: names the source in logs and errors. */
  ref: string;
  /** `https://HOST[:PORT]`, what SecretClient is given. */
  vaultUrl: string;
  name: string;
  /** Absent: the current version. */
  version?: string;
  /** `#key`: the JSON key holding the credential. */
  key?: string;
  /** The host is in a Key Vault DNS zone of Azure (the SDK then verifies the challenge). */
  azureHost: boolean;
}

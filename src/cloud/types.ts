/**
 * The contract between the always-loaded reference parsers (src/sources/{aws,gcp,azure}.ts)
 * and the SDK modules (src/cloud/{aws,gcp,azure}-sdk.ts), which are loaded only when a
 * reference of theirs is fetched.
 */
import type { Logger } from '../log.js';

export interface CloudFetchOptions {
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** Absolute time (Date.now() based) by which the fetch must have succeeded or failed. */
  deadline: number;
}

/** What an SDK module exports. It throws ConfigError (78) or SourceUnavailableError (69). */
export interface CloudSdkModule<Ref> {
  fetchSecret(ref: Ref, options: CloudFetchOptions): Promise<string | Buffer>;
}

export type CloudProviderName = 'aws' | 'gcp' | 'azure';

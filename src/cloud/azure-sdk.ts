/** The azure SDK module: imported only through loadCloudModule('azure'). Not implemented yet. */
import { ConfigError } from '../errors.js';
import type { CloudFetchOptions } from './types.js';

export async function fetchSecret(ref: unknown, options: CloudFetchOptions): Promise<string> {
  void ref;
  void options;
  throw new ConfigError('azure secret references are not supported yet');
}

/** The aws SDK module: imported only through loadCloudModule('aws'). Not implemented yet. */
import { ConfigError } from '../errors.js';
import type { CloudFetchOptions } from './types.js';

export async function fetchSecret(ref: unknown, options: CloudFetchOptions): Promise<string> {
  void ref;
  void options;
  throw new ConfigError('aws secret references are not supported yet');
}

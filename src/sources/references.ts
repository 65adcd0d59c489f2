/**
 * CLAUDE_ENTRY_SOURCE references -> links. Each kind of reference is one provider; the cloud
 * providers recognise their syntax here cheaply and load their SDK only when fetched.
 */
import { ConfigError } from '../errors.js';
import { refuseCredentialShaped } from '../secret-shape.js';
import { awsReferences } from './aws.js';
import { azureReferences } from './azure.js';
import { envReferences } from './env.js';
import { fileReferences } from './file.js';
import { gcpReferences } from './gcp.js';
import type { ReferenceProvider, SourceContext, SourceLink } from './types.js';

export const referenceProviders: ReferenceProvider[] = [awsReferences, azureReferences, gcpReferences, fileReferences, envReferences];

export function linkForReference(ref: string, ctx: SourceContext): SourceLink {
  refuseCredentialShaped('CLAUDE_ENTRY_SOURCE', ref, 'a reference');
  const provider = referenceProviders.find((p) => p.matches(ref));
  if (!provider) {
    throw new ConfigError(
      `CLAUDE_ENTRY_SOURCE: unrecognised reference "${ref.slice(0, 80)}" (expected /path, file:/path, env:NAME, arn:aws:secretsmanager:..., aws-sm:NAME, projects/P/secrets/S, gcp-sm:..., https://VAULT.vault.azure.net/secrets/NAME)`,
    );
  }
  const link = provider.link(ref, ctx);
  return provider === fileReferences || provider === envReferences ? link : { ...link, remoteRef: ref };
}

export function splitReferences(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

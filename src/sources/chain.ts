/**
 * The chain: which links to try, in which order, and what their answer means.
 * Not configured -> next link; configured but broken -> stop with that error.
 */
import { ConfigError, SourceNotConfigured } from '../errors.js';
import { refuseCredentialShaped } from '../secret-shape.js';
import { API_KEY_PREFIX, OAUTH_TOKEN_PREFIX, parsePayload, secretsOf, type Credential } from '../payload.js';
import { isAwsReference } from './aws.js';
import { envFileLink, envLink } from './env.js';
import { credentialsFileLink, optionalFileLink } from './file.js';
import { linkForReference, splitReferences } from './references.js';
import type { FetchedSecret, SourceContext, SourceLink } from './types.js';

export const DOCKER_SECRET_PATH = '/run/secrets/claude-credentials';

/** Conventional links, used when CLAUDE_ENTRY_SOURCE is not set. First found wins. */
export function conventionalLinks(ctx: SourceContext): SourceLink[] {
  return [
    envFileLink('CLAUDE_CREDENTIALS_FILE', ctx),
    envLink('CLAUDE_CREDENTIALS_B64', ctx),
    envLink('CLAUDE_CREDENTIALS_JSON', ctx),
    ...cloudConventionalLinks(ctx),
    envLink('CLAUDE_CODE_OAUTH_TOKEN', ctx, 'oauth-token'),
    envFileLink('CLAUDE_CODE_OAUTH_TOKEN_FILE', ctx, 'oauth-token'),
    envLink('ANTHROPIC_API_KEY', ctx, 'api-key'),
    envFileLink('ANTHROPIC_API_KEY_FILE', ctx, 'api-key'),
    optionalFileLink(DOCKER_SECRET_PATH, ctx.user),
    credentialsFileLink(ctx),
  ];
}

/**
 * CLAUDE_CREDENTIALS_{AWS,GCP,AZURE}_SECRET: a reference in a dedicated variable. In the AWS
 * one a bare secret name is enough (`prod/claude` means `aws-sm:prod/claude`).
 */
const CLOUD_VARIABLES: [string, (value: string) => string][] = [
  ['CLAUDE_CREDENTIALS_AWS_SECRET', (v) => (isAwsReference(v) ? v : `aws-sm:${v}`)],
  ['CLAUDE_CREDENTIALS_GCP_SECRET', (v) => v],
  ['CLAUDE_CREDENTIALS_AZURE_SECRET', (v) => v],
];

function cloudConventionalLinks(ctx: SourceContext): SourceLink[] {
  return CLOUD_VARIABLES.map(([name, toReference]): SourceLink => {
    const value = ctx.env[name]?.trim();
    // Before the reference is shown by doctor or sent to a provider as a secret's name.
    refuseCredentialShaped(name, value, 'a secret reference');
    const ref = value ? toReference(value) : undefined;
    return {
      describe: name,
      isSet: () => ref !== undefined,
      remoteRef: ref,
      fetch: async () => {
        if (!ref) return envLink(name, ctx).fetch(); // throws "not set"
        return linkForReference(ref, ctx).fetch();
      },
    };
  });
}

export function linksFor(sourceList: string | undefined, ctx: SourceContext): SourceLink[] {
  if (sourceList === undefined || sourceList.trim() === '') return conventionalLinks(ctx);
  // The whole list first: a JSON credential holds commas and would be split into pieces.
  refuseCredentialShaped('CLAUDE_ENTRY_SOURCE', sourceList, 'a list of references');
  return splitReferences(sourceList).map((ref) => linkForReference(ref, ctx));
}

export interface Resolution {
  credential: Credential;
  fetched: FetchedSecret;
}

/** Walk the links; undefined when none is set. */
export async function resolveChain(links: SourceLink[], ctx: SourceContext): Promise<Resolution | undefined> {
  for (const link of links) {
    if (!link.isSet()) {
      ctx.log.debug(`${link.describe}: not set`);
      continue;
    }
    let fetched: FetchedSecret;
    try {
      fetched = await link.fetch();
    } catch (error) {
      // Set a moment ago and gone now (a file removed meanwhile): as if it had never been set.
      if (!(error instanceof SourceNotConfigured)) throw error;
      ctx.log.debug(`${link.describe}: not set (${error.message})`);
      continue;
    }
    // Registered before parsing: whatever a bug or a parser might quote from it is redacted,
    // for secrets read from files and providers as for those from the environment.
    ctx.log.addSecret(fetched.payload.toString().trim());
    const credential = toCredential(fetched);
    for (const secret of secretsOf(credential)) ctx.log.addSecret(secret);
    return { credential, fetched };
  }
  return undefined;
}

export function describeLinks(links: SourceLink[]): string {
  return links.map((l) => l.describe).join(', ');
}

/**
 * CLAUDE_CODE_OAUTH_TOKEN and ANTHROPIC_API_KEY are passed to Claude Code as they are, so an
 * LLM gateway's own key format still works; only the other kind's prefix is a sure mistake.
 */
export function toCredential(fetched: FetchedSecret, now = Date.now()): Credential {
  const { source } = fetched;
  if (fetched.kind === undefined) return parsePayload(fetched.payload, source, now);
  const text = fetched.payload.toString().trim();
  if (text === '') throw new ConfigError(`${source}: the credential is empty`);
  if (/\s/.test(text)) throw new ConfigError(`${source}: the value contains whitespace or line breaks inside it`);
  if (fetched.kind === 'oauth-token') {
    if (text.startsWith(API_KEY_PREFIX)) throw new ConfigError(`${source}: holds an API key (${API_KEY_PREFIX}); set ANTHROPIC_API_KEY instead`);
    if (text.startsWith('{')) throw new ConfigError(`${source}: holds JSON; put a credentials JSON in CLAUDE_CREDENTIALS_JSON instead`);
    return { kind: 'oauth-token', token: text, warnings: [] };
  }
  if (text.startsWith(OAUTH_TOKEN_PREFIX))
    throw new ConfigError(`${source}: holds an OAuth token (${OAUTH_TOKEN_PREFIX}); set CLAUDE_CODE_OAUTH_TOKEN instead`);
  if (text.startsWith('{')) throw new ConfigError(`${source}: holds JSON; put a credentials JSON in CLAUDE_CREDENTIALS_JSON instead`);
  return { kind: 'api-key', key: text, warnings: [] };
}

/**
 * GCP Secret Manager references. Parsing is cheap and always loaded; the SDK
 * (src/cloud/gcp-sdk.ts) is loaded only when a reference of this kind is fetched.
 *
 *   projects/P/secrets/S[/versions/V]                  the resource name, as gcloud prints it
 *   projects/P/locations/L/secrets/S[/versions/V]      a regional secret (regional endpoint)
 *   gcp:secretmanager:projects/...                     doitintl/secrets-init style
 *   gcp-sm:projects/...                                short prefix
 *   gcp-sm:S[/versions/V]                              project from GOOGLE_CLOUD_PROJECT,
 *                                                      CLOUDSDK_CORE_PROJECT or GCLOUD_PROJECT,
 *                                                      else from the credentials (ADC)
 *   ...#key                                            one key of a JSON object secret
 *
 * V is `latest` (the default), a version number or a version alias.
 */
import { cloudLink } from '../cloud/link.js';
import { ConfigError } from '../errors.js';
import { PROJECT_VARIABLES, type GcpSecretRef } from './gcp-names.js';
import { splitKeySelector } from './json-key.js';
import type { ReferenceProvider, SourceContext, SourceLink } from './types.js';

export { versionName, type GcpSecretRef } from './gcp-names.js';

const PREFIXES = ['gcp:secretmanager:', 'gcp-sm:'];

// Project IDs (also legacy domain-scoped `example.com:proj`) or numbers; secret IDs are
// [A-Za-z0-9_-]{1,255}; versions are `latest`, a number or an alias.
const PROJECT = '[a-z0-9][a-z0-9.:-]{0,62}';
const LOCATION = '[a-z0-9-]{1,63}';
const SECRET = '[A-Za-z0-9_-]{1,255}';
const VERSION = '[A-Za-z0-9_-]{1,63}';
const RESOURCE_NAME = new RegExp(`^projects/(${PROJECT})(?:/locations/(${LOCATION}))?/secrets/(${SECRET})(?:/versions/(${VERSION}))?$`);
const SHORT_NAME = new RegExp(`^(${SECRET})(?:/versions/(${VERSION}))?$`);

export function isGcpReference(ref: string): boolean {
  return ref.startsWith('projects/') || PREFIXES.some((p) => ref.startsWith(p));
}

/** Parse a reference; throws ConfigError (78) naming the reference and the expected forms. */
export function parseGcpReference(text: string, env: NodeJS.ProcessEnv): GcpSecretRef {
  const { ref, key } = splitKeySelector(text);
  const prefix = PREFIXES.find((p) => ref.startsWith(p));
  const name = prefix ? ref.slice(prefix.length) : ref;

  const full = RESOURCE_NAME.exec(name);
  if (full) {
    const [, project, location, secret, version] = full;
    return { text, project, location, secret: secret!, version: version ?? 'latest', key };
  }
  const short = prefix === 'gcp-sm:' ? SHORT_NAME.exec(name) : null;
  if (short) {
    const project = PROJECT_VARIABLES.map((v) => env[v]?.trim()).find(Boolean);
    if (project !== undefined && !new RegExp(`^${PROJECT}$`).test(project)) {
      throw new ConfigError(`${text}: the project "${project.slice(0, 64)}" from the environment is not a valid GCP project ID`);
    }
    return { text, project, secret: short[1]!, version: short[2] ?? 'latest', key };
  }
  throw new ConfigError(
    `${text.slice(0, 200)}: not a GCP Secret Manager reference (expected projects/PROJECT/secrets/SECRET[/versions/VERSION], ` +
      'optionally prefixed gcp-sm: or gcp:secretmanager:, or gcp-sm:SECRET with GOOGLE_CLOUD_PROJECT set)',
  );
}

export function gcpLink(text: string, ctx: SourceContext): SourceLink {
  const ref = parseGcpReference(text, ctx.env);
  return cloudLink({ provider: 'gcp', ref, source: text, key: ref.key }, ctx);
}

export const gcpReferences: ReferenceProvider = {
  matches: isGcpReference,
  link: gcpLink,
};

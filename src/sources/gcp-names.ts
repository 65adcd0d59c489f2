/**
 * GCP Secret Manager names, shared by the reference parser (src/sources/gcp.ts, always loaded)
 * and the SDK module (src/cloud/gcp-sdk.ts, its own bundle): no imports, so neither drags the
 * other's code in.
 */

export interface GcpSecretRef {
  /** As the user wrote it (with any `#key`): names the source in logs and errors. */
  text: string;
  /** Undefined for `gcp-sm:S` with no project variable set: the SDK asks the credentials. */
  project?: string;
  /** Set for regional secrets (`projects/P/locations/L/...`). */
  location?: string;
  secret: string;
  version: string;
  key?: string;
}

/** The variables google-auth-library and gcloud read the project from, in that order. */
export const PROJECT_VARIABLES = ['GOOGLE_CLOUD_PROJECT', 'CLOUDSDK_CORE_PROJECT', 'GCLOUD_PROJECT'];

/** The resource name to access; the SDK fills in the project when the reference has none. */
export function versionName(ref: GcpSecretRef, project = ref.project): string {
  return `${secretName(ref, project)}/versions/${ref.version}`;
}

/** `projects/P[/locations/L]`: where a secret is created. */
export function parentName(ref: GcpSecretRef, project = ref.project): string {
  return `projects/${project}${ref.location ? `/locations/${ref.location}` : ''}`;
}

/** `projects/P[/locations/L]/secrets/S`: where a version is added. */
export function secretName(ref: GcpSecretRef, project = ref.project): string {
  return `${parentName(ref, project)}/secrets/${ref.secret}`;
}

/**
 * The version number at the end of a version name. Compared instead of whole names: the
 * service answers with the project *number* (projects/123/...) where the request named the
 * project ID.
 */
export function versionNumber(name: string | undefined): string | undefined {
  return name === undefined ? undefined : /\/versions\/([^/]+)$/.exec(name)?.[1];
}

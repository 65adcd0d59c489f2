/**
 * Does a value look like a credential? Used where a path, a name or a reference belongs
 * (CLAUDE_CREDENTIALS_FILE, CLAUDE_ENTRY_SOURCE, --to, ...): a secret pasted into the wrong
 * variable must be refused before it is printed, logged or sent to a provider as a name
 * (an AWS SecretId ends up in CloudTrail). Errors say which variable and what the value
 * looks like, never the value.
 *
 * No cloud SDK imports this: keep it free of Node modules beyond Buffer.
 */
import { ConfigError, looksRandom } from './errors.js';

/**
 * What the value looks like, or undefined when it looks like an ordinary path or reference.
 * Paths, ARNs, resource names and URLs are made of short segments; credentials are not.
 */
export function credentialShape(value: string): string | undefined {
  // The body without its first letters too: `-sk-ant-...` is the flag -s and the value `k-ant-...`.
  if (/sk-ant-|\bant-[a-z]+\d\d-/i.test(value)) return 'an sk-ant- token or key';
  if (/-----BEGIN [A-Z0-9 ]+-----/.test(value)) return 'a PEM block';
  const trimmed = value.trim();
  if (/^[{["]/.test(trimmed) || /"\s*:/.test(trimmed) || /accessToken|refreshToken|claudeAiOauth/.test(trimmed)) return 'JSON';
  if (/[\r\n]/.test(trimmed)) return 'several lines of text';
  const compact = trimmed.replace(/\s+/g, '');
  if (/^[A-Za-z0-9+/_=-]{40,}$/.test(compact) && decodesToCredential(compact)) return 'base64 of a credential';
  if (/^eyJ[A-Za-z0-9_-]{16,}/.test(compact)) return 'base64 of JSON (a token?)';
  // A long run of letters and digits that reads as random: a key or token, never a path segment or a name.
  if ((trimmed.match(/[A-Za-z0-9]{24,}/g) ?? []).some(looksRandom)) return 'a long random string (a token or key?)';
  return undefined;
}

function decodesToCredential(compact: string): boolean {
  const text = Buffer.from(compact, /[-_]/.test(compact) ? 'base64url' : 'base64').toString('latin1');
  return /sk-ant-|claudeAiOauth|accessToken|^\s*[{[]/.test(text);
}

/**
 * Refuse a credential-shaped value where a path or reference belongs (exit 78), naming
 * `name` (the variable or flag) and never the value.
 */
export function refuseCredentialShaped(name: string, value: string | undefined, expected = 'a path or a reference'): void {
  if (value === undefined || value === '') return;
  const shape = credentialShape(value);
  if (!shape) return;
  throw new ConfigError(
    `${name}: the value looks like a credential (${shape}), not ${expected}; it was not used. ` +
      `Put the credential itself in CLAUDE_CREDENTIALS_B64, CLAUDE_CREDENTIALS_JSON, CLAUDE_CODE_OAUTH_TOKEN or ANTHROPIC_API_KEY (or in the secret it names), ` +
      `and rotate it if this value was shared`,
  );
}

/**
 * Variables whose value is a path, a name or a reference, never a secret: checked at every
 * start and by every command before anything else reads them. Not ANTHROPIC_BASE_URL: some
 * gateways take a key in the URL, and it is Claude Code's to use (check --online prints only
 * its origin).
 */
export const REFERENCE_VARIABLES = [
  'CLAUDE_ENTRY_SOURCE',
  'CLAUDE_CREDENTIALS_FILE',
  'CLAUDE_CODE_OAUTH_TOKEN_FILE',
  'ANTHROPIC_API_KEY_FILE',
  'CLAUDE_CREDENTIALS_AWS_SECRET',
  'CLAUDE_CREDENTIALS_GCP_SECRET',
  'CLAUDE_CREDENTIALS_AZURE_SECRET',
  'CLAUDE_ENTRY_USER',
  'CLAUDE_ENTRY_TRUST',
  'CLAUDE_CONFIG_DIR',
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'GOOGLE_CLOUD_PROJECT',
  'CLOUDSDK_CORE_PROJECT',
  'GCLOUD_PROJECT',
] as const;

export { maskCredentialShapes } from './errors.js';

/**
 * What a secret holds, and whether Claude Code would accept it.
 *
 * A payload is Claude Code's credentials JSON, an OAuth token (`sk-ant-oat01-`), an API key
 * (`sk-ant-api03-`), or base64 of one of those. Validation follows what the real CLI accepts
 * (see CLAUDE-CODE-FACTS.md); errors name the source and the problem, never the content.
 */
import type { InstalledLogin } from './claude-auth.js';
import { BlankedLoginError, ConfigError } from './errors.js';
import { implausibleExpiry } from './expiry.js';

export const OAUTH_TOKEN_PREFIX = 'sk-ant-oat01-';
export const API_KEY_PREFIX = 'sk-ant-api03-';
const REFRESH_TOKEN_PREFIX = 'sk-ant-ort01-';
const REQUIRED_SCOPE = 'user:inference';

export interface OAuthCredentials {
  accessToken: string;
  refreshToken?: string;
  expiresAt?: number;
  scopes: string[];
  subscriptionType?: string;
  [key: string]: unknown;
}

export type Credential =
  | {
      kind: 'credentials-json';
      /** The whole object, written as is: unknown keys (e.g. mcpOAuth) are kept. */
      file: Record<string, unknown> & { claudeAiOauth: OAuthCredentials };
      oauth: OAuthCredentials;
      warnings: string[];
    }
  | { kind: 'oauth-token'; token: string; warnings: string[] }
  | { kind: 'api-key'; key: string; warnings: string[] };

export type CredentialKind = Credential['kind'];

/** What a kind of credential becomes for Claude Code, whatever its value. */
export interface KindDelivery {
  /** The variable a start gives the command; undefined: it is written as the credentials file. */
  variable?: 'CLAUDE_CODE_OAUTH_TOKEN' | 'ANTHROPIC_API_KEY';
  /** What it is, for a reader: logs, doctor. */
  label: string;
  /** Shorter, in check's one line. */
  brief: string;
  /** In a sentence: "holds an OAuth token". */
  withArticle: string;
  /** A login Claude Code refreshes: it has an expiry and a refresh token, and rotates. */
  rotates: boolean;
  /** The request header that carries it (check --online). */
  header: 'authorization' | 'x-api-key';
  /** The login Claude Code will find, in claude-auth.ts's terms. */
  installs: NonNullable<InstalledLogin>;
}

/** One credential, delivered: its kind's facts and the text it is carried as. */
export interface Delivery extends KindDelivery {
  /** As a deployment gives it: the credentials JSON on one line, or the token or key. */
  payload: string;
  /** The credentials file's content, when it is delivered as the file. */
  fileText?: string;
  /** What a request to the API sends: the access token, or the token or key. */
  secret: string;
  /** The OAuth login of a credentials JSON (expiry, refresh token). */
  oauth?: OAuthCredentials;
  /** The whole credentials JSON object, its unknown keys (mcpOAuth, a fleet's record) included. */
  file?: Record<string, unknown>;
}

const KINDS: Record<CredentialKind, KindDelivery> = {
  'credentials-json': {
    label: 'Claude Code credentials JSON',
    brief: 'OAuth login',
    withArticle: 'a Claude Code credentials JSON',
    rotates: true,
    header: 'authorization',
    installs: 'credentials-file',
  },
  'oauth-token': {
    variable: 'CLAUDE_CODE_OAUTH_TOKEN',
    label: 'OAuth token',
    brief: 'OAuth token',
    withArticle: 'an OAuth token',
    rotates: false,
    header: 'authorization',
    installs: 'oauth-token',
  },
  'api-key': {
    variable: 'ANTHROPIC_API_KEY',
    label: 'API key',
    brief: 'API key',
    withArticle: 'an API key',
    rotates: false,
    header: 'x-api-key',
    installs: 'api-key',
  },
};

/** What a kind of credential becomes, when only its kind is known (the state file, check). */
export function deliveryOf(kind: CredentialKind): KindDelivery {
  return KINDS[kind];
}

/** The one answer to "what does this credential become": the file or variable, its label, its text. */
export function delivered(c: Credential): Delivery {
  switch (c.kind) {
    case 'credentials-json':
      return {
        ...KINDS[c.kind],
        payload: JSON.stringify(c.file),
        fileText: JSON.stringify(c.file, null, 2) + '\n',
        secret: c.oauth.accessToken,
        oauth: c.oauth,
        file: c.file,
      };
    case 'oauth-token':
      return { ...KINDS[c.kind], payload: c.token, secret: c.token };
    case 'api-key':
      return { ...KINDS[c.kind], payload: c.key, secret: c.key };
  }
}

/** The variables that carry a delivered credential: a start leaves only the one it chose. */
export const DELIVERY_VARIABLES = Object.values(KINDS).flatMap((k) => (k.variable ? [k.variable] : []));

/** Every secret string a credential holds, for the logger's redaction list. */
export function secretsOf(c: Credential): string[] {
  const { secret, oauth } = delivered(c);
  return [secret, oauth?.refreshToken ?? ''].filter(Boolean);
}

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * Parse and validate one payload. `source` names where it came from, for the error message.
 * `now` is injectable for tests.
 */
export function parsePayload(raw: string | Buffer, source: string, now = Date.now()): Credential {
  const text = (typeof raw === 'string' ? raw : raw.toString('utf8')).trim();
  if (text === '') throw new ConfigError(`${source}: the credential is empty`);
  const direct = parseDirect(text, source, now);
  if (direct) return direct;

  // base64 as `base64` prints it (wrapped at 76 columns) or on one line; url-safe too.
  // The shortest credential (an sk-ant- token) is far longer than 20 base64 characters.
  const compact = text.replace(/[\r\n]+/g, '');
  if (!BASE64.test(compact) || compact.length % 4 === 1 || compact.length < 20) {
    throw new ConfigError(
      `${source}: not a Claude credential (expected credentials JSON, an ${OAUTH_TOKEN_PREFIX} token, an ${API_KEY_PREFIX} key, or base64 of one)`,
    );
  }
  const decoded = Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64');
  const decodedText = decoded.toString('utf8').trim();
  const inner = isPrintableText(decodedText) ? parseDirect(decodedText, `${source} (base64-decoded)`, now) : undefined;
  if (!inner) {
    throw new ConfigError(
      `${source}: base64 that does not decode to a Claude credential (expected credentials JSON, an ${OAUTH_TOKEN_PREFIX} token or an ${API_KEY_PREFIX} key)`,
    );
  }
  return inner;
}

function isPrintableText(s: string): boolean {
  // U+FFFD marks invalid UTF-8; control characters other than whitespace mean binary.
  return s.length > 0 && !s.includes('\uFFFD') && !/[\u0000-\u0008\u000e-\u001f]/.test(s);
}

/** The non-base64 forms; undefined when the text is none of them. */
function parseDirect(text: string, source: string, now: number): Credential | undefined {
  if (text.startsWith('{') || text.startsWith('[') || text.startsWith('"')) {
    return parseCredentialsJson(text, source, now);
  }
  if (text.startsWith(OAUTH_TOKEN_PREFIX)) {
    return { kind: 'oauth-token', token: checkTokenShape(text, OAUTH_TOKEN_PREFIX, 'OAuth token', source), warnings: [] };
  }
  if (text.startsWith(API_KEY_PREFIX)) {
    return { kind: 'api-key', key: checkTokenShape(text, API_KEY_PREFIX, 'API key', source), warnings: [] };
  }
  if (text.startsWith(REFRESH_TOKEN_PREFIX)) {
    throw new ConfigError(
      `${source}: this is a refresh token (${REFRESH_TOKEN_PREFIX}); give the whole credentials JSON, or a token from \`claude setup-token\``,
    );
  }
  if (text.startsWith('sk-ant-')) {
    throw new ConfigError(`${source}: unrecognised sk-ant- token type (expected ${OAUTH_TOKEN_PREFIX} or ${API_KEY_PREFIX})`);
  }
  return undefined;
}

function checkTokenShape(text: string, prefix: string, what: string, source: string): string {
  if (text.length === prefix.length) throw new ConfigError(`${source}: the ${what} is only its prefix`);
  if (!/^[A-Za-z0-9_-]+$/.test(text)) {
    throw new ConfigError(`${source}: the ${what} contains characters that cannot be in a token (spaces, quotes or line breaks?)`);
  }
  return text;
}

function parseCredentialsJson(text: string, source: string, now: number): Credential {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ConfigError(`${source}: invalid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${source}: the JSON is not an object (expected {"claudeAiOauth": {...}})`);
  }
  const file = value as Record<string, unknown>;
  const oauth = file.claudeAiOauth;
  if (typeof oauth !== 'object' || oauth === null || Array.isArray(oauth)) {
    throw new ConfigError(`${source}: the JSON has no "claudeAiOauth" object (is this a Claude Code .credentials.json?)`);
  }
  const o = oauth as Record<string, unknown>;
  const login = 'log in again (`claude /login`) and export a fresh credential';

  if (o.accessToken === '' && (o.expiresAt === 0 || o.refreshToken === '')) {
    throw new BlankedLoginError(`${source}: the credentials were blanked by a failed token refresh; ${login}`);
  }
  if (typeof o.accessToken !== 'string' || o.accessToken.trim() === '') {
    throw new ConfigError(`${source}: "claudeAiOauth.accessToken" is missing or empty`);
  }
  if (!Array.isArray(o.scopes) || !o.scopes.every((s) => typeof s === 'string')) {
    throw new ConfigError(`${source}: "claudeAiOauth.scopes" is missing (Claude Code needs "${REQUIRED_SCOPE}")`);
  }
  if (!o.scopes.includes(REQUIRED_SCOPE)) {
    throw new ConfigError(`${source}: "claudeAiOauth.scopes" lacks "${REQUIRED_SCOPE}", so Claude Code would answer "Not logged in"`);
  }
  // null: a login without a refresh token (a fleet replica's file), which Claude Code never refreshes.
  if ('refreshToken' in o && o.refreshToken !== undefined && o.refreshToken !== null && typeof o.refreshToken !== 'string') {
    throw new ConfigError(`${source}: "claudeAiOauth.refreshToken" is not a string`);
  }
  if ('expiresAt' in o && (typeof o.expiresAt !== 'number' || !Number.isFinite(o.expiresAt))) {
    throw new ConfigError(`${source}: "claudeAiOauth.expiresAt" is not a number (milliseconds since the epoch)`);
  }

  const warnings: string[] = [];
  const expiresAt = o.expiresAt as number | undefined;
  const implausible = expiresAt === undefined ? undefined : implausibleExpiry(expiresAt, now);
  if (implausible) {
    // Not an error: the access token may still work. But no sync will copy it, and a real pair wins over it.
    warnings.push(`${source}: the login is not plausible (${implausible}); it will not be synced or preferred over another pair`);
  }
  if (expiresAt !== undefined && expiresAt <= now) {
    const ago = formatDuration(now - expiresAt);
    if (typeof o.refreshToken === 'string' && o.refreshToken !== '') {
      warnings.push(`${source}: the access token expired ${ago} ago; Claude Code will refresh it with the refresh token`);
    } else {
      throw new ConfigError(`${source}: the access token expired ${ago} ago and there is no refresh token; ${login}`);
    }
  }
  return {
    kind: 'credentials-json',
    file: file as Record<string, unknown> & { claudeAiOauth: OAuthCredentials },
    oauth: o as OAuthCredentials,
    warnings,
  };
}

export function formatDuration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 90) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m}m`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.round(h / 24)}d`;
}

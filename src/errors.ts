/**
 * The exit codes, in one place (sysexits.h names where one fits, shell conventions for the rest).
 * Only main.ts calls process.exit; everything else throws one of these.
 */
export const ExitCode = {
  usage: 64, // EX_USAGE: bad flags, no command
  unavailable: 69, // EX_UNAVAILABLE: network, denied by a provider, timeout
  config: 78, // EX_CONFIG: bad reference, bad payload, unknown user, unreadable secret file
  cantWrite: 73, // EX_CANTCREAT: could not write or chown the files
  internal: 70, // EX_SOFTWARE: a bug; never after the files were written for the command
  notExecutable: 126,
  notFound: 127,
} as const;

export class EntryError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class UsageError extends EntryError {
  constructor(message: string) {
    super(message, ExitCode.usage);
  }
}

/** A bad reference, payload, user or option value: the deployment must be fixed. */
export class ConfigError extends EntryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.config, options);
  }
}

/**
 * A credentials JSON that a failed token refresh blanked (Claude Code empties the access token
 * and zeroes the expiry or the refresh token): a configuration error, and for a sync, a pair
 * that is never copied.
 */
export class BlankedLoginError extends ConfigError {}

/** A configured source could not be reached or refused us: may work on a retry. */
export class SourceUnavailableError extends EntryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.unavailable, options);
  }
}

export class WriteError extends EntryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.cantWrite, options);
  }
}

export class CommandError extends EntryError {}

/**
 * Thrown by the fetch of a link that is not set (SourceLink.isSet): the chain moves on to the
 * next link. Every other error from a link stops the chain (a misconfigured deployment must
 * not silently fall through to another credential).
 */
export class SourceNotConfigured extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceNotConfigured';
  }
}

/** The short reason from a Node system error, never its path or data. */
export function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : undefined;
}

/**
 * An error of ours that is not an exit: a signal between modules (a compare-and-swap that lost
 * its race, src/sync/store.ts). Its message never quotes a value: messageOf prints it as it is.
 */
export class OwnMessageError extends Error {}

/**
 * Messages that quote their input: JSON.parse on Node 20+ ("Unexpected token 's', "sk-ant-oat"...
 * is not valid JSON"), undici's header validation (quotes the header value: the token), the
 * SDKs' deserialisers. Their text never reaches a user.
 */
const QUOTES_INPUT =
  /is not valid JSON|Unexpected token|Unexpected end of JSON|JSON at position|Unterminated string|Bad control character|Expected property name|Expected ',' or|invalid header value|Invalid character in header|Deserialization error|Unexpected non-whitespace|could not be parsed|parse error/i;

/**
 * A run of 24+ letters and digits that reads like a random key: a quarter or more upper case,
 * a quarter or more lower case, and digits. Words, CamelCase names (ClaudeCredentials2024),
 * hex ids and AWS key ids do not.
 */
export function looksRandom(run: string): boolean {
  if (run.length < 24) return false;
  const upper = run.replace(/[^A-Z]/g, '').length;
  const lower = run.replace(/[^a-z]/g, '').length;
  const digits = run.replace(/[^0-9]/g, '').length;
  return upper >= run.length / 4 && lower >= run.length / 4 && digits >= 1;
}

/** Anything shaped like an Anthropic token, base64 JSON, a PEM block or a long random key. */
export function maskCredentialShapes(text: string): string {
  return text
    .replace(/sk-ant-[A-Za-z0-9]*-?[A-Za-z0-9_-]*/g, (m) => (m.length > 'sk-ant-'.length + 6 ? 'sk-ant-[REDACTED]' : m))
    .replace(/eyJ[A-Za-z0-9+/_=-]{16,}/g, '[REDACTED]')
    .replace(/-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(-----END [A-Z0-9 ]+-----|$)/g, '[REDACTED PEM]');
}

/**
 * A third party's error text (an SDK, a provider, Node), made safe to print: none when it is
 * the kind that quotes its input, else its first line, short, with credential shapes masked.
 */
export function safeDetail(text: string | undefined, max = 300): string {
  const line = (text ?? '').replace(/\s+/g, ' ').trim();
  if (line === '') return '';
  if (QUOTES_INPUT.test(line)) return 'the answer could not be parsed (not shown: it may quote a secret)';
  const masked = maskCredentialShapes(line).replace(/[A-Za-z0-9]{24,}/g, (run) => (looksRandom(run) ? '[REDACTED]' : run));
  return masked.length > max ? `${masked.slice(0, max)}...` : masked;
}

/** The message of any error, fit to print: ours as they are (they never quote a value), others through safeDetail. */
export function messageOf(error: unknown): string {
  if (error instanceof EntryError || error instanceof OwnMessageError) return error.message;
  if (error instanceof SyntaxError) return 'the answer could not be parsed (not shown: it may quote a secret)';
  return safeDetail(error instanceof Error ? error.message : String(error)) || 'unknown error';
}

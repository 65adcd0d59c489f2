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
 * Thrown by a source that is not configured at all: the chain moves on to the next link.
 * Every other error from a link stops the chain (a misconfigured deployment must not
 * silently fall through to another credential).
 */
export class SourceNotConfigured extends Error {
  readonly tryNextLink = true;
  constructor(message: string) {
    super(message);
    this.name = 'SourceNotConfigured';
  }
}

/** The short reason from a Node system error, never its path or data. */
export function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : undefined;
}

/**
 * A conditional write lost a race: the store moved on since it was read. Lives here, the one
 * module the embedded SDK bundles share with the main bundle, so `instanceof` holds across.
 */
export class StoreConflictError extends Error {
  constructor(where: string) {
    super(`${where} changed while writing`);
    this.name = 'StoreConflictError';
  }
}

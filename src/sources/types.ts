import type { Logger } from '../log.js';
import type { SyncStore } from '../sync/store.js';
import type { TargetUser } from '../user.js';

/** What every source link is given: inputs are passed in, never read from globals. */
export interface SourceContext {
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** One overall deadline for network sources, in milliseconds. */
  timeoutMs: number;
  /** Where Claude Code reads credentials for the target user (for the "already in place" link). */
  credentialsPath: string;
  /**
   * The target user, when known: a file on a path that user can change is read with the
   * user's rights, so a link swapped in cannot make root read a file of its own choosing.
   */
  user?: TargetUser;
  /** Set by check and doctor: the directory below which no link is followed (see ReadOptions). */
  linkFreeBelow?: string;
}

/** A secret as fetched, before it is parsed. */
export interface FetchedSecret {
  payload: string | Buffer;
  /** Names the source in logs and errors, e.g. `CLAUDE_CREDENTIALS_B64` or `file:/run/secrets/x`. */
  source: string;
  /** Environment variables that carried this secret: removed from the child's environment. */
  carriedBy: string[];
  /** Set when the payload was read from the credentials file Claude Code uses (already in place): nothing to copy. */
  fromCredentialsFile?: boolean;
  /** Set by the links whose variable fixes the kind (CLAUDE_CODE_OAUTH_TOKEN, ANTHROPIC_API_KEY). */
  kind?: 'oauth-token' | 'api-key';
  /** Set for sources that can be written (CLAUDE_ENTRY_SYNC, CLAUDE_ENTRY_FLEET): the source as a store (src/sync/store.ts). */
  writable?: () => Promise<SyncStore>;
}

/**
 * One link of the chain. A link that is not set passes to the next; a set link whose fetch
 * fails stops the chain (a misconfigured deployment must not fall through to another credential).
 */
export interface SourceLink {
  /** What the link looks at, for "no credential found (looked at ...)". */
  describe: string;
  /**
   * Whether it is set (a variable, a default path that exists, a reference named outright):
   * asked without fetching, reading or contacting anything, by the chain and by doctor.
   */
  isSet: () => boolean;
  /** Only when set: throws SourceNotConfigured if it is not (any more). */
  fetch: () => Promise<FetchedSecret>;
  /** For a link that fetches from a network service: the reference, which doctor names instead of fetching. */
  remoteRef?: string;
  /** Set for references that can be written (export --to): the reference as a store, without fetching. */
  writable?: () => Promise<SyncStore>;
}

/** A kind of reference in CLAUDE_ENTRY_SOURCE. Cloud providers load their SDK only in fetch(). */
export interface ReferenceProvider {
  matches(ref: string): boolean;
  link(ref: string, ctx: SourceContext): SourceLink;
}

/**
 * Whether a start joins a fleet (CLAUDE_ENTRY_FLEET=on|off|auto), decided before anything is
 * written; the login the replica's file gets (no refresh token); the state `check` shows.
 *
 * auto (the default) joins when the store's document carries a fleet record already: once one
 * replica runs with CLAUDE_ENTRY_FLEET=on, every replica started from that store is a fleet
 * member too, so that none of them hands its Claude Code the shared refresh token (one such
 * CLI refreshing on its own would spend the token behind the refresher's back, and the next
 * refresh would revoke the whole login). A store without the record behaves as before.
 */
import * as fs from 'node:fs';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { delivered, type Credential } from '../payload.js';
import type { Resolution } from '../sources/chain.js';
import type { SyncStore } from '../sync/store.js';

/**
 * The key of the fleet record in the store's JSON document (src/fleet/lease.ts). Here, not in
 * lease.ts: every start strips it (memberCredential), and a start without a fleet loads no lease
 * or store code.
 */
export const FLEET_KEY = 'claudeEntryFleet';

export interface FleetConfig {
  fleet: 'auto' | 'on' | 'off';
  sync: 'off' | 'push' | 'pull' | 'both';
}

/**
 * Stores whose write is an exact compare-and-swap (or made one by a lock beside the file; on GCP,
 * by an annotation moved with the Secret's etag, src/cloud/gcp-sdk.ts). Not Azure: Key Vault has
 * no conditional write on secrets.
 */
const FENCED_STORE = /^(file:|aws-sm:|arn:aws:secretsmanager:|gcp-sm:|gcp:secretmanager:|projects\/[^/]+\/(locations\/[^/]+\/)?secrets\/)/;

/**
 * The store a fleet member works with, or undefined when this start is no fleet member.
 * Throws ConfigError for a fleet that cannot work (no writable store, a store without a
 * compare-and-swap, together with CLAUDE_ENTRY_SYNC).
 */
export async function prepareFleet(config: FleetConfig, resolution: Resolution | undefined, log: Logger): Promise<SyncStore | undefined> {
  if (config.fleet === 'off') return undefined;
  const credential = resolution?.credential;
  const delivery = credential && delivered(credential);
  const marked = delivery?.file !== undefined && FLEET_KEY in delivery.file;
  if (config.fleet === 'auto' && !marked) return undefined;
  const what = config.fleet === 'on' ? 'CLAUDE_ENTRY_FLEET=on' : `${resolution!.fetched.source} is a fleet's store (CLAUDE_ENTRY_FLEET=auto)`;
  if (!resolution) throw new ConfigError(`${what}: there is no login to share`);
  const { fetched } = resolution;
  if (!delivery!.rotates) {
    log.warn(`${what}: ${fetched.source} holds ${delivery!.withArticle}, which never rotates; nothing for a fleet to refresh`);
    return undefined;
  }
  if (!delivery!.oauth?.refreshToken) {
    // A replica's own file stored as the login: `claude auth login` would be given no token.
    log.warn(`${what}: ${fetched.source} holds a login without a refresh token, which never rotates; nothing for a fleet to refresh`);
    return undefined;
  }
  if (config.sync !== 'off')
    throw new ConfigError(`${what}: CLAUDE_ENTRY_SYNC=${config.sync} cannot be used with a fleet, which keeps the store itself; unset it`);
  if (fetched.fromCredentialsFile)
    throw new ConfigError(`${what}: the login is the file already in place (${fetched.source}); a fleet needs a store the replicas share`);
  if (!fetched.writable)
    throw new ConfigError(
      `${what}: ${fetched.source} is an environment variable; a fleet needs a store it can write: a file, AWS Secrets Manager or GCP Secret Manager`,
    );
  const store = await fetched.writable();
  if (!FENCED_STORE.test(store.describe)) {
    throw new ConfigError(
      `${what}: ${store.describe} has no compare-and-swap a fleet's lease can rely on; use a file (on a shared volume), AWS Secrets Manager or GCP Secret Manager`,
    );
  }
  // A write renames a new file into place: through a link, replicas naming the other path would
  // keep the old login and a lease of their own (two refreshers).
  const file = /^file:(.+?)(#[^/]*)?$/.exec(store.describe)?.[1];
  const stat = file === undefined ? undefined : fs.lstatSync(file, { throwIfNoEntry: false });
  if (stat?.isSymbolicLink())
    throw new ConfigError(`${what}: ${store.describe} is a symbolic link, which a fleet's write would replace by a file; give the file's real path`);
  if (stat && stat.nlink > 1)
    throw new ConfigError(`${what}: ${store.describe} is one of ${stat.nlink} hard links, which a fleet's write would split; give every replica one path`);
  return store;
}

/**
 * The credential a fleet member installs: the store's pair without its refresh token (its
 * Claude Code then never calls the token endpoint) and without the fleet record. Outside a
 * fleet only the record goes.
 */
export function memberCredential(credential: Credential, member: boolean): Credential {
  if (credential.kind !== 'credentials-json') return credential;
  if (!member && !(FLEET_KEY in credential.file)) return credential;
  const { [FLEET_KEY]: _record, ...file } = credential.file;
  const claudeAiOauth = member ? { ...credential.file.claudeAiOauth, refreshToken: null } : credential.file.claudeAiOauth;
  return { ...credential, file: { ...file, claudeAiOauth } as typeof credential.file };
}

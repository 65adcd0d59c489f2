/**
 * What claude-entry remembers between its start and a later `check` or `doctor`: where the
 * credential came from and what kind it was. Never a secret. Written at every start, whole or
 * not at all, but not synced: it describes this run, which a power loss ends too.
 */
import * as path from 'node:path';
import { removeStaleTempFiles, writeFileAtomic, type Ownership } from './home.js';
import type { Credential } from './payload.js';
import { readSecretFile } from './sources/file.js';
import type { TargetUser } from './user.js';

export const STATE_FILE = '.claude-entry-state.json';

export interface EntryState {
  /** Reference or variable the credential came from. */
  source: string;
  kind: Credential['kind'];
  /** Where the command found it: the credentials file, or a variable in its environment. */
  deliveredAs: string;
  startedAt: string;
  version: string;
  /** CLAUDE_ENTRY_SYNC while the command runs, and the outcome of the last sync. */
  sync?: { mode: string; store: string };
  lastSync?: { at: string; direction: 'push' | 'pull'; result: 'copied' | 'skipped' | 'failed'; detail: string };
  /** Fleet mode: the store, and this replica's view of the lease at its last look. */
  fleet?: {
    store: string;
    me?: string;
    role?: 'refresher' | 'replica';
    holder?: string | null;
    generation?: number;
    leaseUntil?: number;
    expiresAt?: number;
    canRefresh?: boolean;
    problem?: string;
    at?: string;
  };
}

export function statePath(configDir: string): string {
  return path.join(configDir, STATE_FILE);
}

export function stateText(state: EntryState): string {
  return JSON.stringify(state, null, 2) + '\n';
}

export function writeState(configDir: string, state: EntryState, owner: Ownership): void {
  removeStaleTempFiles(configDir, STATE_FILE, owner);
  writeFileAtomic(statePath(configDir), stateText(state), owner, { durable: false });
}

export function readState(configDir: string, linkFreeBelow?: string, as?: TargetUser): EntryState | undefined {
  try {
    // The target user can put anything here (a FIFO, a link to /dev/zero): no links, no blocking, regular files only, bounded.
    const value = JSON.parse(readSecretFile(statePath(configDir), STATE_FILE, { noFollow: true, linkFreeBelow, as }).toString('utf8')) as EntryState;
    return typeof value === 'object' && value !== null && typeof value.source === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What claude-entry remembers between its start and a later `check` or `doctor`: where the
 * credential came from and what kind it was. Never a secret.
 */
import * as path from 'node:path';
import { readPlacedFile, removeStaleTempFiles, selfWriter, writeFileAtomic, type Writer } from './home.js';
import { createLogger } from './log.js';
import type { Credential } from './payload.js';

export const STATE_FILE = '.claude-entry-state.json';
/** The state file is a few hundred bytes; anything far larger was not written by us. */
const MAX_STATE_BYTES = 64 * 1024;

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
}

export function statePath(configDir: string): string {
  return path.join(configDir, STATE_FILE);
}

export function stateText(state: EntryState): string {
  return JSON.stringify(state, null, 2) + '\n';
}

export function writeState(configDir: string, state: EntryState, w: Writer): void {
  removeStaleTempFiles(configDir, STATE_FILE, w);
  writeFileAtomic(statePath(configDir), stateText(state), w);
}

/**
 * The state as last written, undefined when absent or not ours. Read like any file the user
 * could have placed (check and doctor run as root): a FIFO or /dev/zero there neither hangs
 * nor fills memory.
 */
export function readState(configDir: string, w: Writer = selfWriter(createLogger({ level: 'silent' }))): EntryState | undefined {
  try {
    const text = readPlacedFile(statePath(configDir), w, MAX_STATE_BYTES);
    if (text === undefined) return undefined;
    const value = JSON.parse(text) as EntryState;
    return typeof value === 'object' && value !== null && typeof value.source === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Step 3 of a start: put what Claude Code needs into the target's config dir, as one
 * transaction: every file is read and merged, then written to temp files and synced, and only
 * when all of them are complete are they renamed into place. A bad input, a full disk or a
 * refused write replaces nothing and leaves no temp file or new directory behind. The whole
 * transaction holds Claude Code's own .claude.json lock, so two starts on one home (two
 * containers on one volume, a restart racing a sidecar) both succeed and both merges survive.
 */
import * as path from 'node:path';
import { mergeClaudeJson } from './claude-json.js';
import { classifyLogin } from './login.js';
import { delivered, type Credential } from './payload.js';
import {
  checkWritable,
  ensureDirectory,
  fixModeAndOwner,
  readJsonObject,
  readPlacedFile,
  removeCreatedDirectories,
  removeStaleTempFiles,
  setAsideInvalid,
  stageFile,
  withFileLock,
  writeTarget,
  type ClaudePaths,
  type StagedFile,
  type Ownership,
} from './home.js';
import { userControls, withRightsOf } from './rights.js';
import { MAX_SECRET_BYTES } from './sources/file.js';
import { STATE_FILE, statePath } from './state.js';

export interface InstallOptions {
  trust: string[];
  skipPermissionsPrompt: boolean;
  /**
   * The ANTHROPIC_API_KEY the command gets, when claude-entry put it there (the chain's, or one
   * a CLAUDE_ENTRY_ENV_ANTHROPIC_API_KEY filled): approved in advance, so an interactive
   * session does not stop at "Detected a custom API key ... use it?" (whose default, No, drops it).
   */
  apiKey?: string;
}

export function install(
  credential: Credential | undefined,
  /** The credential was read from the credentials file itself: it stays, only its mode and owner are fixed. */
  readFromTheFile: boolean,
  paths: ClaudePaths,
  options: InstallOptions,
  owner: Ownership,
  /** The state file's content (never a secret), written in the same transaction. */
  stateText?: string,
): void {
  if (!owner.user.dropsFromRoot) checkWritable(paths.configDir);
  if (!owner.user.dropsFromRoot) checkWritable(path.dirname(paths.claudeJsonPath));

  // The same owner, keeping the directories this start creates, to remove them if it fails.
  const tracked: Ownership = { ...owner, created: [] };
  const delivery = credential && delivered(credential);
  const staged: StagedFile[] = [];
  try {
    ensureDirectory(path.dirname(paths.claudeJsonPath), tracked, path.dirname(paths.claudeJsonPath) === paths.configDir);
    ensureDirectory(paths.configDir, tracked);
    // Where the user controls every file the transaction touches (the usual home), take the
    // user's rights once for all of it: each switch costs a setxid broadcast to every thread.
    const touched = [paths.claudeJsonPath, `${paths.claudeJsonPath}.lock`, paths.credentialsPath, statePath(paths.configDir)];
    const asUserThroughout = touched.every((p) => userControls(p, owner.user));
    const inRights = <T>(fn: () => T): T => (asUserThroughout ? withRightsOf(owner.user, fn) : fn());
    inRights(() =>
      withFileLock(paths.claudeJsonPath, tracked, () => {
        // Under the lock no other start is writing: a temp of ours found now is a crash's leftover.
        removeStaleTempFiles(paths.configDir, path.basename(paths.credentialsPath), tracked);
        removeStaleTempFiles(paths.configDir, STATE_FILE, tracked);

        const claudeJsonTarget = writeTarget(paths.claudeJsonPath, tracked);
        removeStaleTempFiles(path.dirname(claudeJsonTarget), path.basename(claudeJsonTarget), tracked);
        const existing = readJsonObject(claudeJsonTarget, tracked);
        const merged = mergeClaudeJson(existing ?? {}, {
          trust: options.trust,
          // An API key in ANTHROPIC_API_KEY asks for approval: given in advance.
          apiKey: options.apiKey ?? (delivery?.variable === 'ANTHROPIC_API_KEY' ? delivery.payload : undefined),
          skipPermissionsPrompt: options.skipPermissionsPrompt,
        });
        const claudeJsonText = JSON.stringify(merged, null, 2) + '\n';
        const claudeJsonChanged = existing === undefined || JSON.stringify(existing, null, 2) + '\n' !== claudeJsonText;

        let credentialsFile: StagedFile | undefined;
        let fixExisting = false;
        if (delivery?.fileText !== undefined) {
          if (readFromTheFile || existingLoginWins(delivery.payload, paths.credentialsPath, tracked)) fixExisting = true;
          else credentialsFile = stage(staged, stageFile(writeTarget(paths.credentialsPath, tracked), delivery.fileText, tracked));
        }
        const claudeJsonFile = claudeJsonChanged ? stage(staged, stageFile(claudeJsonTarget, claudeJsonText, tracked)) : undefined;
        const stateFile = stateText !== undefined ? stage(staged, stageFile(statePath(paths.configDir), stateText, tracked, { durable: false })) : undefined;

        // Everything is on disk in full: now replace, the login first.
        if (fixExisting) fixModeAndOwner(paths.credentialsPath, tracked);
        if (credentialsFile) {
          credentialsFile.commit();
          owner.log.info(`wrote ${paths.credentialsPath} (0600, uid ${owner.user.uid})`);
        }
        if (claudeJsonFile) {
          if (existing === undefined) {
            const aside = setAsideInvalid(claudeJsonTarget, tracked);
            owner.log.warn(`${claudeJsonTarget} was not valid JSON; kept it as ${aside} and wrote a new one`);
          }
          claudeJsonFile.commit();
          owner.log.info(`updated ${paths.claudeJsonPath} (onboarding done${options.trust.length ? `, trusted ${options.trust.join(', ')}` : ''})`);
        } else {
          owner.log.debug(`${paths.claudeJsonPath} already up to date`);
        }
        stateFile?.commit();
      }),
    );
  } catch (error) {
    for (const file of staged) file.abort();
    removeCreatedDirectories(tracked);
    throw error;
  }
}

function stage(list: StagedFile[], file: StagedFile): StagedFile {
  list.push(file);
  return file;
}

/**
 * A persistent ~/.claude may hold a pair Claude Code refreshed after the secret was made: its
 * refresh token is the live one, and the secret's was spent by that refresh. Copying the
 * secret over it would log the container out, so the newer pair in place wins. Read with the
 * target's rights: the file sits where the target can swap it.
 */
function existingLoginWins(incomingText: string, file: string, owner: Ownership): boolean {
  let text: string | undefined;
  try {
    text = readPlacedFile(file, owner, MAX_SECRET_BYTES);
  } catch {
    return false; // not a regular file, or unreadable: write ours
  }
  if (text === undefined) return false;
  const existing = classifyLogin(text, file);
  const incoming = classifyLogin(incomingText, 'source');
  if (incoming.state === 'implausible' && existing.state === 'valid') {
    owner.log.warn(`kept ${file}: the source's pair is not plausible (${incoming.reason})`);
    return true;
  }
  if (existing.state !== 'valid' || incoming.state !== 'valid') return false;
  if (existing.accessToken === incoming.accessToken && existing.refreshToken === incoming.refreshToken) {
    owner.log.debug(`${file} already holds this login`);
    return true;
  }
  if (existing.expiresAt !== undefined && incoming.expiresAt !== undefined && existing.expiresAt > incoming.expiresAt) {
    owner.log.info(`kept ${file}: it holds a newer pair than the source (refreshed since); delete it to start from the source`);
    return true;
  }
  return false;
}

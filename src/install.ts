/**
 * Step 3 of a start: put what Claude Code needs into the target's config dir.
 * Everything is read and merged first, then written, so a bad input writes nothing.
 */
import * as path from 'node:path';
import { mergeClaudeJson } from './claude-json.js';
import type { Credential } from './payload.js';
import { readSecretFile } from './sources/file.js';
import { classifyLogin } from './sync/decide.js';
import {
  checkWritable,
  ensureDirectory,
  fixFileInPlace,
  readJsonObject,
  removeStaleTempFiles,
  setAsideInvalid,
  writeFileAtomic,
  writeTarget,
  type ClaudePaths,
  type Writer,
} from './home.js';

export interface InstallOptions {
  trust: string[];
  skipPermissionsPrompt: boolean;
}

export interface Installed {
  wroteCredentials: boolean;
  claudeJsonChanged: boolean;
}

export function install(
  credential: Credential | undefined,
  inPlace: boolean,
  paths: ClaudePaths,
  options: InstallOptions,
  w: Writer,
): Installed {
  if (!w.user.switching) checkWritable(paths.configDir, w);
  if (!w.user.switching) checkWritable(path.dirname(paths.claudeJsonPath), w);

  const claudeJsonTarget = writeTarget(paths.claudeJsonPath, w);
  const existing = readJsonObject(claudeJsonTarget, w);
  const merged = mergeClaudeJson(existing ?? {}, {
    trust: options.trust,
    apiKey: credential?.kind === 'api-key' ? credential.key : undefined,
    skipPermissionsPrompt: options.skipPermissionsPrompt,
  });
  const claudeJsonText = JSON.stringify(merged, null, 2) + '\n';
  const claudeJsonChanged = existing === undefined || JSON.stringify(existing, null, 2) + '\n' !== claudeJsonText;

  ensureDirectory(paths.configDir, w);
  removeStaleTempFiles(paths.configDir, path.basename(paths.credentialsPath));

  let wroteCredentials = false;
  if (credential?.kind === 'credentials-json') {
    if (inPlace) {
      fixFileInPlace(paths.credentialsPath, w);
    } else if (keepsNewerPairInPlace(credential, paths.credentialsPath, w)) {
      fixFileInPlace(paths.credentialsPath, w);
    } else {
      writeFileAtomic(writeTarget(paths.credentialsPath, w), JSON.stringify(credential.file, null, 2) + '\n', w);
      wroteCredentials = true;
      w.log.info(`wrote ${paths.credentialsPath} (0600, uid ${w.user.uid})`);
    }
  }

  removeStaleTempFiles(path.dirname(claudeJsonTarget), path.basename(claudeJsonTarget));
  if (claudeJsonChanged) {
    const dir = path.dirname(claudeJsonTarget);
    if (dir !== paths.configDir) ensureDirectory(dir, w, false);
    if (existing === undefined) {
      const aside = setAsideInvalid(claudeJsonTarget, w);
      w.log.warn(`${claudeJsonTarget} was not valid JSON; kept it as ${aside} and wrote a new one`);
    }
    writeFileAtomic(claudeJsonTarget, claudeJsonText, w);
    w.log.info(`updated ${paths.claudeJsonPath} (onboarding done${options.trust.length ? `, trusted ${options.trust.join(', ')}` : ''})`);
  } else {
    w.log.debug(`${paths.claudeJsonPath} already up to date`);
  }
  return { wroteCredentials, claudeJsonChanged };
}

/**
 * A persistent ~/.claude may hold a pair Claude Code refreshed after the secret was made: its
 * refresh token is the live one, and the secret's was spent by that refresh. Copying the
 * secret over it would log the container out, so the newer pair in place wins.
 */
function keepsNewerPairInPlace(credential: Extract<Credential, { kind: 'credentials-json' }>, file: string, w: Writer): boolean {
  let text: string;
  try {
    text = readSecretFile(file, file, { noFollow: true }).toString('utf8');
  } catch {
    return false; // absent, a link, or unreadable: write ours
  }
  const inPlace = classifyLogin(text, file);
  const incoming = classifyLogin(JSON.stringify(credential.file), 'source');
  if (inPlace.state !== 'valid' || incoming.state !== 'valid') return false;
  if (inPlace.accessToken === incoming.accessToken && inPlace.refreshToken === incoming.refreshToken) {
    w.log.debug(`${file} already holds this login`);
    return true;
  }
  if (inPlace.expiresAt !== undefined && incoming.expiresAt !== undefined && inPlace.expiresAt > incoming.expiresAt) {
    w.log.info(`kept ${file}: it holds a newer pair than the source (refreshed since); delete it to start from the source`);
    return true;
  }
  return false;
}

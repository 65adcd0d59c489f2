/**
 * What is in place for the target user, as Claude Code would see it: shared by `check` and
 * `doctor`. Reads only; never writes, never contacts the network.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, messageOf } from '../errors.js';
import { claudePaths, type ClaudePaths } from '../home.js';
import { linkFreePath, readSecretFile } from '../sources/file.js';
import { toCredential } from '../sources/chain.js';
import { delivered, deliveryOf, parsePayload, type Credential } from '../payload.js';
import { readState, type EntryState } from '../state.js';
import { readUserDatabase, resolveTargetUser, type TargetUser } from '../user.js';

export interface FileFacts {
  path: string;
  mode: number;
  uid: number;
  /** Problems Claude Code would hit (it rewrites the file on refresh), each with its fix. */
  problems: string[];
}

/** What is there for the target user now: its files, the start's state, the credential Claude Code would find. */
export interface TargetFacts {
  user: TargetUser;
  paths: ClaudePaths;
  state?: EntryState;
  /** What Claude Code would use, in its own order of precedence. */
  found?: {
    kind: Credential['kind'];
    /** Where it is: a variable, the credentials file, or (from the state) the start's source. */
    where: string;
    source?: string;
    credential?: Credential;
    /** Set when the credential is there but Claude Code would refuse it. */
    invalid?: string;
  };
  file?: FileFacts;
}

export function targetFor(env: NodeJS.ProcessEnv, userSpec: string | undefined): { user: TargetUser; paths: ClaudePaths } {
  const user = resolveTargetUser(userSpec, readUserDatabase(), { uid: process.getuid!(), gid: process.getgid!(), home: env.HOME }, true);
  return { user, paths: claudePaths(user.home, env) };
}

/**
 * Below which directory the target user controls every step of the paths check and doctor
 * read: its home when the config dir is in it, else the config dir (CLAUDE_CONFIG_DIR is the
 * deployment's choice; what is in it is not).
 */
export function linkFreeRoot(paths: ClaudePaths): string {
  const relative = path.relative(paths.home, paths.configDir);
  return relative.startsWith('..') || path.isAbsolute(relative) ? path.dirname(paths.configDir) : paths.home;
}

export function inspectTarget(env: NodeJS.ProcessEnv, userSpec: string | undefined, now = Date.now()): TargetFacts {
  const { user, paths } = targetFor(env, userSpec);
  const state = readState(paths.configDir, linkFreeRoot(paths), user);
  const result: TargetFacts = { user, paths, state };
  const sourceFromState = (kind: Credential['kind']) => (state?.kind === kind ? state.source : undefined);

  for (const [name, kind] of [
    ['ANTHROPIC_API_KEY', 'api-key'],
    ['CLAUDE_CODE_OAUTH_TOKEN', 'oauth-token'],
  ] as const) {
    const value = env[name];
    if (!value) continue;
    result.found = { kind, where: name, source: sourceFromState(kind) ?? name };
    try {
      result.found.credential = toCredential({ payload: value, source: name, carriedBy: [name], kind });
    } catch (error) {
      result.found.invalid = messageOf(error);
    }
    return result;
  }

  const file = paths.credentialsPath;
  if (fs.existsSync(file) || isLink(file)) {
    result.found = { kind: 'credentials-json', where: file, source: sourceFromState('credentials-json') };
    try {
      const credential = parsePayload(readSecretFile(file, file, { noFollow: true, linkFreeBelow: linkFreeRoot(paths), as: user }), file, now);
      if (delivered(credential).variable) throw new ConfigError(`${file}: holds a ${credential.kind}, not a credentials JSON`);
      result.found.credential = credential;
    } catch (error) {
      result.found.invalid = messageOf(error);
    }
    result.file = fileFacts(file, user, linkFreeRoot(paths));
    return result;
  }

  // A token or key that the start handed to the command's environment: not visible from here.
  if (state && deliveryOf(state.kind).variable) {
    result.found = { kind: state.kind, where: `${state.deliveredAs} in the command's environment`, source: state.source };
  }
  return result;
}

function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

export function fileFacts(file: string, user: TargetUser, below?: string): FileFacts | undefined {
  if (below !== undefined && linkFreePath(path.dirname(file), below) === false) {
    // Its mode and owner would be those of whatever the link points at: not reported.
    return {
      path: file,
      mode: 0,
      uid: -1,
      problems: [`${path.dirname(file)} is reached through a symbolic link below ${below}; restart the container (claude-entry fixes it at start)`],
    };
  }
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch {
    return undefined;
  }
  const facts: FileFacts = { path: file, mode: stat.mode & 0o777, uid: stat.uid, problems: [] };
  const restart = 'restart the container (claude-entry fixes it at start)';
  if (stat.isSymbolicLink()) facts.problems.push(`${file} is a symbolic link; ${restart}`);
  if (facts.mode !== 0o600) facts.problems.push(`${file} has mode ${facts.mode.toString(8).padStart(4, '0')}, not 0600; ${restart} or chmod 600 it`);
  if (stat.uid !== user.uid)
    facts.problems.push(`${file} is owned by uid ${stat.uid}, not ${user.uid}, so Claude Code cannot save refreshed tokens; ${restart}`);
  const dir = path.dirname(file);
  try {
    const d = fs.statSync(dir);
    if (d.uid !== user.uid) facts.problems.push(`${dir} is owned by uid ${d.uid}, not ${user.uid}; ${restart}`);
  } catch {
    // the file exists, so the directory does
  }
  return facts;
}

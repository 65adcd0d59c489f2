/**
 * Where Claude Code's files go for the target user, and writing them safely:
 * atomic (temp file, fsync, rename), 0600 files in 0700 directories, owned by the target,
 * and no symlink in the target's home followed while running as root for another user.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StoreConflictError, WriteError, errnoCode } from './errors.js';
import type { Logger } from './log.js';
import type { TargetUser } from './user.js';

export interface ClaudePaths {
  home: string;
  configDir: string;
  credentialsPath: string;
  claudeJsonPath: string;
}

/** With CLAUDE_CONFIG_DIR, Claude Code reads both files from there and nothing from ~. */
export function claudePaths(home: string, env: NodeJS.ProcessEnv): ClaudePaths {
  const configured = env.CLAUDE_CONFIG_DIR;
  const configDir = configured ? path.resolve(home, configured) : path.join(home, '.claude');
  return {
    home,
    configDir,
    credentialsPath: path.join(configDir, '.credentials.json'),
    claudeJsonPath: configured ? path.join(configDir, '.claude.json') : path.join(home, '.claude.json'),
  };
}

export interface Writer {
  user: TargetUser;
  log: Logger;
}

const TEMP_MARK = '.claude-entry-';

/** Root writing into another user's home: never follow what that user could have planted. */
function guarded(w: Writer): boolean {
  return w.user.switching && w.user.uid !== 0;
}

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw new WriteError(`cannot inspect ${p} (${errnoCode(error)})`, { cause: error });
  }
}

/**
 * Create the directory (0700, owned by the target) or check the one there. `adopt` also
 * makes an existing one the target's and 0700 (Claude Code's own dir); the home is only
 * created when missing, never re-moded.
 */
export function ensureDirectory(dir: string, w: Writer, adopt = true): void {
  const stat = lstatOrUndefined(dir);
  if (stat?.isSymbolicLink()) {
    if (guarded(w)) {
      throw new WriteError(
        `${dir} is a symbolic link; claude-entry does not follow links in ${w.user.name ?? w.user.uid}'s home while running as root (mount the volume at ${dir} instead)`,
      );
    }
    if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new WriteError(`${dir} is a link to something that is not a directory`);
    return;
  }
  if (stat && !stat.isDirectory()) throw new WriteError(`${dir} exists and is not a directory`);
  if (!stat) {
    try {
      const parent = path.dirname(dir);
      if (!fs.existsSync(parent)) ensureDirectory(parent, w, false);
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
      if (error instanceof WriteError) throw error;
      throw writeError(error, `cannot create ${dir}`, w);
    }
    w.log.debug(`created ${dir}`);
  }
  if (adopt || !stat) fixOwnershipAndMode(dir, 0o700, w, stat === undefined);
}

function fixOwnershipAndMode(p: string, mode: number, w: Writer, always: boolean): void {
  const stat = fs.lstatSync(p);
  try {
    if (w.user.switching && (stat.uid !== w.user.uid || stat.gid !== w.user.gid)) {
      fs.lchownSync(p, w.user.uid, w.user.gid);
    }
    if (always || (stat.mode & 0o777) !== mode) {
      if (stat.uid === process.getuid!() || process.getuid!() === 0) fs.chmodSync(p, mode);
    }
  } catch (error) {
    throw writeError(error, `cannot set owner or mode of ${p}`, w);
  }
}

/**
 * The path to write through. When not guarded, a symlink the user made on purpose
 * (e.g. ~/.claude.json -> /data/.claude.json) is followed; when guarded, it is replaced.
 */
export function writeTarget(p: string, w: Writer): string {
  const stat = lstatOrUndefined(p);
  if (!stat?.isSymbolicLink()) return p;
  if (guarded(w)) {
    w.log.warn(`${p} is a symbolic link; replacing the link with a file instead of following it`);
    return p;
  }
  try {
    return fs.realpathSync(p);
  } catch {
    return p; // dangling: replace the link
  }
}

/**
 * Unique enough for a temp file name: the exclusive create refuses a clash anyway. Not
 * node:crypto, whose loading costs about 10 ms of every start (measured).
 */
export function uniqueSuffix(): string {
  return `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

/** A writer that writes as this process, chowning nothing (after the drop, or not root). */
export function selfWriter(log: Logger): Writer {
  return { user: { uid: process.getuid!(), gid: process.getgid!(), groups: [], home: '', switching: false }, log };
}

/**
 * Write atomically: a crash leaves the old file or the new one, never a part.
 * `beforeRename` may throw (e.g. StoreConflictError) to abandon the write at the last moment.
 */
export function writeFileAtomic(p: string, data: string, w: Writer, beforeRename?: () => void): void {
  const dir = path.dirname(p);
  const temp = path.join(dir, `.${path.basename(p)}${TEMP_MARK}${uniqueSuffix()}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    fs.writeSync(fd, data);
    fs.fchmodSync(fd, 0o600);
    if (w.user.switching) fs.fchownSync(fd, w.user.uid, w.user.gid);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    beforeRename?.();
    fs.renameSync(temp, p);
  } catch (error) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    if (error instanceof StoreConflictError) throw error;
    const code = errnoCode(error);
    if (code === 'EBUSY' || code === 'EXDEV') {
      throw new WriteError(`cannot replace ${p}: it is a mount point (mount the secret elsewhere, e.g. /run/secrets/claude-credentials, and claude-entry copies it)`, { cause: error });
    }
    throw writeError(error, `cannot write ${p}`, w);
  }
  fsyncDirectory(dir);
}

function fsyncDirectory(dir: string): void {
  try {
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}

/** Remove temp files left by a process killed mid-write (they may hold a secret). */
export function removeStaleTempFiles(dir: string, base: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  const prefix = `.${base}${TEMP_MARK}`;
  for (const name of names) if (name.startsWith(prefix) && name.endsWith('.tmp')) fs.rmSync(path.join(dir, name), { force: true });
}

/** Make a file already in place 0600 and the target's, without following a link. */
export function fixFileInPlace(p: string, w: Writer): void {
  let fd: number;
  try {
    fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (error) {
    throw writeError(error, `cannot open ${p}`, w);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (w.user.switching && (stat.uid !== w.user.uid || stat.gid !== w.user.gid)) fs.fchownSync(fd, w.user.uid, w.user.gid);
    if ((stat.mode & 0o777) !== 0o600) fs.fchmodSync(fd, 0o600);
  } catch (error) {
    const code = errnoCode(error);
    // A read-only mount: Claude Code can use it, but its refreshed tokens will be lost.
    if (code === 'EROFS') w.log.warn(`${p} is on a read-only mount: Claude Code cannot save refreshed tokens there`);
    else throw writeError(error, `cannot set owner or mode of ${p}`, w);
  } finally {
    fs.closeSync(fd);
  }
}

/** The existing JSON object at p, {} when absent, or undefined when it is not valid JSON. */
export function readJsonObject(p: string, w: Writer): Record<string, unknown> | undefined {
  let text: string;
  try {
    const fd = fs.openSync(p, fs.constants.O_RDONLY | (guarded(w) ? fs.constants.O_NOFOLLOW : 0));
    try {
      text = fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ELOOP') return {};
    throw writeError(error, `cannot read ${p}`, w);
  }
  if (text.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Keep an unparseable file beside the new one instead of clobbering it. */
export function setAsideInvalid(p: string, w: Writer): string {
  const aside = `${p}.invalid-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  try {
    fs.renameSync(p, aside);
  } catch (error) {
    throw writeError(error, `cannot move the invalid ${p} aside`, w);
  }
  return aside;
}

/** Not root: fail clearly before writing anything when the target directory is not ours. */
export function checkWritable(dir: string, w: Writer): void {
  let existing = dir;
  while (!fs.existsSync(existing)) existing = path.dirname(existing);
  try {
    fs.accessSync(existing, fs.constants.W_OK | fs.constants.X_OK);
  } catch {
    const owner = fs.statSync(existing).uid;
    throw new WriteError(
      `${existing} is not writable by uid ${process.getuid!()} (owned by uid ${owner}); run as its owner, give the user a writable home, or set CLAUDE_CONFIG_DIR`,
    );
  }
  void w;
}

function writeError(error: unknown, what: string, w: Writer): WriteError {
  const code = errnoCode(error);
  const hint =
    code === 'EROFS' ? 'read-only file system'
    : code === 'EACCES' || code === 'EPERM' ? `permission denied for uid ${process.getuid!()}${w.user.switching ? '' : ' (not root, so files are written as this uid)'}`
    : code === 'ENOSPC' ? 'no space left on device'
    : (code ?? 'unknown error');
  return new WriteError(`${what}: ${hint}`, { cause: error });
}

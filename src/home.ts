/**
 * Where Claude Code's files go for the target user, and writing them safely:
 * - every byte or nothing: a write loops until all is written, a short or failed write never
 *   replaces the old file (temp file, fsync, rename), and no temp file is left behind;
 * - with the right rights: where the target user controls a path, the work is done with the
 *   target's own rights (rights.ts), so a swapped link gains the user nothing; root's rights
 *   are used only where the user can change nothing;
 * - nothing adopted that is not the target's: an existing directory is made the target's only
 *   when claude-entry created it or it already belongs to the target;
 * - nothing that blocks: files someone else could have placed are opened without blocking,
 *   must be regular files, and are read with a size limit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, WriteError, errnoCode } from './errors.js';
import type { Logger } from './log.js';
import { rootActsForAnotherUser, withRightsFor, withRightsOf } from './rights.js';
import type { TargetUser } from './user.js';

export interface ClaudePaths {
  home: string;
  configDir: string;
  credentialsPath: string;
  claudeJsonPath: string;
}

/**
 * With CLAUDE_CONFIG_DIR, Claude Code reads both files from there and nothing from ~. A relative
 * one, or a home that is not absolute, would be resolved by Claude Code against its own working
 * directory, somewhere else than here: a configuration error, not a guess.
 */
export function claudePaths(home: string, env: NodeJS.ProcessEnv): ClaudePaths {
  if (!path.isAbsolute(home)) {
    throw new ConfigError(`the target user's home ${home === '' ? 'is empty' : `"${home}" is not an absolute path`} (check its /etc/passwd entry or HOME)`);
  }
  const configured = env.CLAUDE_CONFIG_DIR;
  if (configured !== undefined && configured !== '' && !path.isAbsolute(configured)) {
    throw new ConfigError(`CLAUDE_CONFIG_DIR must be an absolute path (Claude Code would resolve "${configured}" against its working directory)`);
  }
  const configDir = configured ? path.resolve(configured) : path.join(home, '.claude');
  return {
    home,
    configDir,
    credentialsPath: path.join(configDir, '.credentials.json'),
    claudeJsonPath: configured ? path.join(configDir, '.claude.json') : path.join(home, '.claude.json'),
  };
}

/**
 * Whose files a write makes: the target user's (chowned to it, or made with its rights where
 * it controls the path, when root writes for another user), or this process's own. With where
 * to report, and which directories this start created.
 */
export interface Ownership {
  user: TargetUser;
  log: Logger;
  /** Directories created by this start, deepest last: removed again if the start fails. */
  created?: string[];
}

const TEMP_MARK = '.claude-entry-';

function who(owner: Ownership): string {
  return owner.user.name ?? `uid ${owner.user.uid}`;
}

function lstatOrUndefined(p: string, owner: Ownership): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw writeError(error, `cannot inspect ${p}`, owner);
  }
}

/**
 * Make sure `dir` exists as a directory of the target's, mode 0700. `adopt` is for Claude
 * Code's own directory: an existing one must already be the target's (or have been made by
 * this start); the home and other parents are only created when missing, never re-moded.
 */
export function ensureDirectory(dir: string, owner: Ownership, adopt = true): void {
  const parent = path.dirname(dir);
  if (parent !== dir && lstatOrUndefined(parent, owner) === undefined) ensureDirectory(parent, owner, false);
  withRightsFor(dir, owner.user, (asUser) => {
    const stat = lstatOrUndefined(dir, owner);
    if (stat?.isSymbolicLink()) {
      if (rootActsForAnotherUser(owner.user) && asUser) {
        throw new WriteError(
          `${dir} is a symbolic link; claude-entry does not follow links in ${who(owner)}'s home while running as root (mount the volume at ${dir} instead)`,
        );
      }
      if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new WriteError(`${dir} is a link to something that is not a directory`);
      if (adopt) checkOwnedByTarget(dir, fs.statSync(dir), owner);
      return;
    }
    if (stat && !stat.isDirectory()) throw new WriteError(`${dir} exists and is not a directory`);
    if (!stat) {
      createDirectory(dir, asUser, owner);
      return;
    }
    if (!adopt) return;
    checkOwnedByTarget(dir, stat, owner);
    if ((stat.mode & 0o777) !== 0o700) setDirectoryMode(dir, owner);
  });
}

function createDirectory(dir: string, asUser: boolean, owner: Ownership): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    // Another start (a second replica on the same volume) made it first: use it as if found.
    if (errnoCode(error) !== 'EEXIST') throw writeError(error, `cannot create ${dir}`, owner);
    ensureDirectory(dir, owner);
    return;
  }
  owner.created?.push(dir);
  owner.log.debug(`created ${dir}`);
  // Made by root in a directory the user cannot change: nobody can have swapped it since.
  if (rootActsForAnotherUser(owner.user) && !asUser) {
    try {
      fs.lchownSync(dir, owner.user.uid, owner.user.gid);
    } catch (error) {
      throw writeError(error, `cannot give ${dir} to ${who(owner)}`, owner);
    }
  }
  if (!rootActsForAnotherUser(owner.user) || asUser) setDirectoryMode(dir, owner); // the umask may have narrowed 0700
}

/**
 * An existing config dir that is not the target's (a 1777 scratch dir, a shared volume, /etc)
 * is never taken over: chowning it would hand the user whatever else lives there.
 */
function checkOwnedByTarget(dir: string, stat: fs.Stats, owner: Ownership): void {
  if (!owner.user.dropsFromRoot || stat.uid === owner.user.uid) return;
  throw new WriteError(
    `${dir} exists and belongs to uid ${stat.uid}, not to ${who(owner)} (uid ${owner.user.uid}); claude-entry only takes over a directory it created or one the user owns: chown it to ${owner.user.uid}:${owner.user.gid} in the image, or set CLAUDE_CONFIG_DIR to a path that does not exist yet`,
  );
}

/** chmod through a descriptor opened without following a link: what was checked is what changes. */
function setDirectoryMode(dir: string, owner: Ownership): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    const stat = fs.fstatSync(fd);
    if (owner.user.dropsFromRoot && stat.uid !== owner.user.uid) checkOwnedByTarget(dir, stat, owner);
    // Not root and not ours (a shared volume the deployment points CLAUDE_CONFIG_DIR at): leave
    // its mode to whoever owns it; writing into it is all that is needed.
    if (!owner.user.dropsFromRoot && stat.uid !== process.geteuid!()) return;
    fs.fchmodSync(fd, 0o700);
  } catch (error) {
    if (error instanceof WriteError) throw error;
    throw writeError(error, `cannot set the mode of ${dir}`, owner);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * The path to write through. A symlink the user made on purpose (e.g. ~/.claude.json ->
 * /data/.claude.json) is followed, except when root writes for another user: then it is replaced.
 */
export function writeTarget(p: string, owner: Ownership): string {
  const stat = lstatOrUndefined(p, owner);
  if (!stat?.isSymbolicLink()) return p;
  if (rootActsForAnotherUser(owner.user)) {
    owner.log.warn(`${p} is a symbolic link; replacing the link with a file instead of following it`);
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

/** Files this process writes as itself, chowning nothing (after the drop, or not root). */
export function ownedBySelf(log: Logger): Ownership {
  return { user: { uid: process.getuid!(), gid: process.getgid!(), groups: [], home: '', dropsFromRoot: false }, log };
}

/** A file written to its temp name and synced, waiting to be renamed over its target. */
export interface StagedFile {
  target: string;
  /** Rename into place. */
  commit(): void;
  /** Remove the temp file (safe to call after commit). */
  abort(): void;
}

/**
 * Write `data` to a temp file beside `p`, every byte, synced: nothing replaces `p` yet. With
 * the target's rights where the target controls `p` (the file is then the target's by
 * creation); elsewhere as root, given to the target through the descriptor.
 *
 * `durable: false` is for a file every start writes again (the state file): still whole or
 * absent for any reader (temp file, rename), but neither it nor its directory is synced, as a
 * power loss that could cost it also ends the run it describes, and the next start rewrites it.
 * Each fsync measured 0.2-0.6 ms on a quiet machine, several ms on a busy disk.
 */
export function stageFile(p: string, data: string, owner: Ownership, { durable = true }: { durable?: boolean } = {}): StagedFile {
  const dir = path.dirname(p);
  const temp = path.join(dir, `.${path.basename(p)}${TEMP_MARK}${uniqueSuffix()}.tmp`);
  const asUser = withRightsFor(p, owner.user, (asUser) => asUser);
  const inRights = <T>(fn: () => T): T => (asUser ? withRightsOf(owner.user, fn) : fn());
  let done = false;
  const abort = () => {
    if (done) return;
    done = true;
    inRights(() => fs.rmSync(temp, { force: true }));
  };
  inRights(() => {
    let fd: number | undefined;
    try {
      // A directory there would fail the rename after other files of the start were replaced: refused before any is.
      if (fs.lstatSync(p, { throwIfNoEntry: false })?.isDirectory()) throw new WriteError(`${p} is a directory; remove it`);
      fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
      writeAll(fd, Buffer.from(data, 'utf8'));
      fs.fchmodSync(fd, 0o600);
      if (owner.user.dropsFromRoot && !asUser) fs.fchownSync(fd, owner.user.uid, owner.user.gid);
      if (durable) fs.fsyncSync(fd);
      fs.closeSync(fd);
      fd = undefined;
    } catch (error) {
      if (fd !== undefined) fs.closeSync(fd);
      fs.rmSync(temp, { force: true });
      done = true;
      if (error instanceof WriteError) throw error;
      throw writeError(error, `cannot write ${p}`, owner);
    }
  });
  return {
    target: p,
    abort,
    commit() {
      if (done) throw new Error(`${p}: staged file already committed or aborted`);
      try {
        inRights(() => fs.renameSync(temp, p));
      } catch (error) {
        abort();
        const code = errnoCode(error);
        if (code === 'EBUSY' || code === 'EXDEV') {
          throw new WriteError(
            `cannot replace ${p}: it is a mount point (mount the secret elsewhere, e.g. /run/secrets/claude-credentials, and claude-entry copies it)`,
            { cause: error },
          );
        }
        throw writeError(error, `cannot write ${p}`, owner);
      }
      done = true;
      if (durable) inRights(() => fsyncDirectory(dir));
    },
  };
}

/** write(2) may write less than asked (a nearly full disk): loop until every byte is written. */
function writeAll(fd: number, bytes: Buffer): void {
  let offset = 0;
  while (offset < bytes.length) {
    const n = fs.writeSync(fd, bytes, offset, bytes.length - offset);
    if (n <= 0) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
    offset += n;
  }
}

/**
 * Write atomically: a crash leaves the old file or the new one, never a part.
 */
export function writeFileAtomic(p: string, data: string, owner: Ownership, options?: { durable?: boolean }): void {
  stageFile(p, data, owner, options).commit();
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

/**
 * Remove temp files left by a process killed mid-write (they may hold a secret). Called under
 * the install lock, so no other start is writing them.
 */
export function removeStaleTempFiles(dir: string, base: string, owner?: Ownership): void {
  const remove = () => {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    const prefix = `.${base}${TEMP_MARK}`;
    for (const name of names) if (name.startsWith(prefix) && name.endsWith('.tmp')) fs.rmSync(path.join(dir, name), { force: true });
  };
  if (owner) withRightsFor(path.join(dir, base), owner.user, remove);
  else remove();
}

/**
 * Make a credentials file already in place 0600 and the target's. Done with the target's
 * rights where the target controls the directory (so a swapped link changes nothing the user
 * could not change); never on a hard-linked file, which may be someone else's file too.
 */
export function fixModeAndOwner(p: string, owner: Ownership): void {
  withRightsFor(p, owner.user, (asUser) => {
    let fd: number;
    try {
      fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    } catch (error) {
      throw writeError(error, `cannot open ${p}`, owner);
    }
    try {
      const stat = fs.fstatSync(fd);
      if (!stat.isFile()) throw new WriteError(`${p} is not a regular file`);
      if (stat.nlink > 1 && owner.user.dropsFromRoot) {
        throw new WriteError(
          `${p} has ${stat.nlink} hard links; claude-entry does not change a file that may also be someone else's (copy it instead of linking it)`,
        );
      }
      if (owner.user.dropsFromRoot && (stat.uid !== owner.user.uid || stat.gid !== owner.user.gid)) {
        if (asUser) {
          throw new WriteError(
            `${p} belongs to uid ${stat.uid}, not to ${who(owner)}; claude-entry does not chown files where the user can swap them: chown it in the image, or mount the secret elsewhere (e.g. /run/secrets/claude-credentials) so it is copied`,
          );
        }
        fs.fchownSync(fd, owner.user.uid, owner.user.gid);
      }
      if ((stat.mode & 0o777) !== 0o600) fs.fchmodSync(fd, 0o600);
    } catch (error) {
      if (error instanceof WriteError) throw error;
      const code = errnoCode(error);
      // A read-only mount: Claude Code can use it, but its refreshed tokens will be lost.
      if (code === 'EROFS') owner.log.warn(`${p} is on a read-only mount: Claude Code cannot save refreshed tokens there`);
      else throw writeError(error, `cannot set owner or mode of ${p}`, owner);
    } finally {
      fs.closeSync(fd);
    }
  });
}

/** Far above any real .claude.json (Claude Code keeps per-project history there). */
export const MAX_CLAUDE_JSON_BYTES = 64 * 1024 * 1024;

/**
 * Read a file someone else may have placed: without blocking (a FIFO would hang the start),
 * regular files only, at most `limit` bytes. undefined when absent (or a link, when root writes for another user).
 */
export function readPlacedFile(p: string, owner: Ownership, limit: number): string | undefined {
  return withRightsFor(p, owner.user, () => {
    let fd: number;
    try {
      fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (rootActsForAnotherUser(owner.user) ? fs.constants.O_NOFOLLOW : 0));
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT' || code === 'ELOOP') return undefined;
      // open(2) of a socket fails with ENXIO: say what it is, as for a FIFO or a device.
      if (code === 'ENXIO') throw new WriteError(`${p} is not a regular file (a socket); remove it`);
      throw writeError(error, `cannot read ${p}`, owner);
    }
    try {
      const stat = fs.fstatSync(fd);
      if (!stat.isFile()) throw new WriteError(`${p} is not a regular file (${describeType(stat)}); remove it`);
      if (stat.size > limit) throw new WriteError(`${p} is larger than ${limit} bytes; move it aside`);
      const chunks: Buffer[] = [];
      let total = 0;
      const chunk = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = fs.readSync(fd, chunk, 0, chunk.length, null);
        if (n === 0) break;
        total += n;
        if (total > limit) throw new WriteError(`${p} is larger than ${limit} bytes; move it aside`);
        chunks.push(Buffer.from(chunk.subarray(0, n)));
      }
      return Buffer.concat(chunks).toString('utf8');
    } catch (error) {
      if (error instanceof WriteError) throw error;
      throw writeError(error, `cannot read ${p}`, owner);
    } finally {
      fs.closeSync(fd);
    }
  });
}

function describeType(stat: fs.Stats): string {
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isDirectory()) return 'a directory';
  return 'not a file';
}

/** The existing JSON object at p, {} when absent, or undefined when it is not valid JSON. */
export function readJsonObject(p: string, owner: Ownership): Record<string, unknown> | undefined {
  const text = readPlacedFile(p, owner, MAX_CLAUDE_JSON_BYTES);
  if (text === undefined || text.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Keep an unparseable file beside the new one instead of clobbering it. */
export function setAsideInvalid(p: string, owner: Ownership): string {
  const aside = `${p}.invalid-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  withRightsFor(p, owner.user, () => {
    try {
      fs.renameSync(p, aside);
    } catch (error) {
      throw writeError(error, `cannot move the invalid ${p} aside`, owner);
    }
  });
  return aside;
}

/** Not root: fail clearly before writing anything when the target directory is not ours. */
export function checkWritable(dir: string): void {
  let existing = dir;
  while (!fs.existsSync(existing)) existing = path.dirname(existing);
  try {
    fs.accessSync(existing, fs.constants.W_OK | fs.constants.X_OK);
  } catch (error) {
    if (errnoCode(error) === 'EROFS') {
      throw new WriteError(
        `${existing} is on a read-only file system; give the user a writable home (e.g. a tmpfs or a volume at ${existing}) or set CLAUDE_CONFIG_DIR`,
      );
    }
    const owner = fs.statSync(existing).uid;
    throw new WriteError(
      `${existing} is not writable by uid ${process.getuid!()} (owned by uid ${owner}); run as its owner, give the user a writable home, or set CLAUDE_CONFIG_DIR`,
    );
  }
}

/**
 * The .claude.json lock Claude Code itself takes (proper-lockfile: a directory `<file>.lock`,
 * stale when its mtime is 10 s old), so two starts on one home, or a start and a running CLI,
 * never merge over each other. Held for milliseconds.
 */
export function withFileLock<T>(file: string, owner: Ownership, fn: () => T, timeoutMs = 15_000): T {
  const lock = `${file}.lock`;
  const deadline = Date.now() + timeoutMs;
  let wait = 5;
  for (;;) {
    const acquired = withRightsFor(lock, owner.user, (asUser) => {
      try {
        fs.mkdirSync(lock, { mode: 0o700 });
        if (rootActsForAnotherUser(owner.user) && !asUser) fs.lchownSync(lock, owner.user.uid, owner.user.gid);
        return true;
      } catch (error) {
        if (errnoCode(error) !== 'EEXIST') throw writeError(error, `cannot lock ${file} (${lock})`, owner);
        const stat = fs.lstatSync(lock, { throwIfNoEntry: false });
        if (stat?.isDirectory() && Date.now() - stat.mtimeMs > LOCK_STALE_MS) {
          fs.rmSync(lock, { recursive: true, force: true });
          owner.log.debug(`removed a stale lock ${lock}`);
        } else if (stat && !stat.isDirectory()) {
          throw new WriteError(`${lock} exists and is not a lock directory; remove it`);
        }
        return false;
      }
    });
    if (acquired) break;
    if (Date.now() > deadline) throw new WriteError(`${file} stayed locked for ${timeoutMs / 1000} s (${lock}); is another claude-entry or Claude Code stuck?`);
    sleepSync(wait);
    wait = Math.min(wait * 2, 100);
  }
  try {
    return fn();
  } finally {
    withRightsFor(lock, owner.user, () => removeLockDirectory(lock));
  }
}

/**
 * Our lock is an empty directory: rmdir, without loading fs.rmSync's recursive machinery
 * (a module of Node's own, compiled at every start that uses it); whatever is in it after all
 * goes the long way.
 */
function removeLockDirectory(lock: string): void {
  try {
    fs.rmdirSync(lock);
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') fs.rmSync(lock, { recursive: true, force: true });
  }
}

const LOCK_STALE_MS = 10_000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Remove the directories a failed start created, deepest first, if still empty. */
export function removeCreatedDirectories(owner: Ownership): void {
  for (const dir of [...(owner.created ?? [])].reverse()) {
    withRightsFor(dir, owner.user, () => {
      try {
        fs.rmdirSync(dir);
      } catch {
        // Not empty (someone else wrote there meanwhile) or gone: leave it.
      }
    });
  }
}

function writeError(error: unknown, what: string, owner: Ownership): WriteError {
  const code = errnoCode(error);
  const hint =
    code === 'EROFS'
      ? 'read-only file system'
      : code === 'EACCES' || code === 'EPERM'
        ? `permission denied for ${rootActsForAnotherUser(owner.user) ? `${who(owner)} (uid ${owner.user.uid})` : `uid ${process.getuid!()}`}${owner.user.dropsFromRoot ? '' : ' (not root, so files are written as this uid)'}`
        : code === 'ENOSPC'
          ? 'no space left on device'
          : code === 'EDQUOT'
            ? 'disk quota exceeded'
            : code === 'ELOOP'
              ? 'a symbolic link is in the way'
              : (code ?? 'unknown error');
  return new WriteError(`${what}: ${hint}`, { cause: error });
}

/**
 * Reading a secret file defensively (a mounted secret, the credentials file in a home, the
 * state file): never blocks on a FIFO, refuses what is not a regular file, reads at most
 * MAX_SECRET_BYTES, with the target user's rights where that user controls the path. Used by
 * the file sources and by the stores that write those files back (src/sync/stores.ts).
 */
import * as fs from 'node:fs';
import * as pathModule from 'node:path';
import { ConfigError, errnoCode } from './errors.js';
import { userControls, withRightsOf } from './rights.js';
import type { TargetUser } from './user.js';

/** Far above any credential (a credentials JSON is under 1 KiB); stops a wrong mount early. */
export const MAX_SECRET_BYTES = 1024 * 1024;

export interface ReadOptions {
  /** Not following a symlink at the last component: for files in the target's home. */
  noFollow?: boolean;
  /**
   * Read with this user's rights where the user could change what the path resolves to (a
   * file source in a directory the user can write, the credentials file in its home).
   */
  as?: TargetUser;
  /**
   * A directory the target user controls everything below (its home): a symbolic link at any
   * step below it (~/.claude -> /root/.claude) is refused too, checked on the open descriptor.
   */
  linkFreeBelow?: string;
}

/**
 * Read a secret file defensively: never blocks on a FIFO, refuses what is not a regular
 * file, and never reads more than MAX_SECRET_BYTES. Errors name the path, never content.
 */
export function readSecretFile(path: string, source: string, options: ReadOptions = {}): Buffer {
  const user = options.as;
  if (user && userControls(path, user)) {
    try {
      return withRightsOf(user, () => readSecretFileHere(path, source, options));
    } catch (error) {
      if (error instanceof ConfigError && /is not readable by uid/.test(error.message)) {
        throw new ConfigError(
          `${source}: ${path} is not readable by ${user.name ?? `uid ${user.uid}`}: it is where that user can change it, so it is read with that user's rights (make it readable by the user, or move it to a directory the user cannot write)`,
          { cause: error },
        );
      }
      throw error;
    }
  }
  return readSecretFileHere(path, source, options);
}

function readSecretFileHere(path: string, source: string, options: ReadOptions): Buffer {
  let fd: number;
  const flags = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (options.noFollow ? fs.constants.O_NOFOLLOW : 0);
  try {
    fd = fs.openSync(path, flags);
  } catch (error) {
    throw fileError(error, path, source);
  }
  try {
    if (options.linkFreeBelow !== undefined) refuseLinksBelow(fd, path, options.linkFreeBelow, source);
    const stat = fs.fstatSync(fd);
    if (stat.isDirectory()) throw new ConfigError(`${source}: ${path} is a directory, not a file`);
    if (!stat.isFile()) throw new ConfigError(`${source}: ${path} is not a regular file (${fileType(stat)})`);
    if (stat.size > MAX_SECRET_BYTES) {
      throw new ConfigError(`${source}: ${path} is ${stat.size} bytes, more than a credential can be (limit ${MAX_SECRET_BYTES})`);
    }
    const buffer = Buffer.alloc(MAX_SECRET_BYTES + 1);
    let length = 0;
    for (;;) {
      const n = fs.readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > MAX_SECRET_BYTES) throw new ConfigError(`${source}: ${path} is larger than a credential can be`);
    }
    return buffer.subarray(0, length);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw fileError(error, path, source);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * What the descriptor really opened (/proc/self/fd) must be the path as written below `below`:
 * O_NOFOLLOW guards only the last step, and Node has no openat to walk the others.
 */
function refuseLinksBelow(fd: number, file: string, below: string, source: string): void {
  const linkFree = linkFreePath(file, below, () => fs.readlinkSync(`/proc/self/fd/${fd}`));
  if (linkFree === false) throw new ConfigError(`${source}: ${file} is reached through a symbolic link below ${below}, which is not followed here`);
}

/**
 * Whether `file` (or a directory) as `resolve` resolves it lies where its path says below
 * `below`; undefined when that cannot be told (no /proc).
 */
export function linkFreePath(file: string, below: string, resolve: () => string = () => fs.realpathSync(file)): boolean | undefined {
  let real: string;
  let base: string;
  try {
    real = resolve();
    base = fs.realpathSync(below);
  } catch {
    return undefined;
  }
  const relative = pathModule.relative(below, file);
  if (relative.startsWith('..') || pathModule.isAbsolute(relative)) return undefined;
  return real === pathModule.join(base, relative);
}

function fileType(stat: fs.Stats): string {
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  return 'not a file';
}

function fileError(error: unknown, path: string, source: string): ConfigError {
  const code = errnoCode(error);
  const uid = process.getuid?.();
  const reason =
    code === 'ENOENT'
      ? 'does not exist'
      : code === 'EACCES' || code === 'EPERM'
        ? `is not readable by uid ${uid} (check the mount's mode and owner)`
        : code === 'ELOOP'
          ? 'is a symbolic link, which is not followed here'
          : code === 'EISDIR'
            ? 'is a directory, not a file'
            : code === 'ENOTDIR'
              ? 'has a path component that is not a directory'
              : `cannot be read (${code ?? 'unknown error'})`;
  return new ConfigError(`${source}: ${path} ${reason}`, { cause: error });
}

/**
 * Whose rights a file operation runs with. Running as root over a home the target user
 * controls, a check on a path followed by an operation on the same path is never safe: the
 * user can swap a directory for a link between the two. So wherever the target user could
 * change what a path resolves to, claude-entry does the work with the target's own rights
 * (effective uid, gid and groups switched around it, as OpenSSH's temporarily_use_uid does):
 * whatever the user swaps in, the operation can do no more than the user could. Root's own
 * rights are used only on paths the target cannot change (the image's directories).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, errnoCode } from './errors.js';
import type { TargetUser } from './user.js';

/** Root writing for another user: the only case where rights must be chosen. */
export function rootActsForAnotherUser(user: TargetUser): boolean {
  return user.dropsFromRoot && user.uid !== 0;
}

/** Whether the target user can add, remove or rename entries in a directory with this stat. */
export function userCanModify(stat: fs.Stats, user: TargetUser): boolean {
  if (stat.uid === user.uid) return true;
  if (stat.mode & 0o002) return true;
  return (stat.mode & 0o020) !== 0 && user.groups.includes(stat.gid);
}

const MAX_LINKS = 40; // the kernel's own limit on links in one lookup

/**
 * Whether the target user can put something else at `name` in a directory with stat `dir`:
 * it can write the directory and, where the directory is sticky (/tmp), the entry is its own
 * or missing (a sticky directory keeps others' entries from being renamed or removed).
 */
function userCanReplace(dir: fs.Stats, entry: fs.Stats | undefined, user: TargetUser): boolean {
  if (!userCanModify(dir, user)) return false;
  if (!(dir.mode & 0o1000) || dir.uid === user.uid || entry === undefined) return true;
  return entry.uid === user.uid;
}

/**
 * True when the target user could change what `target` resolves to: in some directory the
 * lookup passes through, the user can replace the entry the lookup takes (or create it, where
 * it is missing). Links are followed only where the user cannot replace them (the image
 * author's links), so the answer cannot be steered by the user. Checking as root, then acting,
 * is safe here because a path that passes cannot be changed by the user in between.
 */
export function userControls(target: string, user: TargetUser): boolean {
  if (!rootActsForAnotherUser(user)) return false;
  let pending = path.resolve(target).split('/').filter(Boolean);
  let current = '/';
  let currentStat: fs.Stats;
  try {
    currentStat = fs.statSync(current);
  } catch {
    return true;
  }
  let links = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      current = path.dirname(current);
      currentStat = fs.statSync(current);
      continue;
    }
    const next = path.join(current, name);
    let stat: fs.Stats | undefined;
    try {
      stat = fs.lstatSync(next);
    } catch (error) {
      const code = errnoCode(error);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return true; // cannot see: assume the worst, act as the user
    }
    if (userCanReplace(currentStat, stat, user)) return true;
    if (stat === undefined) return false; // would be created in a directory the user cannot change
    if (stat.isSymbolicLink()) {
      if (++links > MAX_LINKS) return true;
      const link = fs.readlinkSync(next);
      pending = [...link.split('/').filter(Boolean), ...pending];
      if (link.startsWith('/')) {
        current = '/';
        currentStat = fs.statSync(current);
      }
      continue;
    }
    if (pending.length === 0 || !stat.isDirectory()) return false;
    current = next;
    currentStat = stat;
  }
  return false;
}

interface SavedRights {
  euid: number;
  egid: number;
  groups: number[];
}

let current: SavedRights | undefined;

/**
 * Run `fn` with the target's effective uid, gid and groups, then switch back. Real and saved
 * uid stay 0, so the user's processes can neither signal nor trace us meanwhile, and switching
 * back always works. Changing the effective uid also makes the process non-dumpable for good
 * (its /proc files become root's), which the supervisor wants anyway.
 */
export function withRightsOf<T>(user: TargetUser, fn: () => T): T {
  if (!rootActsForAnotherUser(user) || current !== undefined) return fn();
  const saved: SavedRights = { euid: process.geteuid!(), egid: process.getegid!(), groups: process.getgroups!() };
  becomeUser(user);
  current = saved;
  try {
    return fn();
  } finally {
    current = undefined;
    process.seteuid!(saved.euid);
    process.setegid!(saved.egid);
    process.setgroups!(saved.groups);
  }
}

function becomeUser(user: TargetUser): void {
  try {
    process.setgroups!(user.groups);
  } catch (error) {
    throw new ConfigError(
      `cannot take the groups of ${user.name ?? `uid ${user.uid}`} (${user.groups.length} groups; ${errnoCode(error) ?? 'setgroups failed'}): check /etc/group and the container's capabilities (CAP_SETGID)`,
      { cause: error },
    );
  }
  try {
    process.setegid!(user.gid);
    process.seteuid!(user.uid);
  } catch (error) {
    process.setgroups!([process.getegid!()]);
    throw new ConfigError(
      `cannot switch to ${user.name ?? `uid ${user.uid}`} (${errnoCode(error) ?? 'setuid failed'}): the container needs CAP_SETUID and CAP_SETGID`,
      { cause: error },
    );
  }
}

/** Run `fn` with the rights that fit `target`: the user's where the user controls it. */
export function withRightsFor<T>(target: string, user: TargetUser, fn: (asUser: boolean) => T): T {
  if (userControls(target, user)) return withRightsOf(user, () => fn(true));
  return fn(false);
}

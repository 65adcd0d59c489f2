/**
 * The target user, from /etc/passwd and /etc/group (the files, as gosu and su-exec read them:
 * containers have no NSS daemons). Pure parsing functions take text, so they test as tables.
 */
import * as fs from 'node:fs';
import { ConfigError } from './errors.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface TargetUser {
  uid: number;
  gid: number;
  /** Primary gid first, then every group that lists the user as a member. */
  groups: number[];
  name?: string;
  home: string;
  /** claude-entry runs as root: it writes the files for this user, then drops to it before the command. */
  dropsFromRoot: boolean;
}

export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 7) continue;
    const uid = toId(f[2]!);
    const gid = toId(f[3]!);
    if (uid === undefined || gid === undefined) continue;
    entries.push({ name: f[0]!, uid, gid, home: f[5]!, shell: f[6]! });
  }
  return entries;
}

export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const gid = toId(f[2]!);
    if (gid === undefined) continue;
    entries.push({
      name: f[0]!,
      gid,
      members: f[3]!
        .split(',')
        .map((m) => m.trim())
        .filter(Boolean),
    });
  }
  return entries;
}

function toId(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 0xfffffffe ? n : undefined;
}

export interface UserDatabase {
  passwd: PasswdEntry[];
  group: GroupEntry[];
}

export function readUserDatabase(etc = '/etc'): UserDatabase {
  const read = (name: string) => {
    try {
      return fs.readFileSync(`${etc}/${name}`, 'utf8');
    } catch {
      return '';
    }
  };
  return { passwd: parsePasswd(read('passwd')), group: parseGroup(read('group')) };
}

export function supplementaryGroups(db: UserDatabase, name: string | undefined, primaryGid: number): number[] {
  const groups = [primaryGid];
  if (name !== undefined) {
    for (const g of db.group) if (g.members.includes(name) && !groups.includes(g.gid)) groups.push(g.gid);
  }
  return groups;
}

/**
 * Resolve `name`, `uid`, `name:group` or `uid:gid` (the forms gosu takes).
 * `spec` undefined means "whoever runs the shim".
 */
export function resolveTargetUser(
  spec: string | undefined,
  db: UserDatabase,
  self: { uid: number; gid: number; home?: string },
  /** Only looking (check, doctor): a non-root caller may name another user. */
  inspectOnly = false,
): TargetUser {
  if (spec === undefined || spec.trim() === '') {
    const entry = db.passwd.find((p) => p.uid === self.uid);
    const home = self.home || entry?.home;
    if (!home) throw new ConfigError(`uid ${self.uid} has no home: set HOME or add it to /etc/passwd`);
    return {
      uid: self.uid,
      gid: self.gid,
      groups: supplementaryGroups(db, entry?.name, self.gid),
      name: entry?.name,
      home,
      dropsFromRoot: false,
    };
  }

  const [userPart, groupPart, ...rest] = spec.trim().split(':');
  if (rest.length > 0 || userPart === undefined || userPart === '') {
    throw new ConfigError(`CLAUDE_ENTRY_USER: "${spec}" is not a user (expected name, uid, name:group or uid:gid)`);
  }
  const numericUid = toId(userPart);
  const entry = numericUid !== undefined ? db.passwd.find((p) => p.uid === numericUid) : db.passwd.find((p) => p.name === userPart);
  if (!entry) {
    throw new ConfigError(
      numericUid !== undefined
        ? `CLAUDE_ENTRY_USER: uid ${numericUid} has no entry in /etc/passwd (claude-entry needs its home directory; add the user in the image)`
        : `CLAUDE_ENTRY_USER: unknown user "${userPart}" (not in /etc/passwd)`,
    );
  }

  let gid = entry.gid;
  if (groupPart !== undefined && groupPart !== '') {
    const numericGid = toId(groupPart);
    if (numericGid !== undefined) gid = numericGid;
    else {
      const group = db.group.find((g) => g.name === groupPart);
      if (!group) throw new ConfigError(`CLAUDE_ENTRY_USER: unknown group "${groupPart}" (not in /etc/group)`);
      gid = group.gid;
    }
  }
  if (!inspectOnly && self.uid !== 0 && (self.uid !== entry.uid || self.gid !== gid)) {
    throw new ConfigError(
      `CLAUDE_ENTRY_USER: cannot switch to ${entry.name} (${entry.uid}:${gid}) when not running as root (running as ${self.uid}:${self.gid})`,
    );
  }
  return {
    uid: entry.uid,
    gid,
    // As gosu and `docker run --user` do: a group named outright is the only group.
    groups: groupPart ? [gid] : supplementaryGroups(db, entry.name, gid),
    name: entry.name,
    home: entry.home,
    dropsFromRoot: self.uid === 0,
  };
}

/** setgroups, setgid, setuid: gosu's order (groups and gid while still root). */
export function dropPrivileges(user: TargetUser): void {
  process.setgroups!(user.groups);
  process.setgid!(user.gid);
  process.setuid!(user.uid);
}

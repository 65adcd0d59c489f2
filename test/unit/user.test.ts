import { describe, expect, it } from 'vitest';
import { parseGroup, parsePasswd, resolveTargetUser, type UserDatabase } from '../../src/user.js';

const passwd = `root:x:0:0:root:/root:/bin/bash
# a comment
node:x:1000:1000::/home/node:/bin/bash
agent:x:1001:1001:Agent,,,:/home/agent:/bin/sh
broken line
nouid:x:abc:1:::/bin/sh
`;
const group = `root:x:0:
node:x:1000:
agent:x:1001:
docker:x:998:agent,node
audio:x:29: agent
wheel:x:10:root
`;
const db: UserDatabase = { passwd: parsePasswd(passwd), group: parseGroup(group) };
const root = { uid: 0, gid: 0, home: '/root' };

describe('passwd and group parsing', () => {
  it('skips comments, blank and malformed lines', () => {
    expect(db.passwd.map((p) => p.name)).toEqual(['root', 'node', 'agent']);
    expect(db.passwd[2]).toEqual({ name: 'agent', uid: 1001, gid: 1001, home: '/home/agent', shell: '/bin/sh' });
  });
  it('reads member lists', () => {
    expect(db.group.find((g) => g.name === 'docker')?.members).toEqual(['agent', 'node']);
    expect(db.group.find((g) => g.name === 'audio')?.members).toEqual(['agent']);
  });
});

describe('resolveTargetUser', () => {
  it.each([
    ['agent', { uid: 1001, gid: 1001, groups: [1001, 998, 29], home: '/home/agent', dropsFromRoot: true }],
    ['1001', { uid: 1001, gid: 1001, groups: [1001, 998, 29], home: '/home/agent', dropsFromRoot: true }],
    ['1000:1000', { uid: 1000, gid: 1000, groups: [1000], home: '/home/node', dropsFromRoot: true }],
    ['agent:docker', { uid: 1001, gid: 998, groups: [998], home: '/home/agent', dropsFromRoot: true }],
    ['node:5000', { uid: 1000, gid: 5000, groups: [5000], home: '/home/node', dropsFromRoot: true }],
  ])('%s as root', (spec, expected) => {
    expect(resolveTargetUser(spec, db, root)).toMatchObject(expected);
  });

  it('without a spec is whoever runs it, with HOME winning', () => {
    expect(resolveTargetUser(undefined, db, { uid: 1000, gid: 1000, home: '/custom' })).toMatchObject({
      uid: 1000,
      home: '/custom',
      dropsFromRoot: false,
    });
    expect(resolveTargetUser(undefined, db, { uid: 1000, gid: 1000 })).toMatchObject({ home: '/home/node' });
  });

  it.each([
    ['bogus', /unknown user "bogus"/],
    ['4242', /uid 4242 has no entry in \/etc\/passwd/],
    ['agent:nogroup', /unknown group "nogroup"/],
    ['a:b:c', /is not a user/],
    [':1000', /is not a user/],
  ])('%s fails with 78', (spec, message) => {
    expect(() => resolveTargetUser(spec, db, root)).toThrow(message);
  });

  it('a non-root shim cannot switch to someone else', () => {
    expect(() => resolveTargetUser('agent', db, { uid: 1000, gid: 1000 })).toThrow(/when not running as root/);
    expect(resolveTargetUser('node', db, { uid: 1000, gid: 1000 })).toMatchObject({ dropsFromRoot: false });
  });
});

/**
 * src/home.ts's helpers as tables, as this process (no switch to another user): where Claude
 * Code's files go (claudePaths), every-byte-or-nothing writes and their temp files, reading a
 * file someone else placed, the .claude.json lock, the directories a start makes and takes
 * back. Root writing for another user: test/system/users.test.ts, test/system/hardening.test.ts.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, WriteError } from '../../src/errors.js';
import {
  claudePaths,
  ensureDirectory,
  fixModeAndOwner,
  ownedBySelf,
  readJsonObject,
  readPlacedFile,
  removeCreatedDirectories,
  removeStaleTempFiles,
  setAsideInvalid,
  stageFile,
  uniqueSuffix,
  withFileLock,
  writeFileAtomic,
  writeTarget,
} from '../../src/home.js';
import { createLogger } from '../../src/log.js';
import { fileMode, tempDir, thrown } from '../helpers.js';

const self = () => ownedBySelf(createLogger({ level: 'silent' }));
/** `run` fails with a WriteError (73) whose message matches. */
function expectWriteError(run: () => unknown, message: RegExp): void {
  const error = thrown(run);
  expect(error).toBeInstanceOf(WriteError);
  expect(error.message).toMatch(message);
}
const mkfifo = (p: string) => expect(spawnSync('mkfifo', [p]).status).toBe(0);

describe('claudePaths', () => {
  it.each<[string, string, NodeJS.ProcessEnv, Record<string, string>]>([
    [
      'the home',
      '/home/agent',
      {},
      { configDir: '/home/agent/.claude', credentialsPath: '/home/agent/.claude/.credentials.json', claudeJsonPath: '/home/agent/.claude.json' },
    ],
    [
      'CLAUDE_CONFIG_DIR: both files there',
      '/home/agent',
      { CLAUDE_CONFIG_DIR: '/cfg' },
      { configDir: '/cfg', credentialsPath: '/cfg/.credentials.json', claudeJsonPath: '/cfg/.claude.json' },
    ],
    [
      'CLAUDE_CONFIG_DIR normalised',
      '/home/agent',
      { CLAUDE_CONFIG_DIR: '/cfg/../data/claude/' },
      { configDir: '/data/claude', claudeJsonPath: '/data/claude/.claude.json' },
    ],
    [
      'CLAUDE_CONFIG_DIR empty: the home',
      '/home/agent',
      { CLAUDE_CONFIG_DIR: '' },
      { configDir: '/home/agent/.claude', claudeJsonPath: '/home/agent/.claude.json' },
    ],
    ['the root directory as home', '/', {}, { configDir: '/.claude', claudeJsonPath: '/.claude.json' }],
  ])('%s', (_what, home, env, expected) => {
    expect(claudePaths(home, env)).toMatchObject({ home, ...expected });
  });

  it.each<[string, string, NodeJS.ProcessEnv, RegExp]>([
    ['an empty home', '', {}, /^the target user's home is empty \(check its \/etc\/passwd entry or HOME\)$/],
    ['a relative home', 'home/agent', {}, /^the target user's home "home\/agent" is not an absolute path/],
    [
      'a relative CLAUDE_CONFIG_DIR',
      '/home/agent',
      { CLAUDE_CONFIG_DIR: 'cfg' },
      /^CLAUDE_CONFIG_DIR must be an absolute path \(Claude Code would resolve "cfg" against/,
    ],
    ['a ./ CLAUDE_CONFIG_DIR', '/home/agent', { CLAUDE_CONFIG_DIR: './.claude' }, /^CLAUDE_CONFIG_DIR must be an absolute path/],
  ])('%s: ConfigError', (_what, home, env, message) => {
    const error = thrown(() => claudePaths(home, env));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(message);
  });
});

describe('writing every byte or nothing', () => {
  it('writeFileAtomic: a new file, 0600, and no temp file beside it', () => {
    const dir = tempDir();
    const file = path.join(dir, 'f.json');
    writeFileAtomic(file, 'één\n', self());
    expect(fs.readFileSync(file, 'utf8')).toBe('één\n');
    expect(fileMode(file)).toBe(0o600);
    expect(fs.readdirSync(dir)).toEqual(['f.json']);
  });

  it('writeFileAtomic over an existing file: replaced (a new inode), 0600 whatever the old mode', () => {
    const dir = tempDir();
    const file = path.join(dir, 'f.json');
    fs.writeFileSync(file, 'old', { mode: 0o644 });
    const before = fs.statSync(file).ino;
    writeFileAtomic(file, 'new', self());
    expect(fs.readFileSync(file, 'utf8')).toBe('new');
    expect(fileMode(file)).toBe(0o600);
    expect(fs.statSync(file).ino).not.toBe(before);
  });

  it('a staged file aborted instead of committed: the old file stays, no temp file', () => {
    const dir = tempDir();
    const file = path.join(dir, 'f.json');
    fs.writeFileSync(file, 'old', { mode: 0o600 });
    const staged = stageFile(file, 'new', self());
    staged.abort();
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
    expect(fs.readdirSync(dir)).toEqual(['f.json']);
    expect(() => staged.commit()).toThrow(/already committed or aborted/);
  });

  it('stageFile: the temp file waits beside the target, named so that removeStaleTempFiles finds it', () => {
    const dir = tempDir();
    const file = path.join(dir, '.credentials.json');
    const staged = stageFile(file, 'x', self());
    const [temp, ...others] = fs.readdirSync(dir);
    expect(others).toEqual([]);
    expect(temp).toMatch(new RegExp(`^\\.\\.credentials\\.json\\.claude-entry-${process.pid}-[a-z0-9]+-[a-z0-9]+\\.tmp$`));
    expect(fileMode(path.join(dir, temp!))).toBe(0o600);
    expect(fs.existsSync(file)).toBe(false);
    removeStaleTempFiles(dir, '.credentials.json');
    expect(fs.readdirSync(dir)).toEqual([]);
    staged.abort(); // gone already: no error
  });

  it('stageFile: commit once; abort after commit leaves the file; a second commit throws', () => {
    const dir = tempDir();
    const file = path.join(dir, 'f');
    const staged = stageFile(file, 'x', self());
    staged.commit();
    staged.abort();
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
    expect(() => staged.commit()).toThrow(/already committed or aborted/);
    const aborted = stageFile(file, 'y', self());
    aborted.abort();
    expect(() => aborted.commit()).toThrow(/already committed or aborted/);
    expect(fs.readdirSync(dir)).toEqual(['f']);
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
  });

  it('a write into a missing directory: WriteError naming the file, nothing left', () => {
    const dir = tempDir();
    expectWriteError(() => writeFileAtomic(path.join(dir, 'missing', 'f'), 'x', self()), new RegExp(`^cannot write ${dir}/missing/f: ENOENT$`));
  });

  it('uniqueSuffix: this pid first, never the same twice', () => {
    const suffixes = new Set(Array.from({ length: 200 }, uniqueSuffix));
    expect(suffixes.size).toBe(200);
    for (const s of suffixes) expect(s.startsWith(`${process.pid}-`)).toBe(true);
  });
});

describe('removeStaleTempFiles', () => {
  it.each<[string, boolean]>([
    ['..credentials.json.claude-entry-4242-0123456789ab.tmp', true],
    ['..credentials.json.claude-entry-1-x-y.tmp', true],
    ['..credentials.json.claude-entry-4242.partial', false], // not .tmp
    ['.credentials.json.claude-entry-4242.tmp', false], // the file's own name, not its temp's (one dot)
    ['..claude.json.claude-entry-4242.tmp', false], // another file's temp
    ['..credentials.json.tmp', false], // not ours
    ['.credentials.json', false],
  ])('%s removed: %s', (name, removed) => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, name), 'x');
    removeStaleTempFiles(dir, '.credentials.json');
    expect(fs.existsSync(path.join(dir, name))).toBe(!removed);
  });

  it('a missing directory is nothing to clean', () => {
    expect(() => removeStaleTempFiles(path.join(tempDir(), 'missing'), '.credentials.json', self())).not.toThrow();
  });
});

describe('reading a file someone else placed', () => {
  const LIMIT = 1024;
  it.each<[string, (p: string) => void, string | undefined | RegExp]>([
    ['absent', () => {}, undefined],
    ['a file', (p) => fs.writeFileSync(p, '{"a":1}'), '{"a":1}'],
    ['an empty file', (p) => fs.writeFileSync(p, ''), ''],
    ['exactly the limit', (p) => fs.writeFileSync(p, 'x'.repeat(LIMIT)), 'x'.repeat(LIMIT)],
    ['over the limit', (p) => fs.writeFileSync(p, 'x'.repeat(LIMIT + 1)), /is larger than 1024 bytes; move it aside$/],
    ['a FIFO (never blocks)', (p) => mkfifo(p), /is not a regular file \(a FIFO\); remove it$/],
    ['a directory', (p) => fs.mkdirSync(p), /is not a regular file \(a directory\); remove it$/],
    ['a character device, by a link', (p) => fs.symlinkSync('/dev/zero', p), /is not a regular file \(a character device\); remove it$/],
  ])('readPlacedFile, %s', (_what, place, expected) => {
    const p = path.join(tempDir(), 'placed');
    place(p);
    if (expected instanceof RegExp) {
      expectWriteError(() => readPlacedFile(p, self(), LIMIT), expected);
    } else expect(readPlacedFile(p, self(), LIMIT)).toBe(expected);
  });

  it.each<[string, string | undefined, Record<string, unknown> | undefined]>([
    ['absent: {}', undefined, {}],
    ['blank: {}', ' \n', {}],
    ['an object', '{"projects": {"/w": {}}}', { projects: { '/w': {} } }],
    ['an array: not ours to merge into', '[1]', undefined],
    ['null', 'null', undefined],
    ['a string', '"x"', undefined],
    ['not JSON', '{"cut', undefined],
  ])('readJsonObject, %s', (_what, text, expected) => {
    const p = path.join(tempDir(), '.claude.json');
    if (text !== undefined) fs.writeFileSync(p, text);
    expect(readJsonObject(p, self())).toEqual(expected);
  });

  it('setAsideInvalid: renamed beside, with the time in its name', () => {
    const dir = tempDir();
    const p = path.join(dir, '.claude.json');
    fs.writeFileSync(p, '{"cut');
    const aside = setAsideInvalid(p, self());
    expect(aside).toMatch(/\/\.claude\.json\.invalid-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/);
    expect(fs.readdirSync(dir)).toEqual([path.basename(aside)]);
    expect(fs.readFileSync(aside, 'utf8')).toBe('{"cut');
  });
});

describe('writeTarget: the path a write goes through (as this process: links followed)', () => {
  it.each<[string, (dir: string, p: string) => void, (dir: string, p: string) => string]>([
    ['absent: itself', () => {}, (_dir, p) => p],
    ['a file: itself', (_dir, p) => fs.writeFileSync(p, '{}'), (_dir, p) => p],
    [
      'a link: where it leads',
      (dir, p) => {
        fs.writeFileSync(path.join(dir, 'data.json'), '{}');
        fs.symlinkSync('data.json', p);
      },
      (dir) => path.join(dir, 'data.json'),
    ],
    ['a dangling link: itself (the link is replaced)', (_dir, p) => fs.symlinkSync('nowhere.json', p), (_dir, p) => p],
  ])('%s', (_what, place, expected) => {
    const dir = fs.realpathSync(tempDir());
    const p = path.join(dir, '.claude.json');
    place(dir, p);
    expect(writeTarget(p, self())).toBe(expected(dir, p));
  });
});

describe('fixModeAndOwner: a credentials file already in place', () => {
  it.each([[0o644], [0o600], [0o400], [0o777]])('mode %o: 0600 after', (mode) => {
    const p = path.join(tempDir(), '.credentials.json');
    fs.writeFileSync(p, '{}');
    fs.chmodSync(p, mode);
    fixModeAndOwner(p, self());
    expect(fileMode(p)).toBe(0o600);
  });

  it.each<[string, (p: string) => void, RegExp]>([
    ['a FIFO', (p) => mkfifo(p), /is not a regular file$/],
    ['a directory', (p) => fs.mkdirSync(p), /is not a regular file$/],
    ['a link (not followed)', (p) => fs.symlinkSync('/etc/hostname', p), /^cannot open .*: a symbolic link is in the way$/],
    ['absent', () => {}, /^cannot open .*: ENOENT$/],
  ])('%s: WriteError', (_what, place, message) => {
    const p = path.join(tempDir(), '.credentials.json');
    place(p);
    expectWriteError(() => fixModeAndOwner(p, self()), message);
  });
});

describe('directories', () => {
  it('ensureDirectory: the missing parents too, 0700, each recorded as created (deepest last)', () => {
    const root = tempDir();
    const owner = { ...self(), created: [] as string[] };
    const dir = path.join(root, 'a', 'b', '.claude');
    ensureDirectory(dir, owner);
    expect(owner.created).toEqual([path.join(root, 'a'), path.join(root, 'a', 'b'), dir]);
    for (const d of owner.created) expect(fileMode(d)).toBe(0o700);
    removeCreatedDirectories(owner);
    expect(fs.readdirSync(root)).toEqual([]);
  });

  it('removeCreatedDirectories leaves one someone wrote into meanwhile, and its parents', () => {
    const root = tempDir();
    const owner = { ...self(), created: [] as string[] };
    ensureDirectory(path.join(root, 'a', '.claude'), owner);
    fs.writeFileSync(path.join(root, 'a', '.claude', 'kept'), '');
    removeCreatedDirectories(owner);
    expect(fs.readdirSync(path.join(root, 'a', '.claude'))).toEqual(['kept']);
  });

  it.each<[string, boolean, number]>([
    ["Claude Code's own directory is made 0700", true, 0o700],
    ['a parent (the home) keeps its mode', false, 0o755],
  ])('an existing directory, 0755: %s', (_what, adopt, mode) => {
    const dir = path.join(tempDir(), '.claude');
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o755);
    const owner = { ...self(), created: [] as string[] };
    ensureDirectory(dir, owner, adopt);
    expect(fileMode(dir)).toBe(mode);
    expect(owner.created).toEqual([]);
  });

  it.each<[string, (p: string) => void, RegExp]>([
    ['a file', (p) => fs.writeFileSync(p, ''), /exists and is not a directory$/],
    ['a link to a file', (p) => fs.symlinkSync('/etc/hostname', p), /is a link to something that is not a directory$/],
  ])('in the way, %s: WriteError', (_what, place, message) => {
    const p = path.join(tempDir(), '.claude');
    place(p);
    expectWriteError(() => ensureDirectory(p, self()), message);
  });
});

describe("withFileLock: Claude Code's own lock on .claude.json (a directory <file>.lock)", () => {
  it('held while fn runs, gone after, even when fn throws', () => {
    const file = path.join(tempDir(), '.claude.json');
    expect(withFileLock(file, self(), () => fs.statSync(`${file}.lock`).isDirectory())).toBe(true);
    expect(fs.existsSync(`${file}.lock`)).toBe(false);
    expect(() =>
      withFileLock(file, self(), () => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(fs.existsSync(`${file}.lock`)).toBe(false);
  });

  it.each<[string, (lock: string) => void, RegExp | 'taken']>([
    [
      'a lock 11 s old (stale: Claude Code gives up on it at 10 s)',
      (lock) => {
        fs.mkdirSync(lock);
        fs.utimesSync(lock, new Date(Date.now() - 11_000), new Date(Date.now() - 11_000));
      },
      'taken',
    ],
    ['a fresh lock', (lock) => fs.mkdirSync(lock), /stayed locked for 0\.2 s .*is another claude-entry or Claude Code stuck\?$/],
    ['a file in its place', (lock) => fs.writeFileSync(lock, ''), /exists and is not a lock directory; remove it$/],
  ])('%s', (_what, place, expected) => {
    const file = path.join(tempDir(), '.claude.json');
    place(`${file}.lock`);
    const started = Date.now();
    if (expected === 'taken') {
      expect(withFileLock(file, self(), () => 'ran', 200)).toBe('ran');
      expect(fs.existsSync(`${file}.lock`)).toBe(false);
    } else {
      expectWriteError(() => withFileLock(file, self(), () => 'ran', 200), expected);
    }
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

// The second statement of dist/claude-entry (build/build.mjs puts it after FIRST_STATEMENT):
// it compiles the bundle's code, carried as one string, with V8's code cache when a trusted
// one made for this build and this Node sits beside the file (`claude-entry warm` makes it at
// image build). With it, V8 deserialises the bytecode of every function a start ran instead of
// scanning and compiling ~120 KB of source: about 18% of a start's instructions (README: Performance).
//
// Plain JavaScript: esbuild minifies it and build.mjs calls it with the code and the
// build's id. It runs as root before anything else of ours, so what it trusts matters: bytecode
// from a file runs as this process. The cache is used only if it is a regular file (opened
// without following a link or blocking), owned by the owner of this file, writable by nobody
// else, and tagged with this build's id and this Node's version. Anyone who could plant such a
// file could already have replaced claude-entry itself. V8 itself checks only its version,
// its flags, the source's length and the data's length, hence the tag; it checks the data's
// checksum only under --verify-snapshot-checksum (node:v8, which sets it, costs a third of
// what the cache saves), so bytes changed in place crash Node as a changed bundle would break
// it: the file is written once, by rename, at image build, into a layer nobody else writes.
//
// With CLAUDE_ENTRY_WARMING set to this build's id (by `claude-entry warm` for its own runs;
// no value a user would type) the run supervises instead of replacing itself, and writes the
// cache at exit. globalThis.__claudeEntryCodeCache tells doctor and warm what happened: the
// status is 'used', 'absent', 'stale', 'rejected' (V8 refused it: other Node flags), or
// 'ignored: <why>'.
// biome-ignore lint/correctness/noUnusedVariables: build.mjs calls it by its source text
function loadWithCodeCache(code, buildId) {
  const fs = require('node:fs');
  const vm = require('node:vm');
  const file = __filename + '.v8cache';
  const tag = 'claude-entry code cache ' + buildId + ' node ' + process.version + '\n';
  let status = 'absent';
  let data;
  try {
    data = readTrusted(fs, file, tag);
    if (data === null) status = 'stale';
    else if (data) status = 'used';
  } catch (e) {
    status = 'ignored: ' + e.message;
  }
  const script = new vm.Script(code, { filename: __filename, cachedData: data || undefined });
  if (data && script.cachedDataRejected) status = 'rejected';
  globalThis.__claudeEntryCodeCache = { status: status, file: file, buildId: buildId };
  if (process.env.CLAUDE_ENTRY_WARMING === buildId) {
    // Supervise (keep the process) so that the exit handler runs after the whole start.
    process.execve = undefined;
    process.on('exit', () => {
      writeCache(fs, file, tag, script.createCachedData());
    });
  }
  script.runInThisContext().call(module.exports, module.exports, require, module, __filename, __dirname);
}

/** The cache's bytes after the tag; undefined when there is none; null when it is for another build or Node. */
function readTrusted(fs, file, tag) {
  let fd;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    if (e.code === 'ENOENT') return undefined;
    throw new Error(e.code === 'ELOOP' ? 'a symbolic link' : 'unreadable (' + e.code + ')');
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.uid !== fs.statSync(__filename).uid) throw new Error('not owned by the owner of ' + __filename);
    if (st.mode & 0o022) throw new Error('writable by group or others');
    if (st.size > 64 * 1024 * 1024) throw new Error('larger than 64 MiB');
    const bytes = Buffer.allocUnsafe(st.size);
    let got = 0;
    while (got < st.size) {
      const n = fs.readSync(fd, bytes, got, st.size - got, got);
      if (n === 0) break;
      got += n;
    }
    if (got < tag.length || bytes.toString('latin1', 0, tag.length) !== tag) return null;
    return bytes.subarray(tag.length, got);
  } finally {
    fs.closeSync(fd);
  }
}

/** Every byte or no file: a temp file of our own, renamed over the old cache. */
function writeCache(fs, file, tag, data) {
  const temp = file + '.tmp-' + process.pid;
  try {
    fs.writeFileSync(temp, Buffer.concat([Buffer.from(tag, 'latin1'), data]), { flag: 'wx', mode: 0o644 });
    fs.renameSync(temp, file);
  } catch (e) {
    try {
      fs.unlinkSync(temp);
    } catch (_) {}
    process.stderr.write('claude-entry: warm: could not write ' + file + ': ' + e.message + '\n');
    process.exitCode = 73;
  }
}

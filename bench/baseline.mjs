#!/usr/bin/env node
/**
 * Builds the bundle as it was before the hardening of issue 8 (commit 27a2bcd) into
 * .bench/baseline/claude-entry, once, so `npm run bench` can show what the defences cost at
 * start-up side by side: the same rows, run by both bundles, root writing for another user.
 *
 *   node bench/baseline.mjs [REF]     # default: the last commit before the hardening
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BASELINE_REF = '27a2bcd';
export const BASELINE_BUNDLE = path.join(ROOT, '.bench', 'baseline', 'claude-entry');

export function buildBaseline(ref = BASELINE_REF) {
  const dir = path.join(ROOT, '.bench', 'baseline');
  const stamp = path.join(dir, 'REF');
  if (fs.existsSync(BASELINE_BUNDLE) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === ref) return BASELINE_BUNDLE;
  let archive;
  try {
    archive = execFileSync('git', ['archive', ref, 'src', 'build', 'package.json', 'tsconfig.json'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  } catch {
    console.log(`bench: no baseline (git cannot read ${ref} here); the defences' cost row is left out`);
    return undefined;
  }
  const source = path.join(dir, 'src-tree');
  fs.rmSync(source, { recursive: true, force: true });
  fs.mkdirSync(source, { recursive: true });
  execFileSync('tar', ['-x', '-C', source], { input: archive });
  // Built inside the repository so esbuild finds the root node_modules; written to dist/ there.
  execFileSync(process.execPath, [path.join(source, 'build', 'build.mjs')], { cwd: source, stdio: ['ignore', 'ignore', 'inherit'] });
  fs.copyFileSync(path.join(source, 'dist', 'claude-entry'), BASELINE_BUNDLE);
  fs.chmodSync(BASELINE_BUNDLE, 0o755);
  fs.writeFileSync(stamp, ref);
  console.log(`bench: built the pre-hardening bundle (${ref}) into ${path.relative(process.cwd(), BASELINE_BUNDLE)}`);
  return BASELINE_BUNDLE;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) buildBaseline(process.argv[2]);

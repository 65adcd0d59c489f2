#!/usr/bin/env node
// The structure figures of issue 11, measured the same way before and after a change:
//
//   node tools/structure-report.mjs [--root DIR] [--src src] [--entry main.ts] [--top 10] [--no-duplicates]
//   node tools/structure-report.mjs --against BEFORE_DIR   # a before/after table first, then this tree's report
//   node tools/structure-report.mjs --json                 # the summary figures as JSON
//   node tools/structure-report.mjs --exclude fleet        # leave out src/fleet/ (repeatable): a feature, not structure
//
// - import cycles between the modules of src/, type imports, re-exports and import('...') counted
//   (the elementary cycles, each once, and the strongly connected groups they form);
// - the entry's fan-out: its direct imports (local modules, Node built-ins, packages) and the
//   local modules it reaches transitively;
// - the longest functions (declarations, methods, arrows, function expressions), in lines;
// - the files that touch sync (the rule is printed with the result);
// - with `duplicates` on the PATH, what it reports for src/ and test/.
//
// It reads the files with the TypeScript compiler API (parse only, nothing is type-checked or run).
// --root lets it measure another checkout: `git worktree add /tmp/before REV` then --root /tmp/before.
// madge gives the same cycles: `npx madge --circular --extensions ts --ts-config tsconfig.json src`
// with the .madgerc of this repository (type imports not skipped).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const root = path.resolve(option('--root', here));
const srcDir = path.join(root, option('--src', 'src'));
const entry = path.join(srcDir, option('--entry', 'main.ts'));
const top = Number(option('--top', '10'));
const withDuplicates = !args.includes('--no-duplicates');
const asJson = args.includes('--json');
const against = option('--against', undefined);

// The compiler of this repository (or of --root's, when it has one).
const requireFrom = (dir) => createRequire(path.join(dir, 'package.json'));
let ts;
try {
  ts = requireFrom(root)('typescript');
} catch {
  ts = requireFrom(here)('typescript');
}

function listTs(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTs(full));
    else if (/\.(m|c)?tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out.sort();
}

const rel = (file) => path.relative(srcDir, file);
const excluded = args.flatMap((a, i) => (a === '--exclude' && args[i + 1] ? [args[i + 1].replace(/\/+$/, '')] : []));
const files = listTs(srcDir).filter((f) => !excluded.some((e) => rel(f) === e || rel(f).startsWith(`${e}${path.sep}`)));
const sources = new Map(files.map((f) => [f, ts.createSourceFile(f, fs.readFileSync(f, 'utf8'), ts.ScriptTarget.Latest, true)]));

/** A relative specifier to the file it names ('./x.js' -> x.ts), or undefined for a package or built-in. */
function resolveLocal(from, spec) {
  if (!spec.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(from), spec);
  const candidates = [base, base.replace(/\.(m|c)?js$/, '.$1ts'), `${base}.ts`, path.join(base, 'index.ts')];
  return candidates.find((c) => sources.has(c));
}

/** Every import of a file: { spec, target, typeOnly, dynamic }. */
function importsOf(sf) {
  const out = [];
  const add = (spec, typeOnly, dynamic) => out.push({ spec, target: resolveLocal(sf.fileName, spec), typeOnly, dynamic });
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly = Boolean(
        clause &&
          (clause.isTypeOnly ||
            (!clause.name && clause.namedBindings && ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.every((e) => e.isTypeOnly))),
      );
      add(node.moduleSpecifier.text, typeOnly, false);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.isTypeOnly, false);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteralLike(node.arguments[0])) {
      add(node.arguments[0].text, false, true);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      add(node.argument.literal.text, true, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

const imports = new Map(files.map((f) => [f, importsOf(sources.get(f))]));
const edges = new Map(files.map((f) => [f, [...new Set(imports.get(f).flatMap((i) => (i.target ? [i.target] : [])))]]));

// --- cycles -------------------------------------------------------------------------------------

/** Tarjan: the strongly connected groups of more than one module (or a module importing itself). */
function stronglyConnected() {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const groups = [];
  const connect = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)) {
      if (!idx.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const group = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1 || edges.get(v).includes(v)) groups.push(group.sort());
    }
  };
  for (const f of files) if (!idx.has(f)) connect(f);
  return groups;
}

/** Every elementary cycle, each once (starting at its smallest module). Small graphs only. */
function elementaryCycles(limit = 200) {
  const cycles = [];
  const order = new Map(files.map((f, i) => [f, i]));
  for (const start of files) {
    const path_ = [start];
    const seen = new Set([start]);
    const walk = (v) => {
      for (const w of edges.get(v)) {
        if (cycles.length >= limit) return;
        if (w === start) cycles.push([...path_]);
        else if (!seen.has(w) && order.get(w) > order.get(start)) {
          seen.add(w);
          path_.push(w);
          walk(w);
          path_.pop();
          seen.delete(w);
        }
      }
    };
    walk(start);
  }
  return cycles;
}

/** How an edge a -> b is made: 'type' when every import of b in a is type-only, 'dynamic' when only import(). */
function edgeKind(a, b) {
  const kinds = imports.get(a).filter((i) => i.target === b);
  if (kinds.every((i) => i.typeOnly)) return 'type';
  if (kinds.every((i) => i.dynamic)) return 'dynamic';
  return 'value';
}

// --- fan-out ------------------------------------------------------------------------------------

function reach(from) {
  const seen = new Set();
  const todo = [from];
  while (todo.length) {
    const f = todo.pop();
    for (const g of edges.get(f) ?? []) if (!seen.has(g) && g !== from) todo.push(g), seen.add(g);
  }
  return seen;
}

// --- longest functions --------------------------------------------------------------------------

function nameOf(node, sf) {
  if (node.name && (ts.isIdentifier(node.name) || ts.isStringLiteral(node.name) || ts.isPrivateIdentifier(node.name))) {
    const own = node.name.text;
    const cls = ts.isClassLike(node.parent) && node.parent.name ? `${node.parent.name.text}.` : '';
    return ts.isConstructorDeclaration(node) ? `${cls}constructor` : `${cls}${own}`;
  }
  if (ts.isConstructorDeclaration(node)) return `${node.parent.name?.text ?? '<class>'}.constructor`;
  const p = node.parent;
  if (p && ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
  if (p && ts.isPropertyAssignment(p) && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) return p.name.text;
  if (p && ts.isPropertyDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
  if (p && ts.isBinaryExpression(p) && p.operatorToken.kind === ts.SyntaxKind.EqualsToken) return p.left.getText(sf);
  if (p && ts.isCallExpression(p)) return `<callback of ${p.expression.getText(sf).slice(0, 40)}>`;
  return '<anonymous>';
}

function functions() {
  const out = [];
  for (const [file, sf] of sources) {
    const visit = (node) => {
      if (
        (ts.isFunctionDeclaration(node) ||
          ts.isMethodDeclaration(node) ||
          ts.isConstructorDeclaration(node) ||
          ts.isGetAccessorDeclaration(node) ||
          ts.isSetAccessorDeclaration(node) ||
          ts.isArrowFunction(node) ||
          ts.isFunctionExpression(node)) &&
        node.body
      ) {
        const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
        const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line + 1;
        out.push({ name: nameOf(node, sf), file: rel(file), start, end, lines: end - start + 1 });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return out.sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file));
}

// --- files that touch sync ----------------------------------------------------------------------

// A file touches sync when it is under src/sync/, imports a module there, or names an identifier
// one of whose camelCase words is "sync", "store(s)" or "syncer" (SyncStore, fileStore, lastSync,
// StoreConflictError, prepareSync, a `store` field). "Sync" meaning synchronous (Node's readFileSync,
// spawnSync, ..., and sleepSync) and what a file imports from node: modules do not count.
const SYNC_WORDS = new Set(['sync', 'syncs', 'synced', 'syncer', 'syncing', 'store', 'stores']);
// "Sync" as in synchronous: Node's own (however reached: fs.x, a lazy require()) and sleepSync.
const SYNCHRONOUS = new Set(['sleepSync']);
for (const name of ['fs', 'child_process', 'zlib', 'crypto']) {
  for (const key of Object.keys(requireFrom(here)(`node:${name}`))) if (key.endsWith('Sync')) SYNCHRONOUS.add(key);
}
const words = (id) =>
  id
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[\s_$]+/)
    .map((w) => w.toLowerCase())
    .filter(Boolean);

function syncTouch(file) {
  const sf = sources.get(file);
  const why = new Set();
  const syncDir = path.join(srcDir, 'sync') + path.sep;
  if (file.startsWith(syncDir)) why.add('in sync/');
  for (const i of imports.get(file)) if (i.target?.startsWith(syncDir)) why.add(`imports ${rel(i.target)}`);
  // Names bound to node: modules (import * as fs, import { readFileSync }) are Node's, not ours.
  const nodeNames = new Set();
  for (const s of sf.statements) {
    if (!ts.isImportDeclaration(s) || !ts.isStringLiteral(s.moduleSpecifier) || !s.moduleSpecifier.text.startsWith('node:')) continue;
    const b = s.importClause?.namedBindings;
    if (s.importClause?.name) nodeNames.add(s.importClause.name.text);
    if (b && ts.isNamespaceImport(b)) nodeNames.add(b.name.text);
    if (b && ts.isNamedImports(b)) for (const e of b.elements) nodeNames.add(e.name.text);
  }
  const names = new Set();
  const visit = (node) => {
    if (ts.isIdentifier(node) && !nodeNames.has(node.text) && !SYNCHRONOUS.has(node.text)) {
      const p = node.parent;
      const onNode = p && ts.isPropertyAccessExpression(p) && p.name === node && ts.isIdentifier(p.expression) && nodeNames.has(p.expression.text);
      if (!onNode && words(node.text).some((w) => SYNC_WORDS.has(w))) names.add(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  if (names.size) why.add(`names ${[...names].sort().slice(0, 6).join(', ')}${names.size > 6 ? `, +${names.size - 6}` : ''}`);
  return [...why];
}

// --- report -------------------------------------------------------------------------------------

const lines = [];
const say = (s = '') => lines.push(s);
/** The figures a before/after table compares (--json prints them). */
const summary = { root, files: files.length };
let head = '';
try {
  head = spawnSync('git', ['-C', root, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).stdout.trim();
} catch {}
summary.head = head;
say(`# Structure report: ${root}${head ? ` at ${head.slice(0, 80)}` : ''}`);
say(
  `${files.length} source files under ${path.relative(root, srcDir) || '.'}/, ${[...sources.values()].reduce((n, sf) => n + sf.getLineStarts().length, 0)} lines` +
    (excluded.length ? ` (left out: ${excluded.map((e) => `${e}/`).join(', ')})` : ''),
);
say();

const cycles = elementaryCycles();
const groups = stronglyConnected();
summary.cycles = cycles.length;
summary.cycleList = cycles.map((c) => [...c, c[0]].map(rel).join(' -> '));
say(`## Import cycles (type imports, re-exports and import() counted): ${cycles.length} elementary, in ${groups.length} strongly connected group(s)`);
for (const c of cycles) {
  const hops = c.map((f, i) => `${rel(f)} -${edgeKind(f, c[(i + 1) % c.length])}->`);
  say(`- ${hops.join(' ')} ${rel(c[0])}`);
}
for (const g of groups) say(`  group: ${g.map(rel).join(', ')}`);
say();

if (sources.has(entry)) {
  const direct = imports.get(entry);
  const local = [...new Set(direct.filter((i) => i.target).map((i) => rel(i.target)))];
  const builtin = [...new Set(direct.filter((i) => !i.target && i.spec.startsWith('node:')).map((i) => i.spec))];
  const pkg = [...new Set(direct.filter((i) => !i.target && !i.spec.startsWith('node:') && !i.spec.startsWith('.')).map((i) => i.spec))];
  /** The local modules reached through the imports `follow` accepts. */
  const reachBy = (follow) => {
    const seen = new Set();
    const todo = [entry];
    while (todo.length) {
      const f = todo.pop();
      for (const i of imports.get(f)) if (i.target && follow(i) && !seen.has(i.target) && i.target !== entry) seen.add(i.target), todo.push(i.target);
    }
    return seen;
  };
  const valueReach = reachBy((i) => !i.typeOnly);
  // What a start initialises before it runs anything: import() is loaded (and, bundled, initialised) when called.
  const eagerReach = reachBy((i) => !i.typeOnly && !i.dynamic);
  Object.assign(summary, {
    fanOutDirect: direct.length,
    fanOutLocal: local.length,
    fanOutTransitive: reach(entry).size,
    fanOutValue: valueReach.size,
    fanOutEager: eagerReach.size,
  });
  say(`## Fan-out of ${rel(entry)}`);
  say(`- direct: ${direct.length} import statements; ${local.length} local modules, ${builtin.length} Node built-ins, ${pkg.length} packages`);
  say(`  local: ${local.join(', ')}`);
  if (builtin.length) say(`  built-in: ${builtin.join(', ')}`);
  if (pkg.length) say(`  packages: ${pkg.join(', ')}`);
  say(
    `- transitive: ${reach(entry).size} of the other ${files.length - 1} local modules (${valueReach.size} through value imports alone, ` +
      `${eagerReach.size} through static value imports: initialised at every start)`,
  );
  say();
}

say(`## The ${top} longest functions (lines, first to last line)`);
const longest = functions().slice(0, top);
summary.longest = longest.map((f) => `${f.lines} ${f.name} (${f.file})`);
for (const f of longest) say(`- ${String(f.lines).padStart(4)}  ${f.name}  ${f.file}:${f.start}-${f.end}`);
say();

const touching = files.map((f) => [f, syncTouch(f)]).filter(([, why]) => why.length);
say(`## Files that touch sync: ${touching.length} of ${files.length}`);
say('  (under sync/, importing from sync/, or naming an identifier with the word sync/syncer/store/stores; synchronous *Sync calls excluded)');
for (const [f, why] of touching) say(`- ${rel(f)}: ${why.join('; ')}`);
const folderOf = (f) => (rel(f).includes(path.sep) ? rel(f).split(path.sep)[0] : '.');
const byFolder = new Map();
for (const [f] of touching) byFolder.set(folderOf(f), (byFolder.get(folderOf(f)) ?? 0) + 1);
say(`  by folder: ${[...byFolder].map(([folder, n]) => `${folder} ${n}`).join(', ')}`);
const outside = touching.filter(([f]) => folderOf(f) !== 'sync');
const importing = outside.filter(([, why]) => why.some((w) => w.startsWith('imports ')));
const syncModules = new Set(importing.flatMap(([, why]) => why.filter((w) => w.startsWith('imports ')).map((w) => w.slice('imports '.length))));
say(`  outside sync/: ${outside.length} files, ${importing.length} of them importing from sync/ (${[...syncModules].sort().join(', ') || 'nothing'})`);
Object.assign(summary, { syncFiles: touching.length, syncOutside: outside.length, syncImporting: importing.length });
say();

if (withDuplicates) {
  for (const dir of ['src', 'test']) {
    const full = path.join(root, dir);
    if (!fs.existsSync(full)) continue;
    const run = spawnSync('duplicates', ['--repo', full, '--most', '40', '--seconds', '60'], { encoding: 'utf8' });
    say(`## duplicates --repo ${dir} --most 40`);
    if (run.error) say(`(duplicates not run: ${run.error.code ?? run.error.message})`);
    else for (const l of `${run.stdout}${run.stderr}`.trimEnd().split('\n')) say(l);
    const counted = /^(\d+) pairs of places \((\d+) files read\)(?:.*\((\d+) by shape alone, (\d+) of those marked boilerplate\))?/.exec(run.stdout ?? '');
    const none = /^no duplicates/.test(run.stdout ?? '');
    summary[`duplicates_${dir}`] = counted
      ? `${counted[1]} pairs in ${counted[2]} files${counted[4] ? ` (${counted[4]} boilerplate)` : ''}`
      : none
        ? 'none'
        : 'not run';
    say();
  }
}

if (asJson) {
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
} else if (against) {
  // The same figures of the other tree, measured by this script (so both by the same rules).
  const self = fileURLToPath(import.meta.url);
  const flags = ['--src', option('--src', 'src'), '--entry', option('--entry', 'main.ts'), '--top', String(top), '--json', ...(withDuplicates ? [] : ['--no-duplicates'])];
  for (const e of excluded) flags.push('--exclude', e);
  const other = spawnSync(process.execPath, [self, '--root', path.resolve(against), ...flags], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (other.status !== 0) throw new Error(`measuring ${against}: ${other.stderr}`);
  const before = JSON.parse(other.stdout);
  const row = (what, key) => `| ${what} | ${before[key] ?? 'n/a'} | ${summary[key] ?? 'n/a'} |`;
  const table = [
    `## Before and after: ${before.head?.split(' ')[0] ?? before.root} -> ${summary.head?.split(' ')[0] ?? summary.root}`,
    '',
    '| figure | before | after |',
    '| --- | --- | --- |',
    row('source files', 'files'),
    row('import cycles (elementary, type imports counted)', 'cycles'),
    row('main.ts: direct imports', 'fanOutDirect'),
    row('main.ts: local modules imported directly', 'fanOutLocal'),
    row('main.ts: local modules reached (transitive)', 'fanOutTransitive'),
    row('main.ts: reached through value imports alone', 'fanOutValue'),
    row('main.ts: reached through static value imports (initialised at every start)', 'fanOutEager'),
    row('files that touch sync', 'syncFiles'),
    row('  of them outside sync/', 'syncOutside'),
    row('  outside sync/ and importing from it', 'syncImporting'),
    row('duplicates in src/', 'duplicates_src'),
    row('duplicates in test/', 'duplicates_test'),
    ...Array.from({ length: top }, (_, i) => `| longest function ${i + 1} | ${before.longest?.[i] ?? ''} | ${summary.longest?.[i] ?? ''} |`),
    '',
  ];
  process.stdout.write(`${table.join('\n')}\n${lines.join('\n')}\n`);
} else {
  process.stdout.write(`${lines.join('\n')}\n`);
}

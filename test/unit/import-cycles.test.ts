/**
 * Issue 11: no import cycle between the modules of src/, type imports and import() included
 * (madge with the repository's .madgerc says the same). Measured by tools/structure-report.mjs,
 * which also reports the other structure figures.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers.js';

/** The report's figures for the tree at `root` (its src/). */
function figures(root: string): { files: number; cycles: number; cycleList: string[] } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'tools', 'structure-report.mjs'), '--root', root, '--json', '--no-duplicates'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('import cycles', () => {
  it('src/ has none, type imports and import() counted', () => {
    const { files, cycleList } = figures(ROOT);
    expect(files).toBeGreaterThan(40);
    expect(cycleList).toEqual([]);
  });

  it.each([
    [
      'a type import one way, a value import back',
      "import type { B } from './b.js';\nexport type A = 1;",
      "import { a } from './a.js';\nexport type B = 2;\nexport const b = a;",
    ],
    ['an import() one way, a re-export back', "export const load = () => import('./b.js');", "export * from './a.js';"],
  ])('a cycle made of %s is one', (_what, a, b) => {
    const root = tempDir();
    fs.mkdirSync(path.join(root, 'src'));
    fs.writeFileSync(path.join(root, 'src', 'a.ts'), a);
    fs.writeFileSync(path.join(root, 'src', 'b.ts'), b);
    fs.writeFileSync(path.join(root, 'src', 'c.ts'), "import type { B } from './b.js';\nexport type C = B;");
    expect(figures(root)).toMatchObject({ files: 3, cycles: 1, cycleList: ['a.ts -> b.ts -> a.ts'] });
  });
});

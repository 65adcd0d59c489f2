/**
 * No silent skips. Beside vitest's own reporter:
 * - a line per test file as it finishes, with how far the run is ([12/40]);
 * - at the end, one line per reason tests were skipped (from test/needs.ts), with the command
 *   that fixes it, and the tests skipped without a declared reason;
 * - a run that skipped tests for a missing tool or privilege fails, unless the user asked for a
 *   partial run: CLAUDE_ENTRY_TEST_PARTIAL=1.
 */
import type { Reporter, TestCase, TestModule, TestSpecification, Vitest } from 'vitest/node';
import { META_PREFIX } from './needs.js';

export const PARTIAL = 'CLAUDE_ENTRY_TEST_PARTIAL';

interface Reason {
  missing: string;
  fix: string;
  tests: string[];
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export default class SkipReporter implements Reporter {
  private vitest!: Vitest;
  private total = 0;
  private done = 0;
  private started = Date.now();

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunStart(specifications: ReadonlyArray<TestSpecification>): void {
    this.total = specifications.length;
    this.done = 0;
    this.started = Date.now();
  }

  onTestModuleEnd(module: TestModule): void {
    this.done++;
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const test of module.children.allTests()) {
      const state = test.result().state;
      if (state in counts) counts[state as keyof typeof counts]++;
    }
    const parts = [`${counts.passed} passed`];
    if (counts.failed) parts.push(`${counts.failed} FAILED`);
    if (counts.skipped) parts.push(`${counts.skipped} skipped`);
    const seconds = (module.diagnostic().duration / 1000).toFixed(1);
    const elapsed = Math.round((Date.now() - this.started) / 1000);
    process.stdout.write(`[${this.done}/${this.total}] ${module.relativeModuleId}: ${parts.join(', ')} (${seconds} s; ${elapsed} s into the run)\n`);
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const reasons = new Map<string, Reason>();
    const unexplained: TestCase[] = [];
    for (const module of modules) {
      for (const test of module.children.allTests('skipped')) {
        const needs = Object.entries(test.meta() as Record<string, unknown>).filter(([key]) => key.startsWith(META_PREFIX));
        if (needs.length === 0) {
          unexplained.push(test);
          continue;
        }
        for (const [key, value] of needs) {
          const [missing = '', fix = ''] = String(value).split('\t');
          const reason = reasons.get(key) ?? { missing, fix, tests: [] };
          reason.tests.push(`${module.relativeModuleId} > ${test.fullName}`);
          reasons.set(key, reason);
        }
      }
    }
    // A name filter (-t) skips the tests it does not match: asked for, not silent.
    const filtered = Boolean(this.vitest?.config.testNamePattern);
    const silent = filtered ? [] : unexplained.filter((t) => t.options.mode !== 'todo');
    if (reasons.size === 0 && silent.length === 0) return;

    const partial = process.env[PARTIAL] === '1';
    const out: string[] = ['', partial ? 'Skipped (partial run, as asked):' : 'Skipped, so this run is INCOMPLETE:'];
    for (const reason of reasons.values()) {
      out.push(`  ${plural(reason.tests.length, 'test')}: ${reason.missing}. Fix: ${reason.fix}`);
    }
    if (silent.length > 0) {
      out.push(`  ${plural(silent.length, 'test')} skipped with no declared need (use test/needs.ts):`);
      for (const t of silent.slice(0, 10)) out.push(`    ${t.module.relativeModuleId} > ${t.fullName}`);
    }
    if (!partial) {
      out.push(`  The run fails because of these skips. To run only what this machine can: ${PARTIAL}=1 npm test`);
      process.exitCode = 1;
    }
    process.stdout.write(`${out.join('\n')}\n\n`);
  }
}

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Generous: a test waits for events, each with its own bound; these only catch a hang.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    // System tests share /proc, ports and the real CLI: keep files in parallel, tests in order.
    fileParallelism: true,
    maxWorkers: 2,
    // vitest's own report, plus a line per file as it ends ([n/N]) and, at the end, why tests
    // were skipped and what fixes it (the run fails on such skips unless
    // CLAUDE_ENTRY_TEST_PARTIAL=1): see test/needs.ts.
    reporters: ['default', './test/skip-reporter.ts'],
  },
});

import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
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
    projects: [
      {
        extends: true,
        test: { name: 'main', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/docker/**'], sequence: { groupOrder: 0 } },
      },
      // The Docker tier builds images (CPU-bound for minutes): after the rest, so that it does
      // not starve the tests that wait on deadlines (CLAUDE_ENTRY_TIMEOUT) of CPU.
      { extends: true, test: { name: 'docker', include: ['test/docker/**/*.test.ts'], sequence: { groupOrder: 1 } } },
    ],
  },
});

import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // System tests share /proc, ports and the real CLI: keep files in parallel, tests in order.
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/docker/**'], sequence: { groupOrder: 0 } } },
      // The Docker tier builds images (CPU-bound for minutes): after the rest, so that it does
      // not starve the tests that wait on deadlines (CLAUDE_ENTRY_TIMEOUT) of CPU.
      { extends: true, test: { name: 'docker', include: ['test/docker/**/*.test.ts'], sequence: { groupOrder: 1 } } },
    ],
  },
});

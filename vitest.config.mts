import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // System tests share /proc, ports and the real CLI: keep files in parallel, tests in order.
    fileParallelism: true,
    maxWorkers: 2,
  },
});

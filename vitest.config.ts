import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Child processes rather than threads: tests spawn redis-server, npm and a
    // browser, and signal handling/process cleanup is simpler per process.
    pool: 'forks',
    // Two cores: keep at most two test files running side by side so that
    // timing-sensitive tests (code expiry, rate limits) are not starved.
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // The JSON report is what .ci/run reads to produce its summary line.
    reporters: ['default', ['json', { outputFile: '.vitest-report.json' }]],
  },
});

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';
import { SkipSummaryReporter } from './test/helpers/skipSummary.js';

// Suites skipped in quick mode (CATAPULT_TEST_QUICK=1) note why here; the reporter lists them at the end.
const skipLog = join(tmpdir(), `catapult-test-skips-${process.pid}.jsonl`);

export default defineConfig({
  test: {
    // Integration suites spawn real processes and databases; two cores are all we have.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', new SkipSummaryReporter(skipLog)],
    env: { CATAPULT_TEST_SKIP_LOG: skipLog },
    projects: [
      {
        extends: true,
        test: { name: 'server', include: ['src/**/*.test.ts', 'test/**/*.test.ts'] },
      },
      {
        // The web console's components, rendered in happy-dom (a DOM without a browser).
        extends: true,
        plugins: [react()],
        test: {
          name: 'web',
          include: ['web/src/**/*.test.{ts,tsx}'],
          environment: 'happy-dom',
          environmentOptions: { happyDOM: { url: 'http://127.0.0.1:8080/' } },
          setupFiles: ['web/src/test/setup.ts'],
          testTimeout: 15_000,
        },
      },
    ],
  },
});

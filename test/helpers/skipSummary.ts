/**
 * A Vitest reporter that ends the run with the suites skipped in quick mode and why. Suites record
 * their skips (test/helpers/services.ts `recordSkip`) in a file named by CATAPULT_TEST_SKIP_LOG,
 * which vitest.config.ts hands to the workers; outside quick mode nothing is skipped and this prints nothing.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { Reporter } from 'vitest/reporters';

export class SkipSummaryReporter implements Reporter {
  constructor(private readonly logFile: string) {}

  onInit(): void {
    rmSync(this.logFile, { force: true });
  }

  onTestRunEnd(): void {
    if (!existsSync(this.logFile)) return;
    const skipped = new Map<string, string>();
    for (const line of readFileSync(this.logFile, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const { suite, reason } = JSON.parse(line) as { suite: string; reason: string };
      skipped.set(suite, reason);
    }
    rmSync(this.logFile, { force: true });
    if (skipped.size === 0) return;
    const lines = [...skipped].map(([suite, reason]) => `  - ${suite}: ${reason}`);
    process.stdout.write(
      `\n${skipped.size} ${skipped.size === 1 ? 'suite' : 'suites'} skipped (quick mode, CATAPULT_TEST_QUICK=1):\n${lines.join('\n')}\n` +
        'Run `npm test` without --quick to install and start what they need and run them.\n',
    );
  }
}

/**
 * A real browser for console tests: Debian's Chromium, headless, driven by playwright-core. Suites
 * declare it with `describeWithService(name, CHROMIUM_MISSING, ...)`: when it is missing they fail
 * (scripts/test-setup.sh installs the chromium package), or in quick mode are skipped.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import axe from 'axe-core';
import { type BrowserContext, type Page, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** No network beyond what the page asks for, no first-run work, no GPU: fast and reproducible. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const chromiumPresent = existsSync(CHROMIUM);
/** Why browser suites cannot run, or null. */
export const CHROMIUM_MISSING = chromiumPresent ? null : `Chromium is not installed at ${CHROMIUM} (Debian package chromium)`;

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Chromium with a fresh profile directory of its own, removed on close. */
export async function launchChromium(viewport = { width: 1440, height: 900 }): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'catapult-chromium-'));
  // playwright passes the profile as --user-data-dir itself; it refuses that flag in args.
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

/** axe-core's serious and critical violations on the page as it is now, one readable line each. */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  // Evaluated in the page; written as a string because this file is compiled without the DOM's types.
  // Evaluated rather than added as a <script>: the console's Content-Security-Policy refuses inline scripts.
  if (!(await page.evaluate("'axe' in window"))) await page.evaluate(`${axe.source}\n;void 0`);
  const violations = await page.evaluate<AxeViolation[]>(
    "axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })))",
  );
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact}: ${v.id} (${v.help}) at ${v.nodes.map((n) => JSON.stringify(n.target)).slice(0, 3).join(', ')}`);
}

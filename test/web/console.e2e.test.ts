import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CHROMIUM_MISSING, type TestBrowser, accessibilityViolations, launchChromium } from '../helpers/browser.js';
import { type LongRunning, ROOT, startCli } from '../helpers/cli.js';
import { describeWithService, tempDir } from '../helpers/services.js';

const ARTIFACTS = join(ROOT, 'test-artifacts', 'console');

const recipe = (name: string, concurrency: number) => `name: ${name}
target: { deployment: demo-llm }
workload:
  api: openai-chat
  dataset: { type: synthetic, inputTokens: 32, outputTokens: 16, count: 50 }
load: { type: closed, concurrency: ${concurrency} }
stop: { duration: 3s }
slo: { ttftMs: 200 }
`;


/**
 * The web console end to end: a real `catapult up` (SQLite, local agent, the demo models) and the
 * console in real Chromium, as an operator uses it. Screenshots of each step go to
 * test-artifacts/console/.
 */
describeWithService('the web console, in a browser, against catapult up', CHROMIUM_MISSING, () => {
  const tmp = tempDir('catapult-console-');
  let up: LongRunning;
  let url: string;
  let adminKey: string;
  let browser: TestBrowser;
  let page: Page;
  const pageErrors: string[] = [];
  // What the browser blocks under the console's Content-Security-Policy: it reports each in the console.
  const cspViolations: string[] = [];

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const expectAccessible = async (what: string) => {
    expect(await accessibilityViolations(page), `${what}: serious or critical accessibility violations`).toEqual([]);
  };
  const navTo = async (label: string) => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label }).click();
  };

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'web', 'dist', 'index.html'))) throw new Error('web/dist is missing: run `npm run build` (npm test does) before this test');
    mkdirSync(ARTIFACTS, { recursive: true });
    up = startCli(['up', '--data-dir', join(tmp.dir, 'data'), '--api-port', '0', '--gateway-port', '0', '--log-level', 'warn']);
    url = (await up.waitFor(/API\s+(http:\/\/\S+)\/api\/v1/, 60_000))[1]!;
    adminKey = (await up.waitFor(/Admin key\s+(cat_\S+)/, 60_000))[1]!;
    browser = await launchChromium();
    page = browser.page;
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to (load|execute|apply|connect|frame)/i.test(m.text())) cspViolations.push(m.text());
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await up?.stop();
    tmp.remove();
  });

  it('runs no script the page did not ship: an injected inline script is refused', async () => {
    const res = await page.goto(`${url}/`);
    expect(res?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    // Evaluated in the page; written as strings because this file is compiled without the DOM's types.
    await page.evaluate("{ const s = document.createElement('script'); s.textContent = 'window.injected = true'; document.head.append(s); }");
    expect(await page.evaluate('window.injected')).toBeUndefined();
    await expect.poll(() => cspViolations.length).toBeGreaterThan(0);
    cspViolations.length = 0;
  });

  it('refuses a wrong key with the server’s explanation, then signs in with the admin key', async () => {
    await page.goto(`${url}/`);
    await expectAccessible('sign-in page');
    await page.getByLabel('API key').fill('cat_not-a-real-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/unknown, revoked or expired/);
    await page.getByLabel('API key').fill(adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-loaded="true"]').waitFor();
    await expect.poll(() => page.getByRole('group', { name: 'Workers', exact: true }).textContent()).toMatch(/1\s*1 ready/);
    await expect.poll(() => page.getByRole('list', { name: 'Events, newest first' }).textContent()).toMatch(/deployment/);
    await shot('01-overview');
    await expectAccessible('overview');
  });

  it('offers every page from the keyboard-reachable navigation, each without serious accessibility problems', async () => {
    for (const [label, heading] of [
      ['Workers', 'Workers'],
      ['Models', 'Models'],
      ['Tasks', 'Tasks'],
      ['Admin', 'Admin'],
    ] as const) {
      await navTo(label);
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      await page.locator('[role="status"][aria-label^="Loading"]').waitFor({ state: 'detached' });
      await expectAccessible(label);
    }
    await page.getByRole('tab', { name: 'Audit log' }).click();
    await page.getByRole('table').first().waitFor();
    await expectAccessible('audit log');
    // The skip link is the first stop for a keyboard user and moves focus to the page.
    await page.goto(`${url}/workers`);
    await page.getByRole('heading', { level: 1, name: 'Workers' }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.locator(':focus').textContent()).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.locator(':focus').getAttribute('id')).toBe('main');
    await shot('02-workers');
  });

  it('deploys the ONNX demo model under a new name from the form and watches it become active', async () => {
    await navTo('Deployments');
    await page.getByRole('link', { name: 'New deployment' }).click();
    await page.getByLabel('Name', { exact: true }).fill('iris-console');
    const model = page.getByLabel('Model', { exact: true });
    await model.selectOption((await model.locator('option', { hasText: 'iris:' }).first().getAttribute('value')));
    // Choosing the model chooses the runtime that serves its format.
    expect(await page.getByLabel('Runtime', { exact: true }).inputValue()).toBe('onnx');
    // A quarter core: the laptop-sized worker already runs both demos.
    await page.getByLabel('CPU', { exact: true }).fill('0.25');
    await page.getByLabel('Runtime options').fill('threads: 1');
    await expectAccessible('new deployment form');
    await shot('03-deployment-form');
    await page.getByRole('button', { name: 'Create deployment' }).click();
    await page.getByRole('heading', { level: 1, name: 'iris-console' }).waitFor();
    await page.locator('.page-head .badge', { hasText: 'active' }).waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByRole('region', { name: 'Replicas', exact: true }).textContent()).toMatch(/ready/);
    await shot('04-deployment-active');
    await expectAccessible('deployment detail');
  });

  it('sends a try-it request through the gateway and shows the prediction', async () => {
    await page.getByRole('tab', { name: 'Try it' }).click();
    await page.getByRole('table', { name: 'Model inputs' }).waitFor();
    await page.getByRole('button', { name: 'Send request' }).click();
    await page.getByText('HTTP 200').waitFor();
    const outputs = page.getByRole('table', { name: 'Model outputs' });
    await outputs.waitFor();
    expect(await outputs.textContent()).toMatch(/label/);
    await shot('05-try-it');
    await expectAccessible('try it');
  });

  const runBenchmark = async (name: string, concurrency: number): Promise<string> => {
    await navTo('Benchmarks');
    await page.getByRole('link', { name: 'New benchmark' }).click();
    const editor = page.getByRole('textbox', { name: 'Recipe' });
    await editor.waitFor();
    await editor.click();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(recipe(name, concurrency));
    await page.getByText('The recipe is valid.').waitFor();
    await page.getByRole('button', { name: 'Run benchmark' }).click();
    await page.getByRole('heading', { level: 1, name }).waitFor();
    const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    await page.locator('[data-benchmark-state="completed"]').waitFor({ timeout: 30_000 });
    await page.locator('[data-results="true"]').waitFor();
    return id;
  };

  it('shows a recipe error at its line while the recipe is typed', async () => {
    await navTo('Benchmarks');
    await page.getByRole('link', { name: 'New benchmark' }).click();
    const editor = page.getByRole('textbox', { name: 'Recipe' });
    await editor.click();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(recipe('broken', 4).replace('concurrency: 4', 'rate: 2'));
    const problems = page.getByRole('list', { name: 'Problems in the YAML' });
    await problems.waitFor();
    expect(await problems.textContent()).toMatch(/Line 6.*concurrency/);
    await shot('06-recipe-error');
    await expectAccessible('recipe editor');
  });

  let first: string;
  let second: string;

  it('runs a short benchmark against the simulator and draws its charts', async () => {
    first = await runBenchmark('console smoke a', 4);
    for (const chart of ['Latency by percentile', 'Throughput over time', 'Time to first token', 'Inter-token latency', 'End-to-end latency', 'Goodput']) {
      await page.getByRole('img', { name: new RegExp(`^${chart}`) }).waitFor();
    }
    expect(await page.getByRole('group', { name: 'Throughput', exact: true }).textContent()).toMatch(/req\/s/);
    expect(await page.locator('.uplot canvas').count()).toBeGreaterThanOrEqual(3);
    await shot('07-benchmark-results');
    await expectAccessible('benchmark results');
  });

  it('runs a second one and compares the two runs with overlaid charts', async () => {
    second = await runBenchmark('console smoke b', 8);
    await navTo('Benchmarks');
    await page.getByRole('checkbox', { name: `Compare console smoke a (${first})` }).check();
    await page.getByRole('checkbox', { name: `Compare console smoke b (${second})` }).check();
    await page.getByRole('button', { name: /^Compare/ }).click();
    await page.locator('[data-compare="true"]').waitFor();
    const table = page.getByRole('table', { name: 'Runs side by side' });
    expect(await table.textContent()).toMatch(/console smoke a.*console smoke b/s);
    await page.getByRole('img', { name: /^E2E latency distribution/ }).waitFor();
    await page.getByRole('img', { name: /^Requests per second over time/ }).waitFor();
    // One line per run: the legend names both.
    expect(await page.locator('.u-legend').first().textContent()).toMatch(/console smoke a.*console smoke b/s);
    await shot('08-compare');
    await expectAccessible('compare');
    expect(pageErrors).toEqual([]);
    expect(cspViolations, 'Content-Security-Policy violations').toEqual([]);
  });
});

/**
 * Console: (1) how long the web console's overview takes to show its data in Chromium, from
 * navigation start to the page's `overview-data` mark (set once the cluster status and the
 * deployments are rendered), warm, on a real `catapult up`; (2) the gzipped size of all the
 * console's JavaScript in web/dist. Anchor: the same page from the same server loaded the same way
 * with its scripts blocked, i.e. the HTML and CSS shell alone (navigation start to the load event),
 * so the difference is what the app itself costs.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { BIN, ROOT, goal, median, report, spawnNode } from '../common.js';

const LOADS = 9;
const WARMUP = 2;
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function jsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? jsFiles(p) : name.endsWith('.js') ? [p] : [];
  });
}

/** Gzip level 9 of every .js file in web/dist, and of those the overview page loads first. */
function bundleSizes(): { totalBytes: number; files: number; entryBytes: number } {
  const dist = join(ROOT, 'web', 'dist');
  if (!existsSync(join(dist, 'index.html'))) throw new Error('web/dist is missing: run `npm run build`');
  const files = jsFiles(dist);
  const gz = (f: string) => gzipSync(readFileSync(f), { level: 9 }).length;
  const html = readFileSync(join(dist, 'index.html'), 'utf8');
  const entry = [...html.matchAll(/(?:src|href)="\/assets\/([^"]+\.js)"/g)].map((m) => join(dist, 'assets', m[1]!));
  return { totalBytes: files.reduce((a, f) => a + gz(f), 0), files: files.length, entryBytes: entry.reduce((a, f) => a + gz(f), 0) };
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM} (apt-get install chromium)`);
  const bundle = bundleSizes();
  const dir = mkdtempSync(join(tmpdir(), 'catapult-bench-console-'));
  const port = 30000 + Math.floor(Math.random() * 10000);
  const child = spawnNode([BIN, 'up', '--data-dir', join(dir, 'data'), '--api-port', String(port), '--gateway-port', String(port + 1), '--log-level', 'warn']);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.resume();
  const profile = mkdtempSync(join(tmpdir(), 'catapult-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1440, height: 900 } });
  try {
    const deadline = Date.now() + 90_000;
    while (!/Admin key/.test(out)) {
      if (child.exitCode !== null) throw new Error(`catapult up exited: ${out}`);
      if (Date.now() > deadline) throw new Error('catapult up did not start in time');
      await new Promise((r) => setTimeout(r, 50));
    }
    const key = readFileSync(join(dir, 'data', 'admin.key'), 'utf8').trim();
    const url = `http://127.0.0.1:${port}/`;
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(url);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-loaded="true"]').waitFor({ timeout: 30_000 });

    // The key stays in the tab's session storage, so each load goes straight to the overview.
    const overview: number[] = [];
    for (let i = 0; i < WARMUP + LOADS; i++) {
      await page.goto(url, { waitUntil: 'commit' });
      await page.locator('[data-loaded="true"]').waitFor({ timeout: 30_000 });
      // Evaluated in the page (a string, as this file is compiled without the DOM's types).
      const ms = Number(await page.evaluate("performance.getEntriesByName('overview-data')[0]?.startTime ?? NaN"));
      if (i >= WARMUP) overview.push(ms);
    }

    // Anchor: the same HTML and CSS from the same server, without the app's scripts.
    await page.route('**/assets/*.js', (route) => route.abort());
    const shell: number[] = [];
    for (let i = 0; i < WARMUP + LOADS; i++) {
      await page.goto(url, { waitUntil: 'load' });
      const ms = Number(await page.evaluate("performance.getEntriesByType('navigation')[0]?.loadEventEnd ?? NaN"));
      if (i >= WARMUP) shell.push(ms);
    }
    await page.unroute('**/assets/*.js');

    const overviewMs = median(overview);
    const shellMs = median(shell);
    const totalKb = bundle.totalBytes / 1000;
    process.stdout.write(`overview data rendered: median ${overviewMs.toFixed(0)} ms (${overview.map((x) => x.toFixed(0)).join(', ')})\n`);
    process.stdout.write(`anchor, HTML + CSS shell without scripts: median ${shellMs.toFixed(0)} ms\n`);
    process.stdout.write(`JavaScript gzipped: ${totalKb.toFixed(1)} kB in ${bundle.files} files; loaded first by the overview: ${(bundle.entryBytes / 1000).toFixed(1)} kB\n`);
    report({
      bench: 'console',
      anchor: { what: 'the console HTML and CSS from the same server with scripts blocked, navigation start to load', ms: Math.round(shellMs * 10) / 10 },
      overviewLoadMs: { median: Math.round(overviewMs), samples: overview.map((x) => Math.round(x)), overAnchorMs: Math.round(overviewMs - shellMs) },
      bundle: { gzipKb: Math.round(totalKb * 10) / 10, files: bundle.files, entryGzipKb: Math.round(bundle.entryBytes / 100) / 10, kb: 1000 },
      goals: {
        overviewLoadMs: goal(overviewMs, 1000, 'max', 'ms'),
        bundleGzipKb: goal(totalKb, 500, 'max', 'kB'),
      },
    });
  } finally {
    await context.close().catch(() => undefined);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

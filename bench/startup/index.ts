/**
 * Startup: time from spawning `catapult up` on a fresh data dir to `/ready` answering 200, and the
 * process's resident memory once idle. Anchor: a bare Node HTTP server spawned the same way, measured
 * in the same run, so the ratio says how much Catapult adds over starting Node itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, goal, median, report, rssBytes, sleep, spawnNode } from '../common.js';

const RUNS = 5;

async function waitReady(url: string, child: { exitCode: number | null }, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error('process exited before it was ready');
    try {
      const res = await fetch(url);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready in ${timeoutMs} ms`);
    await sleep(5);
  }
}

async function measure(kind: 'catapult' | 'anchor', port: number): Promise<{ readyMs: number; rss: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'catapult-bench-startup-'));
  const args =
    kind === 'catapult'
      ? [BIN, 'up', '--data-dir', dir, '--api-port', String(port), '--gateway-port', String(port + 1), '--log-level', 'warn']
      : ['-e', `require('node:http').createServer((q,s)=>s.end('ok')).listen(${port},'127.0.0.1')`];
  const started = performance.now();
  const child = spawnNode(args);
  child.stdout?.resume();
  child.stderr?.resume();
  try {
    await waitReady(`http://127.0.0.1:${port}${kind === 'catapult' ? '/ready' : '/'}`, child);
    const readyMs = performance.now() - started;
    // Idle: let start-up work and the first GC settle, then read RSS.
    await sleep(3000);
    const rss = rssBytes(child.pid!);
    return { readyMs, rss };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const base = 20000 + Math.floor(Math.random() * 20000);
  const catapult: { readyMs: number; rss: number }[] = [];
  const anchor: { readyMs: number; rss: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    anchor.push(await measure('anchor', base + i * 4 + 2));
    catapult.push(await measure('catapult', base + i * 4));
    process.stdout.write(`run ${i + 1}: catapult ready ${catapult[i]!.readyMs.toFixed(0)} ms, bare node ${anchor[i]!.readyMs.toFixed(0)} ms\n`);
  }
  const readyMs = median(catapult.map((r) => r.readyMs));
  const anchorMs = median(anchor.map((r) => r.readyMs));
  const rssMb = median(catapult.map((r) => r.rss)) / 1e6;
  const anchorRssMb = median(anchor.map((r) => r.rss)) / 1e6;
  report({
    bench: 'startup',
    runs: RUNS,
    anchor: 'bare node:http server spawned the same way',
    catapult: { readyMsMedian: Math.round(readyMs), idleRssMb: Math.round(rssMb) },
    anchorResult: { readyMsMedian: Math.round(anchorMs), idleRssMb: Math.round(anchorRssMb) },
    ratios: { readyVsBareNode: Math.round((readyMs / anchorMs) * 100) / 100, rssVsBareNode: Math.round((rssMb / anchorRssMb) * 100) / 100 },
    goals: {
      startup_ready_seconds: goal(readyMs / 1000, 1.5, 'max', 's'),
      idle_rss_mb: goal(rssMb, 150, 'max', 'MB'),
    },
  });
}

await main();

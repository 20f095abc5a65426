/**
 * Loadgen: how well Catapult's load engine measures, and how hard it can push, against anchors in the
 * same run on the same machine.
 *
 * 1. Measurement error. The simulator (its own process, one core) generates every stream with a
 *    configured time to first token and inter-token latency, timed on absolute deadlines. The engine
 *    (this process, the other core) keeps 500, then 2,000 streams in flight (closed loop) and reports
 *    p50 TTFT and ITL; the error is the distance from the configured values. The same streams read by
 *    a bare undici client that only timestamps chunks (no SSE parsing, records or histograms) show how
 *    much of the error is the server's and the machine's rather than the engine's.
 * 2. Request rate. Non-streamed chat completions against nginx answering a fixed JSON body (one
 *    worker, so the server is not what limits): the engine, closed loop at 64 connections, against
 *    autocannon with 64 connections, each for the same time, alternating, median of the rounds.
 *
 * Needs `nginx` (the Debian package). `--quick` shortens every phase.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { LoadEngine, newHistogram, parseRecipe, percentilesMs, planStages, prepareItems, recordMs, shardStages, stageResults } from '../../src/bench/index.js';
import { freePort } from '../../src/util/index.js';
import { BIN, NGINX, goal, median, report, sleep, startNginx, which } from '../common.js';

const QUICK = process.argv.includes('--quick');
/** `--only streams` or `--only rate` runs one part (for working on it); the goals of the other are then absent. */
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const S = (seconds: number) => (QUICK ? Math.max(2, Math.round(seconds / 3)) : seconds);
const TTFT_MS = 200;
const ITL_MS = 40;
const OUTPUT_TOKENS = 24;

const log = (line: string) => process.stdout.write(`${line}\n`);
const round = (v: number, d = 3) => Math.round(v * 10 ** d) / 10 ** d;
const children: ChildProcess[] = [];


async function waitListening(url: string, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode})`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${what} did not listen at ${url}`);
      await sleep(50);
    }
  }
}

async function startSimulator(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [BIN, 'runtime', 'simulator', '--port', String(port), '--model-name', 'sim', '--ttft-ms', String(TTFT_MS), '--itl-ms', String(ITL_MS), '--max-concurrency', '8192', '--log-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitListening(`${url}/health`, child, 'the simulator');
  return { url, child };
}

/** nginx answering every request with `body` (one worker, so it is not what limits). */
async function startNginxAnswering(dir: string, body: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = await startNginx(
    dir,
    port,
    `  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:${port};
    location / {
      default_type application/json;
      return 200 '${body}';
    }
  }`,
  );
  children.push(child);
  return { url: `http://127.0.0.1:${port}`, child };
}

function recipe(url: string, lines: string): ReturnType<typeof parseRecipe> {
  return parseRecipe(`name: loadgen
target: { url: "${url}" }
workload:
  api: openai-chat
  model: sim
  dataset: { type: synthetic, inputTokens: 32, outputTokens: { dist: uniform, min: ${OUTPUT_TOKENS / 2}, max: ${OUTPUT_TOKENS * 1.5} }, count: 256 }
${lines}`);
}

/** The engine at `concurrency` streams for `seconds` (after a warmup): p50 TTFT and ITL. */
async function engineStreams(url: string, concurrency: number, seconds: number): Promise<{ ttftP50: number; itlP50: number; requests: number; errors: number; ttftP99: number; itlP99: number }> {
  const r = recipe(url, `load: { type: closed, concurrency: ${concurrency}, rampUp: 2s }\nstop: { duration: ${seconds + 3}s, warmup: 3s }`);
  const items = await prepareItems(r, { model: 'sim', cwd: process.cwd() });
  const engine = new LoadEngine({ api: 'openai-chat', stream: true, timeoutMs: 60_000, slo: {}, shard: 0, stages: shardStages(planStages(r), 0, 1, 0), items, target: { baseUrl: url, headers: {} } });
  const res = stageResults((await engine.run()).aggregates[0]!, {});
  return { ttftP50: res.latency.ttft.p50!, itlP50: res.latency.itl.p50!, ttftP99: res.latency.ttft.p99!, itlP99: res.latency.itl.p99!, requests: res.requests.ok, errors: res.requests.errors };
}

/**
 * The anchor reader: the same requests (same bodies, same ramp), read by an undici dispatch handler
 * that only timestamps the first chunk and the gaps between chunks — no SSE parsing, no records, no
 * histograms per request beyond two values. What it measures beyond the configured values is the
 * server's and the machine's share of the error.
 */
async function bareStreams(url: string, concurrency: number, seconds: number): Promise<{ ttftP50: number; itlP50: number }> {
  const r = recipe(url, 'load: { type: closed, concurrency: 1 }\nstop: { requests: 1 }');
  const items = await prepareItems(r, { model: 'sim', cwd: process.cwd() });
  const pool = new Pool(url, { connections: concurrency, headersTimeout: 0, bodyTimeout: 0 });
  const ttft = newHistogram();
  const itl = newHistogram();
  const start = performance.now();
  const warmUntil = start + 3000;
  const end = warmUntil + seconds * 1000;
  let n = 0;
  let open = 0;
  await new Promise<void>((resolve) => {
    const one = (): void => {
      if (performance.now() >= end) {
        if (--open === 0) resolve();
        return;
      }
      const item = items[n++ % items.length]!;
      const t0 = performance.now();
      let last = 0;
      pool.dispatch(
        { path: '/v1/chat/completions', method: 'POST', headers: ['content-type', 'application/json'], body: item.body },
        {
          // undici takes a handler with onRequestStart for its current (controller) interface.
          onRequestStart() {},
          onResponseData() {
            const now = performance.now();
            if (t0 >= warmUntil) {
              if (last === 0) recordMs(ttft, now - t0);
              else recordMs(itl, now - last);
            }
            last = now;
          },
          onResponseEnd: one,
          onResponseError: one,
        },
      );
    };
    for (let c = 0; c < concurrency; c++) {
      open++;
      setTimeout(one, (c / concurrency) * 2000);
    }
  });
  await pool.close();
  return { ttftP50: percentilesMs(ttft).p50, itlP50: percentilesMs(itl).p50 };
}

async function engineRate(url: string, seconds: number, connections: number): Promise<number> {
  const r = recipe(url, `load: { type: closed, concurrency: ${connections} }\nstop: { duration: ${seconds}s }`);
  r.workload.stream = false;
  const items = await prepareItems(r, { model: 'sim', cwd: process.cwd() });
  const engine = new LoadEngine({ api: 'openai-chat', stream: false, timeoutMs: 10_000, slo: {}, shard: 0, stages: shardStages(planStages(r), 0, 1, 0), items, target: { baseUrl: url, headers: {} } });
  const res = stageResults((await engine.run()).aggregates[0]!, {});
  if (res.requests.errors > 0) throw new Error(`the engine saw ${res.requests.errors} errors against nginx: ${JSON.stringify(res.errorsByKind)}`);
  return res.throughput.requestsPerS!;
}

async function autocannonRate(url: string, seconds: number, connections: number, body: string): Promise<number> {
  const result = await autocannon({ url: `${url}/v1/chat/completions`, method: 'POST', body, headers: { 'content-type': 'application/json' }, connections, duration: seconds });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`autocannon saw ${result.non2xx} non-2xx and ${result.errors} errors`);
  return result.requests.total / seconds;
}

async function main(): Promise<void> {
  if (!which(NGINX)) throw new Error('nginx is not installed: apt-get install -y nginx (the Debian package).');
  const dir = mkdtempSync(join(tmpdir(), 'catapult-bench-loadgen-'));
  try {
    log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    // 1. Measurement error ─────────────────────────────────────────────────
    const streams: Record<string, unknown> = {};
    const goals: Record<string, ReturnType<typeof goal>> = {};
    const sim = ONLY === 'rate' ? undefined : await startSimulator();
    for (const concurrency of sim ? [500, 2000] : []) {
      if (!sim) break;
      const measured = await engineStreams(sim.url, concurrency, S(10));
      const bare = await bareStreams(sim.url, concurrency, S(6));
      const ttftError = Math.abs(measured.ttftP50 - TTFT_MS);
      const itlError = Math.abs(measured.itlP50 - ITL_MS);
      streams[String(concurrency)] = {
        engine: { ...measured, ttftP50: round(measured.ttftP50), itlP50: round(measured.itlP50) },
        bareReader: { ttftP50: round(bare.ttftP50), itlP50: round(bare.itlP50) },
        configured: { ttftMs: TTFT_MS, itlMs: ITL_MS },
      };
      log(
        `${concurrency} streams: engine TTFT p50 ${round(measured.ttftP50)} ms (p99 ${round(measured.ttftP99)}), ITL p50 ${round(measured.itlP50)} ms (p99 ${round(measured.itlP99)}), ` +
          `${measured.requests} requests, ${measured.errors} errors; bare reader TTFT p50 ${round(bare.ttftP50)} ms, ITL p50 ${round(bare.itlP50)} ms`,
      );
      goals[`ttftP50ErrorMs_${concurrency}`] = goal(ttftError, 1, 'max', 'ms');
      goals[`itlP50ErrorMs_${concurrency}`] = goal(itlError, 1, 'max', 'ms');
    }
    sim?.child.kill('SIGTERM');
    let rate: Record<string, unknown> | undefined;
    if (ONLY !== 'streams') rate = await requestRate(dir, goals);
    report({
      bench: 'loadgen',
      anchor: { measurement: 'the simulator’s configured TTFT and ITL (and a bare chunk-timestamping reader)', rate: 'autocannon, 64 connections, against nginx (1 worker)' },
      quick: QUICK,
      streams,
      rate,
      loadAverage: loadavg().map((l) => round(l, 2)),
      goals,
    });
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** 2. Request rate: the engine against autocannon, alternating rounds against the same nginx. */
async function requestRate(dir: string, goals: Record<string, ReturnType<typeof goal>>): Promise<Record<string, unknown>> {
  {
    const answer = JSON.stringify({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1,
      model: 'sim',
      choices: [{ index: 0, message: { role: 'assistant', content: 'The quick brown fox.' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 32, completion_tokens: 5, total_tokens: 37 },
    });
    const nginx = await startNginxAnswering(join(dir, 'nginx'), answer);
    const body = JSON.stringify({ model: 'sim', messages: [{ role: 'user', content: 'hello '.repeat(32) }], max_tokens: 5, stream: false });
    const connections = 64;
    const seconds = S(5);
    await engineRate(nginx.url, 1, connections);
    await autocannonRate(nginx.url, 1, connections, body);
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let round_ = 0; round_ < 3; round_++) {
      ours.push(await engineRate(nginx.url, seconds, connections));
      theirs.push(await autocannonRate(nginx.url, seconds, connections, body));
      log(`round ${round_ + 1}: engine ${Math.round(ours.at(-1)!)} req/s, autocannon ${Math.round(theirs.at(-1)!)} req/s`);
    }
    const ratio = median(ours) / median(theirs);
    goals.requestRateVsAutocannon = goal(ratio, 0.8, 'min', 'x');
    return { engineReqPerS: Math.round(median(ours)), autocannonReqPerS: Math.round(median(theirs)), rounds: { engine: ours.map(Math.round), autocannon: theirs.map(Math.round) } };
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

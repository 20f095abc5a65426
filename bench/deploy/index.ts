/**
 * Deploy: (1) time from POST /api/v1/deployments to `active` for the ONNX demo model, on a real
 * `catapult up` process with its local agent; (2) the ONNX runtime's throughput and p99 for the demo
 * model over HTTP, against the anchor: calling onnxruntime-node in-process on the same input, for
 * the same time, in the same run.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { BIN, ROOT, goal, median, percentile, report, sleep, spawnNode } from '../common.js';

const IRIS = join(ROOT, 'models', 'iris', 'model.onnx');
const BODY = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(10);
  }
}

async function postToActive(): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'catapult-bench-deploy-'));
  const port = 30000 + Math.floor(Math.random() * 10000);
  const child = spawnNode([BIN, 'up', '--data-dir', dir, '--api-port', String(port), '--gateway-port', String(port + 1), '--no-demo', '--log-level', 'warn']);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.resume();
  try {
    await waitFor('catapult up', () => Promise.resolve(/Admin key/.test(out) ? true : undefined));
    const key = readFileSync(join(dir, 'admin.key'), 'utf8').trim();
    const api = `http://127.0.0.1:${port}/api/v1`;
    const call = (method: string, path: string, body?: unknown) =>
      fetch(api + path, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    await call('POST', '/models', { name: 'iris', source: IRIS });
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const name = `iris-${i}`;
      const t0 = performance.now();
      const res = await call('POST', '/deployments', { name, model: 'iris', runtime: 'onnx', options: { threads: 1 } });
      if (res.status !== 201) throw new Error(`POST /deployments: ${res.status} ${await res.text()}`);
      await waitFor(`${name} active`, async () => {
        const d = (await (await call('GET', `/deployments/${name}`)).json()) as { state: string };
        return d.state === 'active' ? true : undefined;
      });
      times.push(performance.now() - t0);
      process.stdout.write(`POST → active: ${times.at(-1)!.toFixed(0)} ms\n`);
      await call('DELETE', `/deployments/${name}`);
      await waitFor(`${name} gone`, async () => ((await call('GET', `/deployments/${name}`)).status === 404 ? true : undefined));
    }
    return times;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function inProcess(durationMs: number): Promise<{ rps: number; p99: number }> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(readFileSync(IRIS), { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  const feeds = () => ({ input: new ort.Tensor('float32', Float32Array.from([5.1, 3.5, 1.4, 0.2]), [1, 4]) });
  const lat: number[] = [];
  const end = performance.now() + durationMs;
  while (performance.now() < end) {
    const t = performance.now();
    await session.run(feeds());
    lat.push(performance.now() - t);
  }
  lat.sort((a, b) => a - b);
  return { rps: lat.length / (durationMs / 1000), p99: percentile(lat, 99) };
}

async function overHttp(durationMs: number, concurrency: number): Promise<{ rps: number; p99: number; errors: number }> {
  const port = 40000 + Math.floor(Math.random() * 10000);
  const child = spawnNode([join(ROOT, 'dist', 'src', 'runtimes', 'main.js'), 'runtime', 'onnx', '--model', IRIS, '--model-name', 'iris', '--port', String(port), '--threads', '1']);
  child.stdout?.resume();
  child.stderr?.resume();
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitFor('onnx server', async () => ((await fetch(`${origin}/v2/health/ready`)).ok ? true : undefined));
    const pool = new Pool(origin, { connections: concurrency, pipelining: 1 });
    const lat: number[] = [];
    let errors = 0;
    const end = performance.now() + durationMs;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          const t = performance.now();
          const res = await pool.request({ path: '/v2/models/iris/infer', method: 'POST', body: BODY, headers: { 'content-type': 'application/json' } });
          await res.body.text();
          if (res.statusCode !== 200) errors++;
          lat.push(performance.now() - t);
        }
      }),
    );
    await pool.close();
    lat.sort((a, b) => a - b);
    return { rps: lat.length / (durationMs / 1000), p99: percentile(lat, 99), errors };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

async function main(): Promise<void> {
  const times = await postToActive();
  const activeMs = median(times);
  const anchor = await inProcess(5000);
  process.stdout.write(`in-process onnxruntime-node: ${anchor.rps.toFixed(0)} req/s, p99 ${anchor.p99.toFixed(3)} ms\n`);
  const http = await overHttp(5000, 8);
  process.stdout.write(`onnx runtime over HTTP (8 connections): ${http.rps.toFixed(0)} req/s, p99 ${http.p99.toFixed(3)} ms, ${http.errors} errors\n`);
  report({
    bench: 'deploy',
    anchor: 'onnxruntime-node InferenceSession.run called in-process, one request at a time, same model and input, same run',
    postToActiveMs: times.map((t) => Math.round(t)),
    inProcess: { rps: Math.round(anchor.rps), p99Ms: Math.round(anchor.p99 * 1000) / 1000 },
    http: { rps: Math.round(http.rps), p99Ms: Math.round(http.p99 * 1000) / 1000, errors: http.errors, connections: 8 },
    goals: {
      post_to_active_seconds: goal(activeMs / 1000, 2, 'max', 's'),
      onnx_throughput_vs_in_process: goal(http.rps / anchor.rps, 0.8, 'min', 'x'),
    },
  });
}

await main();

import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../cluster/processes.js';
import { BIN, type LongRunning, childEnv, runCli, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/services.js';

type Json = any;

describe('catapult bench against catapult up', () => {
  const tmp = tempDir();
  let up: LongRunning;
  let env: Record<string, string>;
  let apiUrl = '';
  let key = '';

  const recipe = (name: string, body: string) => {
    const file = join(tmp.dir, name);
    writeFileSync(file, body);
    return file;
  };
  const quick = (concurrency: number) => `name: quick ${concurrency}
target:
  deployment: demo-llm
workload:
  api: openai-chat
  dataset: { type: synthetic, inputTokens: 16, outputTokens: 8, count: 20 }
load: { type: closed, concurrency: ${concurrency} }
stop: { requests: ${concurrency * 6} }
`;

  beforeAll(async () => {
    up = startCli(['up', '--data-dir', join(tmp.dir, 'data'), '--api-port', '0', '--gateway-port', '0', '--log-level', 'warn'], { cwd: tmp.dir });
    apiUrl = (await up.waitFor(/API\s+(http:\/\/\S+)\/api\/v1/, 60_000))[1]!;
    key = (await up.waitFor(/Admin key\s+(cat_\S+)/))[1]!;
    await up.waitFor(/Demo\s+demo-llm\s+active/, 60_000);
    env = { CATAPULT_URL: apiUrl, CATAPULT_API_KEY: key };
  });
  afterAll(async () => {
    await up?.stop();
    tmp.remove();
  });

  it('runs a recipe through the gateway to the demo LLM and prints the results table', async () => {
    const res = await runCli(['bench', 'run', recipe('quick.yaml', quick(2))], { env, timeoutMs: 60_000 });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/benchmark bench_\S+ \(quick 2\) queued/);
    expect(res.stdout).toMatch(/state\s+completed/);
    expect(res.stdout).toMatch(/target\s+deployment demo-llm \(http:\/\/127\.0\.0\.1:\d+\)/);
    expect(res.stdout).toMatch(/STAGE\s+SENT\s+OK\s+ERR\s+REQ\/S/);
    expect(res.stdout).toMatch(/concurrency 2\s+12\s+12\s+0\s/);
  });

  it('shows a live progress bar on a terminal', async () => {
    const file = recipe('bar.yaml', quick(2).replace('stop: { requests: 12 }', 'stop: { duration: 3s }'));
    // `script` gives the command a pseudo-terminal, as a person's shell would.
    const cmd = `${process.execPath} ${BIN} bench run ${file}`;
    const res = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('script', ['-qfec', cmd, '/dev/null'], { env: childEnv(env) });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (code) => resolve({ code, out }));
    });
    expect(res.code, res.out).toBe(0);
    expect(res.out).toMatch(/concurrency 2 \S+ \ds\/3s \d+ req \| [\d.]+ req\/s \| err 0 \| TTFT p50 [\d.]+ms p99 [\d.]+ms \| E2E p50 [\d.]+ms/);
    expect(res.out).toMatch(/state\s+completed/);
  });

  it("draws each progress frame whole: no raw template, no negative or flickering rate, no time past the stage's, measured counts", async () => {
    const yaml = quick(1)
      .replace('load: { type: closed, concurrency: 1 }', 'load: { type: closed, concurrencies: [1, 2] }')
      .replace('stop: { requests: 6 }', 'stop: { duration: 3s, warmup: 1s }');
    const file = recipe('frames.yaml', yaml);
    const cmd = `${process.execPath} ${BIN} bench run ${file}`;
    const res = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('script', ['-qfec', cmd, '/dev/null'], { env: childEnv(env) });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (code) => resolve({ code, out }));
    });
    expect(res.code, res.out).toBe(0);
    // The terminal's frames: what lies between carriage returns, line ends and cursor moves.
    const frames = res.out
      // eslint-disable-next-line no-control-regex -- terminal escape sequences are what is split on
      .split(/\r|\n|\x1b\[[0-9;?]*[A-Za-z]/)
      .map((f) => f.trim())
      .filter((f) => f.includes('req/s') || f.includes('{'));
    expect(frames.length).toBeGreaterThan(4);
    for (const f of frames) {
      expect(f).not.toMatch(/\{(label|bar|count|rate|errors|ttft50|ttft99|e2e50|e2e99)\}/);
      expect(f).toMatch(/^\[[12]\/2\] concurrency [12] \S+ \ds\/3s \d+ req( \(\+\d+ warmup\/cooldown\))? \| [\d.]+ req\/s \|/);
      const [, elapsed, total] = /(\d+)s\/(\d+)s/.exec(f)!;
      expect(Number(elapsed)).toBeLessThanOrEqual(Number(total));
    }
    // Once requests have succeeded, the rate never drops back to zero within a stage.
    for (const stage of ['[1/2]', '[2/2]']) {
      const rates = frames.filter((f) => f.startsWith(stage)).map((f) => Number(/\| ([\d.]+) req\/s/.exec(f)![1]));
      const firstUp = rates.findIndex((r) => r > 0);
      expect(firstUp).toBeGreaterThanOrEqual(0);
      expect(rates.slice(firstUp).every((r) => r > 0)).toBe(true);
    }
    // The last frame of each stage counts what its results count as sent (warmup apart).
    const results = /concurrency 1\s+(\d+)\s+(\d+)[\s\S]*concurrency 2\s+(\d+)\s+(\d+)/.exec(res.out.slice(res.out.lastIndexOf('STAGE')))!;
    const lastCount = (stage: string) => Number(/ (\d+) req/.exec(frames.filter((f) => f.startsWith(stage)).at(-1)!)![1]);
    expect(lastCount('[1/2]')).toBe(Number(results[1]));
    expect(lastCount('[2/2]')).toBe(Number(results[3]));
    expect(res.out).toMatch(/\+\d+ warmup\/cooldown/);
  });

  it('ends a run in which every request failed as failed, and shows the first error messages of each kind', async () => {
    // A server that answers the preflight but refuses every completion, two ways.
    let n = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url === '/v1/models') {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[{"id":"m"}]}');
          return;
        }
        if (n++ % 2 === 0) res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"model is loading"}');
        else res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"prompt too long"}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const file = recipe('refused.yaml', quick(2).replace('deployment: demo-llm', `url: ${url}`).replace('workload:', 'workload:\n  model: m'));
      const res = await runCli(['bench', 'run', file, '--no-progress'], { env, timeoutMs: 60_000 });
      expect(res.code).toBe(1);
      expect(res.stdout).toMatch(/state\s+failed — every one of the 12 requests failed: http_4xx 6 \(HTTP 400: \{"error":"prompt too long"\}\); http_5xx 6|state\s+failed — every one of the 12 requests failed: http_5xx 6 \(HTTP 503: \{"error":"model is loading"\}\); http_4xx 6/);
      expect(res.stdout).toContain('http_5xx: HTTP 503: {"error":"model is loading"}');
      expect(res.stdout).toContain('http_4xx: HTTP 400: {"error":"prompt too long"}');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('lists, shows, compares and exports runs', async () => {
    const a = JSON.parse((await runCli(['bench', 'run', recipe('a.yaml', quick(1)), '--json'], { env, timeoutMs: 60_000 })).stdout);
    // A credential in the recipe is sent with every request, and shown redacted by every command.
    const withToken = quick(4).replace('  deployment: demo-llm\n', '  deployment: demo-llm\n  headers: { x-upstream-token: tok-cli-secret-0123456789 }\n');
    const runB = await runCli(['bench', 'run', recipe('b.yaml', withToken), '--json'], { env, timeoutMs: 60_000 });
    expect(runB.stdout).not.toContain('tok-cli-secret-0123456789');
    const b = JSON.parse(runB.stdout);
    expect(a.benchmark.state).toBe('completed');
    expect(b.results.stages[0].requests.ok).toBe(24);

    const ls = await runCli(['bench', 'ls'], { env });
    expect(ls.stdout).toMatch(new RegExp(`${b.benchmark.id}\\s+quick 4\\s+completed\\s+deployment:demo-llm\\s+24`));
    const show = await runCli(['bench', 'show', a.benchmark.id], { env });
    expect(show.stdout).toContain(`quick 1 (${a.benchmark.id})`);
    const cmp = await runCli(['bench', 'compare', a.benchmark.id, b.benchmark.id], { env });
    expect(cmp.code, cmp.stderr).toBe(0);
    expect(cmp.stdout).toMatch(/quick 1 \S+ · concurrency 1/);
    expect(cmp.stdout).toContain('relative to the first row:');
    const csv = await runCli(['bench', 'export', b.benchmark.id, '--format', 'csv'], { env });
    expect(csv.stdout.split('\n')[1]).toMatch(new RegExp(`^${b.benchmark.id},quick 4,completed,0,concurrency 4,`));
    const json = await runCli(['bench', 'export', b.benchmark.id, '--format', 'json'], { env });
    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout).not.toContain('tok-cli-secret-0123456789');
    expect(JSON.parse(json.stdout).benchmark.recipe.target.headers).toEqual({ 'x-upstream-token': 'tok-…789' });
    expect((await runCli(['bench', 'show', b.benchmark.id], { env })).stdout).not.toContain('tok-cli-secret-0123456789');
    const records = await runCli(['bench', 'export', b.benchmark.id, '--format', 'records-jsonl'], { env });
    expect(records.stdout.trim().split('\n')).toHaveLength(24);
    // A reader that goes away (`| head`, here one that never reads) ends the command quietly.
    for (const reader of ['true', 'head -c 1 >/dev/null']) {
      const piped = spawnSync('bash', ['-o', 'pipefail', '-c', `${process.execPath} ${BIN} bench export ${b.benchmark.id} --format records-jsonl | ${reader}`], { env: childEnv(env), encoding: 'utf8' });
      expect(piped.stderr).toBe('');
      expect(piped.status).toBe(0);
    }
  });

  it('runs KServe v2 inference against the Iris ONNX demo', async () => {
    const yaml = `name: iris
target: { deployment: iris }
workload:
  api: kserve-v2
  dataset:
    type: inline
    items:
      - inputs: [{ name: input, shape: [1, 4], datatype: FP32, data: [5.1, 3.5, 1.4, 0.2] }]
load: { type: constant, rate: 100 }
stop: { requests: 50 }
`;
    const res = await runCli(['bench', 'run', recipe('iris.yaml', yaml), '--json'], { env, timeoutMs: 60_000 });
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout);
    expect(out.results.stages[0].requests).toMatchObject({ sent: 50, ok: 50, errors: 0 });
    expect(out.results.stages[0].latency.e2e.p50).toBeGreaterThan(0);
  });

  it('shows recipe problems as FILE:LINE: PATH: MESSAGE and sends nothing', async () => {
    const bad = recipe('bad.yaml', quick(2).replace('concurrency: 2', 'concurrency: zero').replace('stop:', 'stpo:'));
    const run = await runCli(['bench', 'run', bad], { env });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${bad}:7: load.concurrency: Invalid input: expected number, received string`);
    expect(run.stderr).toMatch(new RegExp(`${bad}:8: stpo: unknown field`));
    const check = await runCli(['bench', 'validate', bad], { env });
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(`${bad}:7: load.concurrency`);
    expect((await runCli(['bench', 'validate', recipe('good.yaml', quick(2))], { env })).stdout).toMatch(/good\.yaml: valid/);
  });

  it('deploys a service for a recipe, benchmarks it, and removes it after (seed 004)', async () => {
    const yaml = `name: service first
target:
  service:
    runtime: simulator
    options: { ttftMs: 30, itlMs: 3 }
workload:
  api: openai-chat
  dataset: { type: synthetic, inputTokens: 8, outputTokens: 6, count: 10 }
load: { type: closed, concurrency: 2 }
stop: { requests: 10 }
`;
    const res = await runCli(['bench', 'run', recipe('service.yaml', yaml), '--json'], { env, timeoutMs: 90_000 });
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout);
    expect(out.benchmark).toMatchObject({ state: 'completed', target: { kind: 'service', ref: expect.stringMatching(/^bench-/) } });
    expect(out.results.stages[0].requests.ok).toBe(10);
    expect(out.results.stages[0].latency.ttft.p50).toBeGreaterThan(29);
    const name = out.benchmark.target.ref as string;
    await until(`${name} to be removed`, async () => {
      const r = await fetch(`${apiUrl}/api/v1/deployments/${name}`, { headers: { authorization: `Bearer ${key}` } });
      return r.status === 404;
    });
  });

  it('streams progress on the event stream while a run goes', async () => {
    const created = (await (await fetch(`${apiUrl}/api/v1/benchmarks`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ yaml: quick(2).replace('stop: { requests: 12 }', 'stop: { duration: 3s }') }) })).json()) as Json;
    const res = await fetch(`${apiUrl}/api/v1/events?since=0&types=benchmark.progress,benchmark.updated`, { headers: { authorization: `Bearer ${key}` } });
    const reader = res.body!.getReader();
    let text = '';
    const seen = await until('progress and the end on the stream', async () => {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
      const events = text.split('\n\n').filter((e) => e.includes(created.id)).map((e) => JSON.parse(e.split('\ndata: ')[1]!));
      return events.some((e) => e.type === 'benchmark.updated' && e.data.state === 'completed') ? events : undefined;
    }, 30_000);
    await reader.cancel();
    const progress = seen.filter((e) => e.type === 'benchmark.progress');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1).data).toMatchObject({ stageLabel: 'concurrency 2', errors: 0 });
    expect(progress.at(-1).data.done).toBeGreaterThan(progress[0].data.done);
  });
});

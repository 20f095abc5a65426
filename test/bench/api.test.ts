import { afterAll, beforeAll, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../../src/runtimes/index.js';
import { until } from '../cluster/processes.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { type Backend, describeEachBackend } from '../helpers/services.js';

// Response bodies are checked field by field.
type Json = any;

const TTFT = 40;
const ITL = 5;

function smoke(url: string, extra = ''): string {
  return `name: smoke
target:
  url: ${url}
workload:
  api: openai-chat
  model: sim
  dataset: { type: synthetic, inputTokens: 16, outputTokens: 12, count: 20 }
load: { type: closed, concurrency: 4 }
stop: { requests: 40 }
slo: { ttftMs: 1000 }
${extra}`;
}

describeEachBackend('benchmarks through the API', (backend: Backend) => {
  let t: TestControlPlane;
  let sim: RunningSimulator;

  beforeAll(async () => {
    t = await startTestControlPlane(backend);
    sim = await startSimulator({ modelName: 'sim', ttftMs: TTFT, itlMs: ITL });
  });
  afterAll(async () => {
    await sim?.close();
    await t?.close();
  });

  const post = async (path: string, body: unknown) => {
    const res = await t.call('POST', path, { body });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const get = async (path: string) => (await (await t.call('GET', path)).json()) as Json;
  const finished = (id: string, timeoutMs = 30_000) =>
    until(`benchmark ${id} to end`, async () => {
      const b = await get(`/api/v1/benchmarks/${id}`);
      return ['completed', 'failed', 'cancelled'].includes(b.state) ? b : undefined;
    }, timeoutMs);

  it('runs a YAML recipe to completion and reports what the simulator was configured to do', async () => {
    const { status, body } = await post('/api/v1/benchmarks', { yaml: smoke(sim.url) });
    expect(status, JSON.stringify(body)).toBe(201);
    expect(body).toMatchObject({ name: 'smoke', state: 'pending', status: 'pending', target: { kind: 'url' }, api: 'openai-chat' });
    const done = await finished(body.id);
    expect(done.state, done.reason).toBe('completed');
    expect(done.summary.requests).toBe(40);
    expect(done.summary.errors).toBe(0);
    expect(done.summary.ttftP50Ms).toBeGreaterThan(TTFT - 1);
    expect(done.summary.ttftP50Ms).toBeLessThan(TTFT + 10);
    const results = await get(`/api/v1/benchmarks/${body.id}/results`);
    const stage = results.stages[0];
    expect(stage.requests).toMatchObject({ sent: 40, ok: 40, errors: 0 });
    expect(stage.latency.itl.p50).toBeGreaterThan(ITL - 1);
    expect(stage.latency.itl.p50).toBeLessThan(ITL + 2);
    expect(stage.tokens.outputSources).toEqual({ usage: 40 });
    expect(stage.goodput.share).toBe(1);
    expect(stage.distributions.ttft.length).toBeGreaterThan(5);
    expect(stage.timeseries.reduce((a: number, p: Json) => a + p.requests, 0)).toBe(40);
    expect(results.shards).toEqual([expect.objectContaining({ shard: 0, state: 'uploaded', runner: 'local', records: 40 })]);
  });

  it('runs a sweep as one stage per load level, leaving warmup out of the results', async () => {
    const yaml = smoke(sim.url).replace('load: { type: closed, concurrency: 4 }', 'load: { type: closed, concurrencies: [1, 3] }').replace('stop: { requests: 40 }', 'stop: { duration: 1200ms, warmup: 300ms }');
    const { body } = await post('/api/v1/benchmarks', { yaml });
    const done = await finished(body.id);
    expect(done.state, done.reason).toBe('completed');
    const results = await get(`/api/v1/benchmarks/${body.id}/results`);
    expect(results.stages.map((s: Json) => s.label)).toEqual(['concurrency 1', 'concurrency 3']);
    for (const s of results.stages) {
      expect(s.requests.excluded).toBeGreaterThan(0);
      expect(s.requests.ok).toBeGreaterThan(0);
    }
    // Three at a time send about three times as much as one at a time.
    expect(results.stages[1].throughput.requestsPerS / results.stages[0].throughput.requestsPerS).toBeGreaterThan(2);
    const records = (await get(`/api/v1/benchmarks/${body.id}/records?limit=10000`)).items as Json[];
    expect(records.filter((r) => r.phase === 'warmup').length).toBe(results.stages[0].requests.excluded + results.stages[1].requests.excluded);
  });

  it('loads a plain HTTP endpoint with the http workload', async () => {
    const { createServer } = await import('node:http');
    let seen = '';
    const server = createServer((req, res) => {
      seen = `${req.method} ${req.url}`;
      res.end('pong');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const yaml = `name: plain http
target: { url: "${url}" }
workload:
  api: http
  method: GET
  path: /ping
  dataset: { type: inline, items: [null] }
load: { type: constant, rate: 100 }
stop: { requests: 20 }
`;
      const { body } = await post('/api/v1/benchmarks', { yaml });
      const done = await finished(body.id);
      expect(done.state, done.reason).toBe('completed');
      expect(done.summary).toMatchObject({ requests: 20, errors: 0 });
      expect(seen).toBe('GET /ping');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('keeps every request as a raw record, readable as JSON pages, JSONL and CSV', async () => {
    const { body } = await post('/api/v1/benchmarks', { yaml: smoke(sim.url) });
    await finished(body.id);
    const page = await get(`/api/v1/benchmarks/${body.id}/records?limit=15`);
    expect(page.items).toHaveLength(15);
    expect(page.next).toBe(15);
    const r = page.items[0];
    expect(r).toMatchObject({ stage: 0, shard: 0, phase: 'measure', status: 200, error: null, outputSource: 'usage' });
    expect(r.sent).toBeGreaterThanOrEqual(r.intended);
    expect(r.firstToken).toBeGreaterThan(r.sent);
    expect(r.chunks.length).toBe(12);
    const jsonl = await (await t.call('GET', `/api/v1/benchmarks/${body.id}/records?format=jsonl`)).text();
    expect(jsonl.trim().split('\n')).toHaveLength(40);
    const csv = await (await t.call('GET', `/api/v1/benchmarks/${body.id}/records?format=csv`)).text();
    const lines = csv.trim().split('\n');
    expect(lines[0]).toMatch(/^i,shard,stage,item,phase,intended_ms/);
    expect(lines).toHaveLength(41);
    const stages = await (await t.call('GET', `/api/v1/benchmarks/${body.id}/export?format=csv`)).text();
    expect(stages.split('\n')[0]).toContain('ttft_p50_ms');
    const exported = JSON.parse(await (await t.call('GET', `/api/v1/benchmarks/${body.id}/export`)).text());
    expect(exported.benchmark.id).toBe(body.id);
    expect(exported.results.stages).toHaveLength(1);
  });

  it('rejects a bad recipe naming the path and line, and creates nothing', async () => {
    const before = (await get('/api/v1/benchmarks')).items.length;
    const { status, body } = await post('/api/v1/benchmarks', { yaml: smoke(sim.url).replace('concurrency: 4', 'concurrency: -4') });
    expect(status).toBe(400);
    expect(body.code).toBe('CATAPULT_RECIPE_INVALID');
    expect(body.errors).toEqual([expect.objectContaining({ path: 'load.concurrency', line: 8 })]);
    const check = await post('/api/v1/benchmarks/validate', { yaml: 'name: x\ntarget: { url: "nope" }\n' });
    expect(check.body.valid).toBe(false);
    expect(check.body.errors.map((e: Json) => e.path)).toEqual(expect.arrayContaining(['target.url', 'workload']));
    expect((await get('/api/v1/benchmarks')).items.length).toBe(before);
    const missing = await post('/api/v1/benchmarks', { yaml: smoke(sim.url).replace(`url: ${sim.url}`, 'deployment: nowhere') });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('CATAPULT_BENCHMARK_TARGET_NOT_FOUND');
  });

  it('publishes the recipe format as JSON Schema for editors', async () => {
    const schema = await get('/api/v1/benchmarks/recipe-schema');
    expect(schema.title).toBe('Catapult benchmark recipe');
    expect(schema.required).toEqual(expect.arrayContaining(['name', 'target', 'workload', 'load', 'stop']));
    expect(schema.properties.workload.properties.api.enum).toEqual(['openai-chat', 'openai-completions', 'kserve-v2', 'asr-transcriptions', 'http']);
    expect(schema.additionalProperties).toBe(false);
  });

  it('fails an unreachable target in its preflight, before any load is sent', async () => {
    const { body } = await post('/api/v1/benchmarks', { yaml: smoke('http://127.0.0.1:9') });
    const done = await finished(body.id);
    expect(done.state).toBe('failed');
    expect(done.reason).toMatch(/^preflight: cannot reach http:\/\/127\.0\.0\.1:9\/v1\/models \(ECONNREFUSED\); no load was sent/);
    const page = await get(`/api/v1/benchmarks/${body.id}/records`);
    expect(page.items).toEqual([]);
  });

  it('counts target errors by kind and completes with partial results', async () => {
    const flaky = await startSimulator({ modelName: 'sim', ttftMs: 5, itlMs: 1, failRate: 0.5, failStatus: 503, seed: 3 });
    try {
      const { body } = await post('/api/v1/benchmarks', { yaml: smoke(flaky.url) });
      const done = await finished(body.id);
      expect(done.state).toBe('completed');
      const stage = (await get(`/api/v1/benchmarks/${body.id}/results`)).stages[0];
      expect(stage.requests.sent).toBe(40);
      expect(stage.requests.errors).toBeGreaterThan(5);
      expect(stage.requests.ok + stage.requests.errors).toBe(40);
      expect(stage.errorsByKind).toEqual({ http_5xx: stage.requests.errors });
    } finally {
      await flaky.close();
    }
  });

  it('cancels a running benchmark, which keeps the results of what it sent', async () => {
    const { body } = await post('/api/v1/benchmarks', { yaml: smoke(sim.url).replace('stop: { requests: 40 }', 'stop: { duration: 60s }') });
    await until('running with progress', async () => {
      const b = await get(`/api/v1/benchmarks/${body.id}`);
      return b.state === 'running' && b.progress && b.progress.done > 10 ? b : undefined;
    });
    const res = await post(`/api/v1/benchmarks/${body.id}/cancel`, {});
    expect(res.status).toBe(200);
    const done = await finished(body.id);
    expect(done.state).toBe('cancelled');
    expect(done.summary.requests).toBeGreaterThan(10);
    const again = await post(`/api/v1/benchmarks/${body.id}/cancel`, {});
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('CATAPULT_BENCHMARK_FINISHED');
  });

  it('compares runs side by side and deletes an ended one with its records', async () => {
    const a = (await post('/api/v1/benchmarks', { yaml: smoke(sim.url) })).body;
    const b = (await post('/api/v1/benchmarks', { yaml: smoke(sim.url).replace('concurrency: 4', 'concurrency: 8') })).body;
    await finished(a.id);
    await finished(b.id);
    const cmp = await get(`/api/v1/benchmarks/compare?ids=${a.id},${b.id}`);
    expect(cmp.items.map((i: Json) => i.benchmark.id)).toEqual([a.id, b.id]);
    expect(cmp.items[1].results.stages[0].label).toBe('concurrency 8');
    const one = await t.call('GET', `/api/v1/benchmarks/compare?ids=${a.id}`);
    expect(one.status).toBe(400);
    const del = await t.call('DELETE', `/api/v1/benchmarks/${a.id}`);
    expect(del.status).toBe(200);
    expect((await t.call('GET', `/api/v1/benchmarks/${a.id}`)).status).toBe(404);
  });
});

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/index.js';
import { type RequestRecord, parseRecipe, planStages, stageResults, summarize } from '../../src/bench/index.js';
import { silentLogger } from '../../src/observability/index.js';
import { type RunningSimulator, startSimulator } from '../../src/runtimes/index.js';
import { until } from '../cluster/processes.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { tempDir } from '../helpers/services.js';

type Json = any;

const RECIPE = (url: string) => `name: two clients
target: { url: "${url}" }
workload:
  api: openai-chat
  model: sim
  dataset: { type: synthetic, inputTokens: 24, outputTokens: { dist: uniform, min: 4, max: 12 }, count: 64 }
load: { type: poisson, rate: 60 }
stop: { duration: 2s, warmup: 200ms }
clients: { count: 2, where: agents }
slo: { ttftMs: 100 }
seed: 11
`;

describe('a benchmark with two clients on two agents', () => {
  let t: TestControlPlane;
  let sim: RunningSimulator;
  const agents: Agent[] = [];
  const dir = tempDir();

  beforeAll(async () => {
    t = await startTestControlPlane('sqlite', { env: { CATAPULT_HEARTBEAT_INTERVAL_MS: '200' } });
    sim = await startSimulator({ modelName: 'sim', ttftMs: 30, itlMs: 4 });
    for (const name of ['bench-a', 'bench-b']) {
      const { secret } = await t.cp.cluster.createJoinToken({ name }, null);
      const agent = new Agent({ server: t.url, joinToken: secret, name, dataDir: join(dir.dir, name), capacity: { cpuCores: 4, memoryBytes: 8 * 2 ** 30 }, log: silentLogger(), longPollSeconds: 1, bench: true });
      await agent.start();
      agents.push(agent);
    }
  });
  afterAll(async () => {
    for (const a of agents) await a.stop();
    await sim?.close();
    await t?.close();
    dir.remove();
  });

  it('runs one shard on each agent from one start time, and the merged results equal those of the union of their raw records', async () => {
    const res = await t.call('POST', '/api/v1/benchmarks', { body: { yaml: RECIPE(sim.url) } });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as Json;
    const done = await until('the run to end', async () => {
      const b = (await (await t.call('GET', `/api/v1/benchmarks/${id}`)).json()) as Json;
      return ['completed', 'failed', 'cancelled'].includes(b.state) ? b : undefined;
    }, 40_000);
    expect(done.state, done.reason).toBe('completed');
    const results = (await (await t.call('GET', `/api/v1/benchmarks/${id}/results`)).json()) as Json;
    expect(results.shards).toHaveLength(2);
    const runners = new Set(results.shards.map((s: Json) => s.runner));
    expect(runners.size).toBe(2);
    expect(results.shards.every((s: Json) => s.state === 'uploaded' && s.records > 20)).toBe(true);

    const text = await (await t.call('GET', `/api/v1/benchmarks/${id}/records?format=jsonl`)).text();
    const records = text.trim().split('\n').map((l) => JSON.parse(l) as RequestRecord);
    // The two shards partition one schedule: every request number once, each shard every other one.
    const numbers = records.map((r) => r.i).sort((a, b) => a - b);
    expect(numbers).toEqual(numbers.map((_, k) => k));
    expect(records.filter((r) => r.shard === 0).every((r) => r.i % 2 === 0)).toBe(true);
    // Requests were sent on the common schedule, not one shard after the other.
    const lag = records.map((r) => r.sent - r.intended).sort((a, b) => a - b);
    expect(lag[Math.floor(lag.length / 2)]!).toBeLessThan(20);

    const recipe = parseRecipe(RECIPE(sim.url));
    const union = summarize(records, planStages(recipe), recipe.slo).map((a) => stageResults(a, recipe.slo));
    expect(results.stages).toEqual(JSON.parse(JSON.stringify(union)));
    expect(done.summary.requests).toBe(records.filter((r) => r.phase === 'measure').length);
  });

  it('cancels a run on agents: both shards stop and the results cover what they sent', async () => {
    const res = await t.call('POST', '/api/v1/benchmarks', { body: { yaml: RECIPE(sim.url).replace('duration: 2s', 'duration: 5m') } });
    const { id } = (await res.json()) as Json;
    await until('both shards sending', async () => {
      const b = (await (await t.call('GET', `/api/v1/benchmarks/${id}`)).json()) as Json;
      return b.state === 'running' && b.progress?.done > 40 ? b : undefined;
    }, 30_000);
    const cancelled = await t.call('POST', `/api/v1/benchmarks/${id}/cancel`);
    expect(cancelled.status).toBe(200);
    const done = await until('the run to end', async () => {
      const b = (await (await t.call('GET', `/api/v1/benchmarks/${id}`)).json()) as Json;
      return ['completed', 'failed', 'cancelled'].includes(b.state) ? b : undefined;
    }, 30_000);
    expect(done.state).toBe('cancelled');
    const results = (await (await t.call('GET', `/api/v1/benchmarks/${id}/results`)).json()) as Json;
    expect(results.shards.every((s: Json) => s.records > 0)).toBe(true);
    expect(results.stages[0].requests.sent).toBeGreaterThan(40);
    // Long before the 5 minutes were up.
    expect(done.finishedAt - done.startedAt).toBeLessThan(60_000);
  });

  it('refuses to start when fewer agents are ready than it has clients', async () => {
    const res = await t.call('POST', '/api/v1/benchmarks', { body: { yaml: RECIPE(sim.url).replace('count: 2, where: agents', 'count: 3, where: agents') } });
    const { id } = (await res.json()) as Json;
    const done = await until('the run to end', async () => {
      const b = (await (await t.call('GET', `/api/v1/benchmarks/${id}`)).json()) as Json;
      return ['completed', 'failed', 'cancelled'].includes(b.state) ? b : undefined;
    });
    expect(done.state).toBe('failed');
    expect(done.reason).toBe('preflight: the recipe asks for 3 clients on agents, but 2 agent(s) are ready');
  });
});

/**
 * A control plane killed (SIGKILL) in the middle of a benchmark. A run it drove itself ends `failed`
 * with the reason, keeping the records it wrote; a run whose clients are agents resumes when the
 * control plane is back, because the agents kept going.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../../src/runtimes/index.js';
import { freePort } from '../../src/util/index.js';
import { type CliProcess, startAgent, startCatapult, until } from '../cluster/processes.js';
import { tempDir } from '../helpers/services.js';

type Json = any;

describe('benchmarks across a control-plane crash', () => {
  const dir = tempDir();
  let sim: RunningSimulator;
  let server: CliProcess;
  let port: number;
  let key = '';
  const agents: CliProcess[] = [];
  const dataDir = join(dir.dir, 'data');

  const startServer = async () => {
    server = startCatapult(['server', '--data-dir', dataDir, '--api-port', String(port), '--log-level', 'warn'], { CATAPULT_HEARTBEAT_INTERVAL_MS: '500' });
    await server.waitFor(/Catapult server is up/);
  };
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return (await res.json()) as Json;
  };
  const ended = (id: string, timeoutMs: number) =>
    until(`benchmark ${id} to end`, async () => {
      const b = await call('GET', `/api/v1/benchmarks/${id}`).catch(() => undefined);
      return b && ['completed', 'failed', 'cancelled'].includes(b.state) ? b : undefined;
    }, timeoutMs);

  beforeAll(async () => {
    sim = await startSimulator({ modelName: 'sim', ttftMs: 20, itlMs: 5 });
    port = await freePort();
    await startServer();
    const { readFileSync } = await import('node:fs');
    key = readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
  });
  afterAll(async () => {
    for (const a of agents) await a.kill('SIGTERM');
    await server?.kill('SIGTERM');
    await sim?.close();
    dir.remove();
  });

  it('ends a run it drove itself `failed`, saying why, with the results of the records it had written', async () => {
    const yaml = `name: long local run
target: { url: "${sim.url}" }
workload:
  api: openai-chat
  model: sim
  dataset: { type: synthetic, inputTokens: 16, outputTokens: 8, count: 50 }
load: { type: closed, concurrency: 4 }
stop: { duration: 5m }
`;
    const created = await call('POST', '/api/v1/benchmarks', { yaml });
    await until('records on disk', async () => {
      const b = await call('GET', `/api/v1/benchmarks/${created.id}`);
      return b.state === 'running' && b.progress?.done > 100 ? b : undefined;
    });
    // Records are flushed every second; give them one.
    await new Promise((r) => setTimeout(r, 1500));
    await server.kill('SIGKILL');
    await startServer();
    const done = await ended(created.id, 60_000);
    expect(done.state).toBe('failed');
    expect(done.reason).toMatch(/control plane (running it )?stopped/);
    expect(done.reason).toMatch(/what it recorded is kept/);
    const records = (await call('GET', `/api/v1/benchmarks/${created.id}/records?limit=10000`)).items as Json[];
    expect(records.length).toBeGreaterThan(100);
    expect(done.summary.requests).toBe(records.filter((r) => r.error === null).length);
  });

  it('resumes a run whose clients are agents: they kept sending, and it completes once the control plane is back', async () => {
    const token = (await call('POST', '/api/v1/join-tokens', { name: 'bench agents' })).secret as string;
    for (const name of ['client-a', 'client-b']) {
      agents.push(await startAgent({ server: `http://127.0.0.1:${port}`, token, name, dataDir: join(dir.dir, name) }));
    }
    await until('two ready workers', async () => ((await call('GET', '/api/v1/workers')).items as Json[]).filter((w) => w.state === 'ready').length === 2);
    const yaml = `name: agents across a restart
target: { url: "${sim.url}" }
workload:
  api: openai-chat
  model: sim
  dataset: { type: synthetic, inputTokens: 16, outputTokens: 8, count: 50 }
load: { type: constant, rate: 40 }
stop: { duration: 8s }
clients: { count: 2, where: agents }
`;
    const created = await call('POST', '/api/v1/benchmarks', { yaml });
    await until('both clients sending', async () => {
      const b = await call('GET', `/api/v1/benchmarks/${created.id}`);
      return b.state === 'running' && b.progress?.done > 40 ? b : undefined;
    });
    await server.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    await startServer();
    // The coordinating task comes back when its lease (30 s) runs out.
    const done = await ended(created.id, 90_000);
    expect(done.state, done.reason).toBe('completed');
    const results = await call('GET', `/api/v1/benchmarks/${created.id}/results`);
    expect(results.shards.map((s: Json) => s.state)).toEqual(['uploaded', 'uploaded']);
    // 8 s at 40/s: the whole schedule was sent, though the control plane was down for part of it.
    expect(results.stages[0].requests.sent).toBe(320);
  });
});

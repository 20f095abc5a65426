import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, parseFakeGpus } from '../../src/agent/index.js';
import { silentLogger } from '../../src/observability/index.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';

const GiB = 2 ** 30;

/** Polls `check` until it returns a value that is not undefined/false, or fails after the deadline. */
async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const registerBody = (name: string) => ({
  name,
  labels: { zone: 'eu' },
  capacity: { cpuCores: 8, memoryBytes: 32 * GiB },
  gpus: [],
  cachedModels: [],
});

describe('cluster API', () => {
  let t: TestControlPlane;
  let dir: string;
  let tokenSecret: string;
  beforeAll(async () => {
    t = await startTestControlPlane('sqlite', {
      env: { CATAPULT_HEARTBEAT_INTERVAL_MS: '100', CATAPULT_MISSED_HEARTBEATS: '3', CATAPULT_OFFLINE_GRACE_MS: '5000' },
    });
    dir = mkdtempSync(join(tmpdir(), 'catapult-agent-'));
    const res = await t.call('POST', '/api/v1/join-tokens', { body: { name: 'test', expiresInSeconds: 3600 } });
    expect(res.status).toBe(201);
    tokenSecret = ((await res.json()) as { secret: string }).secret;
  });
  afterAll(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets a new agent register with a join token as its bearer, and returns a credential once', async () => {
    const res = await t.call('POST', '/api/v1/agents/register', { key: tokenSecret, body: registerBody('api-a') });
    expect(res.status).toBe(200);
    const reg = (await res.json()) as { workerId: string; credential: string; heartbeatIntervalMs: number };
    expect(reg.credential).toMatch(/^catagent_/);
    expect(reg.heartbeatIntervalMs).toBe(100);
    const again = await t.call('POST', '/api/v1/agents/register', { key: reg.credential, body: registerBody('api-a') });
    const back = (await again.json()) as { workerId: string; state: string; credential?: string };
    expect(back).toMatchObject({ workerId: reg.workerId, state: 'ready' });
    expect(back.credential).toBeUndefined();
  });

  it('shows each worker’s GPU use over the last minutes, from its heartbeats', async () => {
    // Its own zone: the GPUs it reports must not attract the placements of later tests.
    const a = (await (await t.call('POST', '/api/v1/agents/register', { key: tokenSecret, body: { ...registerBody('api-perf'), labels: { zone: 'perf' } } })).json()) as { workerId: string; credential: string };
    const gpu = (index: number, utilizationPercent: number | null) => ({
      vendor: 'nvidia', index, name: 'H100', uuid: `GPU-perf-${index}`, memoryTotalBytes: 80 * GiB, memoryUsedBytes: 10 * GiB, utilizationPercent, temperatureC: 50, fake: true,
    });
    for (const utils of [[20, 40], [60, 80], [null, 100]]) {
      const hb = { gpus: utils.map((u, i) => gpu(i, u)), replicas: [], cachedModels: [] };
      expect((await t.call('POST', `/api/v1/agents/${a.workerId}/heartbeat`, { key: a.credential, body: hb })).status).toBe(200);
    }
    const w = (await (await t.call('GET', `/api/v1/workers/${a.workerId}`)).json()) as any;
    expect(w.performance.samples.map((s: any) => s.gpuUtilizationPercent)).toEqual([30, 70, 100]);
    expect(w.performance.samples[0].gpuMemoryUsedBytes).toBe(20 * GiB);
    expect(w.performance.gpuUtilizationPercent).toEqual({ last1m: 66.7, last5m: 66.7, last15m: 66.7 });
    const list = (await (await t.call('GET', '/api/v1/workers')).json()) as any;
    expect(list.items.find((x: any) => x.id === a.workerId).performance.samples).toHaveLength(3);
  });

  it('gives agent credentials the agent routes of their own worker and nothing else', async () => {
    const a = (await (await t.call('POST', '/api/v1/agents/register', { key: tokenSecret, body: registerBody('api-b') })).json()) as { workerId: string; credential: string };
    const b = (await (await t.call('POST', '/api/v1/agents/register', { key: tokenSecret, body: registerBody('api-c') })).json()) as { workerId: string; credential: string };
    const hb = { gpus: [], replicas: [], cachedModels: [] };
    expect((await t.call('POST', `/api/v1/agents/${a.workerId}/heartbeat`, { key: a.credential, body: hb })).status).toBe(200);
    const other = await t.call('POST', `/api/v1/agents/${b.workerId}/heartbeat`, { key: a.credential, body: hb });
    expect(other.status).toBe(403);
    expect(((await other.json()) as { code: string }).code).toBe('CATAPULT_AGENT_MISMATCH');
    expect((await t.call('GET', `/api/v1/agents/${b.workerId}/assignments`, { key: a.credential })).status).toBe(403);
    for (const [method, path] of [
      ['GET', '/api/v1/workers'],
      ['GET', '/api/v1/cluster/status'],
      ['POST', '/api/v1/join-tokens'],
      ['GET', '/api/v1/keys'],
    ] as const) {
      const res = await t.call(method, path, { key: a.credential, ...(method === 'POST' ? { body: {} } : {}) });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    // A join token can register and do nothing else.
    expect((await t.call('POST', `/api/v1/agents/${a.workerId}/heartbeat`, { key: tokenSecret, body: hb })).status).toBe(403);
    expect((await t.call('GET', '/api/v1/workers', { key: tokenSecret })).status).toBe(403);
  });

  it('refuses bad join tokens, and bad input with a 4xx naming the field, never a 5xx', async () => {
    const revoked = (await (await t.call('POST', '/api/v1/join-tokens', { body: { maxUses: 1 } })).json()) as { token: { id: string }; secret: string };
    expect((await t.call('DELETE', `/api/v1/join-tokens/${revoked.token.id}`)).status).toBe(200);
    const res = await t.call('POST', '/api/v1/agents/register', { key: revoked.secret, body: registerBody('api-x') });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { code: string }).code).toBe('CATAPULT_JOIN_TOKEN_INVALID');
    expect((await t.call('POST', '/api/v1/agents/register', { key: 'catjoin_made_up', body: registerBody('api-x') })).status).toBe(401);
    const bad = await t.call('POST', '/api/v1/agents/register', { key: tokenSecret, body: { ...registerBody('no spaces allowed'), gpus: 'lots' } });
    expect(bad.status).toBe(400);
    const paths = ((await bad.json()) as { errors: { path: string }[] }).errors.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['body/name', 'body/gpus']));
    const both = await t.call('POST', '/api/v1/join-tokens', { body: { expiresAt: Date.now() + 1000, expiresInSeconds: 10 } });
    expect(both.status).toBe(400);
    expect((await t.call('GET', '/api/v1/workers/nope')).status).toBe(404);
    expect((await t.call('POST', '/api/v1/workers/nope/drain', { body: {} })).status).toBe(404);
    expect((await t.call('GET', '/api/v1/agents/x/assignments?wait=9999')).status).toBe(400);
  });

  it('audits registration but not heartbeats', async () => {
    const reg = (await (await t.call('POST', '/api/v1/agents/register', { key: tokenSecret, body: registerBody('api-d') })).json()) as { workerId: string; credential: string };
    for (let i = 0; i < 3; i++) {
      await t.call('POST', `/api/v1/agents/${reg.workerId}/heartbeat`, { key: reg.credential, body: { gpus: [], replicas: [], cachedModels: [] } });
    }
    const records = await t.cp.audit.list({ limit: 500 });
    expect(records.filter((r) => r.path.endsWith('/heartbeat'))).toEqual([]);
    expect(records.some((r) => r.path === '/api/v1/agents/register' && r.actorName === 'agent:join token test')).toBe(true);
  });

  it('runs an agent that joins, shows its fake GPUs as fake, runs what is placed on it and reports it ready', async () => {
    const agent = new Agent({
      server: t.url,
      joinToken: tokenSecret,
      name: 'gpu-box',
      labels: { zone: 'eu' },
      dataDir: join(dir, 'gpu-box'),
      fakeGpus: parseFakeGpus('2xH100:80GiB'),
      capacity: { cpuCores: 32, memoryBytes: 256 * GiB },
      log: silentLogger(),
    });
    const started = await agent.start();
    expect(started.joined).toBe(true);
    expect(statSync(join(dir, 'gpu-box', 'agent.json')).mode & 0o777).toBe(0o600);
    try {
      const worker = (await (await t.call('GET', '/api/v1/workers/gpu-box')).json()) as { id: string; fake: boolean; gpus: { fake: boolean; name: string }[] };
      expect(worker.fake).toBe(true);
      expect(worker.gpus.map((g) => [g.name, g.fake])).toEqual([
        ['NVIDIA H100', true],
        ['NVIDIA H100', true],
      ]);
      const [a] = await t.cp.cluster.createAssignments([
        {
          owner: 'dep_api',
          resources: { cpu: 2, memoryBytes: 4 * GiB, gpus: { count: 1, memoryBytes: 30 * GiB, type: 'H100' } },
          selectors: { zone: 'eu' },
          modelKey: 'llama-3-8b',
        },
      ]);
      expect(a!.workerId).toBe(worker.id);
      await until('the replica to be ready', () => t.cp.cluster.getAssignment(a!.id).state === 'ready');
      // The fake GPU shows the replica's memory as used, and the model as cached.
      const after = await until('usage on the fake GPU', async () => {
        const w = (await (await t.call('GET', '/api/v1/workers/gpu-box')).json()) as {
          cachedModels: string[];
          gpus: { index: number; memoryUsedBytes: number; freeBytes: number }[];
        };
        return w.gpus.some((g) => g.memoryUsedBytes === 30 * GiB) ? w : undefined;
      });
      expect(after.cachedModels).toEqual(['llama-3-8b']);
      const status = (await (await t.call('GET', '/api/v1/cluster/status')).json()) as {
        workers: { byState: Record<string, number> };
        gpus: { fake: number; items: { worker: string; fake: boolean; memoryFreeBytes: number }[] };
        replicas: { byState: Record<string, number> };
      };
      expect(status.gpus.items.filter((g) => g.worker === 'gpu-box').map((g) => g.memoryFreeBytes).sort()).toEqual([50 * GiB, 80 * GiB]);
      expect(status.gpus.fake).toBeGreaterThanOrEqual(2);
      expect(status.replicas.byState.ready).toBe(1);
      // Removing the replica: the agent stops it and the server forgets it.
      await t.cp.cluster.removeAssignment(a!.id);
      await until('the replica to be gone', () => t.cp.cluster.listAssignments({ owner: 'dep_api' }).length === 0);
      const listed = (await (await t.call('GET', '/api/v1/assignments?owner=dep_api')).json()) as { items: unknown[] };
      expect(listed.items).toEqual([]);
    } finally {
      await agent.stop();
    }
  });

  it('answers an assignment long-poll when something is placed on the worker', async () => {
    const reg = (await (await t.call('POST', '/api/v1/agents/register', { key: tokenSecret, body: { ...registerBody('poller'), labels: { only: 'poller' } } })).json()) as {
      workerId: string;
      credential: string;
    };
    const first = (await (await t.call('GET', `/api/v1/agents/${reg.workerId}/assignments`, { key: reg.credential })).json()) as { version: string };
    const waiting = t.call('GET', `/api/v1/agents/${reg.workerId}/assignments?wait=30&version=${first.version}`, { key: reg.credential });
    const [a] = await t.cp.cluster.createAssignments([{ owner: 'dep_poll', resources: { cpu: 1, memoryBytes: GiB, gpus: null }, selectors: { only: 'poller' } }]);
    const answered = (await (await waiting).json()) as { version: string; items: { id: string; mode: string }[] };
    expect(answered.items).toEqual([expect.objectContaining({ id: a!.id, mode: 'cpu' })]);
    expect(answered.version).not.toBe(first.version);
  });
});

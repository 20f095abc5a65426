import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inheritedEnvironment } from '../../src/config/index.js';
import { type CliProcess, startCatapult, until } from '../cluster/processes.js';
import { ROOT } from '../helpers/cli.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';

/** A folder whose `nvidia-smi` is a script printing one H200 (the GPU is what cannot run here). */
const SCRIPTED_NVIDIA_SMI_H200 = join(ROOT, 'test', 'fixtures', 'gpu', 'nvidia-h200');
const H200_BYTES = 150_754_820_096;

/**
 * A model server that, like a CUDA program, dies at once without a GPU and serves /health with one.
 * It prints what it was given so a failure is easy to read.
 */
const NEEDS_GPU = [
  process.execPath,
  '-e',
  "const g = process.env.CUDA_VISIBLE_DEVICES; console.log('CUDA_VISIBLE_DEVICES=' + g); if (!g) { console.error('no CUDA device'); process.exit(1); }" +
    " require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.argv[1]), '127.0.0.1')",
  '{port}',
];

describe('GPU requests on a worker with one H200 (a real agent process, a scripted nvidia-smi)', () => {
  let t: TestControlPlane;
  let agent: CliProcess;
  let dir: string;

  const get = async (path: string) => (await t.call('GET', path)).json() as Promise<any>;
  const create = async (body: unknown) => {
    const res = await t.call('POST', '/api/v1/deployments', { body });
    expect(res.status, await res.clone().text()).toBe(201);
  };

  beforeAll(async () => {
    // A busy test machine may delay the agent's heartbeats; only placement is under test here.
    t = await startTestControlPlane('sqlite', { env: { CATAPULT_HEARTBEAT_INTERVAL_MS: '200', CATAPULT_MISSED_HEARTBEATS: '50' } });
    dir = mkdtempSync(join(tmpdir(), 'catapult-h200-'));
    const { secret } = await t.cp.cluster.createJoinToken({ name: 'h200' }, null);
    agent = startCatapult(['agent', '--server', t.url, '--token', secret, '--name', 'h200', '--data-dir', join(dir, 'agent'), '--log-level', 'warn'], {
      PATH: `${SCRIPTED_NVIDIA_SMI_H200}${delimiter}${inheritedEnvironment().PATH ?? ''}`,
    });
    await agent.waitFor(/Agent \S+ (joined|reconnected to)/);
  });
  afterAll(async () => {
    for (const name of ['two-gpus', 'too-much-memory', 'fits', 'fallback']) await t?.call('DELETE', `/api/v1/deployments/${name}`);
    await until('replicas stopped', () => (t ? t.cp.cluster.listAssignments({}).length === 0 : true), 20_000).catch(() => undefined);
    await agent?.kill('SIGTERM');
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reports the H200 the scripted nvidia-smi prints, as a real GPU', () => {
    const w = t.cp.cluster.getWorker('h200');
    expect(w.gpus).toEqual([expect.objectContaining({ vendor: 'nvidia', index: 0, name: 'NVIDIA H200', memoryTotalBytes: H200_BYTES, fake: false })]);
  });

  it('leaves a deployment asking for 2 GPUs pending, saying the worker has only one', async () => {
    await create({ name: 'two-gpus', runtime: 'custom', resources: { gpus: { count: 2 } }, options: { command: NEEDS_GPU } });
    const d = await until('two-gpus explained', async () => {
      const x = await get('/api/v1/deployments/two-gpus');
      return x.state === 'scheduling' && JSON.stringify(x.replicas.items[0]?.explanation ?? null).includes('needs 2 GPUs') ? x : undefined;
    });
    expect(d.replicas.items[0]).toMatchObject({ workerId: null, gpuIndices: [] });
    expect(d.conditions.find((c: any) => c.type === 'Scheduled')).toMatchObject({ status: 'False', reason: 'Unschedulable' });
    expect(JSON.stringify(d.replicas.items[0].explanation)).toContain('worker h200: needs 2 GPUs, has 1 suitable');
    expect(d.reason).toMatch(/cannot be placed: No worker can run this replica/);
  });

  it('leaves a deployment asking for 200 GiB on one GPU pending, with the H200 memory arithmetic', async () => {
    await create({ name: 'too-much-memory', runtime: 'custom', resources: { gpus: { count: 1, memory: '200GiB' } }, options: { command: NEEDS_GPU } });
    const d = await until('too-much-memory explained', async () => {
      const x = await get('/api/v1/deployments/too-much-memory');
      return x.state === 'scheduling' && JSON.stringify(x.replicas.items[0]?.explanation ?? null).includes('200.0 GiB') ? x : undefined;
    });
    expect(d.replicas.items[0]).toMatchObject({ workerId: null, gpuIndices: [] });
    expect(JSON.stringify(d.replicas.items[0].explanation)).toContain('worker h200: GPU 0 has 140.4 GiB free, needs 200.0 GiB');
  });

  it('places a request that fits on GPU 0, and its process sees the GPU and serves', async () => {
    await create({ name: 'fits', runtime: 'custom', resources: { gpus: { count: 1, memory: '100GiB' } }, options: { command: NEEDS_GPU } });
    const d = await until('fits active', async () => {
      const x = await get('/api/v1/deployments/fits');
      return x.state === 'active' ? x : undefined;
    });
    expect(d.replicas.items[0].gpuIndices).toEqual([0]);
    expect(await (await fetch(`${d.replicas.items[0].url}/health`)).text()).toBe('ok');
  });

  it('runs a GPU request on the CPU only when the deployment itself allows CPU fallback', async () => {
    await create({
      name: 'fallback',
      runtime: 'custom',
      resources: { gpus: { count: 2 } },
      placement: { allowCpuFallback: true },
      options: { command: [process.execPath, '-e', "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.argv[1]), '127.0.0.1')", '{port}'] },
    });
    const d = await until('fallback placed', async () => {
      const x = await get('/api/v1/deployments/fallback');
      return x.replicas.items[0]?.workerId ? x : undefined;
    });
    expect(d.replicas.items[0].gpuIndices).toEqual([]);
    expect(d.conditions.find((c: any) => c.type === 'Scheduled')).toMatchObject({ status: 'True', reason: 'AllPlaced' });
  });
});

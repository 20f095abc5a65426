import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, ProcessExecutor, parseFakeGpus } from '../../src/agent/index.js';
import { inheritedEnvironment } from '../../src/config/index.js';
import { silentLogger } from '../../src/observability/index.js';
import { groupMembers } from '../../src/supervisor/index.js';
import { until } from '../cluster/processes.js';
import { ROOT } from '../helpers/cli.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { tempDir } from '../helpers/services.js';

const IRIS = join(ROOT, 'models', 'iris', 'model.onnx');

describe('deployments from a registered model to serving replicas', () => {
  let t: TestControlPlane;
  let agent: Agent;
  let executor: ProcessExecutor;
  const dir = tempDir();

  const get = async (path: string) => (await t.call('GET', path)).json() as Promise<any>;
  const deployment = (name: string) => get(`/api/v1/deployments/${name}`);
  const waitState = (name: string, state: string, timeoutMs = 30_000) =>
    until(`${name} ${state}`, async () => {
      const d = await deployment(name);
      return d.state === state ? d : undefined;
    }, timeoutMs);

  async function startAgent(): Promise<void> {
    executor = new ProcessExecutor({ dir: join(dir.dir, 'agent', 'replicas'), bindHost: '127.0.0.1', advertiseHost: '127.0.0.1', baseEnv: inheritedEnvironment(), restart: { backoffBaseMs: 100, backoffMaxMs: 1000, crashLoopCount: 5, crashLoopWindowMs: 600_000 } });
    const { secret } = await t.cp.cluster.createJoinToken({ name: 'test' }, null);
    agent = new Agent({ server: t.url, joinToken: secret, name: 'node-1', dataDir: join(dir.dir, 'agent'), fakeGpus: parseFakeGpus('2xH100:80GiB'), capacity: { cpuCores: 32, memoryBytes: 64 * 2 ** 30 }, executor, log: silentLogger(), longPollSeconds: 1 });
    await agent.start();
  }

  beforeAll(async () => {
    t = await startTestControlPlane('sqlite', { env: { CATAPULT_HEARTBEAT_INTERVAL_MS: '200' } });
    await startAgent();
  });
  afterAll(async () => {
    await agent?.stop();
    await executor?.close({ stopReplicas: true });
    await t?.close();
    dir.remove();
  });

  it('registers the demo ONNX model, detecting its format from its bytes', async () => {
    const res = await t.call('POST', '/api/v1/models', { body: { name: 'iris', source: IRIS } });
    expect(res.status).toBe(201);
    const m = (await res.json()) as any;
    expect(m).toMatchObject({ name: 'iris', version: '1', format: 'onnx' });
    expect(m.sizeBytes).toBeGreaterThan(100);
  });

  it('deploys it: the deployment goes active and its replica answers KServe v2 inference', async () => {
    const res = await t.call('POST', '/api/v1/deployments', { body: { name: 'iris', model: 'iris', runtime: 'onnx', replicas: 1 } });
    expect(res.status, await res.clone().text()).toBe(201);
    const d = await waitState('iris', 'active');
    expect(d.replicas).toMatchObject({ desired: 1, ready: 1 });
    const url = d.replicas.items[0].url as string;
    const meta = (await (await fetch(`${url}/v2/models/iris`)).json()) as any;
    const input = meta.inputs[0];
    const infer = await fetch(`${url}/v2/models/iris/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: input.name, shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }),
    });
    expect(infer.status).toBe(200);
    const out = (await infer.json()) as any;
    expect(out.outputs.length).toBeGreaterThan(0);
    expect(d.urls.predict).toMatch(/\/v2\/models\/md-dep_[a-z0-9]+\/infer$/);
  });

  it('scales 1 → 3 → 1 and the replica count follows', async () => {
    await t.call('PATCH', '/api/v1/deployments/iris', { body: { replicas: 3 } });
    const three = await until('3 ready', async () => {
      const d = await deployment('iris');
      return d.replicas.ready === 3 && d.state === 'active' ? d : undefined;
    });
    expect(new Set(three.replicas.items.map((r: any) => r.url)).size).toBe(3);
    await t.call('PATCH', '/api/v1/deployments/iris', { body: { replicas: 1 } });
    await until('back to 1', async () => {
      const d = await deployment('iris');
      return d.replicas.total === 1 && d.replicas.ready === 1 ? d : undefined;
    });
  });

  it('rolls a spec change: the new replica is ready before the old one is asked to stop', async () => {
    const before = await deployment('iris');
    const oldId = before.replicas.items[0].id;
    await t.call('PATCH', '/api/v1/deployments/iris', { body: { env: { ROLL: '2' } } });
    const after = await until('rolled', async () => {
      const d = await deployment('iris');
      return d.generation === 2 && d.state === 'active' && d.replicas.total === 1 && d.replicas.items[0].id !== oldId ? d : undefined;
    });
    const newId = after.replicas.items[0].id;
    const events = (await get(`/api/v1/events/log?since=0&limit=1000`)).items as any[];
    const newReady = events.find((e) => e.subject.id === newId && e.data.to === 'ready');
    const oldStopping = events.find((e) => e.subject.id === oldId && e.type === 'assignment.stopping');
    expect(newReady, 'new replica became ready').toBeDefined();
    expect(oldStopping, 'old replica was stopped').toBeDefined();
    expect(newReady.seq).toBeLessThan(oldStopping.seq);
  });

  it('restarts a replica whose process was killed, with backoff', async () => {
    const d = await deployment('iris');
    const replica = d.replicas.items[0];
    const before = executor.list().find((r) => r.assignment.id === replica.id)!.runId;
    const sup = (executor as unknown as { supervisor: { status(id: string): { pid: number | null } } }).supervisor;
    const victim = sup.status(replica.id).pid!;
    // Killed as an out-of-memory killer would.
    process.kill(victim, 'SIGKILL');
    await until('restarted', () => {
      const s = executor.list().find((r) => r.assignment.id === replica.id);
      return s && s.runId !== before && s.state === 'ready' ? s : undefined;
    });
    expect(sup.status(replica.id).pid).not.toBe(victim);
    await waitState('iris', 'active');
  });

  it('keeps replicas serving across an agent restart: the new agent adopts them, nothing restarts', async () => {
    const sup = () => (executor as unknown as { supervisor: { status(id: string): { pid: number | null } | undefined } }).supervisor;
    const d = await deployment('iris');
    const id = d.replicas.items[0].id;
    const pid = sup().status(id)!.pid;
    await agent.stop();
    await executor.close({ stopReplicas: false });
    // The replica answers while no agent runs.
    expect((await fetch(`${d.replicas.items[0].url}/v2/health/ready`)).status).toBe(200);
    await startAgent();
    const status = await until('adopted and ready', () => executor.list().find((r) => r.assignment.id === id && r.state === 'ready'));
    expect(status).toBeDefined();
    expect(sup().status(id)!.pid).toBe(pid);
    const after = await waitState('iris', 'active');
    expect(after.replicas.items.map((r: any) => r.id)).toEqual([id]);
  });

  it('explains, with the arithmetic, why a replica needing more GPU memory than any worker has is not placed', async () => {
    const res = await t.call('POST', '/api/v1/deployments', {
      body: { name: 'too-big', runtime: 'simulator', resources: { gpus: { count: 1, memory: '120GiB' } } },
    });
    expect(res.status).toBe(201);
    const d = await waitState('too-big', 'scheduling');
    expect(d.reason).toMatch(/cannot be placed/);
    const why = d.replicas.items[0].explanation;
    expect(JSON.stringify(why)).toMatch(/node-1: .*80\.0 GiB.*120\.0 GiB|node-1: .*120\.0 GiB.*80\.0 GiB/);
    await t.call('DELETE', '/api/v1/deployments/too-big');
  });

  it('fails a runtime that never becomes ready after its timeout, with the reason and its last output', async () => {
    const res = await t.call('POST', '/api/v1/deployments', {
      body: {
        name: 'never-ready',
        runtime: 'custom',
        readinessTimeoutSeconds: 1,
        options: { command: [process.execPath, '-e', "console.log('loading weights forever'); setInterval(() => {}, 1000)"], protocol: 'http', healthPath: '/health' },
      },
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const d = await waitState('never-ready', 'failed');
    expect(d.reason).toMatch(/not ready after 1 s/);
    expect(d.replicas.items[0].message).toContain('loading weights forever');
  });

  it('rejects an unknown runtime and a missing model with 400 naming the field', async () => {
    const a = (await (await t.call('POST', '/api/v1/deployments', { body: { name: 'x1', runtime: 'nope' } })).json()) as any;
    expect(a.code).toBe('CATAPULT_VALIDATION_FAILED');
    expect(a.errors[0].path).toBe('body/runtime');
    const b = (await (await t.call('POST', '/api/v1/deployments', { body: { name: 'x2', runtime: 'onnx', model: 'ghost' } })).json()) as any;
    expect(b.errors[0].path).toBe('body/model');
    const c = (await (await t.call('POST', '/api/v1/deployments', { body: { name: 'x3', runtime: 'onnx' } })).json()) as any;
    expect(c.errors[0].path).toBe('body/model');
  });

  it('refuses to delete a model while a deployment uses it', async () => {
    const res = await t.call('DELETE', '/api/v1/models/iris');
    expect(res.status).toBe(409);
    expect(((await res.json()) as any).deployments).toEqual(['iris']);
  });

  it('accepts the model-serving shape and answers with status and a predict URL', async () => {
    const res = await t.call('POST', '/api/v1/modelDeployment', {
      body: { type: 'cpu', model: { version: 'v1', type: 'single', bucket: `file://${join(ROOT, 'models', 'iris')}`, prefix: 'model.onnx' }, replicas: 1, request_res: { cpu: '500m', memory: '512Mi' }, limit_res: { cpu: '1', memory: '1Gi' } },
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const created = (await res.json()) as any;
    expect(created).toMatchObject({ status: 'pending', replicas: 1, type: 'cpu', request_res: { cpu: '500m', memory: '512Mi' } });
    expect(created.url).toMatch(/\/v2\/models\/md-dep_[a-z0-9]+\/infer$/);
    const active = await until('seed deployment active', async () => {
      const g = (await get(`/api/v1/modelDeployment/${created.id}`));
      return g.status === 'active' ? g : undefined;
    });
    expect(active.url).toBe(created.url);
    await t.call('DELETE', `/api/v1/deployments/${created.id}`);
  });

  it('takes seed 003 at /v1/modelDeployment with a model folder, answers in the units asked, and holds the replica to its memory limit', async () => {
    // bucket + prefix name a folder (a model directory), not the file in it.
    const asked = {
      type: 'cpu',
      model: { version: 'v7', type: 'single', bucket: `file://${join(ROOT, 'models')}`, prefix: 'iris' },
      replicas: 1,
      request_res: { cpu: '250m', memory: '256Mi' },
      limit_res: { cpu: '1', memory: '1Gi' },
    };
    const res = await t.call('POST', '/v1/modelDeployment', { body: asked });
    expect(res.status, await res.clone().text()).toBe(201);
    const created = (await res.json()) as any;
    const active = await until('folder deployment active', async () => {
      const g = await get(`/v1/modelDeployment/${created.id}`);
      return g.status === 'active' ? g : undefined;
    }, 30_000).catch(async (err: Error) => {
      const dd = await deployment(created.id);
      console.error('the deployment did not go active; its model and replica logs:', JSON.stringify(await get(`/api/v1/models/${dd.modelId}`)), JSON.stringify(await get(`/api/v1/deployments/${created.id}/logs`)).slice(0, 3000));
      throw err;
    });
    expect(active).toMatchObject({ type: 'cpu', replicas: 1, model: asked.model, request_res: asked.request_res, limit_res: asked.limit_res });
    expect(active.url).toMatch(new RegExp(`/v2/models/md-${created.id}/infer$`));
    expect(active.notes.join(' ')).toMatch(/memory 1Gi: enforced .*RLIMIT_DATA/);
    expect(active.notes.join(' ')).toMatch(/cpu 1: not enforced/);
    // The same deployment at the /api/v1 path.
    expect(await get(`/api/v1/modelDeployment/${created.id}`)).toMatchObject({ request_res: asked.request_res, model: asked.model });
    // The registry kept the file the detector found inside the folder, and the replica serves it.
    const d = await deployment(created.id);
    const model = await get(`/api/v1/models/${d.modelId}`);
    expect(model.path).toBe(IRIS);
    expect(model.format).toBe('onnx');
    const replica = d.replicas.items[0];
    const infer = await fetch(`${replica.url}/v2/models/${d.name}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }),
    });
    expect(infer.status).toBe(200);
    // limit_res.memory is the replica process's data limit.
    const sup = (executor as unknown as { supervisor: { status(id: string): { pid: number | null } | undefined } }).supervisor;
    const pid = sup.status(replica.id)?.pid;
    expect(pid).toBeTruthy();
    expect(readFileSync(`/proc/${pid}/limits`, 'utf8')).toMatch(/Max data size\s+1073741824\s+1073741824\s+bytes/);
    await t.call('DELETE', `/api/v1/deployments/${created.id}`);
  });

  it('deletes a deployment and leaves no process of it in the process table', async () => {
    const sup = (executor as unknown as { supervisor: { status(id: string): { pid: number | null } | undefined } }).supervisor;
    const d = await deployment('iris');
    const pids = d.replicas.items.map((r: any) => sup.status(r.id)?.pid).filter(Boolean) as number[];
    expect(pids.length).toBeGreaterThan(0);
    expect((await t.call('DELETE', '/api/v1/deployments/iris')).status).toBe(202);
    await until('deployment gone', async () => (await t.call('GET', '/api/v1/deployments/iris')).status === 404);
    for (const pid of pids) expect(groupMembers(pid)).toEqual([]);
  });
});

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, ProcessExecutor } from '../../src/agent/index.js';
import { inheritedEnvironment } from '../../src/config/index.js';
import { silentLogger } from '../../src/observability/index.js';
import { until } from '../cluster/processes.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { tempDir } from '../helpers/services.js';

const SERVES = [process.execPath, '-e', "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.argv[1]), '127.0.0.1')", '{port}'];
const CRASHES = [process.execPath, '-e', "console.error('out of memory'); process.exit(3)"];

describe('a failed replica gives back what it reserved', () => {
  let t: TestControlPlane;
  let agent: Agent;
  let executor: ProcessExecutor;
  const dir = tempDir();
  const get = async (name: string) => (await t.call('GET', `/api/v1/deployments/${name}`)).json() as Promise<any>;

  beforeAll(async () => {
    t = await startTestControlPlane('sqlite', { env: { CATAPULT_HEARTBEAT_INTERVAL_MS: '200', CATAPULT_MISSED_HEARTBEATS: '50' } });
    executor = new ProcessExecutor({ dir: join(dir.dir, 'replicas'), bindHost: '127.0.0.1', advertiseHost: '127.0.0.1', baseEnv: inheritedEnvironment(), restart: { backoffBaseMs: 50, backoffMaxMs: 200, crashLoopCount: 3, crashLoopWindowMs: 600_000 } });
    const { secret } = await t.cp.cluster.createJoinToken({ name: 'test' }, null);
    // Room for one replica of 3 cores at a time.
    agent = new Agent({ server: t.url, joinToken: secret, name: 'small', dataDir: join(dir.dir, 'agent'), capacity: { cpuCores: 4, memoryBytes: 8 * 2 ** 30 }, executor, log: silentLogger(), longPollSeconds: 1 });
    await agent.start();
  });
  afterAll(async () => {
    await agent?.stop();
    await executor?.close({ stopReplicas: true });
    await t?.close();
    dir.remove();
  });

  it('a crash-looped replica keeps no CPU or memory, so a new deployment is placed and serves without deleting it', async () => {
    const create = (body: unknown) => t.call('POST', '/api/v1/deployments', { body });
    expect((await create({ name: 'crashes', runtime: 'custom', resources: { cpu: 3, memory: '4GiB' }, options: { command: CRASHES } })).status).toBe(201);
    const failed = await until('crashes failed', async () => {
      const d = await get('crashes');
      return d.state === 'failed' ? d : undefined;
    });
    expect(failed.reason).toMatch(/crash loop/);
    expect(t.cp.cluster.getWorker('small').allocated).toEqual({ cpu: 0, memoryBytes: 0 });

    expect((await create({ name: 'serves', runtime: 'custom', resources: { cpu: 3, memory: '4GiB' }, options: { command: SERVES } })).status).toBe(201);
    const d = await until('serves active', async () => {
      const x = await get('serves');
      return x.state === 'active' ? x : undefined;
    });
    expect(await (await fetch(`${d.replicas.items[0].url}/health`)).text()).toBe('ok');
    // The failed one is still there to read, with its last words.
    expect((await get('crashes')).replicas.items[0].message).toContain('out of memory');
  });
});

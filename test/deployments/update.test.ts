import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, NoopExecutor, parseFakeGpus } from '../../src/agent/index.js';
import { silentLogger } from '../../src/observability/index.js';
import { until } from '../cluster/processes.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { tempDir } from '../helpers/services.js';

/** A spec with every field a PATCH may change set to something other than its default. */
const FULL = {
  runtime: 'simulator',
  replicas: 1,
  resources: { cpu: 0.5, memory: '256Mi', gpus: { count: 1, memory: '1GiB', vendor: 'nvidia', type: 'H100' } },
  placement: { selectors: { zone: 'a' }, policy: 'binpack', allowCpuFallback: false },
  env: { WARMUP: '1' },
  args: ['--verbose'],
  options: { ttftMs: 5, itlMs: 1 },
  readinessTimeoutSeconds: 30,
};

const patchArb = fc.record(
  {
    replicas: fc.integer({ min: 0, max: 3 }),
    resources: fc.record(
      {
        cpu: fc.constantFrom(0.25, 1, '500m'),
        memory: fc.constantFrom('128Mi', 2 ** 28),
        gpus: fc.option(fc.record({ count: fc.integer({ min: 1, max: 2 }), memory: fc.constantFrom('2GiB', '4GiB') }, { requiredKeys: [] }), { nil: null }),
      },
      { requiredKeys: [] },
    ),
    placement: fc.record(
      { selectors: fc.dictionary(fc.constantFrom('zone', 'rack'), fc.constantFrom('a', 'b')), policy: fc.constantFrom('binpack', 'spread'), allowCpuFallback: fc.boolean() },
      { requiredKeys: [] },
    ),
    env: fc.dictionary(fc.constantFrom('A', 'B_1', 'WARMUP'), fc.string({ maxLength: 5 })),
    args: fc.array(fc.constantFrom('--x', '--y'), { maxLength: 2 }),
    options: fc.record({ ttftMs: fc.integer({ min: 1, max: 9 }) }, { requiredKeys: [] }),
    readinessTimeoutSeconds: fc.integer({ min: 1, max: 100 }),
  },
  { requiredKeys: [] },
);

describe('a deployment update changes only the fields it names', () => {
  let t: TestControlPlane;
  let agent: Agent;
  const dir = tempDir();
  const get = async (name: string) => (await t.call('GET', `/api/v1/deployments/${name}`)).json() as Promise<any>;
  const patch = async (name: string, body: unknown) => {
    const res = await t.call('PATCH', `/api/v1/deployments/${name}`, { body });
    expect(res.status, await res.clone().text()).toBe(200);
    return res.json() as Promise<any>;
  };

  beforeAll(async () => {
    t = await startTestControlPlane('sqlite', { env: { CATAPULT_HEARTBEAT_INTERVAL_MS: '200', CATAPULT_MISSED_HEARTBEATS: '50' } });
    const { secret } = await t.cp.cluster.createJoinToken({ name: 'test' }, null);
    // Replicas are only reported here: what matters is which ones the control plane keeps or replaces.
    const executor = new NoopExecutor({ stateFile: join(dir.dir, 'noop.json') });
    agent = new Agent({ server: t.url, joinToken: secret, name: 'node-1', labels: { zone: 'a' }, dataDir: join(dir.dir, 'agent'), fakeGpus: parseFakeGpus('2xH100:80GiB'), executor, log: silentLogger(), longPollSeconds: 1 });
    await agent.start();
  });
  afterAll(async () => {
    await agent?.stop();
    await t?.close();
    dir.remove();
  });

  it('scaling to 2 keeps options, env, args, resources and placement, bumps no generation and keeps the ready replica', async () => {
    expect((await t.call('POST', '/api/v1/deployments', { body: { name: 'demo-llm', ...FULL } })).status).toBe(201);
    const before = await until('demo-llm active', async () => {
      const d = await get('demo-llm');
      return d.state === 'active' ? d : undefined;
    });
    const first = before.replicas.items[0].id;
    const after = await patch('demo-llm', { replicas: 2 });
    expect(after.spec).toEqual({ ...before.spec, replicas: 2 });
    expect(after.generation).toBe(before.generation);
    const two = await until('2 ready', async () => {
      const d = await get('demo-llm');
      return d.replicas.ready === 2 ? d : undefined;
    });
    expect(two.replicas.items.map((r: any) => r.id)).toContain(first);
    expect(two.replicas.items.every((r: any) => r.generation === before.generation)).toBe(true);
    // The scheduler still sees the resources the deployment asked for.
    expect(t.cp.cluster.getAssignment(first).spec).toMatchObject({ options: FULL.options, env: FULL.env, args: FULL.args });
  });

  it('for any PATCH, the fields it does not name are unchanged and the ones it names take its values', async () => {
    expect((await t.call('POST', '/api/v1/deployments', { body: { name: 'prop', ...FULL, replicas: 0 } })).status).toBe(201);
    await fc.assert(
      fc.asyncProperty(patchArb, async (change) => {
        const before = (await get('prop')).spec;
        const after = (await patch('prop', change)).spec;
        for (const key of Object.keys(before)) {
          if (key === 'resources' || key === 'placement') continue;
          if (!(key in change)) expect(after[key], key).toEqual(before[key]);
        }
        for (const group of ['resources', 'placement'] as const) {
          const named = (change[group] ?? {}) as Record<string, unknown>;
          for (const key of new Set([...Object.keys(before[group]), ...Object.keys(after[group])])) {
            if (!(key in named)) expect(after[group][key], `${group}.${key}`).toEqual(before[group][key]);
          }
        }
        if (change.env) expect(after.env).toEqual(change.env);
        if (change.replicas !== undefined) expect(after.replicas).toBe(change.replicas);
        if (change.placement?.policy) expect(after.placement.policy).toBe(change.placement.policy);
        if (change.resources && 'gpus' in change.resources && change.resources.gpus === null) expect(after.resources.gpus).toBeNull();
      }),
      { numRuns: 40 },
    );
  });
});

import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { until } from '../cluster/processes.js';
import { runCli } from '../helpers/cli.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { type FixtureSample, modelFixtures } from '../helpers/modelFixtures.js';
import { describeEachBackend } from '../helpers/services.js';

describeEachBackend('model intake through the API', (backend) => {
  let t: TestControlPlane;
  let dir = '';
  let manifest: FixtureSample[] = [];
  const json = async (res: Response) => (await res.json()) as any;
  const register = async (name: string, path: string) => json(await t.call('POST', '/api/v1/models', { body: { name, source: join(dir, path) } }));

  beforeAll(async () => {
    ({ dir, manifest } = modelFixtures());
    t = await startTestControlPlane(backend);
  }, 120_000);
  afterAll(async () => {
    await t?.close();
  });

  it('registers a Hugging Face folder, analyses it and serves its descriptor and estimate', async () => {
    const m = await register('tiny-llama', 'hf-llama');
    expect(m).toMatchObject({ state: 'scanned', format: 'huggingface', scanVerdict: 'safe', findingCount: 0, parameterCount: 5712 });
    // Hand computation: 2 (K,V) × 2 layers × 2 KV heads × head dim 4 × 2 bytes (float16) = 64 bytes per token; × 128 positions.
    expect(m.estimate).toMatchObject({ kvBytesPerToken: 64, contextLength: 128, kvCacheBytes: 8192, weightsBytes: 11424 });
    const d = await json(await t.call('GET', `/api/v1/models/${m.id}/descriptor`));
    expect(d).toMatchObject({ schemaVersion: 1, architecture: { layers: 2, kvHeads: 2 }, tokenizer: { type: 'BPE' }, licence: { id: 'Apache-2.0' } });
    const schema = await json(await t.call('GET', '/api/v1/models/descriptor-schema'));
    expect(schema.$defs.ModelDescriptor.properties.schemaVersion).toEqual({ type: 'number', const: 1 });
    const types = (await t.cp.events.listForSubjects(['model'], [m.id])).map((e) => e.type);
    expect(types).toEqual(['model.registered', 'model.analysing', 'model.scanned']);
  });

  it('marks every malicious sample unsafe and refuses to deploy it; an admin override deploys one and the audit log shows who', async () => {
    const bad = manifest.filter((s) => s.expect === 'unsafe');
    const ids: string[] = [];
    for (const [i, s] of bad.entries()) {
      const m = await register(`bad-${i}`, s.path);
      expect(m.state, `${s.path}: ${s.why}`).toBe('unsafe');
      ids.push(m.id);
    }
    const refused = await t.call('POST', '/api/v1/deployments', { body: { name: 'bad', model: ids[0], runtime: 'simulator' } });
    expect(refused.status).toBe(409);
    expect(await json(refused)).toMatchObject({ code: 'CATAPULT_MODEL_UNSAFE' });
    const scan = await json(await t.call('GET', `/api/v1/models/${ids[0]}/scan`));
    expect(scan.findings[0]).toMatchObject({ severity: 'critical', kind: 'pickle-global' });

    const { secret: deployer } = await t.cp.keys.create({ name: 'deployer', scopes: ['deploy'] }, null);
    expect((await t.call('POST', `/api/v1/models/${ids[0]}/override`, { key: deployer, body: { reason: 'trusted' } })).status).toBe(403);
    const over = await json(await t.call('POST', `/api/v1/models/${ids[0]}/override`, { body: { reason: 'reviewed by hand, trusted source' } }));
    expect(over.override).toMatchObject({ by: expect.stringContaining('test admin'), reason: 'reviewed by hand, trusted source' });
    const ok = await t.call('POST', '/api/v1/deployments', { body: { name: 'bad', model: ids[0], runtime: 'simulator' } });
    expect(ok.status, await ok.clone().text()).toBe(201);
    const audit = await json(await t.call('GET', '/api/v1/audit'));
    expect(audit.items).toContainEqual(expect.objectContaining({ path: `/api/v1/models/${ids[0]}/override`, status: 200 }));
  });

  it('passes every benign sample', async () => {
    // A bare numpy array is scanned (see the scanner tests) but is not a model the analyzer knows.
    for (const [i, s] of manifest.filter((x) => x.expect === 'safe' && !x.path.endsWith('.npy')).entries()) {
      const m = await register(`good-${i}`, s.path);
      expect(m.state, `${s.path}: ${m.error}`).toBe('scanned');
    }
  });

  it('fails bad input with a clear per-model error, and it does not deploy', async () => {
    const two = await register('two', 'bad/two-models');
    expect(two).toMatchObject({ state: 'failed', error: expect.stringMatching(/2 formats.*register each file by itself/) });
    const trunc = await register('trunc', 'bad/truncated.safetensors');
    expect(trunc).toMatchObject({ state: 'failed', error: expect.stringMatching(/truncated/) });
    const res = await t.call('POST', '/api/v1/deployments', { body: { name: 'two', model: two.id, runtime: 'simulator' } });
    expect(await json(res)).toMatchObject({ code: 'CATAPULT_MODEL_NOT_SCANNED', detail: expect.stringContaining('register each file by itself') });
    expect((await t.call('GET', `/api/v1/models/${two.id}/descriptor`)).status).toBe(409);
  });

  it('asks the scheduler for the estimated GPU memory when the deployment does not set it', async () => {
    const res = await t.call('POST', '/api/v1/deployments', {
      body: { name: 'llama-sim', model: 'tiny-llama', runtime: 'simulator', resources: { gpus: { count: 1 } }, options: {} },
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const dep = await json(res);
    const m = await json(await t.call('GET', '/api/v1/models/tiny-llama'));
    const a = await until('an assignment', () => t.cp.cluster.listAssignments({ owner: dep.id })[0]);
    expect(a.resources.gpus!.memoryBytes).toBe(m.estimate.totalBytes);
    expect(m.estimate.totalBytes).toBe(11424 + 8192 + m.estimate.activationBytes + 512 * 2 ** 20);
  });

  it('drives intake from the catapult CLI: add, get, scan', async () => {
    const env = { CATAPULT_URL: t.url, CATAPULT_API_KEY: t.adminKey };
    const add = await runCli(['models', 'add', join(dir, 'benign/tiny.gguf'), '--name', 'cli-gguf'], { env });
    expect(add.stderr).toBe('');
    expect(add.stdout).toMatch(/state +scanned/);
    expect(add.stdout).toMatch(/parameters 144/);
    const get = await runCli(['models', 'get', 'cli-gguf', '--descriptor'], { env });
    expect(JSON.parse(get.stdout)).toMatchObject({ gguf: { architecture: 'llama', contextLength: 256 } });
    const bad = await runCli(['models', 'add', join(dir, 'malicious/proto0.pkl'), '--name', 'cli-bad'], { env });
    expect(bad.code).toBe(3);
    const scan = await runCli(['models', 'scan', 'cli-bad'], { env });
    expect(scan.code).toBe(3);
    expect(scan.stdout).toMatch(/verdict unsafe/);
    expect(scan.stdout).toMatch(/critical +pickle-global +proto0\.pkl@0 +GLOBAL imports subprocess\.check_output/);
  });

  it('rescans on request', async () => {
    const m = await json(await t.call('POST', '/api/v1/models/tiny-llama/scan'));
    expect(m).toMatchObject({ state: 'scanned' });
  });
});

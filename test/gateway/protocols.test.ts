import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, type RunningSimulator, irisPaths, startOnnxServer, startSimulator } from '../../src/runtimes/index.js';
import { type Json, type Harness, chat, startHarness, until, waitForKey } from './harness.js';

const IRIS_INPUT = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] };

describe('KServe v2, auth, limits and errors on the data plane', () => {
  let h: Harness;
  let sim: RunningSimulator;
  let onnx: RunningServer;

  beforeAll(async () => {
    h = await startHarness({ gateway: { bodyLimit: 64 * 1024 } });
    sim = await startSimulator({ modelName: 'llama', ttftMs: 1, itlMs: 1, timerSpinMs: 0 });
    onnx = await startOnnxServer({ modelPath: irisPaths().model, modelName: 'iris', threads: 1 });
    await h.publish({ id: 'dep_llama', kind: 'deployment', name: 'llama', aliases: [], protocol: 'openai', replicas: [{ id: 'r-l', url: sim.url, ready: true }] });
    await h.publish({
      id: 'dep_iris',
      kind: 'deployment',
      name: 'iris',
      aliases: ['md-dep_iris'],
      protocol: 'kserve-v2',
      replicas: [{ id: 'r-i', url: onnx.url, ready: true }],
    });
  });
  afterAll(async () => {
    await h?.close();
    await sim?.close();
    await onnx?.close();
  });

  describe('KServe v2 (Open Inference Protocol)', () => {
    it('runs inference by model name and by the seed-003 md-<id> path', async () => {
      for (const name of ['iris', 'md-dep_iris']) {
        const res = await h.call(`/v2/models/${name}/infer`, { body: IRIS_INPUT });
        expect(res.status, name).toBe(200);
        const body = (await res.json()) as Json;
        expect(body.model_name).toBe('iris');
        expect(body.outputs.find((o: Json) => o.name === 'label').data).toEqual([0]);
      }
    });

    it('answers model metadata from the replica, and readiness and liveness from its table', async () => {
      const meta = (await (await h.call('/v2/models/iris')).json()) as Json;
      expect(meta.name).toBe('iris');
      expect(meta.inputs[0].name).toBe('input');
      expect(await (await h.call('/v2/models/iris/ready')).json()).toEqual({ name: 'iris', ready: true });
      expect(await (await h.call('/v2/models/md-dep_iris/health/live')).json()).toEqual({ name: 'iris', live: true });
      // Seed 003 lists both GET and POST for a deployment's liveness.
      const post = await h.call('/v2/models/md-dep_iris/health/live', { method: 'POST', body: {} });
      expect(post.status).toBe(200);
      expect(await post.json()).toEqual({ name: 'iris', live: true });
      expect((await h.call('/v2/models/md-dep_iris/ready', { method: 'POST', body: {} })).status).toBe(405);
      expect((await h.call('/v2/health/live', { key: null })).status).toBe(200);
      expect(await (await h.call('/v2/health/ready', { key: null })).json()).toEqual({ ready: true });
    });

    it('says a model with no ready replica is not ready', async () => {
      await h.publish({ id: 'dep_cold', kind: 'deployment', name: 'cold', aliases: ['md-dep_cold'], protocol: 'kserve-v2', replicas: [{ id: 'x', url: onnx.url, ready: false }] });
      const ready = await h.call('/v2/models/cold/ready');
      expect(ready.status).toBe(503);
      const infer = await h.call('/v2/models/md-dep_cold/infer', { body: IRIS_INPUT });
      expect(infer.status).toBe(503);
      expect(((await infer.json()) as Json).error).toMatch(/no ready replica/);
    });

    it('refuses bad requests in the OIP error format', async () => {
      const unknown = await h.call('/v2/models/nope/infer', { body: IRIS_INPUT });
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toEqual({ error: "Model 'nope' not found." });
      const wrongMethod = await h.call('/v2/models/iris/infer');
      expect(wrongMethod.status).toBe(405);
      expect(typeof ((await wrongMethod.json()) as Json).error).toBe('string');
      const openaiModel = await h.call('/v2/models/llama/infer', { body: IRIS_INPUT });
      expect(openaiModel.status).toBe(400);
      expect(((await openaiModel.json()) as Json).error).toMatch(/OpenAI API/);
      // The replica's own 400 (malformed tensor) passes through unchanged.
      const bad = await h.call('/v2/models/iris/infer', { body: '{"inputs": "nope"' });
      expect(bad.status).toBe(400);
      expect(typeof ((await bad.json()) as Json).error).toBe('string');
    });
  });

  it('passes any path through to a plain HTTP route, after the model name', async () => {
    const { createServer } = await import('node:http');
    const seen: string[] = [];
    const plain = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('plain');
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (plain.address() as { port: number }).port;
      await h.publish({ id: 'dep_plain', kind: 'deployment', name: 'plain', aliases: ['md-dep_plain'], protocol: 'http', replicas: [{ id: 'p', url: `http://127.0.0.1:${port}/base`, ready: true }] });
      const get = await h.call('/v2/models/md-dep_plain/status?verbose=1');
      expect(get.status).toBe(200);
      expect(await get.text()).toBe('plain');
      expect((await h.call('/v2/models/plain/predict', { body: { x: 1 } })).status).toBe(200);
      expect(await (await h.call('/v2/models/md-dep_plain/health/live')).json()).toEqual({ name: 'plain', live: true });
      expect(seen).toEqual(['GET /base/status?verbose=1', 'POST /base/predict']);
    } finally {
      plain.close();
    }
  });

  describe('authentication and authorisation', () => {
    it('answers 401 without a key or with an unknown one, in each protocol’s format', async () => {
      const noKey = await h.call('/v1/chat/completions', { body: chat('llama'), key: null });
      expect(noKey.status).toBe(401);
      expect(noKey.headers.get('www-authenticate')).toBe('Bearer');
      const err = ((await noKey.json()) as Json).error;
      expect(err).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key', param: null });
      expect(err.message).toMatch(/API key/);
      const badKey = await h.call('/v2/models/iris/infer', { body: IRIS_INPUT, key: 'cat_not-a-real-key' });
      expect(badKey.status).toBe(401);
      expect(await badKey.json()).toEqual({ error: 'The API key is unknown, revoked or expired.' });
    });

    it('answers 403 for a key without the infer scope, and for a deployment the key is not limited to', async () => {
      const { secret: readKey } = await h.t.cp.keys.create({ name: 'reader', scopes: ['read'] }, null);
      const { secret: irisOnly } = await h.t.cp.keys.create({ name: 'iris only', scopes: ['infer'], deployments: ['iris'] }, null);
      const { secret: byId } = await h.t.cp.keys.create({ name: 'by id', scopes: ['infer'], deployments: ['dep_llama'] }, null);
      for (const k of [readKey, irisOnly, byId]) await waitForKey(h.gw, k);

      const noScope = await h.call('/v1/chat/completions', { body: chat('llama'), key: readKey });
      expect(noScope.status).toBe(403);
      expect(((await noScope.json()) as Json).error.code).toBe('insufficient_scope');

      const other = await h.call('/v1/chat/completions', { body: chat('llama'), key: irisOnly });
      expect(other.status).toBe(403);
      expect(((await other.json()) as Json).error).toMatchObject({ type: 'permission_error', code: 'model_not_allowed' });
      const otherOip = await h.call('/v2/models/llama/infer', { body: IRIS_INPUT, key: irisOnly });
      expect(otherOip.status).toBe(403);
      expect(typeof ((await otherOip.json()) as Json).error).toBe('string');

      expect((await h.call('/v2/models/md-dep_iris/infer', { body: IRIS_INPUT, key: irisOnly })).status).toBe(200);
      expect((await h.call('/v1/chat/completions', { body: chat('llama'), key: byId })).status).toBe(200);
      const listed = (await (await h.call('/v1/models', { key: irisOnly })).json()) as Json;
      expect(listed.data).toEqual([]);
    });

    it('stops accepting a key as soon as it is revoked, without asking the database', async () => {
      const { key, secret } = await h.t.cp.keys.create({ name: 'short lived', scopes: ['infer'] }, null);
      await waitForKey(h.gw, secret);
      expect((await h.call('/v1/chat/completions', { body: chat('llama'), key: secret })).status).toBe(200);
      await h.t.cp.keys.revoke(key.id);
      await until(async () => (await h.call('/v1/chat/completions', { body: chat('llama'), key: secret })).status === 401, 'the revoked key to be refused');
    });

    it('never sends the client’s key upstream', async () => {
      const seen: string[] = [];
      const { createServer } = await import('node:http');
      const spy = createServer((req, res) => {
        seen.push(String(req.headers.authorization ?? ''), String(req.headers['api-key'] ?? ''));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
      await new Promise<void>((r) => spy.listen(0, '127.0.0.1', () => r()));
      const port = (spy.address() as { port: number }).port;
      await h.publish({ id: 'dep_spy', kind: 'deployment', name: 'spy', aliases: [], protocol: 'openai', replicas: [{ id: 's', url: `http://127.0.0.1:${port}`, ready: true }] });
      const res = await h.call('/v1/chat/completions', { body: chat('spy'), headers: { 'api-key': h.inferKey } });
      expect(res.status).toBe(200);
      expect(seen).toEqual(['', '']);
      spy.close();
    });
  });

  describe('per-key limits', () => {
    it('refuses requests over a key’s requests-per-minute with 429 and Retry-After', async () => {
      const { secret } = await h.t.cp.keys.create({ name: 'rpm', scopes: ['infer'], rateLimitRpm: 3 }, null);
      await waitForKey(h.gw, secret);
      const statuses: number[] = [];
      let last: Response | undefined;
      for (let i = 0; i < 5; i++) {
        last = await h.call('/v1/chat/completions', { body: chat('llama'), key: secret });
        statuses.push(last.status);
        if (last.status !== 429) await last.arrayBuffer();
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await last!.json()) as Json).error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' });
    });

    it('refuses requests once a key has used its tokens per minute, counting usage from responses', async () => {
      const { secret } = await h.t.cp.keys.create({ name: 'tpm', scopes: ['infer'], rateLimitTpm: 40 }, null);
      await waitForKey(h.gw, secret);
      // Each answer reports its usage (prompt + 16 completion tokens); the third finds the budget spent.
      const first = await h.call('/v1/chat/completions', { body: chat('llama', { max_tokens: 16 }), key: secret });
      expect(first.status).toBe(200);
      const usage = ((await first.json()) as Json).usage;
      expect(usage.total_tokens).toBeGreaterThan(20);
      const second = await h.call('/v1/chat/completions', { body: chat('llama', { max_tokens: 16 }), key: secret });
      expect(second.status).toBe(200);
      await second.arrayBuffer();
      const third = await h.call('/v1/chat/completions', { body: chat('llama', { max_tokens: 16 }), key: secret });
      expect(third.status).toBe(429);
      expect(third.headers.get('retry-after')).toBeTruthy();
    });

    it('counts streamed tokens from the usage chunk when the client asks for it', async () => {
      const res = await h.call('/v1/chat/completions', { body: chat('llama', { stream: true, max_tokens: 7, stream_options: { include_usage: true } }) });
      await res.text();
      const metrics = await (await fetch(`${h.gw.url}/metrics`)).text();
      expect(metrics).toMatch(/catapult_gateway_tokens_total\{deployment="llama",direction="out"\} \d+/);
      expect(metrics).toMatch(/catapult_gateway_ttft_seconds_count\{deployment="llama"\} [1-9]/);
    });
  });

  describe('malformed requests get a clear 4xx', () => {
    it('rejects malformed JSON, a missing model and an unknown model in the OpenAI format', async () => {
      const bad = await h.call('/v1/chat/completions', { body: '{"model": "llama", ' });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as Json).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
      const missing = await h.call('/v1/chat/completions', { body: { messages: [] } });
      expect(missing.status).toBe(400);
      expect(((await missing.json()) as Json).error).toMatchObject({ code: 'missing_required_parameter', param: 'model' });
      const unknown = await h.call('/v1/chat/completions', { body: chat('gpt-17') });
      expect(unknown.status).toBe(404);
      expect(((await unknown.json()) as Json).error).toMatchObject({ code: 'model_not_found', param: 'model' });
      const notObject = await h.call('/v1/embeddings', { body: '[1,2]' });
      expect(notObject.status).toBe(400);
    });

    it('rejects an oversized body with 413 in each protocol’s format', async () => {
      const big = JSON.stringify({ model: 'llama', prompt: 'x'.repeat(100_000) });
      const openai = await h.call('/v1/completions', { body: big });
      expect(openai.status).toBe(413);
      expect(((await openai.json()) as Json).error.code).toBe('request_too_large');
      const oip = await h.call('/v2/models/iris/infer', { body: big });
      expect(oip.status).toBe(413);
      expect(((await oip.json()) as Json).error).toMatch(/exceeds/);
    });

    it('answers unknown paths and wrong methods with 404 and 405', async () => {
      const path = await h.call('/v1/images/generations', { body: {} });
      expect(path.status).toBe(404);
      expect(((await path.json()) as Json).error.type).toBe('not_found_error');
      const method = await h.call('/v1/chat/completions');
      expect(method.status).toBe(405);
      expect(method.headers.get('allow')).toBe('POST');
      expect((await h.call('/nothing-here', { key: null })).status).toBe(404);
    });
  });
});

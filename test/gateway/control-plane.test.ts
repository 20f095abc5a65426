import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/index.js';
import { type RunningSimulator, startSimulator } from '../../src/runtimes/index.js';
import { startControlPlane } from '../../src/server/index.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { type Backend, describeEachBackend } from '../helpers/services.js';
import { type Json, chat, startHarness, until, waitForKey } from './harness.js';

describeEachBackend('the route registry and external endpoints API', (backend: Backend) => {
  let t: TestControlPlane;
  let gatewayKey: string;
  let readKey: string;
  let deployKey: string;
  beforeAll(async () => {
    t = await startTestControlPlane(backend);
    gatewayKey = (await t.cp.keys.create({ name: 'gw', scopes: ['gateway'] }, null)).secret;
    readKey = (await t.cp.keys.create({ name: 'reader', scopes: ['read'] }, null)).secret;
    deployKey = (await t.cp.keys.create({ name: 'deployer', scopes: ['deploy'] }, null)).secret;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('publishes each route change as an event in the same transaction, and skips unchanged routes', async () => {
    const before = await t.cp.events.latestSeq();
    const route = {
      id: 'dep_one',
      kind: 'deployment' as const,
      name: 'one',
      aliases: ['md-dep_one'],
      protocol: 'openai' as const,
      replicas: [{ id: 'r1', url: 'http://127.0.0.1:9', ready: true }],
    };
    const stored = await t.cp.routeRegistry.upsert(route);
    expect(stored.seq).toBeGreaterThan(before);
    const again = await t.cp.routeRegistry.upsert(route);
    expect(again.seq).toBe(stored.seq);
    const events = await t.cp.events.list(before, 100, ['route.updated']);
    expect(events).toHaveLength(1);
    expect(events[0]!.seq).toBe(stored.seq);
    expect(events[0]!.data).toMatchObject({ id: 'dep_one', name: 'one', hasUpstreamHeaders: false, replicas: route.replicas });
    expect(await t.cp.routeRegistry.remove('dep_one')).toBe(true);
    expect((await t.cp.events.list(stored.seq, 100, ['route.deleted']))[0]!.subject.id).toBe('dep_one');
    expect(await t.cp.routeRegistry.remove('dep_one')).toBe(false);
  });

  it('refuses a second route answering to a name already served, and a malformed route', async () => {
    await t.cp.routeRegistry.upsert({ id: 'dep_a', kind: 'deployment', name: 'shared', aliases: [], protocol: 'openai', replicas: [] });
    await expect(
      t.cp.routeRegistry.upsert({ id: 'dep_b', kind: 'deployment', name: 'other', aliases: ['shared'], protocol: 'openai', replicas: [] }),
    ).rejects.toMatchObject({ code: 'CATAPULT_GATEWAY_ROUTE_NAME_TAKEN' });
    await expect(
      t.cp.routeRegistry.upsert({ id: 'dep_c', kind: 'deployment', name: 'bad name', aliases: [], protocol: 'openai', replicas: [] }),
    ).rejects.toMatchObject({ code: 'CATAPULT_GATEWAY_ROUTE_INVALID' });
    await expect(
      t.cp.routeRegistry.upsert({ id: 'dep_d', kind: 'deployment', name: 'd', aliases: [], protocol: 'openai', replicas: [{ id: 'x', url: 'ftp://h', ready: true }] }),
    ).rejects.toMatchObject({ code: 'CATAPULT_GATEWAY_ROUTE_INVALID' });
    await t.cp.routeRegistry.remove('dep_a');
  });

  it('registers an external endpoint, serves its route, and never returns its auth header', async () => {
    const created = await t.call('POST', '/api/v1/endpoints', {
      key: deployKey,
      body: { name: 'prod-asr', url: 'http://gpu-node-1.example.com:26007/', protocol: 'openai', authHeader: 'Bearer sk-upstream-secret' },
    });
    expect(created.status).toBe(201);
    const ep = (await created.json()) as Json;
    expect(ep).toMatchObject({ name: 'prod-asr', url: 'http://gpu-node-1.example.com:26007', protocol: 'openai', hasAuth: true, authHeaderName: 'Authorization' });
    expect(JSON.stringify(ep)).not.toContain('sk-upstream-secret');

    const dup = await t.call('POST', '/api/v1/endpoints', { key: deployKey, body: { name: 'prod-asr', url: 'http://x:1' } });
    expect(dup.status).toBe(409);
    expect(((await dup.json()) as Json).code).toBe('CATAPULT_ENDPOINT_EXISTS');

    for (const path of ['/api/v1/endpoints', `/api/v1/endpoints/${ep.id}`, '/api/v1/endpoints/prod-asr', '/api/v1/routes', `/api/v1/routes/${ep.id}`]) {
      const res = await t.call('GET', path, { key: readKey });
      expect(res.status, path).toBe(200);
      expect(await res.text(), path).not.toContain('sk-upstream-secret');
    }
    const events = await (await t.call('GET', '/api/v1/events/log?types=route.updated,endpoint.created', { key: readKey })).text();
    expect(events).toContain('prod-asr');
    expect(events).not.toContain('sk-upstream-secret');

    // The gateway's own credential sees the header it must send upstream.
    const forGateway = (await (await t.call('GET', `/api/v1/routes/${ep.id}`, { key: gatewayKey })).json()) as Json;
    expect(forGateway).toMatchObject({ kind: 'endpoint', name: 'prod-asr', hasUpstreamHeaders: true, upstreamHeaders: { authorization: 'Bearer sk-upstream-secret' } });
    expect(forGateway.replicas).toEqual([{ id: ep.id, url: 'http://gpu-node-1.example.com:26007', ready: true }]);

    const bad = await t.call('POST', '/api/v1/endpoints', { key: deployKey, body: { name: 'creds', url: 'http://user:pw@host:1' } });
    expect(bad.status).toBe(400);

    const deleted = await t.call('DELETE', '/api/v1/endpoints/prod-asr', { key: deployKey });
    expect(deleted.status).toBe(200);
    expect((await t.call('GET', `/api/v1/routes/${ep.id}`, { key: readKey })).status).toBe(404);
    const gone = await t.call('GET', '/api/v1/endpoints/prod-asr', { key: readKey });
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as Json).code).toBe('CATAPULT_ENDPOINT_NOT_FOUND');
  });

  it('gives gateways key hashes and the seq to follow from, never secrets, and only with the gateway scope', async () => {
    const res = await t.call('GET', '/api/v1/gateway/keys', { key: gatewayKey });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body.seq).toBe(await t.cp.events.latestSeq());
    expect(body.items.length).toBeGreaterThanOrEqual(4);
    for (const k of body.items) {
      expect(k.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(k)).not.toMatch(/cat_/);
    }
    expect((await t.call('GET', '/api/v1/gateway/keys', { key: readKey })).status).toBe(403);
    expect((await t.call('POST', '/api/v1/endpoints', { key: gatewayKey, body: { name: 'n', url: 'http://h:1' } })).status).toBe(403);
  });
});

describe('a standalone gateway following the control plane over HTTP', () => {
  it('keeps serving the last known table while the control plane is down, and catches up when it returns', async () => {
    const h = await startHarness({ remote: true });
    let sim: RunningSimulator | undefined;
    let sim2: RunningSimulator | undefined;
    let restarted: Awaited<ReturnType<typeof startControlPlane>> | undefined;
    try {
      sim = await startSimulator({ modelName: 'llama', ttftMs: 1, itlMs: 1, timerSpinMs: 0 });
      await h.publish({ id: 'dep_llama', kind: 'deployment', name: 'llama', aliases: [], protocol: 'openai', replicas: [{ id: 'r', url: sim.url, ready: true }] });
      expect(h.gw.status()).toMatchObject({ kind: 'remote', connected: true });
      expect((await h.call('/v1/chat/completions', { body: chat('llama') })).status).toBe(200);

      const { config } = h.t.cp;
      const port = Number(new URL(h.t.url).port);
      await h.t.cp.close();
      await until(() => !h.gw.status().connected, 'the gateway to notice the control plane is gone');
      for (let i = 0; i < 20; i++) {
        const res = await h.call('/v1/chat/completions', { body: chat('llama') });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
      expect(h.gw.status().lastError).toBeTruthy();

      // Back on the same address and database: the gateway reconnects and sees what changed meanwhile.
      restarted = await startControlPlane({ config: { ...config, apiPort: port }, log: silentLogger() });
      sim2 = await startSimulator({ modelName: 'mistral', ttftMs: 1, itlMs: 1, timerSpinMs: 0 });
      await restarted.routeRegistry.upsert({ id: 'dep_mistral', kind: 'deployment', name: 'mistral', aliases: [], protocol: 'openai', replicas: [{ id: 'm', url: sim2.url, ready: true }] });
      await until(() => h.gw.table.lookup('mistral'), 'the new route after reconnecting', 20_000);
      await until(() => h.gw.status().connected, 'the event stream to be followed again');
      await restarted.routeRegistry.upsert({ id: 'dep_mistral', kind: 'deployment', name: 'mistral', aliases: ['md-dep_mistral'], protocol: 'openai', replicas: [{ id: 'm', url: sim2.url, ready: true }] });
      await until(() => h.gw.table.lookup('md-dep_mistral'), 'a change made after reconnecting, over the stream');
      expect((await h.call('/v1/chat/completions', { body: chat('mistral') })).status).toBe(200);
    } finally {
      await h.gw.close(100);
      if (restarted) await restarted.close();
      await h.t.db.cleanup();
      await sim?.close();
      await sim2?.close();
    }
  });

  it('adds an endpoint’s auth header on the way out, after fetching it with its own credential', async () => {
    const h = await startHarness({ remote: true });
    const seen: string[] = [];
    const upstream = createServer((req, res) => {
      seen.push(String(req.headers['x-upstream-key']));
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ echoedModel: (JSON.parse(body) as { model: string }).model })));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (upstream.address() as { port: number }).port;
      const res = await h.t.call('POST', '/api/v1/endpoints', {
        body: { name: 'prod-llm', url: `http://127.0.0.1:${port}`, authHeader: 's3cret', authHeaderName: 'X-Upstream-Key', upstreamModel: 'their-name' },
      });
      expect(res.status).toBe(201);
      await until(() => h.gw.table.lookup('prod-llm'), 'the endpoint to reach the gateway');
      const out = await h.call('/v1/chat/completions', { body: chat('prod-llm') });
      expect(out.status).toBe(200);
      expect(await out.json()).toEqual({ echoedModel: 'their-name' });
      expect(seen).toEqual(['s3cret']);
      const { key, secret } = await h.t.cp.keys.create({ name: 'late', scopes: ['infer'] }, null);
      await waitForKey(h.gw, secret);
      await h.t.cp.keys.revoke(key.id);
      await until(async () => (await h.call('/v1/chat/completions', { body: chat('prod-llm'), key: secret })).status === 401, 'revocation over the stream');
    } finally {
      upstream.close();
      await h.close();
    }
  });
});

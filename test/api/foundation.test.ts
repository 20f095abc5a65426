import { afterAll, beforeAll, expect, it } from 'vitest';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { type Backend, describeEachBackend } from '../helpers/services.js';
import { openSse } from '../helpers/sse.js';

describeEachBackend('control-plane API foundation', (backend: Backend) => {
  let t: TestControlPlane;
  beforeAll(async () => {
    t = await startTestControlPlane(backend);
  });
  afterAll(async () => {
    await t.close();
  });

  const json = async (res: Response) => ({ status: res.status, type: res.headers.get('content-type') ?? '', body: (await res.json()) as any });

  it('reports liveness and readiness without a key', async () => {
    expect((await json(await t.call('GET', '/health', { key: null }))).body).toEqual({ status: 'ok' });
    const ready = await json(await t.call('GET', '/ready', { key: null }));
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', store: backend });
  });

  it('exposes Prometheus metrics including request duration histograms', async () => {
    await t.call('GET', '/api/v1/keys');
    const res = await t.call('GET', '/metrics', { key: null });
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/catapult_http_request_duration_seconds_bucket\{.*route="\/api\/v1\/keys".*\}/);
    expect(text).toContain('catapult_process_resident_memory_bytes');
  });

  it('creates a key whose secret is shown once, works at once, and is stored only as a hash', async () => {
    const created = await json(await t.call('POST', '/api/v1/keys', { body: { name: 'ci reader', scopes: ['read'] } }));
    expect(created.status).toBe(201);
    const secret: string = created.body.secret;
    expect(secret).toMatch(/^cat_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(secret.slice(4), 'base64url').length).toBe(32);
    expect(created.body.key).not.toHaveProperty('secret');
    expect(created.body.key).not.toHaveProperty('hash');

    const listed = await json(await t.call('GET', '/api/v1/keys'));
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    expect(listed.body.items.map((k: any) => k.name)).toContain('ci reader');

    const rows = await t.cp.store.db.selectFrom('api_keys').select(['hash']).execute();
    for (const row of rows) expect(row.hash).not.toContain(secret.slice(4, 20));

    expect((await t.call('GET', '/api/v1/cluster/status', { key: secret })).status).toBe(200);
  });

  it('refuses a key without the needed scope with 403 naming the scope', async () => {
    const { body } = await json(await t.call('POST', '/api/v1/keys', { body: { name: 'reader', scopes: ['read'] } }));
    const res = await json(await t.call('POST', '/api/v1/keys', { key: body.secret, body: { name: 'x', scopes: ['admin'] } }));
    expect(res.status).toBe(403);
    expect(res.type).toContain('application/problem+json');
    expect(res.body.code).toBe('CATAPULT_FORBIDDEN');
    expect(res.body.requiredScope).toBe('admin');
  });

  it('answers 401 with problem+json for a missing, malformed, unknown or revoked key', async () => {
    const { body } = await json(await t.call('POST', '/api/v1/keys', { body: { name: 'temp', scopes: ['read'] } }));
    expect((await t.call('GET', '/api/v1/whoami', { key: body.secret })).status).toBe(200);
    const revoked = await json(await t.call('DELETE', `/api/v1/keys/${body.key.id}`));
    expect(revoked.body.revokedAt).toBeTypeOf('number');

    const headerSets: Record<string, string>[] = [{}, { authorization: 'Basic abc' }, { authorization: 'Bearer cat_nope' }, { authorization: `Bearer ${body.secret}` }];
    for (const headers of headerSets) {
      const res = await json(await t.call('GET', '/api/v1/whoami', { key: null, headers }));
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('CATAPULT_UNAUTHENTICATED');
    }
    const res = await t.call('GET', '/api/v1/whoami', { key: null });
    expect(res.headers.get('www-authenticate')).toContain('Bearer');
  });

  it('refuses to revoke the last admin key, which would lock everyone out', async () => {
    const admins = (await json(await t.call('GET', '/api/v1/keys'))).body.items.filter((k: any) => k.scopes.includes('admin'));
    expect(admins).toHaveLength(1);
    const res = await json(await t.call('DELETE', `/api/v1/keys/${admins[0].id}`));
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('CATAPULT_KEY_LAST_ADMIN');
    expect((await t.call('GET', '/api/v1/whoami')).status).toBe(200);
  });

  it('rejects malformed JSON, wrong types, unknown fields and oversized bodies with 4xx problems, writing nothing', async () => {
    const before = (await json(await t.call('GET', '/api/v1/keys'))).body.items.length;
    const cases: [unknown, number, string][] = [
      ['{"name":', 400, 'CATAPULT_MALFORMED_JSON'],
      [{ name: 5, scopes: ['read'] }, 400, 'CATAPULT_VALIDATION_FAILED'],
      [{ name: 'x', scopes: ['root'] }, 400, 'CATAPULT_VALIDATION_FAILED'],
      [{ name: 'x', scopes: ['read'], extra: true }, 400, 'CATAPULT_VALIDATION_FAILED'],
      [{ name: 'x'.repeat(2_000_000), scopes: ['read'] }, 413, 'CATAPULT_BODY_TOO_LARGE'],
    ];
    for (const [body, status, code] of cases) {
      const res = await json(await t.call('POST', '/api/v1/keys', { body }));
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      expect(res.type).toContain('application/problem+json');
      expect(res.body.code).toBe(code);
      expect(res.body.hint.length).toBeGreaterThan(10);
    }
    const unknownField = await json(await t.call('POST', '/api/v1/keys', { body: { name: 'x', scopes: ['read'], extra: true } }));
    expect(unknownField.body.errors).toEqual([{ path: 'body', message: expect.stringContaining("'extra'") }]);
    const wrongType = await json(await t.call('POST', '/api/v1/keys', { body: { name: 5, scopes: ['read'] } }));
    expect(wrongType.body.errors[0].path).toBe('body/name');
    const textBody = await json(await t.call('POST', '/api/v1/keys', { body: 'hello', headers: { 'content-type': 'text/plain' } }));
    expect(textBody.status).toBe(415);
    expect((await json(await t.call('GET', '/api/v1/keys'))).body.items.length).toBe(before);
  });

  it('takes a JSON content type without a body as no body, as many clients send it on DELETE', async () => {
    const { body } = await json(await t.call('POST', '/api/v1/keys', { body: { name: 'to delete', scopes: ['read'] } }));
    const res = await t.call('DELETE', `/api/v1/keys/${body.key.id}`, { headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(200);
  });

  it('answers unknown ids and routes with 404 problems', async () => {
    const res = await json(await t.call('GET', '/api/v1/keys/key_nope'));
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('CATAPULT_KEY_NOT_FOUND');
    const route = await json(await t.call('GET', '/api/v1/nothing-here'));
    expect(route.status).toBe(404);
    expect(route.body.code).toBe('CATAPULT_ROUTE_NOT_FOUND');
  });

  it('writes an audit record for every mutating call, with the actor and outcome', async () => {
    await t.call('POST', '/api/v1/keys', { body: { name: 'audited', scopes: ['bench'] } });
    await t.call('POST', '/api/v1/keys', { body: { name: 'bad', scopes: [] } });
    const { body } = await json(await t.call('GET', '/api/v1/audit?limit=2'));
    expect(body.items).toHaveLength(2);
    expect(body.items[0]).toMatchObject({ method: 'POST', path: '/api/v1/keys', route: '/api/v1/keys', status: 400, actorName: 'test admin' });
    expect(body.items[1]).toMatchObject({ method: 'POST', status: 201 });
    expect(body.items[0].seq).toBeGreaterThan(body.items[1].seq);
  });

  it('streams resource changes over SSE and resumes after a disconnect with Last-Event-ID without a gap', async () => {
    const url = `${t.url}/api/v1/events?types=key.created`;
    const auth = { authorization: `Bearer ${t.adminKey}` };
    const first = await openSse(url, auth);
    expect(first.status).toBe(200);
    await t.call('POST', '/api/v1/keys', { body: { name: 'sse-1', scopes: ['read'] } });
    const [m1] = await first.stream.take(1);
    expect(m1!.event).toBe('key.created');
    expect(JSON.parse(m1!.data).data.name).toBe('sse-1');
    first.stream.close();

    // Changes made while nobody listens are delivered on resume, in order, once.
    await t.call('POST', '/api/v1/keys', { body: { name: 'sse-2', scopes: ['read'] } });
    await t.call('POST', '/api/v1/keys', { body: { name: 'sse-3', scopes: ['read'] } });
    const second = await openSse(url, { ...auth, 'last-event-id': m1!.id! });
    const resumed = await second.stream.take(2);
    expect(resumed.map((m) => JSON.parse(m.data).data.name)).toEqual(['sse-2', 'sse-3']);
    expect(Number(resumed[0]!.id)).toBeGreaterThan(Number(m1!.id));
    second.stream.close();

    const bad = await t.call('GET', '/api/v1/events', { headers: { 'last-event-id': 'abc' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).code).toBe('CATAPULT_EVENT_CURSOR_INVALID');
  });

  it('pages through the event log as JSON', async () => {
    const { body } = await json(await t.call('GET', '/api/v1/events/log?since=0&limit=3&types=key.created'));
    expect(body.items.length).toBeGreaterThan(0);
    expect(body.items.every((e: any) => e.type === 'key.created')).toBe(true);
    const next = await json(await t.call('GET', `/api/v1/events/log?since=${body.next}&types=key.created`));
    for (const e of next.body.items) expect(e.seq).toBeGreaterThan(body.next);
  });

  it('publishes an OpenAPI 3.1 document and browsable docs without a key', async () => {
    const doc = (await json(await t.call('GET', '/api/openapi.json', { key: null }))).body;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.paths['/api/v1/keys'].post['x-catapult-scope']).toBe('admin');
    expect(doc.paths['/api/v1/keys'].post.requestBody).toBeDefined();
    const docs = await t.call('GET', '/api/docs/', { key: null });
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger');
  });
});

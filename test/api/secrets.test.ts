import { readFileSync, statSync } from 'node:fs';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/observability/index.js';
import { SecretBox } from '../../src/secrets/index.js';
import { type ControlPlane, startControlPlane } from '../../src/server/index.js';
import { tables } from '../../src/store/index.js';
import { until } from '../cluster/processes.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { type Backend, describeEachBackend, tempDir } from '../helpers/services.js';

// Response bodies are checked field by field.
type Json = any;

const ENDPOINT_SECRET = 'sk-endpoint-0123456789abcdef765';
const BENCH_SECRET = 'sk-bench-abcdefghijklmnopq321';
const API_KEY_SECRET = 'apikey-zyxwvutsrqponmlkji';

describeEachBackend('secrets stay on the server and are encrypted at rest', (backend: Backend) => {
  const data = tempDir('catapult-secrets-');
  const dataDir = join(data.dir, 'new-data-dir');
  let t: TestControlPlane;
  let readKey: string;
  let gatewayKey: string;
  let upstream: Server;
  let upstreamUrl: string;
  const seen: IncomingHttpHeaders[] = [];
  let endpointId: string;
  let benchmarkId: string;

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      seen.push(req.headers);
      res.end('pong');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
    t = await startTestControlPlane(backend, { env: { CATAPULT_DATA_DIR: dataDir } });
    readKey = (await t.cp.keys.create({ name: 'reader', scopes: ['read'] }, null)).secret;
    gatewayKey = (await t.cp.keys.create({ name: 'gw', scopes: ['gateway'] }, null)).secret;

    const ep = await t.call('POST', '/api/v1/endpoints', { body: { name: 'prod-llm', url: 'http://gpu-node-1.example.com:26007', authHeader: `Bearer ${ENDPOINT_SECRET}` } });
    expect(ep.status).toBe(201);
    endpointId = ((await ep.json()) as Json).id;

    const yaml = [
      'name: secret headers',
      'target:',
      `  url: "${upstreamUrl}"`,
      '  headers:',
      `    Authorization: Bearer ${BENCH_SECRET}   # from the vault`,
      `    x-api-key: ${API_KEY_SECRET}`,
      '    accept: text/plain',
      'workload:',
      '  api: http',
      '  method: GET',
      '  path: /ping',
      '  dataset: { type: inline, items: [null] }',
      'load: { type: constant, rate: 50 }',
      'stop: { requests: 5 }',
      '',
    ].join('\n');
    const created = await t.call('POST', '/api/v1/benchmarks', { body: { yaml } });
    const body = (await created.json()) as Json;
    expect(created.status, JSON.stringify(body)).toBe(201);
    benchmarkId = body.id;
    const done = await until(
      'the benchmark to end',
      async () => {
        const b = (await (await t.call('GET', `/api/v1/benchmarks/${benchmarkId}`)).json()) as Json;
        return ['completed', 'failed', 'cancelled'].includes(b.state) ? b : undefined;
      },
      30_000,
    );
    expect(done.state, done.reason).toBe('completed');
  });
  afterAll(async () => {
    await t?.close();
    await new Promise((r) => upstream?.close(r));
    data.remove();
  });

  it('sends the real headers to the benchmark target', () => {
    expect(seen.length).toBeGreaterThanOrEqual(5);
    expect(seen.at(-1)).toMatchObject({ authorization: `Bearer ${BENCH_SECRET}`, 'x-api-key': API_KEY_SECRET, accept: 'text/plain' });
  });

  it('shows benchmark headers redacted in lists, details, recipe text, exports and events, lines kept', async () => {
    for (const path of ['/api/v1/benchmarks', `/api/v1/benchmarks/${benchmarkId}`, `/api/v1/benchmarks/${benchmarkId}/export?format=json`, '/api/v1/events/log?types=benchmark.created,benchmark.updated']) {
      for (const key of [readKey, t.adminKey]) {
        const res = await t.call('GET', path, { key });
        expect(res.status, path).toBe(200);
        const text = await res.text();
        expect(text, path).not.toContain(BENCH_SECRET);
        expect(text, path).not.toContain(API_KEY_SECRET);
      }
    }
    const b = (await (await t.call('GET', `/api/v1/benchmarks/${benchmarkId}`, { key: readKey })).json()) as Json;
    expect(b.recipe.target.headers).toEqual({ Authorization: 'Bearer sk-b…321', 'x-api-key': 'apik…kji', accept: 'text/plain' });
    const lines = (b.recipeText as string).split('\n');
    expect(lines).toHaveLength(15);
    expect(lines[4]).toBe('    Authorization: "Bearer sk-b…321"   # from the vault');
    expect(lines[10]).toBe('  path: /ping');
    const exported = JSON.parse(await (await t.call('GET', `/api/v1/benchmarks/${benchmarkId}/export?format=json`, { key: readKey })).text());
    expect(exported.benchmark.recipe.target.headers.Authorization).toBe('Bearer sk-b…321');
  });

  it('refuses credentials in a benchmark URL, where everyone would see them, pointing to target.headers', async () => {
    const res = await t.call('POST', '/api/v1/benchmarks', { body: { yaml: `name: x\ntarget: { url: "http://user:${BENCH_SECRET}@127.0.0.1:1" }\nworkload: { api: http, dataset: { type: inline, items: [null] } }\nstop: { requests: 1 }\n` } });
    expect(res.status).toBe(400);
    const problem = (await res.json()) as Json;
    expect(problem.code).toBe('CATAPULT_RECIPE_INVALID');
    expect(problem.detail).toContain('target.url');
    expect(problem.detail).toContain('target.headers');
    expect(JSON.stringify(problem)).not.toContain(BENCH_SECRET);
  });

  it('gives upstream credentials in clear to the gateway key only, redacted to every other key', async () => {
    for (const path of ['/api/v1/routes', `/api/v1/routes/${endpointId}`, '/api/v1/endpoints', `/api/v1/endpoints/${endpointId}`, '/api/v1/events/log?types=route.updated,endpoint.created']) {
      for (const key of [readKey, t.adminKey]) {
        const text = await (await t.call('GET', path, { key })).text();
        expect(text, path).not.toContain(ENDPOINT_SECRET);
      }
    }
    const forAdmin = (await (await t.call('GET', `/api/v1/routes/${endpointId}`)).json()) as Json;
    expect(forAdmin).toMatchObject({ hasUpstreamHeaders: true, upstreamHeadersRedacted: true, upstreamHeaders: { authorization: 'Bearer sk-e…765' } });
    const forGateway = (await (await t.call('GET', `/api/v1/routes/${endpointId}`, { key: gatewayKey })).json()) as Json;
    expect(forGateway.upstreamHeaders).toEqual({ authorization: `Bearer ${ENDPOINT_SECRET}` });
    expect(forGateway.upstreamHeadersRedacted).toBeUndefined();
  });

  it('stores no secret in clear: not in the tables, nor (SQLite) in the database or WAL bytes', async () => {
    const db = t.cp.store.db;
    const rows = [
      ...(await tables<Json>(db).selectFrom('gateway_endpoints').selectAll().execute()),
      ...(await tables<Json>(db).selectFrom('gateway_routes').selectAll().execute()),
      ...(await tables<Json>(db).selectFrom('benchmarks').selectAll().execute()),
    ];
    const stored = JSON.stringify(rows);
    expect(stored).toContain('enc:v1:');
    for (const secret of [ENDPOINT_SECRET, BENCH_SECRET, API_KEY_SECRET]) expect(stored).not.toContain(secret);
    if (backend === 'sqlite') {
      const file = join(dataDir, 'catapult.db');
      const bytes = Buffer.concat([readFileSync(file), readFileSync(`${file}-wal`)]);
      expect(bytes.includes('prod-llm')).toBe(true);
      for (const secret of [ENDPOINT_SECRET, BENCH_SECRET, API_KEY_SECRET]) expect(bytes.includes(secret), secret).toBe(false);
    }
  });

  it('creates the data dir 0700, and the key and database files 0600', () => {
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'secret.key')).mode & 0o777).toBe(0o600);
    if (backend === 'sqlite') {
      for (const f of ['catapult.db', 'catapult.db-wal', 'catapult.db-shm']) expect(statSync(join(dataDir, f)).mode & 0o777, f).toBe(0o600);
    }
  });

  it('names the key setting when a server with another key reads a secret, and seals values older versions stored in clear at start', async () => {
    const config = t.cp.config;
    await t.cp.close();
    const start = (env: Record<string, string>): Promise<ControlPlane> =>
      startControlPlane({
        config: loadConfig({ env: { CATAPULT_DATA_DIR: dataDir, CATAPULT_DATABASE_URL: config.databaseUrl, CATAPULT_API_PORT: '0', CATAPULT_GATEWAY_PORT: '0', ...env }, cwd: dataDir }),
        log: silentLogger(),
      });
    const call = (cp: ControlPlane, path: string, key: string) => fetch(cp.url + path, { headers: { authorization: `Bearer ${key}` } });

    const other = await start({ CATAPULT_SECRET_KEY: SecretBox.generateKey() });
    try {
      const res = await call(other, `/api/v1/routes/${endpointId}`, gatewayKey);
      expect(res.status).toBe(500);
      const problem = (await res.json()) as Json;
      expect(problem.code).toBe('CATAPULT_SECRET_KEY_MISMATCH');
      expect(problem.detail).toContain('CATAPULT_SECRET_KEY');
      // An older version wrote these in clear.
      await tables<Json>(other.store.db).updateTable('gateway_endpoints').set({ auth_header_value: 'Bearer sk-legacy-plain-0123456789' }).where('id', '=', endpointId).execute();
      const stored = (await tables<Json>(other.store.db).selectFrom('benchmarks').selectAll().where('id', '=', benchmarkId).executeTakeFirst()) as Json;
      const recipe = JSON.parse(stored.recipe);
      recipe.target.headers = { Authorization: 'Bearer sk-legacy-bench-0123456789' };
      await tables<Json>(other.store.db)
        .updateTable('benchmarks')
        .set({ recipe: JSON.stringify(recipe), recipe_text: 'target:\n  headers:\n    Authorization: Bearer sk-legacy-bench-0123456789\n' })
        .where('id', '=', benchmarkId)
        .execute();
    } finally {
      await other.close();
    }

    const again = await start({});
    t.cp = again;
    const row = (await tables<Json>(again.store.db).selectFrom('gateway_endpoints').selectAll().where('id', '=', endpointId).executeTakeFirst()) as Json;
    expect(row.auth_header_value).toMatch(/^enc:v1:/);
    const upstreamOf = await again.endpoints.upstream(endpointId);
    expect(upstreamOf.headers).toEqual({ authorization: 'Bearer sk-legacy-plain-0123456789' });
    const bench = (await tables<Json>(again.store.db).selectFrom('benchmarks').selectAll().where('id', '=', benchmarkId).executeTakeFirst()) as Json;
    expect(`${bench.recipe} ${bench.recipe_text}`).not.toContain('sk-legacy-bench');
    expect(bench.recipe_text).toMatch(/^enc:v1:/);
    const b = (await (await call(again, `/api/v1/benchmarks/${benchmarkId}`, readKey)).json()) as Json;
    expect(b.recipe.target.headers.Authorization).toBe('Bearer sk-l…789');
    expect(b.recipeText).toBe('target:\n  headers:\n    Authorization: "Bearer sk-l…789"\n');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { fillPath, operations } from '../helpers/openapi.js';

/** Every /api/v1 route in the published OpenAPI document, checked for authentication and scope. */
describe('every control-plane route demands a key and a scope', () => {
  let t: TestControlPlane;
  let doc: any;
  let inferKey: string;
  let readKey: string;
  beforeAll(async () => {
    t = await startTestControlPlane('sqlite');
    doc = await (await t.call('GET', '/api/openapi.json', { key: null })).json();
    inferKey = (await t.cp.keys.create({ name: 'infer only', scopes: ['infer'] }, null)).secret;
    readKey = (await t.cp.keys.create({ name: 'read only', scopes: ['read'] }, null)).secret;
  });
  afterAll(async () => {
    await t.close();
  });

  it('declares a scope on every /api/v1 operation', () => {
    const ops = operations(doc).filter((o) => o.path.startsWith('/api/v1/'));
    expect(ops.length).toBeGreaterThan(5);
    const undeclared = ops.filter((o) => !o.scope).map((o) => `${o.method} ${o.path}`);
    expect(undeclared).toEqual([]);
  });

  it('answers 401 without a key and 403 with a key lacking the scope, on every route', async () => {
    const ops = operations(doc).filter((o) => o.path.startsWith('/api/v1/'));
    const failures: string[] = [];
    for (const o of ops) {
      const url = fillPath(o.path);
      const body = ['POST', 'PUT', 'PATCH'].includes(o.method) ? {} : undefined;
      const anon = await t.call(o.method, url, { key: null, ...(body ? { body } : {}) });
      if (anon.status !== 401) failures.push(`${o.method} ${o.path} without key: ${anon.status}`);
      // An infer key lacks read (and agent); a read key lacks every other scope.
      const lacking = o.scope === 'read' || o.scope === 'agent' ? inferKey : readKey;
      const denied = await t.call(o.method, url, { key: lacking, ...(body ? { body } : {}) });
      if (denied.status !== 403) failures.push(`${o.method} ${o.path} (${o.scope}) with a key lacking it: ${denied.status}`);
      else {
        const problem = (await denied.json()) as { code: string };
        if (problem.code !== 'CATAPULT_FORBIDDEN') failures.push(`${o.method} ${o.path}: code ${problem.code}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('leaves health, readiness, metrics, the OpenAPI document and the docs open', async () => {
    for (const path of ['/health', '/ready', '/metrics', '/api/openapi.json', '/api/docs/']) {
      expect((await t.call('GET', path, { key: null })).status, path).toBe(200);
    }
  });
});

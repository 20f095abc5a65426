import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { type Operation, operations } from '../helpers/openapi.js';

const RUNS_PER_ROUTE = 200;
const STREAM_ANSWER_MS = 3000;
const NO_ANSWER_MS = 10_000;

/** Values that break naive handlers: wrong types, huge numbers, odd strings, nesting. */
const nasty = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, '', ' ', '0', '-1', 'NaN', 'null', 'true', '__proto__', '../../etc/passwd', '%00', '\u0000', 'ä½ å¥½', '💥'),
  fc.integer(),
  fc.double(),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1e308, -0),
  fc.string({ maxLength: 300 }),
);

/** A body shaped like the route's schema (its field names) with wrong or random values, or not an object at all. */
function bodyFor(op: Operation, doc: any): fc.Arbitrary<unknown> {
  const content = op.op.requestBody?.content?.['application/json']?.schema;
  const resolved = content?.$ref ? doc.components.schemas[content.$ref.split('/').pop()] : content;
  const fields = Object.keys(resolved?.properties ?? {});
  const shaped =
    fields.length > 0
      ? fc.dictionary(fc.constantFrom(...fields, 'unknownField', '__proto__', 'constructor'), nasty, { maxKeys: fields.length + 2 })
      : fc.dictionary(fc.string({ maxLength: 20 }), nasty, { maxKeys: 4 });
  return fc.oneof(shaped, nasty, fc.array(nasty, { maxLength: 3 }));
}

function queryFor(op: Operation): fc.Arbitrary<Record<string, string>> {
  const names: string[] = (op.op.parameters ?? []).filter((p: any) => p.in === 'query').map((p: any) => p.name);
  const value = fc.oneof(fc.string({ maxLength: 40 }), fc.integer().map(String), fc.constantFrom('-1', '1e309', 'true', 'NaN', '', '0x10'));
  return fc.dictionary(fc.constantFrom(...names, 'bogus'), value, { maxKeys: names.length + 1 });
}

const rawBody = fc.oneof(
  fc.constant('{'),
  fc.constant('{"a":1,}'),
  fc.constant('[1,2'),
  fc.constant('{"__proto__":{"x":1}}'),
  fc.constant('{"constructor":{"prototype":{"x":1}}}'),
  fc.string({ maxLength: 200 }),
);
const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream');
// A path parameter of '.' or '..' is resolved by the HTTP layer into another route (`/deployments/../events`
// is the event stream), so those two are not sent as parameters; their encoded forms are.
const segment = fc
  .oneof(fc.string({ minLength: 1, maxLength: 60 }), fc.constantFrom('x', '0', '-1', '%2e%2e', 'a'.repeat(600), 'key_01', '%00'))
  .map((s) => (s === '.' || s === '..' ? `${s}x` : s));

describe('thousands of generated invalid requests to every route', () => {
  let t: TestControlPlane;
  let doc: any;
  let total = 0;
  beforeAll(async () => {
    t = await startTestControlPlane('sqlite');
    doc = await (await t.call('GET', '/api/openapi.json', { key: null })).json();
  });
  afterAll(async () => {
    await t.close();
  });

  it('never answers 5xx', async () => {
    const ops = operations(doc).filter((o) => o.path.startsWith('/api/v1/'));
    const failures: string[] = [];
    for (const op of ops) {
      const arb = fc.record({
        segs: fc.array(segment, { minLength: 4, maxLength: 4 }),
        query: queryFor(op),
        body: fc.oneof(bodyFor(op, doc).map((b) => ({ raw: false as const, b })), rawBody.map((b) => ({ raw: true as const, b }))),
        type: contentType,
      });
      await fc.assert(
        fc.asyncProperty(arb, async ({ segs, query, body, type }) => {
          total++;
          let i = 0;
          const path = op.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(segs[i++ % segs.length]!));
          const qs = new URLSearchParams(query).toString();
          const hasBody = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(op.method);
          const payload = body.raw ? body.b : JSON.stringify(body.b);
          const request = t.cp.api.inject({
            method: op.method as 'GET',
            url: qs ? `${path}?${qs}` : path,
            headers: { authorization: `Bearer ${t.adminKey}`, ...(hasBody ? { 'content-type': type } : {}) },
            ...(hasBody ? { payload: payload ?? '' } : {}),
          });
          // A streaming route given a valid request holds the connection open; that is its job, not a failure.
          // Any other route must answer promptly.
          const res = await Promise.race([request, new Promise<undefined>((r) => setTimeout(() => r(undefined), op.stream ? STREAM_ANSWER_MS : NO_ANSWER_MS))]);
          if (!res && !op.stream) {
            failures.push(`${op.method} ${path}?${qs} [${type}] ${String(payload).slice(0, 200)} -> no answer within ${NO_ANSWER_MS} ms`);
          }
          if (res && res.statusCode >= 500) {
            failures.push(`${op.method} ${path}?${qs} [${type}] ${String(payload).slice(0, 200)} -> ${res.statusCode} ${res.body.slice(0, 300)}`);
          }
          return true;
        }),
        { numRuns: op.stream ? 10 : RUNS_PER_ROUTE, seed: 4242 },
      );
    }
    expect(failures.slice(0, 10)).toEqual([]);
    expect(total).toBeGreaterThan(1000);
  }, 600_000);
});

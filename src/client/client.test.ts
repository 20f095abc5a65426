import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, ControlPlaneClient } from './index.js';

let server: Server;
let url: string;
const seen: { auth?: string; body?: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ auth: req.headers.authorization, body });
      if (req.url === '/problem') {
        res.writeHead(422, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ code: 'CATAPULT_VALIDATION', detail: 'name is wrong', hint: 'fix the name', errors: [{ path: 'name', message: 'too long' }] }));
      } else if (req.url === '/plain') {
        res.writeHead(502, 'Bad Gateway');
        res.end('<html>upstream died</html>');
      } else if (req.url === '/missing') {
        res.writeHead(404, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ code: 'CATAPULT_NOT_FOUND', detail: 'no such thing' }));
      } else if (req.url === '/slow') {
        setTimeout(() => res.end('{}'), 2000).unref();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ echo: body ? JSON.parse(body) : null }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

async function failure(p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

describe('control-plane client', () => {
  it('sends JSON with the bearer credential and reads the JSON answer', async () => {
    const c = new ControlPlaneClient({ baseUrl: url, bearer: 'k1' });
    expect(await c.json('POST', '/echo', { a: 1 })).toEqual({ echo: { a: 1 } });
    expect(seen.at(-1)).toEqual({ auth: 'Bearer k1', body: '{"a":1}' });
    c.bearer = 'k2';
    await c.json('GET', '/echo');
    expect(seen.at(-1)?.auth).toBe('Bearer k2');
  });

  it('reads a problem document into code, status, detail, hint and field errors', async () => {
    const err = await failure(new ControlPlaneClient({ baseUrl: url }).json('GET', '/problem'));
    expect(err).toMatchObject({ status: 422, code: 'CATAPULT_VALIDATION', detail: 'name is wrong', hint: 'fix the name', errors: [{ path: 'name', message: 'too long' }] });
    expect(err.transient).toBe(false);
  });

  it('names an answer that is not a problem document by its status, and counts 5xx as transient', async () => {
    const err = await failure(new ControlPlaneClient({ baseUrl: url }).text('GET', '/plain'));
    expect(err).toMatchObject({ status: 502, code: 'HTTP_502', detail: 'Bad Gateway' });
    expect(err.transient).toBe(true);
  });

  it('answers undefined for a 404 only when the caller asks for it', async () => {
    const c = new ControlPlaneClient({ baseUrl: url });
    expect(await c.json('GET', '/missing', undefined, { notFoundAsUndefined: true })).toBeUndefined();
    expect(await failure(c.json('GET', '/missing'))).toMatchObject({ status: 404, code: 'CATAPULT_NOT_FOUND' });
  });

  it('reports a server that does not answer as UNREACHABLE with the caller’s message', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const dead = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((r) => closed.close(() => r()));
    const plain = await failure(new ControlPlaneClient({ baseUrl: dead }).json('GET', '/x'));
    expect(plain).toMatchObject({ status: 0, code: 'UNREACHABLE' });
    expect(plain.message).toBe(`cannot reach ${dead} (ECONNREFUSED)`);
    expect(plain.transient).toBe(true);
    const told = await failure(new ControlPlaneClient({ baseUrl: dead, unreachable: (u, c) => `start it at ${u} [${c}]` }).json('GET', '/x'));
    expect(told.message).toBe(`start it at ${dead} [ECONNREFUSED]`);
  });

  it('lets a timeout through as an abort, not as an unreachable server', async () => {
    const err = await new ControlPlaneClient({ baseUrl: url, timeoutMs: 50 }).json('GET', '/slow').catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(ApiError);
    expect((err as Error).name).toBe('TimeoutError');
  });
});

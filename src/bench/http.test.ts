import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/services.js';
import { HttpPool, type ResponseHandler, buildRequest } from './http.js';

interface Answer {
  status: number | null;
  body: string;
  error: (Error & { code?: string }) | null;
}

function fetchVia(pool: HttpPool, req: Buffer): { done: Promise<Answer>; handler: ResponseHandler } {
  const a: Answer = { status: null, body: '', error: null };
  let resolve!: (a: Answer) => void;
  const done = new Promise<Answer>((r) => (resolve = r));
  const handler: ResponseHandler = {
    onHeaders: (s) => (a.status = s),
    onData: (c) => (a.body += c.toString()),
    onEnd: () => resolve(a),
    onError: (e) => {
      a.error = e;
      resolve(a);
    },
  };
  pool.request(req, handler);
  return { done, handler };
}

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; close: () => Promise<void>; sockets: () => number }> {
  const server = createServer(handler);
  let sockets = 0;
  server.on('connection', () => sockets++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sockets: () => sockets,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe("the load engine's HTTP client", () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it('sends prebuilt requests over kept-alive connections and reads plain and chunked bodies', async () => {
    const s = await serve((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (req.url === '/chunked') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('one ');
          setTimeout(() => res.end('two'), 5);
        } else {
          res.end(`${req.method} ${req.url} ${String(req.headers['x-test'])} ${body}`);
        }
      });
    });
    const pool = new HttpPool(s.url, 2);
    const host = new URL(s.url).host;
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => fetchVia(pool, buildRequest('POST', `/echo/${i}`, host, [['x-test', 'yes']], Buffer.from(`body ${i}`))).done),
    );
    expect(answers.map((a) => a.body)).toEqual(answers.map((_, i) => `POST /echo/${i} yes body ${i}`));
    expect(answers.every((a) => a.status === 200 && a.error === null)).toBe(true);
    const chunked = await fetchVia(pool, buildRequest('GET', '/chunked', host, [], null)).done;
    expect(chunked.body).toBe('one two');
    // Ten requests, two at a time: two connections, reused.
    expect(s.sockets()).toBe(2);
    pool.close();
    await s.close();
  });

  it('opens a new connection after the server closes one, and reports a response cut short as a reset', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/close') {
        res.setHeader('connection', 'close');
        res.end('bye');
      } else if (req.url === '/cut') {
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial');
        setTimeout(() => res.socket?.destroy(), 5);
      } else {
        res.end('ok');
      }
    });
    const pool = new HttpPool(s.url, 1);
    const host = new URL(s.url).host;
    expect((await fetchVia(pool, buildRequest('GET', '/close', host, [], null)).done).body).toBe('bye');
    expect((await fetchVia(pool, buildRequest('GET', '/', host, [], null)).done).body).toBe('ok');
    expect(s.sockets()).toBe(2);
    const cut = await fetchVia(pool, buildRequest('GET', '/cut', host, [], null)).done;
    expect(cut.error?.code).toBe('ECONNRESET');
    expect((await fetchVia(pool, buildRequest('GET', '/', host, [], null)).done).body).toBe('ok');
    pool.close();
    await s.close();
  });

  it('fails requests to a port nobody listens on with the connection error, one by one', async () => {
    const pool = new HttpPool('http://127.0.0.1:9', 2);
    const answers = await Promise.all(Array.from({ length: 5 }, () => fetchVia(pool, buildRequest('GET', '/', '127.0.0.1:9', [], null)).done));
    expect(answers.map((a) => a.error?.code)).toEqual(Array(5).fill('ECONNREFUSED'));
    pool.close();
  });

  it('aborts a request in flight and one still waiting for a connection, leaving the others', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('slow'), 300);
      else res.end('fast');
    });
    const pool = new HttpPool(s.url, 1);
    const host = new URL(s.url).host;
    const slow = fetchVia(pool, buildRequest('GET', '/slow', host, [], null));
    const queued = fetchVia(pool, buildRequest('GET', '/fast', host, [], null));
    const after = fetchVia(pool, buildRequest('GET', '/fast', host, [], null));
    pool.abort(queued.handler, Object.assign(new Error('stop'), { code: 'ABORTED' }));
    pool.abort(slow.handler, Object.assign(new Error('stop'), { code: 'ABORTED' }));
    expect((await slow.done).error?.code).toBe('ABORTED');
    expect((await queued.done).error?.code).toBe('ABORTED');
    expect((await after.done).body).toBe('fast');
    pool.close();
    await s.close();
  });

  it('speaks HTTPS', async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', join(dir.dir, 'key.pem'), '-out', join(dir.dir, 'cert.pem')], { stdio: 'ignore' });
    const server = createHttpsServer({ key: readFileSync(join(dir.dir, 'key.pem')), cert: readFileSync(join(dir.dir, 'cert.pem')) }, (_req, res) => res.end('secret'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // A self-signed certificate is refused, as an untrusted one should be; trusted, it works.
    const refused = await fetchVia(new HttpPool(url, 1), buildRequest('GET', '/', new URL(url).host, [], null)).done;
    expect(refused.error?.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    const pool = new HttpPool(url, 1, 5000, { ca: readFileSync(join(dir.dir, 'cert.pem')) });
    const trusted = await fetchVia(pool, buildRequest('GET', '/', new URL(url).host, [], null)).done;
    expect(trusted).toMatchObject({ status: 200, body: 'secret', error: null });
    pool.close();
    await new Promise((r) => server.close(r));
  });
});

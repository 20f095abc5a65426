import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerConsole } from '../../src/api/console.js';
import type { App } from '../../src/api/index.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { tempDir } from '../helpers/services.js';

const THEME_SCRIPT = "try { document.documentElement.dataset.theme = 'dark'; } catch (e) {}";

/** A Content-Security-Policy header as directive → sources. */
function policy(header: string | string[] | undefined): Record<string, string[]> {
  expect(typeof header, 'content-security-policy header').toBe('string');
  return Object.fromEntries(
    (header as string)
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...sources]) => [name!, sources]),
  );
}

/** A server with only the console on it, over a console directory made for the test. */
async function consoleServer(dir: string): Promise<App> {
  const app = Fastify() as unknown as App;
  const web = await registerConsole(app, { dir });
  app.setNotFoundHandler((req, reply) => {
    if (web.fallback(req, reply)) return;
    void reply.code(404).send({ code: 'CATAPULT_ROUTE_NOT_FOUND' });
  });
  await app.ready();
  return app;
}

describe('the web console is served from the control plane', () => {
  const tmp = tempDir('catapult-console-files-');
  let app: App;
  let bare: App;

  beforeAll(async () => {
    const dist = join(tmp.dir, 'dist');
    mkdirSync(join(dist, 'assets'), { recursive: true });
    writeFileSync(join(dist, 'index.html'), `<!doctype html><title>Catapult</title><script>${THEME_SCRIPT}</script><script type="module" src="/assets/app-1a2b3c.js"></script>`);
    writeFileSync(join(dist, 'assets', 'app-1a2b3c.js'), 'console.log("app")');
    app = await consoleServer(dist);
    bare = await consoleServer(join(tmp.dir, 'missing'));
  });
  afterAll(async () => {
    await app?.close();
    await bare?.close();
    tmp.remove();
  });

  it('answers / with the app, never cached, so a new build shows at once', async () => {
    const res = await app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.body).toContain('<title>Catapult</title>');
  });

  it('forbids framing and every script but its own bundle and its own inline script, by hash', async () => {
    for (const url of ['/', '/deployments/iris']) {
      const res = await app.inject({ method: 'GET', url, headers: { accept: 'text/html' } });
      expect(res.statusCode, url).toBe(200);
      const csp = policy(res.headers['content-security-policy']);
      expect(csp['default-src']).toEqual(["'self'"]);
      expect(csp['frame-ancestors']).toEqual(["'none'"]);
      expect(csp['object-src']).toEqual(["'none'"]);
      const hash = `'sha256-${createHash('sha256').update(THEME_SCRIPT).digest('base64')}'`;
      expect(csp['script-src']).toEqual(["'self'", hash]);
      expect(csp['script-src']!.join(' ')).not.toMatch(/unsafe/);
      // Styles the app writes at run time need the page's nonce, new on every load.
      const nonce = /<meta name="csp-nonce" content="([^"]+)"/.exec(res.body)?.[1];
      expect(csp['style-src']).toEqual(["'self'", `'nonce-${nonce}'`]);
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
    }
    const nonces = await Promise.all([1, 2].map(async () => /content="([^"]+)"/.exec((await app.inject({ method: 'GET', url: '/' })).body)?.[1]));
    expect(nonces[0]).not.toBe(nonces[1]);
    const asset = await app.inject({ method: 'GET', url: '/assets/app-1a2b3c.js' });
    expect(asset.headers['x-content-type-options']).toBe('nosniff');
    expect(asset.headers['x-frame-options']).toBe('DENY');
    const page = await bare.inject({ method: 'GET', url: '/', headers: { accept: 'text/html' } });
    expect(policy(page.headers['content-security-policy'])['frame-ancestors']).toEqual(["'none'"]);
  });

  it('caches hashed assets for a year', async () => {
    const res = await app.inject({ method: 'GET', url: '/assets/app-1a2b3c.js' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toContain('immutable');
    expect(res.headers['cache-control']).toContain('max-age=31536000');
  });

  it('answers a browser’s deep link with the app, and leaves API, data-plane and missing asset paths alone', async () => {
    const html = { accept: 'text/html,application/xhtml+xml' };
    const deep = await app.inject({ method: 'GET', url: '/deployments/iris?tab=logs', headers: html });
    expect(deep.statusCode).toBe(200);
    expect(deep.body).toContain('<title>Catapult</title>');
    for (const url of ['/api/v1/nothing', '/v1/models', '/v2/models/x', '/metrics/x', '/assets/gone.js']) {
      const res = await app.inject({ method: 'GET', url, headers: html });
      expect(res.statusCode, url).toBe(404);
    }
    // A client that does not ask for HTML (curl, scripts) gets the 404, not a page.
    expect((await app.inject({ method: 'GET', url: '/deployments/iris' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: '/deployments', headers: html })).statusCode).toBe(404);
  });

  it('says how to build the console when it is not built, in HTML or JSON', async () => {
    const page = await bare.inject({ method: 'GET', url: '/', headers: { accept: 'text/html' } });
    expect(page.statusCode).toBe(503);
    expect(page.body).toContain('npm run build');
    const json = await bare.inject({ method: 'GET', url: '/' });
    expect(json.statusCode).toBe(503);
    expect(json.json()).toMatchObject({ status: 'console_not_built', hint: expect.stringContaining('npm run build') });
  });
});

describe('the console beside the API', () => {
  let t: TestControlPlane;
  beforeAll(async () => {
    t = await startTestControlPlane('sqlite');
  });
  afterAll(async () => {
    await t.close();
  });

  it('needs no key and is not part of the OpenAPI document', async () => {
    const res = await t.call('GET', '/', { key: null, headers: { accept: 'text/html' } });
    // 200 when web/dist is built, 503 with a build hint when not: never 401, never a crash.
    expect([200, 503]).toContain(res.status);
    const doc = (await (await t.call('GET', '/api/openapi.json', { key: null })).json()) as { paths: Record<string, unknown> };
    // Everything documented is an API path (seed 003's /v1/modelDeployment included), never a console page.
    expect(Object.keys(doc.paths).filter((p) => !p.startsWith('/api/') && !p.startsWith('/v1/modelDeployment'))).toEqual([]);
  });

  it('lets the page call the gateway it advertises (Try it), and nothing else off the server', async () => {
    const res = await t.call('GET', '/', { key: null, headers: { accept: 'text/html' } });
    const csp = policy(res.headers.get('content-security-policy') ?? undefined);
    expect(csp['frame-ancestors']).toEqual(["'none'"]);
    if (res.status === 200) expect(csp['connect-src']).toEqual(["'self'", new URL(t.cp.deployments.gatewayUrl).origin]);
  });

  it('still answers unknown API routes with a problem, not the app', async () => {
    const res = await t.call('GET', '/api/v1/nothing-here', { headers: { accept: 'text/html' } });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { code: string }).code).toBe('CATAPULT_ROUTE_NOT_FOUND');
  });
});

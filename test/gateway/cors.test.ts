import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, inProcessSource, startGateway } from '../../src/gateway/index.js';
import { silentLogger } from '../../src/observability/index.js';
import { type RunningSimulator, startSimulator } from '../../src/runtimes/index.js';
import { type Harness, chat, startHarness, waitForKey } from './harness.js';

const CONSOLE = 'http://127.0.0.1:8080';

/** Browsers call the gateway from the web console's origin (the try-it panel); CORS lets them read the answers. */
describe('the gateway answers browsers from other origins (CORS)', () => {
  let h: Harness;
  let sim: RunningSimulator;
  let strict: Gateway;

  beforeAll(async () => {
    h = await startHarness();
    sim = await startSimulator({ modelName: 'llama', ttftMs: 1, itlMs: 1, timerSpinMs: 0 });
    await h.publish({ id: 'dep_llama', kind: 'deployment', name: 'llama', aliases: [], protocol: 'openai', replicas: [{ id: 'r-l', url: sim.url, ready: true }] });
    strict = await startGateway({
      host: '127.0.0.1',
      port: 0,
      source: inProcessSource({ events: h.t.cp.events, registry: h.t.cp.routeRegistry, keys: h.t.cp.keys }),
      log: silentLogger(),
      accessLog: false,
      corsOrigins: [CONSOLE],
    });
    await strict.ready();
    await waitForKey(strict, h.inferKey);
  });
  afterAll(async () => {
    await strict?.close(100);
    await h?.close();
    await sim?.close();
  });

  const preflight = (base: string, origin: string) =>
    fetch(`${base}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });

  it('answers a preflight from any origin by default, allowing the Authorization header', async () => {
    const res = await preflight(h.gw.url, 'http://console.example:3000');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization, content-type');
  });

  it('lets the page read the answer, its request id and replica, and still demands a key', async () => {
    const ok = await h.call('/v1/chat/completions', { body: chat('llama'), headers: { origin: CONSOLE } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('*');
    expect(ok.headers.get('access-control-expose-headers')).toContain('x-request-id');
    const anonymous = await h.call('/v1/chat/completions', { body: chat('llama'), key: null, headers: { origin: CONSOLE } });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('sends no CORS headers to clients that are not browsers', async () => {
    const res = await h.call('/v1/chat/completions', { body: chat('llama') });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('allows only the configured origins when given a list', async () => {
    const mine = await preflight(strict.url, CONSOLE);
    expect(mine.status).toBe(204);
    expect(mine.headers.get('access-control-allow-origin')).toBe(CONSOLE);
    expect(mine.headers.get('vary')).toBe('origin');
    const other = await preflight(strict.url, 'http://evil.example');
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const res = await fetch(`${strict.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { origin: 'http://evil.example', authorization: `Bearer ${h.inferKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(chat('llama')),
    });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

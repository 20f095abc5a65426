import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../../src/runtimes/index.js';
import { type LongRunning, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/services.js';
import { type Json, chat } from './harness.js';

/** The real `catapult` binary: `up` with its embedded gateway, and a standalone `catapult gateway`. */
describe('catapult up and catapult gateway', () => {
  const dir = tempDir();
  const running: LongRunning[] = [];
  let sim: RunningSimulator | undefined;
  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop()));
    await sim?.close();
    dir.remove();
  });

  it('serves an endpoint through the embedded gateway and through a standalone one, which outlives the control plane', async () => {
    const up = startCli(['up', '--data-dir', dir.dir, '--api-port', '0', '--gateway-port', '0', '--log-level', 'warn', '--no-demo']);
    running.push(up);
    const api = (await up.waitFor(/API\s+(http:\/\/\S+)\/api\/v1/, 30_000))[1]!;
    const embedded = (await up.waitFor(/Gateway\s+(http:\/\/\S+)/))[1]!;
    const admin = readFileSync(join(dir.dir, 'admin.key'), 'utf8').trim();
    const post = async (path: string, body: unknown) => {
      const res = await fetch(api + path, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status, path).toBe(201);
      return (await res.json()) as Json;
    };
    sim = await startSimulator({ modelName: 'llama', ttftMs: 1, itlMs: 1, timerSpinMs: 0 });
    const gatewayKey = (await post('/api/v1/keys', { name: 'gateway', scopes: ['gateway'] })).secret as string;
    const inferKey = (await post('/api/v1/keys', { name: 'app', scopes: ['infer'] })).secret as string;
    await post('/api/v1/endpoints', { name: 'llama', url: sim.url, protocol: 'openai' });

    const ask = (base: string) =>
      fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${inferKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(chat('llama')),
      });
    expect((await ask(embedded)).status).toBe(200);

    const gw = startCli(['gateway', '--server', api, '--key', gatewayKey, '--port', '0', '--log-level', 'warn']);
    running.push(gw);
    const standalone = (await gw.waitFor(/Gateway\s+(http:\/\/\S+)/, 30_000))[1]!;
    expect(gw.stdout()).toContain('routing table loaded');
    expect((await ask(standalone)).status).toBe(200);

    expect(await up.stop()).toBe(0);
    for (let i = 0; i < 5; i++) expect((await ask(standalone)).status).toBe(200);
    expect(await gw.stop()).toBe(0);
  });
});

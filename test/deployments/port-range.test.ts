import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, runCatapult, startCatapult, until } from '../cluster/processes.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { tempDir } from '../helpers/services.js';

/** A run of ports, away from the ephemeral range, that this test file owns. */
const FROM = 24_000 + Math.floor(Math.random() * 2_000) * 4;
const TO = FROM + 2;

describe('catapult agent --port-range', () => {
  let t: TestControlPlane;
  let agent: CliProcess;
  const dir = tempDir();
  const blocker = createServer();

  beforeAll(async () => {
    t = await startTestControlPlane('sqlite', { env: { CATAPULT_HEARTBEAT_INTERVAL_MS: '200' } });
    // One port of the range is taken by something else: replicas must step around it.
    await new Promise<void>((resolve) => blocker.listen(FROM + 1, '127.0.0.1', resolve));
    const { secret } = await t.cp.cluster.createJoinToken({ name: 'port range' }, null);
    agent = startCatapult(['agent', '--server', t.url, '--token', secret, '--name', 'ranged', '--data-dir', join(dir.dir, 'agent'), '--log-level', 'warn', '--port-range', `${FROM}-${TO}`]);
    await agent.waitFor(/Agent \S+ joined/);
  });
  afterAll(async () => {
    // A standalone agent leaves replicas running when it stops (the next one adopts them): wait until
    // the deletion has stopped them, so nothing outlives the test.
    await t?.call('DELETE', '/api/v1/deployments/ranged-llm');
    await until('the replicas to stop', async () => {
      const open = await Promise.all([FROM, TO].map((port) => fetch(`http://127.0.0.1:${port}/v1/models`).then(() => true, () => false)));
      return open.every((o) => !o);
    }, 30_000).catch(() => undefined);
    await agent?.kill('SIGTERM');
    blocker.close();
    await t?.close();
    dir.remove();
  });

  it('starts replicas only on ports inside the range, skipping a port something else holds', async () => {
    const res = await t.call('POST', '/api/v1/deployments', { body: { name: 'ranged-llm', runtime: 'simulator', replicas: 2 } });
    expect(res.status, await res.clone().text()).toBe(201);
    const d = await until('2 ready replicas', async () => {
      const body = (await (await t.call('GET', '/api/v1/deployments/ranged-llm')).json()) as any;
      return body.replicas.ready === 2 ? body : undefined;
    }, 60_000);
    const ports = (d.replicas.items as { url: string }[]).map((r) => Number(new URL(r.url).port)).sort();
    expect(ports).toEqual([FROM, TO]);
    const models = await fetch(`${d.replicas.items[0].url}/v1/models`);
    expect(models.status).toBe(200);
  });

  it('refuses a range that is not FROM-TO, naming the flag and an example', async () => {
    const r = await runCatapult(['agent', '--server', t.url, '--data-dir', join(dir.dir, 'bad'), '--port-range', '9000']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--port-range: '9000' is not a port range; use FROM-TO .* e\.g\. 20000-20999/);
  });
});

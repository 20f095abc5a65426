import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../src/supervisor/index.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { type CliProcess, runCatapult, startAgent, startCatapult, until } from './processes.js';

describe('catapult workers and join-token commands', () => {
  let t: TestControlPlane;
  let dir: string;
  let env: Record<string, string>;
  let agent: CliProcess | undefined;
  beforeAll(async () => {
    t = await startTestControlPlane('sqlite', { env: { CATAPULT_HEARTBEAT_INTERVAL_MS: '200' } });
    dir = mkdtempSync(join(tmpdir(), 'catapult-cli-'));
    env = { CATAPULT_URL: t.url, CATAPULT_API_KEY: t.adminKey };
  });
  afterAll(async () => {
    await agent?.kill('SIGKILL');
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a join token, shows a joined agent with its fake GPUs, cordons, drains and removes it', async () => {
    const created = await runCatapult(['join-token', 'create', '--name', 'rack 4', '--max-uses', '2', '--expires', '1h', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const { secret, token } = JSON.parse(created.stdout) as { secret: string; token: { maxUses: number; expiresAt: number } };
    expect(token.maxUses).toBe(2);
    expect(token.expiresAt).toBeGreaterThan(Date.now() + 3500_000);

    agent = await startAgent({ server: t.url, token: secret, name: 'cli-box', dataDir: join(dir, 'cli-box'), gpus: '2xH100:80GiB', extra: ['--labels', 'zone=eu,rack=4'] });
    expect(agent.stdout()).toMatch(/Agent cli-box joined .* as worker wkr_\S+ \(2 fake GPUs\)/);

    const ls = await runCatapult(['workers', 'ls'], env);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/^NAME\s+ID\s+STATE\s+GPUS\s+GPU FREE/m);
    expect(ls.stdout).toMatch(/cli-box\s+wkr_\S+\s+ready\s+2× NVIDIA H100 \(fake\)\s+160\.0 GiB/);

    const get = await runCatapult(['workers', 'get', 'cli-box'], env);
    expect(get.stdout).toMatch(/Worker cli-box \(wkr_/);
    expect(get.stdout).toMatch(/Labels {6}zone=eu, rack=4/);
    expect(get.stdout).toMatch(/nvidia:1\s+NVIDIA H100 \(fake\)\s+80\.0 GiB/);

    expect((await runCatapult(['workers', 'cordon', 'cli-box'], env)).stdout).toMatch(/is ready,cordoned/);
    const drained = JSON.parse((await runCatapult(['workers', 'drain', 'cli-box', '--json'], env)).stdout) as { state: string; cordoned: boolean };
    expect(drained).toMatchObject({ state: 'draining', cordoned: true });

    const rm = await runCatapult(['workers', 'rm', 'cli-box'], env);
    expect(rm.stdout).toMatch(/Removed worker cli-box/);
    // Its agent learns at its next heartbeat that it was removed, and stops with a clear message.
    await until('the agent to exit', () => agent!.child.exitCode !== null);
    expect(agent.child.exitCode).toBe(1);
    expect(agent.stderr()).toMatch(/worker was removed/);

    const tokens = await runCatapult(['join-token', 'ls'], env);
    expect(tokens.stdout).toMatch(/rack 4\s+catjoin_\S+…\s+1\/2/);
  });
});

describe('catapult up', () => {
  it('starts a local agent in the same process, and the same worker comes back after a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'catapult-up-'));
    try {
      const start = async () => {
        const up = startCatapult(['up', '--data-dir', dataDir, '--api-port', '0', '--gateway-port', '0', '--no-demo', '--log-level', 'warn']);
        const [, line] = (await up.waitFor(/Agent {6}(worker .*)\n/)) as unknown as [string, string];
        const [, url] = (await up.waitFor(/API {8}(http:\/\/\S+)\/api\/v1/)) as unknown as [string, string];
        return { up, line, url };
      };
      const first = await start();
      expect(first.line).toMatch(/^worker \S+ \(wkr_\w+\), no GPUs/);
      const key = readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
      const list = async (url: string) =>
        ((await (await fetch(`${url}/api/v1/workers`, { headers: { authorization: `Bearer ${key}` } })).json()) as { items: { id: string; state: string }[] }).items;
      const workers = await list(first.url);
      expect(workers).toEqual([expect.objectContaining({ state: 'ready' })]);
      await first.up.kill('SIGTERM');
      expect(first.up.child.exitCode).toBe(0);

      const second = await start();
      expect(second.line).toContain(workers[0]!.id);
      expect((await list(second.url)).map((w) => w.id)).toEqual([workers[0]!.id]);
      await second.up.kill('SIGTERM');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('takes its model servers with it when it is killed with SIGKILL: nothing is left holding their ports', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'catapult-up-kill-'));
    const up = startCatapult(['up', '--data-dir', dataDir, '--api-port', '0', '--gateway-port', '0', '--no-demo', '--log-level', 'warn']);
    let pid: number | undefined;
    try {
      const [, url] = (await up.waitFor(/API {8}(http:\/\/\S+)\/api\/v1/)) as unknown as [string, string];
      const key = readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
      const pidFile = join(dataDir, 'server.pid');
      const server = `require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.argv[1]), '127.0.0.1')`;
      const res = await fetch(`${url}/api/v1/deployments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'srv', runtime: 'custom', options: { command: [process.execPath, '-e', server, '{port}'] } }),
      });
      expect(res.status, await res.clone().text()).toBe(201);
      const endpoint = await until('the replica to be ready', async () => {
        const d = (await (await fetch(`${url}/api/v1/deployments/srv`, { headers: { authorization: `Bearer ${key}` } })).json()) as { state: string; replicas: { items: { url: string }[] } };
        return d.state === 'active' ? d.replicas.items[0]!.url : undefined;
      });
      expect(await (await fetch(`${endpoint}/health`)).text()).toBe('ok');
      pid = Number(readFileSync(pidFile, 'utf8'));
      expect(isAlive(pid)).toBe(true);

      await up.kill('SIGKILL');
      await until('the model server to end with catapult up', () => !isAlive(pid!), 20_000);
      await expect(fetch(`${endpoint}/health`)).rejects.toThrow();
    } finally {
      await up.kill('SIGKILL');
      if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

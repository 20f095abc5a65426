import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { hashSecret } from '../../src/auth/index.js';
import { type Gateway, type GatewayOptions, type RouteInput, inProcessSource, remoteSource, startGateway } from '../../src/gateway/index.js';
import { type Logger, silentLogger } from '../../src/observability/index.js';
import { ROOT, childEnv } from '../helpers/cli.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import type { Backend } from '../helpers/services.js';

// Response bodies are checked field by field with toEqual/toMatchObject; a static type adds nothing there.
 
export type Json = any;

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Waits until a key created on the control plane has reached the gateway's key cache (by event). */
export function waitForKey(gw: Gateway, secret: string): Promise<unknown> {
  return until(() => gw.table.key(hashSecret(secret)), 'the key to reach the gateway');
}

export interface Harness {
  t: TestControlPlane;
  gw: Gateway;
  /** A key with the infer scope. */
  inferKey: string;
  /** Publishes a route through the registry and waits until the gateway applied it. */
  publish(route: RouteInput): Promise<void>;
  unpublish(id: string): Promise<void>;
  /** fetch against the gateway with the infer key (or `key`). */
  call(path: string, init?: { method?: string; body?: unknown; key?: string | null; headers?: Record<string, string> }): Promise<Response>;
  close(): Promise<void>;
}

/**
 * A real control plane and a real gateway on random ports. `remote: true` gives the gateway the
 * standalone source (HTTP snapshot + SSE with its own gateway-scoped key) instead of the in-process one.
 */
export async function startHarness(
  opts: { backend?: Backend; remote?: boolean; gateway?: Partial<GatewayOptions>; env?: Record<string, string>; log?: Logger } = {},
): Promise<Harness> {
  const t = await startTestControlPlane(opts.backend ?? 'sqlite', opts.env ? { env: opts.env } : {});
  const gatewayKey = (await t.cp.keys.create({ name: 'gateway', scopes: ['gateway'] }, null)).secret;
  const source = opts.remote
    ? remoteSource({ url: t.url, key: gatewayKey, reconnectMinMs: 50, reconnectMaxMs: 200 })
    : inProcessSource({ events: t.cp.events, registry: t.cp.routeRegistry, keys: t.cp.keys });
  const gw = await startGateway({ host: '127.0.0.1', port: 0, source, log: opts.log ?? silentLogger(), accessLog: opts.log !== undefined, ...opts.gateway });
  await gw.ready();
  const inferKey = (await t.cp.keys.create({ name: 'infer', scopes: ['infer'] }, null)).secret;
  await waitForKey(gw, inferKey);

  const harness: Harness = {
    t,
    gw,
    inferKey,
    async publish(route) {
      const stored = await t.cp.routeRegistry.upsert(route);
      await until(() => (gw.table.lookup(route.id)?.route.seq ?? -1) >= stored.seq, `route ${route.id} to reach the gateway`);
    },
    async unpublish(id) {
      await t.cp.routeRegistry.remove(id);
      await until(() => gw.table.lookup(id) === undefined, `route ${id} to leave the gateway`);
    },
    call(path, init = {}) {
      const key = init.key === undefined ? inferKey : init.key;
      const headers: Record<string, string> = { ...init.headers };
      if (key) headers.authorization = `Bearer ${key}`;
      let body: string | undefined;
      if (init.body !== undefined) {
        body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
        headers['content-type'] ??= 'application/json';
      }
      return fetch(gw.url + path, { method: init.method ?? (body !== undefined ? 'POST' : 'GET'), headers, ...(body !== undefined ? { body } : {}) });
    },
    async close() {
      await gw.close(100);
      await t.close();
    },
  };
  return harness;
}

export interface ReplicaProcess {
  child: ChildProcess;
  url: string;
  /** SIGKILL: the replica dies with requests in flight, as a crashed model server does. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** A simulator replica as a real child process (its own event loop, killable with SIGKILL). */
export async function startSimulatorProcess(options: Record<string, unknown> = {}): Promise<ReplicaProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'gateway', 'fixtures', 'simulator-process.ts'), JSON.stringify(options)], {
    cwd: ROOT,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await until(
    () => {
      if (child.exitCode !== null) throw new Error(`simulator exited (${child.exitCode}): ${err}`);
      return /listening (http:\/\/\S+)/.exec(out)?.[1];
    },
    'the simulator process to listen',
    30_000,
  );
  return {
    child,
    url,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A chat completion request body for the simulator. */
export function chat(model: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model, messages: [{ role: 'user', content: 'Say something.' }], max_tokens: 4, ...extra };
}

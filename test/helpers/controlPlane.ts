import { loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/observability/index.js';
import { type ControlPlane, startControlPlane } from '../../src/server/index.js';
import type { Clock } from '../../src/util/index.js';
import { type Backend, type TestDatabase, createTestDatabase } from './services.js';

export interface TestControlPlane {
  cp: ControlPlane;
  db: TestDatabase;
  /** An admin key's secret. */
  adminKey: string;
  url: string;
  /** fetch against the API with a key (admin by default; null for none). */
  call(method: string, path: string, opts?: { key?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  close(): Promise<void>;
}

/** A real control plane on a random port over a fresh SQLite file or Postgres database. */
export async function startTestControlPlane(
  backend: Backend = 'sqlite',
  opts: { clock?: Clock; env?: Record<string, string> } = {},
): Promise<TestControlPlane> {
  const db = await createTestDatabase(backend, 'cp');
  const config = loadConfig({
    env: {
      CATAPULT_DATA_DIR: db.dataDir,
      CATAPULT_DATABASE_URL: db.databaseUrl,
      CATAPULT_API_PORT: '0',
      CATAPULT_GATEWAY_PORT: '0',
      CATAPULT_EVENT_POLL_MS: '100',
      ...opts.env,
    },
    cwd: db.dataDir,
  });
  const cp = await startControlPlane({ config, log: silentLogger(), ...(opts.clock ? { clock: opts.clock } : {}) });
  const { secret } = await cp.keys.create({ name: 'test admin', scopes: ['admin'] }, null);
  const call: TestControlPlane['call'] = (method, path, o = {}) => {
    const key = o.key === undefined ? secret : o.key;
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (key) headers.authorization = `Bearer ${key}`;
    let body: string | undefined;
    if (o.body !== undefined) {
      body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
      headers['content-type'] ??= 'application/json';
    }
    return fetch(cp.url + path, { method, headers, ...(body !== undefined ? { body } : {}) });
  };
  return {
    cp,
    db,
    adminKey: secret,
    url: cp.url,
    call,
    async close() {
      await cp.close();
      await db.cleanup();
    },
  };
}

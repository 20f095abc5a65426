import { join } from 'node:path';
import { type ApiDeps, type App, buildApi } from '../api/index.js';
import { AuditLog } from '../audit/index.js';
import { KeyService } from '../auth/index.js';
import type { Config } from '../config/index.js';
import { EventLog } from '../events/index.js';
import { type Logger, createMetricsRegistry } from '../observability/index.js';
import { Store } from '../store/index.js';
import { type Clock, systemClock } from '../util/index.js';
import { allMigrations } from './migrations.js';

export interface ControlPlane {
  config: Config;
  store: Store;
  events: EventLog;
  keys: KeyService;
  audit: AuditLog;
  api: App;
  /** The API's base URL once listening. */
  url: string;
  close(): Promise<void>;
}

export interface ControlPlaneOptions {
  config: Config;
  log: Logger;
  clock?: Clock;
  /** Listen on apiHost:apiPort; false builds the API without listening (for inject tests). */
  listen?: boolean;
}

/** The SQLite file for a data dir, when no database URL is configured. */
export function sqliteFile(config: Config): string {
  return join(config.dataDir, 'catapult.db');
}

/** Opens the store, applies migrations, wires the systems together and starts the API. */
export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const { config, log } = opts;
  const clock = opts.clock ?? systemClock;
  const store = new Store({ databaseUrl: config.databaseUrl, sqliteFile: sqliteFile(config), migrations: allMigrations() });
  try {
    const applied = await store.migrate();
    if (applied.length > 0) log.info({ applied, store: store.description }, 'migrations applied');
  } catch (err) {
    await store.close();
    throw err;
  }
  const metrics = createMetricsRegistry();
  const events = new EventLog(store, clock, config.eventPollMs);
  const keys = new KeyService(store, events, clock);
  const audit = new AuditLog(store, clock);
  const deps: ApiDeps = {
    resources: { config, store, clock, log, events, metrics },
    keys,
    audit,
  };
  const api = await buildApi(deps);
  let url = '';
  if (opts.listen !== false) {
    const address = await api.listen({ host: config.apiHost, port: config.apiPort });
    url = address.replace('0.0.0.0', '127.0.0.1').replace('[::]', '127.0.0.1');
  } else {
    await api.ready();
  }
  return {
    config,
    store,
    events,
    keys,
    audit,
    api,
    url,
    async close() {
      events.close();
      await api.close();
      await store.close();
    },
  };
}

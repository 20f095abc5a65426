import type { Config } from '../config/index.js';
import type { EventLog } from '../events/index.js';
import type { Logger, Registry } from '../observability/index.js';
import type { Store } from '../store/index.js';
import type { Clock } from '../util/index.js';

/** The shared resources the cluster needs (a subset of the server's). */
export interface ClusterResources {
  config: Pick<Config, 'heartbeatIntervalMs' | 'missedHeartbeats' | 'offlineGraceMs'>;
  store: Store;
  clock: Clock;
  log: Logger;
  events: EventLog;
  metrics?: Registry;
}

export interface ClusterOptions {
  /** How often the reconciler runs; null: never on its own (tests call `reconcile()`). Default: half a heartbeat, at most 1 s. */
  reconcileEveryMs?: number | null;
  /** On-time heartbeats in a row that bring a worker back to ready (default 2). */
  recoverHeartbeats?: number;
  /** How often pending replicas are retried even when nothing seems to have changed (default 10 s). */
  pendingRetryMs?: number;
}

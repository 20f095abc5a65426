import type { Config } from '../config/index.js';
import type { EventLog } from '../events/index.js';
import type { Logger, Registry } from '../observability/index.js';
import type { Store } from '../store/index.js';
import type { Clock } from '../util/index.js';

/**
 * The shared resources the composition root opens once and hands out explicitly (no DI container).
 * Each system names the part it uses (`ApiResources`, `ClusterResources`, `TaskResources`), which
 * this object satisfies, so no system depends on the whole bundle or on the composition root.
 */
export interface Resources {
  config: Config;
  store: Store;
  clock: Clock;
  log: Logger;
  events: EventLog;
  metrics: Registry;
}

import { Registry, collectDefaultMetrics } from 'prom-client';

/** A fresh Prometheus registry with process metrics; each server has its own, so tests can run several. */
export function createMetricsRegistry(prefix = 'catapult_'): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix });
  return registry;
}

export { Registry };

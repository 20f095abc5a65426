export { type Logger, createLogger, silentLogger } from './logger.js';
export { Registry, createMetricsRegistry } from './metrics.js';

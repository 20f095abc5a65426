import { type DestinationStream, type Logger, pino } from 'pino';
import { isSecretHeader, redact } from '../secrets/index.js';

export type { Logger };

/**
 * Where log lines may carry credentials: request headers (Fastify's `req`, an undici error's
 * request), routes' upstream headers and benchmark targets. A value under one of these keeps its
 * recognisable ends (`Bearer sk-…765`) when its header name is a secret one, and stays as it is when
 * it is a plain header such as content-type.
 */
export const LOG_REDACT_PATHS = [
  'headers.*',
  '*.headers.*',
  '*.*.headers.*',
  'upstreamHeaders.*',
  '*.upstreamHeaders.*',
  'authHeader',
  '*.authHeader',
  'authorization',
  '*.authorization',
];

function censor(value: unknown, path: string[]): unknown {
  const name = path[path.length - 1] ?? '';
  if (name !== 'authHeader' && name !== 'authorization' && !isSecretHeader(name)) return value;
  return typeof value === 'string' ? redact(value) : '[redacted]';
}

/** Structured JSON logs on stderr (or `dest`), so stdout stays free for what the CLI prints for people. */
export function createLogger(level: string, name = 'catapult', dest?: DestinationStream): Logger {
  return pino({ name, level, base: { name }, redact: { paths: LOG_REDACT_PATHS, censor } }, dest ?? pino.destination({ dest: 2, sync: false }));
}

/** A logger that drops everything; for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

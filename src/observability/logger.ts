import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stderr, so stdout stays free for what the CLI prints for people. */
export function createLogger(level: string, name = 'catapult'): Logger {
  return pino({ name, level, base: { name } }, pino.destination({ dest: 2, sync: false }));
}

/** A logger that drops everything; for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

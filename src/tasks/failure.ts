import type { BackoffPolicy, TaskError } from './types.js';

/** Codes the engine itself records; handlers use their own. */
export const ENGINE_FAILURE_CODES = {
  /** The handler threw something that is not a TaskFailure. */
  handlerError: 'TASK_HANDLER_ERROR',
  /** The worker holding the lease stopped heartbeating (crashed, killed, partitioned). */
  leaseExpired: 'TASK_LEASE_EXPIRED',
  /** The task was cancelled on request. */
  cancelled: 'TASK_CANCELLED',
  /** The worker shut down before the handler finished; the task went back to its queue. */
  shutdown: 'TASK_SHUTDOWN',
  /** The worker lost the lease while the handler ran; its outcome no longer counts. */
  leaseLost: 'TASK_LEASE_LOST',
} as const;

const BRAND = Symbol.for('catapult.TaskFailure');

export interface TaskFailureOptions {
  /** Default true: most failures (timeouts, a busy GPU, a dropped connection) may pass. */
  retryable?: boolean;
  cause?: unknown;
  /** Overrides the backoff for the next attempt, e.g. from a server's Retry-After. */
  retryAfterMs?: number;
}

/**
 * How a handler says why an attempt failed: a stable code, a message for people, whether another
 * attempt could succeed, and the underlying cause. Anything else a handler throws is recorded as a
 * retryable `TASK_HANDLER_ERROR`.
 */
export class TaskFailure extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly [BRAND] = true;

  constructor(code: string, message: string, options: TaskFailureOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TaskFailure';
    this.code = code;
    this.retryable = options.retryable ?? true;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** A failure no retry can fix (bad input, a missing model): the task goes to `dead` at once. */
  static nonRetryable(code: string, message: string, options: Omit<TaskFailureOptions, 'retryable'> = {}): TaskFailure {
    return new TaskFailure(code, message, { ...options, retryable: false });
  }

  toJSON(): TaskError {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

/** Recognises a TaskFailure by its brand, so copies of this module loaded twice still agree. */
export function isTaskFailure(err: unknown): err is TaskFailure {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true;
}

const MAX_MESSAGE = 2000;

/** The stored form of whatever a handler threw (or an explicit TaskError). */
export function toTaskError(err: unknown): TaskError {
  if (isTaskFailure(err)) return { code: err.code, message: clip(err.message), retryable: err.retryable };
  if (isTaskErrorShape(err)) return { code: err.code, message: clip(err.message), retryable: err.retryable };
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : JSON.stringify(err);
  return { code: ENGINE_FAILURE_CODES.handlerError, message: clip(message || 'handler failed'), retryable: true };
}

/** The backoff a failure asks for, if it names one. */
export function retryAfterOf(err: unknown): number | undefined {
  if (isTaskFailure(err)) return err.retryAfterMs;
  if (typeof err === 'object' && err !== null && 'retryAfterMs' in err && typeof err.retryAfterMs === 'number') return err.retryAfterMs;
  return undefined;
}

function isTaskErrorShape(err: unknown): err is TaskError {
  return (
    typeof err === 'object' &&
    err !== null &&
    !(err instanceof Error) &&
    typeof (err as TaskError).code === 'string' &&
    typeof (err as TaskError).message === 'string' &&
    typeof (err as TaskError).retryable === 'boolean'
  );
}

function clip(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 10 * 60_000 };

/**
 * Delay before the attempt after `attempt` (1-based): exponential, capped, with "equal jitter": half
 * of it fixed, half random, so a burst of failures does not retry in lockstep and the delay never
 * collapses to zero.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const exp = policy.baseMs * 2 ** Math.max(0, attempt - 1);
  const capped = Math.min(policy.maxMs, exp);
  return Math.round(capped / 2 + (random() * capped) / 2);
}

/** Where a failed attempt goes next. */
export type FailureDisposition = 'retry' | 'dead' | 'cancelled';

/** Decides a failed attempt's fate; cancellation wins over everything, then retryability and the attempt budget. */
export function dispositionOf(input: { error: TaskError; attempts: number; maxAttempts: number; cancelRequested: boolean }): FailureDisposition {
  if (input.cancelRequested) return 'cancelled';
  if (!input.error.retryable) return 'dead';
  return input.attempts >= input.maxAttempts ? 'dead' : 'retry';
}

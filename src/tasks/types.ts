import type { AnyDb } from '../store/index.js';

/** Every state a task can be in; see README.md for the transitions between them. */
export const TASK_STATES = ['queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled'] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** Why an attempt failed, as stored on the task. */
export interface TaskError {
  /** A stable code, e.g. `TASK_LEASE_EXPIRED` or a handler's own `MODEL_NOT_FOUND`. */
  code: string;
  message: string;
  /** Whether another attempt could succeed; false sends the task straight to `dead`. */
  retryable: boolean;
}

/** A durable unit of background work. */
export interface Task {
  id: string;
  queue: string;
  kind: string;
  payload: unknown;
  /** Higher runs first. */
  priority: number;
  state: TaskState;
  /** Attempts started so far, including the one running now. */
  attempts: number;
  maxAttempts: number;
  /** Epoch ms before which the task is not claimed (delayed tasks, retry backoff). */
  runAt: number;
  /** Who holds the task while it runs, and until when. */
  lease: { owner: string; expiresAt: number } | null;
  /** When someone asked to cancel the task while it was running; its handler is told through its AbortSignal. */
  cancelRequestedAt: number | null;
  idempotencyKey: string | null;
  result: unknown;
  /** The most recent failure, if any; kept after a later success so the history is visible. */
  error: TaskError | null;
  createdAt: number;
  updatedAt: number;
  /** Start of the latest attempt. */
  startedAt: number | null;
  finishedAt: number | null;
}

export interface BackoffPolicy {
  /** Delay before the second attempt; doubles for each attempt after that. */
  baseMs: number;
  /** The delay never grows past this. */
  maxMs: number;
}

export interface EnqueueInput {
  queue: string;
  kind: string;
  payload?: unknown;
  /** Higher runs first; default 0. */
  priority?: number;
  /** Default 5. */
  maxAttempts?: number;
  /** Run no earlier than this epoch ms. */
  runAt?: number;
  /** Run no earlier than this many ms from now (ignored when `runAt` is given). */
  delayMs?: number;
  /** Unique per queue: enqueueing the same key again returns the task that already has it. */
  idempotencyKey?: string;
  backoff?: Partial<BackoffPolicy>;
}

export interface EnqueueResult {
  task: Task;
  /** False when the idempotency key matched an existing task, which is returned instead. */
  created: boolean;
}

/**
 * Proof of holding a running task. Every later call about the attempt (heartbeat, complete, fail,
 * release) presents it; a lease that was reclaimed or finished is refused, so a worker that lost its
 * lease can never overwrite the outcome of the attempt that replaced it.
 */
export interface Lease {
  taskId: string;
  /** Fresh for every claim, so two attempts by the same owner are told apart. */
  leaseId: string;
  owner: string;
  expiresAt: number;
}

export interface ClaimedTask {
  task: Task;
  lease: Lease;
}

export interface ClaimOptions {
  /** Who will hold the leases: a worker id, or `agent:<id>` for remote agents. */
  owner: string;
  queues: readonly string[];
  /** Only these kinds (the ones the caller has handlers for); all kinds when omitted. */
  kinds?: readonly string[];
  /** At most this many tasks. */
  limit: number;
  /** How long the lease lasts without a heartbeat. */
  leaseMs?: number;
}

export interface TaskFilter {
  queue?: string;
  state?: TaskState;
  kind?: string;
  /** Tasks with ids before this one (the previous page's `nextCursor`). */
  cursor?: string;
  limit?: number;
}

export interface QueueStats {
  queue: string;
  /** Waiting to run: queued (including delayed) and failed attempts waiting for their retry. */
  pending: number;
  running: number;
  dead: number;
  /** Most tasks of this queue that may run at once across all workers; null: no limit. */
  concurrency: number | null;
}

/** Lets a transition run inside a caller's transaction, so it commits (or not) with the caller's own writes. */
export interface InTransaction {
  trx?: AnyDb;
}

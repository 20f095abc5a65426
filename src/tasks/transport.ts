import { isCatapultError } from '../errors/index.js';
import type { AnyDb, Store } from '../store/index.js';
import type { TaskEngine } from './engine.js';
import type { ClaimOptions, ClaimedTask, Lease } from './types.js';

/** A heartbeat's answer: the lease holds (and whether cancellation was asked for), or it is gone. */
export type HeartbeatResult = { lost?: undefined; cancelRequested: boolean; expiresAt: number } | { lost: string };

/** An outcome call's answer: recorded, or refused because the lease is gone (`lost` says why). */
export interface OutcomeResult {
  lost?: string;
}

/**
 * How a worker pool reaches the tasks it runs: the in-process engine, or the control plane over HTTP
 * for an agent. It claims, heartbeats, records outcomes and gives tasks back; a lease that is gone
 * is an answer (`lost`), any other error (store hiccup, control plane away) is thrown and retried.
 * Lease expiries are on the pool's own clock, so the pool can tell when a lease ran out unheard.
 */
export interface TaskTransport {
  /** Lease length when the pool names none. */
  readonly defaultLeaseMs: number;
  claim(opts: ClaimOptions, signal?: AbortSignal): Promise<ClaimedTask[]>;
  heartbeat(lease: Lease, leaseMs: number): Promise<HeartbeatResult>;
  complete(lease: Lease, result: unknown): Promise<OutcomeResult>;
  /** `failure` is what the handler threw; a TaskFailure says whether it is retryable. */
  fail(lease: Lease, failure: unknown): Promise<OutcomeResult>;
  /** Gives the task back to its queue without spending the attempt (shutdown). */
  release(lease: Lease): Promise<OutcomeResult>;
  /** Runs `fn` in a store transaction that also completes the task; in-process only. */
  completeWith?<T>(lease: Lease, fn: (trx: AnyDb) => Promise<T>): Promise<T>;
  /** Calls `listener` when tasks are enqueued, so the pool claims at once instead of at its next poll. */
  onEnqueue?(listener: (queues: readonly string[]) => void): () => void;
  /** Kinds of tasks waiting in `queues`, to warn about ones no handler runs. */
  pendingKinds?(queues: readonly string[]): Promise<{ queue: string; kind: string }[]>;
  /** Reclaims expired leases and promotes due retries; run on a timer by the pool that owns the engine. */
  maintain?(): Promise<unknown>;
}

const GONE = new Set(['CATAPULT_TASK_LEASE_LOST', 'CATAPULT_TASK_NOT_FOUND']);

/** The in-process transport: the pool runs straight against the task engine and its store. */
export class EngineTransport implements TaskTransport {
  readonly defaultLeaseMs: number;

  constructor(
    private readonly engine: TaskEngine,
    private readonly store: Store,
  ) {
    this.defaultLeaseMs = engine.defaultLeaseMs;
  }

  claim(opts: ClaimOptions): Promise<ClaimedTask[]> {
    return this.engine.claim(opts);
  }

  heartbeat(lease: Lease, leaseMs: number): Promise<HeartbeatResult> {
    return gone(this.engine.heartbeat(lease, { leaseMs }));
  }

  complete(lease: Lease, result: unknown): Promise<OutcomeResult> {
    return gone(this.engine.complete(lease, result).then(() => ({})));
  }

  fail(lease: Lease, failure: unknown): Promise<OutcomeResult> {
    return gone(this.engine.fail(lease, failure).then(() => ({})));
  }

  release(lease: Lease): Promise<OutcomeResult> {
    return gone(this.engine.release(lease).then(() => ({})));
  }

  completeWith<T>(lease: Lease, fn: (trx: AnyDb) => Promise<T>): Promise<T> {
    return this.store.write(async (trx) => {
      const value = await fn(trx);
      await this.engine.complete(lease, value, { trx });
      return value;
    });
  }

  onEnqueue(listener: (queues: readonly string[]) => void): () => void {
    return this.engine.onEnqueue(listener);
  }

  pendingKinds(queues: readonly string[]): Promise<{ queue: string; kind: string }[]> {
    return this.engine.pendingKinds(queues);
  }

  maintain(): Promise<unknown> {
    return this.engine.maintain();
  }
}

/** Turns the engine's "lease is gone" errors into an answer; other errors still throw. */
async function gone<T>(call: Promise<T>): Promise<T | { lost: string }> {
  try {
    return await call;
  } catch (err) {
    if (isCatapultError(err) && GONE.has(err.code)) return { lost: err.message };
    throw err;
  }
}

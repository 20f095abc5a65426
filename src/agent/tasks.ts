import type { ClaimOptions, ClaimedTask, HeartbeatResult, Lease, OutcomeResult, Task, TaskTransport } from '../tasks/index.js';
import { isTaskFailure, toTaskError } from '../tasks/index.js';
import { type AgentClient, ServerError } from './client.js';

export interface HttpTaskTransportOptions {
  /** Stops retrying outcome calls (the agent is stopping): one more try, then give up. */
  signal?: AbortSignal;
  /** How long an outcome call is retried while the control plane is away; default ten minutes. */
  persistMs?: number;
  /** Lease length when the pool names none; default 30 s. */
  defaultLeaseMs?: number;
}

const sleep = (ms: number, signal: AbortSignal | undefined) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });

/**
 * The agent's task transport: the control plane's agent task routes (claim, heartbeat, complete,
 * fail, release) for a WorkerPool. The pool's owner is the `worker` name; the control plane puts the
 * agent's own id in front of it. Lease expiries are on this machine's clock (sent + lease length),
 * never the control plane's. Outcomes are retried while the control plane is away (a restart), so a
 * finished task is not lost to a short outage.
 */
export class HttpTaskTransport implements TaskTransport {
  readonly defaultLeaseMs: number;

  constructor(
    private readonly client: AgentClient,
    private readonly o: HttpTaskTransportOptions = {},
  ) {
    this.defaultLeaseMs = o.defaultLeaseMs ?? 30_000;
  }

  async claim(opts: ClaimOptions, signal?: AbortSignal): Promise<ClaimedTask[]> {
    const leaseMs = opts.leaseMs ?? this.defaultLeaseMs;
    const sent = Date.now();
    const { tasks } = await this.client.claimTasks(
      { queues: [...opts.queues], ...(opts.kinds ? { kinds: [...opts.kinds] } : {}), limit: opts.limit, leaseMs, worker: opts.owner },
      signal,
    );
    return tasks.map(({ task, lease }) => ({
      // The route answers the whole task (its schema is the engine's Task).
      task: task as Task,
      lease: { taskId: task.id, leaseId: lease.id, owner: opts.owner, expiresAt: sent + leaseMs },
    }));
  }

  async heartbeat(lease: Lease, leaseMs: number): Promise<HeartbeatResult> {
    const sent = Date.now();
    try {
      const beat = await this.client.heartbeatTask(lease.taskId, { ...held(lease), leaseMs });
      return { cancelRequested: beat.cancelled, expiresAt: sent + leaseMs };
    } catch (err) {
      const lost = leaseGone(err);
      if (lost) return { lost };
      throw err;
    }
  }

  complete(lease: Lease, result: unknown): Promise<OutcomeResult> {
    return this.outcome(() => this.client.completeTask(lease.taskId, { ...held(lease), result }));
  }

  fail(lease: Lease, failure: unknown): Promise<OutcomeResult> {
    const error = toTaskError(failure);
    const retryAfterMs = isTaskFailure(failure) ? failure.retryAfterMs : undefined;
    return this.outcome(() => this.client.failTask(lease.taskId, { ...held(lease), error: { ...error, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) } }));
  }

  release(lease: Lease): Promise<OutcomeResult> {
    return this.outcome(() => this.client.releaseTask(lease.taskId, held(lease)), false);
  }

  /** Records an outcome, retrying while the control plane cannot be reached (or answers 5xx). */
  private async outcome(call: () => Promise<unknown>, persist = true): Promise<OutcomeResult> {
    const deadline = Date.now() + (this.o.persistMs ?? 10 * 60_000);
    let delay = 500;
    for (;;) {
      try {
        await call();
        return {};
      } catch (err) {
        const lost = leaseGone(err);
        if (lost) return { lost };
        if (!persist || !(err instanceof ServerError) || !err.transient || Date.now() > deadline || this.o.signal?.aborted) throw err;
        await sleep(delay, this.o.signal);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }
}

function held(lease: Lease): { leaseId: string; worker: string } {
  return { leaseId: lease.leaseId, worker: lease.owner };
}

/** The control plane's "that lease is gone" answers: the task was reclaimed, finished or removed. */
function leaseGone(err: unknown): string | undefined {
  return err instanceof ServerError && (err.status === 409 || err.status === 404) ? err.message : undefined;
}

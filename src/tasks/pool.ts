import type { Logger } from '../observability/index.js';
import { type Clock, newId } from '../util/index.js';
import { ENGINE_FAILURE_CODES, TaskFailure, isTaskFailure } from './failure.js';
import type { HandlerRegistration, TaskContext, TaskHandlers } from './handlers.js';
import type { OutcomeResult, TaskTransport } from './transport.js';
import type { ClaimedTask } from './types.js';

export interface WorkerPoolOptions {
  handlers: TaskHandlers;
  /** Names this pool's leases; default a fresh `worker_…` id. */
  workerId?: string;
  /** Handlers running at once; default 4. */
  concurrency?: number;
  /** Most tasks one claim takes; default `concurrency`. */
  batchSize?: number;
  /** Lease length; default the transport's. */
  leaseMs?: number;
  /** How often running tasks heartbeat; default a third of the lease. */
  heartbeatMs?: number;
  /** How long to wait before claiming again when the queues were empty; default 500 ms. */
  pollMs?: number;
  /** How long to wait before claiming again after a claim failed; default `pollMs`. */
  retryMs?: number;
  /**
   * How often to reclaim expired leases and promote due retries; default 1 s, 0 turns it off. Only
   * for a transport that does maintenance (the in-process engine).
   */
  maintenanceMs?: number;
}

export interface StopResult {
  /** Handlers that finished before the deadline. */
  finished: number;
  /** Tasks given back to their queue because their handler was still running at the deadline. */
  released: number;
}

interface Running {
  claimed: ClaimedTask;
  controller: AbortController;
  /** Lease expiry (on the pool's clock) as last confirmed through the transport. */
  expiresAt: number;
  timer: NodeJS.Timeout | undefined;
  beating: Promise<void> | undefined;
  /** Completed inside the handler via ctx.complete. */
  completed: boolean;
  /** The lease is gone (lost or released at shutdown): this attempt's outcome must not be recorded. */
  lost: boolean;
  /** The handler has returned; its slot is free while the outcome is being written. */
  handlerDone: boolean;
  /** Handler finished and outcome recorded (or given up). */
  done: Promise<void>;
  /** Heartbeats failed in a row: the first is a warning, the rest (a control plane away) are debug. */
  beatFailures: number;
}

const SETTLE_TRIES = 3;

/**
 * The one task-worker loop: claims from the queues its handlers serve, runs each handler with a
 * heartbeat that keeps the lease and delivers cancellation, and records the outcome, all through a
 * transport: the in-process engine (control-plane tasks, with the engine's maintenance on a timer)
 * or the control plane over HTTP (an agent's shards).
 */
export class WorkerPool {
  readonly workerId: string;
  private readonly concurrency: number;
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private readonly pollMs: number;
  private readonly retryMs: number;
  private readonly maintenanceMs: number;
  /** Aborts a claim in flight when the pool stops. */
  private readonly stopClaims = new AbortController();
  /** Claim failures in a row: the first is a warning, the rest (a control plane away) are debug. */
  private claimFailures = 0;
  /** Attempts this pool holds, from claim until their outcome is written. */
  private readonly held = new Map<string, Running>();
  /** Handlers running now; a slot frees when the handler returns, not when its outcome is written. */
  private busy = 0;
  private kinds: string[] = [];
  private queues: string[] = [];
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private loopDone: Promise<void> = Promise.resolve();
  private wakeUp: (() => void) | undefined;
  private kicked = false;
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private maintaining: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  private stopping: Promise<StopResult> | undefined;

  constructor(
    private readonly transport: TaskTransport,
    private readonly resources: { clock: Clock; log: Logger },
    private readonly options: WorkerPoolOptions,
  ) {
    this.workerId = options.workerId ?? newId('worker');
    this.concurrency = options.concurrency ?? 4;
    this.batchSize = options.batchSize ?? this.concurrency;
    this.leaseMs = options.leaseMs ?? transport.defaultLeaseMs;
    this.heartbeatMs = options.heartbeatMs ?? Math.max(10, Math.floor(this.leaseMs / 3));
    this.pollMs = options.pollMs ?? 500;
    this.retryMs = options.retryMs ?? this.pollMs;
    this.maintenanceMs = transport.maintain ? (options.maintenanceMs ?? 1_000) : 0;
    for (const [name, value] of Object.entries({ concurrency: this.concurrency, batchSize: this.batchSize, leaseMs: this.leaseMs, pollMs: this.pollMs, retryMs: this.retryMs })) {
      if (!Number.isInteger(value) || value < 1) throw new Error(`worker pool ${name} must be a positive integer, not ${value}`);
    }
    if (this.heartbeatMs >= this.leaseMs) throw new Error(`worker pool heartbeatMs (${this.heartbeatMs}) must be shorter than leaseMs (${this.leaseMs})`);
  }

  /** Handlers running now. */
  get active(): number {
    return this.busy;
  }

  /**
   * Freezes the handler registry and starts claiming. Warns when tasks wait in this pool's queues with
   * a kind no handler here runs: they would otherwise wait unnoticed.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`worker pool ${this.workerId} was already started`);
    const { handlers } = this.options;
    handlers.freeze(`worker pool ${this.workerId}`);
    this.kinds = handlers.kinds();
    this.queues = handlers.queues();
    if (this.queues.length > 0 && this.transport.pendingKinds) {
      const waiting = await this.transport.pendingKinds(this.queues);
      const unhandled = waiting.filter((w) => !handlers.get(w.kind));
      if (unhandled.length > 0) {
        this.resources.log.warn({ unhandled }, 'tasks wait in queues this worker pool serves, but no handler here runs their kind');
      }
    }
    this.state = 'running';
    const mine = new Set(this.queues);
    this.unsubscribe = this.transport.onEnqueue?.((queues) => {
      if (queues.length === 0 || queues.some((q) => mine.has(q))) this.wake();
    });
    if (this.kinds.length > 0) this.loopDone = this.loop();
    if (this.maintenanceMs > 0) {
      this.maintenanceTimer = setInterval(() => void this.maintain(), this.maintenanceMs);
      this.maintenanceTimer.unref();
    }
    this.resources.log.debug({ worker: this.workerId, kinds: this.kinds, queues: this.queues }, 'task worker pool started');
  }

  /** Claims now instead of at the next poll. */
  wake(): void {
    this.kicked = true;
    const wake = this.wakeUp;
    this.wakeUp = undefined;
    wake?.();
  }

  /**
   * Graceful shutdown: stop claiming, let running handlers finish until `deadlineMs`, then abort the
   * rest (their signal's reason is TASK_SHUTDOWN) and release their tasks back to the queue without
   * spending the attempt, so another worker picks them up at once.
   */
  stop(opts: { deadlineMs?: number } = {}): Promise<StopResult> {
    this.stopping ??= this.shutdown(opts.deadlineMs ?? 30_000);
    return this.stopping;
  }

  private async shutdown(deadlineMs: number): Promise<StopResult> {
    if (this.state === 'new') {
      this.state = 'stopped';
      return { finished: 0, released: 0 };
    }
    this.state = 'stopping';
    this.unsubscribe?.();
    if (this.maintenanceTimer) clearInterval(this.maintenanceTimer);
    this.stopClaims.abort();
    this.wake();
    await this.loopDone;
    const inFlight = [...this.held.values()];
    let deadline: NodeJS.Timeout | undefined;
    const allDone = await Promise.race([
      Promise.all(inFlight.map((r) => r.done)).then(() => true),
      new Promise<false>((resolve) => {
        deadline = setTimeout(() => resolve(false), deadlineMs);
      }),
    ]);
    clearTimeout(deadline);
    let released = 0;
    if (!allDone) {
      for (const r of [...this.held.values()].filter((h) => !h.handlerDone)) {
        this.loseLease(r, new TaskFailure(ENGINE_FAILURE_CODES.shutdown, 'The worker shut down before the task finished; it went back to its queue.'));
        try {
          const answer = await this.transport.release(r.claimed.lease);
          if (!answer.lost) released++;
        } catch (err) {
          this.resources.log.debug({ err, task: r.claimed.task.id }, 'could not release task at shutdown');
        }
      }
      // Outcomes already being written finish on their own, quickly.
      await Promise.all([...this.held.values()].filter((h) => h.handlerDone).map((h) => h.done));
    }
    await this.maintaining;
    this.state = 'stopped';
    return { finished: inFlight.length - released, released };
  }

  private async loop(): Promise<void> {
    while (this.state === 'running') {
      const free = this.concurrency - this.busy;
      if (free <= 0) {
        await this.pause(this.pollMs);
        continue;
      }
      const limit = Math.min(free, this.batchSize);
      this.kicked = false;
      let claimed: ClaimedTask[];
      try {
        claimed = await this.transport.claim({ owner: this.workerId, queues: this.queues, kinds: this.kinds, limit, leaseMs: this.leaseMs }, this.stopClaims.signal);
        this.claimFailures = 0;
      } catch (err) {
        if (this.state !== 'running') break;
        const level = this.claimFailures++ === 0 ? 'warn' : 'debug';
        this.resources.log[level]({ err }, 'claiming tasks failed; trying again shortly');
        await this.pause(this.retryMs);
        continue;
      }
      if (this.state !== 'running') {
        // Claimed while shutdown began: hand them straight back rather than start work we may not finish.
        await Promise.all(claimed.map((c) => this.transport.release(c.lease).catch(() => undefined)));
        break;
      }
      for (const c of claimed) this.run(c);
      if (claimed.length < limit) await this.pause(this.pollMs);
    }
  }

  /** Waits `ms` or until woken; returns at once when a wake came in since the last claim started. */
  private pause(ms: number): Promise<void> {
    if (this.state !== 'running') return Promise.resolve();
    if (this.kicked) {
      // Consume the wake so a loop with no free slot waits instead of spinning on resolved promises.
      this.kicked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wakeUp === done) this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }

  private run(claimed: ClaimedTask): void {
    const registration = this.options.handlers.get(claimed.task.kind);
    const entry: Running = {
      claimed,
      controller: new AbortController(),
      expiresAt: claimed.lease.expiresAt,
      timer: undefined,
      beating: undefined,
      completed: false,
      lost: false,
      handlerDone: false,
      done: Promise.resolve(),
      beatFailures: 0,
    };
    const key = `${claimed.task.id}/${claimed.lease.leaseId}`;
    this.held.set(key, entry);
    this.busy++;
    entry.timer = setInterval(() => {
      this.heartbeat(entry).catch(() => undefined);
    }, this.heartbeatMs);
    entry.timer.unref();
    entry.done = this.execute(entry, registration).finally(() => {
      // The heartbeat runs until the outcome is written: the lease must outlive the handler until then.
      clearInterval(entry.timer);
      this.held.delete(key);
      this.freeSlot(entry);
    });
  }

  private freeSlot(entry: Running): void {
    if (entry.handlerDone) return;
    entry.handlerDone = true;
    this.busy--;
    this.wake();
  }

  private async execute(entry: Running, registration: HandlerRegistration | undefined): Promise<void> {
    const { task, lease } = entry.claimed;
    const log = this.resources.log.child({ task: task.id, kind: task.kind, attempt: task.attempts });
    if (!registration) {
      // Claims name only registered kinds, so this means the registry changed under a running pool.
      await this.settle(entry, () => this.transport.fail(lease, TaskFailure.nonRetryable('TASK_NO_HANDLER', `No handler for task kind '${task.kind}'.`)), log);
      return;
    }
    const ctx: TaskContext = {
      task,
      payload: task.payload,
      lease,
      signal: entry.controller.signal,
      log,
      heartbeat: () => this.heartbeat(entry),
      complete: async (fn) => {
        if (entry.lost) throw leaseGone(entry);
        if (!this.transport.completeWith) throw new Error('ctx.complete(fn) needs the in-process task engine; return the result from the handler instead');
        const value = await this.transport.completeWith(lease, fn);
        entry.completed = true;
        return value;
      },
    };
    let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: await registration.handler(ctx) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    // Claiming the next task overlaps with writing this one's outcome.
    this.freeSlot(entry);
    if (entry.completed) {
      if (!outcome.ok) log.warn({ err: outcome.error }, 'task handler threw after completing its task; the completion stands');
      return;
    }
    if (entry.lost) {
      log.info({ reason: describe(entry.controller.signal.reason) }, 'task attempt ended after its lease was gone; its outcome is not recorded');
      return;
    }
    if (outcome.ok) {
      const value = outcome.value;
      await this.settle(entry, () => this.transport.complete(lease, value), log);
    } else {
      const error = outcome.error;
      await this.settle(entry, () => this.transport.fail(lease, error), log);
    }
  }

  /**
   * Records an outcome, retrying a hiccup (store, network) a few times. If it still fails the lease simply runs
   * out and the task is reclaimed: at-least-once, never lost.
   */
  private async settle(entry: Running, record: () => Promise<OutcomeResult>, log: Logger): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const answer = await record();
        if (answer.lost) log.info({ err: answer.lost }, 'task outcome not recorded: the lease is gone');
        return;
      } catch (err) {
        if (attempt >= SETTLE_TRIES || entry.lost) {
          log.error({ err }, 'could not record task outcome; the task will be reclaimed when its lease expires');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }

  /** Extends the lease; aborts the handler's signal on cancellation or when the lease is gone. */
  private heartbeat(entry: Running): Promise<void> {
    if (entry.lost) return Promise.reject(leaseGone(entry));
    if (this.resources.clock.now() >= entry.expiresAt && entry.beating) {
      // The previous heartbeat has not come back and the lease has run out meanwhile: assume it is gone.
      this.loseLease(entry, new TaskFailure(ENGINE_FAILURE_CODES.leaseLost, 'The lease ran out before a heartbeat got through.'));
      return Promise.reject(leaseGone(entry));
    }
    entry.beating ??= (async () => {
      try {
        const beat = await this.transport.heartbeat(entry.claimed.lease, this.leaseMs);
        if (beat.lost !== undefined) {
          this.loseLease(entry, new TaskFailure(ENGINE_FAILURE_CODES.leaseLost, beat.lost));
          throw leaseGone(entry);
        }
        entry.expiresAt = beat.expiresAt;
        entry.beatFailures = 0;
        if (beat.cancelRequested && !entry.controller.signal.aborted) {
          entry.controller.abort(TaskFailure.nonRetryable(ENGINE_FAILURE_CODES.cancelled, 'The task was cancelled.'));
        }
      } catch (err) {
        if (entry.lost) {
          // Already told the handler; nothing to add.
        } else if (this.resources.clock.now() >= entry.expiresAt) {
          this.loseLease(entry, new TaskFailure(ENGINE_FAILURE_CODES.leaseLost, 'The lease ran out before a heartbeat got through.', { cause: err }));
        } else {
          const level = entry.beatFailures++ === 0 ? 'warn' : 'debug';
          this.resources.log[level]({ err, task: entry.claimed.task.id }, 'task heartbeat failed; will try again');
        }
        throw err;
      } finally {
        entry.beating = undefined;
      }
    })();
    return entry.beating;
  }

  private loseLease(entry: Running, reason: TaskFailure): void {
    if (entry.lost) return;
    entry.lost = true;
    clearInterval(entry.timer);
    if (!entry.controller.signal.aborted) entry.controller.abort(reason);
  }

  private async maintain(): Promise<void> {
    if (this.maintaining) return;
    this.maintaining = (async () => {
      try {
        await this.transport.maintain?.();
      } catch (err) {
        this.resources.log.warn({ err }, 'task maintenance failed; will try again');
      } finally {
        this.maintaining = undefined;
      }
    })();
    await this.maintaining;
  }
}

function leaseGone(entry: Running): TaskFailure {
  const reason: unknown = entry.controller.signal.reason;
  return isTaskFailure(reason) ? reason : new TaskFailure(ENGINE_FAILURE_CODES.leaseLost, 'The lease on this task is gone.');
}

function describe(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

import type { Logger } from '../observability/index.js';
import type { AnyDb } from '../store/index.js';
import type { Lease, Task } from './types.js';

/** What a handler gets for one attempt. */
export interface TaskContext<P = unknown> {
  task: Task;
  payload: P;
  lease: Lease;
  /**
   * Aborted when the task is cancelled (learned through the heartbeat), when the lease is lost, or
   * when the worker shuts down past its deadline. `signal.reason` is a TaskFailure saying which.
   */
  signal: AbortSignal;
  /** Extends the lease now (the pool also does so on a timer); throws once the lease is lost. */
  heartbeat(): Promise<void>;
  /**
   * Runs `fn` in a store transaction that also marks the task succeeded with `fn`'s return value, so
   * the handler's own writes and the completion commit together or not at all: a crash or a lost
   * lease can never leave the effect without the completion, and a re-run never applies it twice.
   * Inside `fn` use only `trx` (on SQLite the one connection is held by the transaction).
   */
  complete<T>(fn: (trx: AnyDb) => Promise<T>): Promise<T>;
  log: Logger;
}

/**
 * Does one attempt of a task kind, usually async. What it returns (or resolves to) becomes the task's
 * result; a throw (or rejection) fails the attempt.
 */
export type TaskHandler<P = unknown> = (ctx: TaskContext<P>) => unknown;

export interface HandlerRegistration {
  kind: string;
  queue: string;
  handler: TaskHandler;
}

/**
 * The task kinds a process can run, each with exactly one handler and the queue its tasks go to.
 * Registering a kind twice throws, so two modules can never both claim one kind; a worker pool reads
 * the registry when it starts and then freezes it.
 */
export class TaskHandlers {
  private readonly byKind = new Map<string, HandlerRegistration>();
  private frozenBy: string | undefined;

  /** Registers the one handler for `kind`, whose tasks are enqueued on `queue`. */
  register<P>(kind: string, handler: TaskHandler<P>, opts: { queue: string }): this {
    if (this.frozenBy) throw new Error(`cannot register task handler '${kind}': ${this.frozenBy} already started with this registry`);
    if (typeof handler !== 'function') throw new Error(`task handler for '${kind}' is not a function`);
    if (!kind || !opts.queue) throw new Error('task handlers need a kind and a queue');
    const existing = this.byKind.get(kind);
    if (existing) throw new Error(`task kind '${kind}' already has a handler (queue '${existing.queue}'); each kind has exactly one`);
    this.byKind.set(kind, { kind, queue: opts.queue, handler: handler as TaskHandler });
    return this;
  }

  /** A registry of `handlers`, all on one queue. */
  static of(queue: string, handlers: Record<string, TaskHandler>): TaskHandlers {
    const registry = new TaskHandlers();
    for (const [kind, handler] of Object.entries(handlers)) registry.register(kind, handler, { queue });
    return registry;
  }

  get(kind: string): HandlerRegistration | undefined {
    return this.byKind.get(kind);
  }

  kinds(): string[] {
    return [...this.byKind.keys()].sort();
  }

  /** The queues the registered kinds use. */
  queues(): string[] {
    return [...new Set([...this.byKind.values()].map((r) => r.queue))].sort();
  }

  get size(): number {
    return this.byKind.size;
  }

  /** Refuses further registrations; `owner` names who froze it, for the error message. */
  freeze(owner: string): void {
    this.frozenBy ??= owner;
  }
}

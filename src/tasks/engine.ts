import { type Kysely, type QueryCreator, type Updateable, sql } from 'kysely';
import { Gauge, Histogram, type Registry } from 'prom-client';
import { CatapultError } from '../errors/index.js';
import type { EventInput, EventLog } from '../events/index.js';
import type { Logger } from '../observability/index.js';
import type { AnyDb, Store } from '../store/index.js';
import { tables, toJson } from '../store/index.js';
import { type Clock, newId } from '../util/index.js';
import { DEFAULT_BACKOFF, ENGINE_FAILURE_CODES, backoffDelay, dispositionOf, retryAfterOf, toTaskError } from './failure.js';
import { type TaskTables, type TasksTable, toTask } from './schema.js';
import type {
  ClaimOptions,
  ClaimedTask,
  EnqueueInput,
  EnqueueResult,
  InTransaction,
  Lease,
  QueueStats,
  Task,
  TaskError,
  TaskFilter,
  TaskState,
} from './types.js';

/** What the engine needs from its host; a structural subset of the server's resources. */
export interface TaskResources {
  store: Store;
  clock: Clock;
  events: EventLog;
  metrics: Registry;
  log: Logger;
}

export interface TaskEngineOptions {
  /** Source of backoff jitter; tests pass a fixed one. */
  random?: () => number;
  /** Lease length when a claim or heartbeat names none. */
  defaultLeaseMs?: number;
  /** How long the engine trusts its copy of which queues have a concurrency limit. */
  limitsCacheMs?: number;
}

const DEFAULT_LEASE_MS = 30_000;
const DEFAULT_MAX_ATTEMPTS = 5;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/;
/** Rows per INSERT: 22 columns stay well under both dialects' bound-parameter limits. */
const INSERT_CHUNK = 500;
/** Expired leases handled per maintenance pass; the next pass takes the rest. */
const RECLAIM_BATCH = 500;
/** Most completions written by one statement. */
const COMPLETE_BATCH = 200;

type TaskDb = Kysely<TaskTables>;
type Patch = Updateable<TasksTable>;

/** A completion waiting for the next group-commit statement. */
interface PendingCompletion {
  lease: Lease;
  /** The result as JSON text. */
  result: string;
  settle: (err?: Error) => void;
}

/**
 * The durable task engine: every operation is one atomic store transition (see README.md for each
 * contract). Workers, in process (`WorkerPool`) or remote (agent routes), call the same operations.
 */
export class TaskEngine {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly events: EventLog;
  private readonly log: Logger;
  private readonly random: () => number;
  readonly defaultLeaseMs: number;
  private readonly limitsCacheMs: number;
  private limits: { at: number; queues: ReadonlySet<string> } | undefined;
  private readonly enqueueListeners = new Set<(queues: readonly string[]) => void>();
  private statsInFlight: Promise<QueueStats[]> | undefined;
  private readonly duration: Histogram<'kind' | 'outcome'>;
  private readonly pendingCompletions: PendingCompletion[] = [];
  private completing: Promise<void> | undefined;

  constructor(resources: TaskResources, options: TaskEngineOptions = {}) {
    this.store = resources.store;
    this.clock = resources.clock;
    this.events = resources.events;
    this.log = resources.log;
    this.random = options.random ?? Math.random;
    this.defaultLeaseMs = options.defaultLeaseMs ?? DEFAULT_LEASE_MS;
    this.limitsCacheMs = options.limitsCacheMs ?? 5_000;
    this.duration = new Histogram({
      name: 'catapult_task_duration_seconds',
      help: 'Duration of task attempts by kind and outcome (succeeded, failed, dead, cancelled)',
      labelNames: ['kind', 'outcome'] as const,
      buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
      registers: [resources.metrics],
    });
    this.queueGauge(resources.metrics, 'catapult_tasks_pending', 'Tasks waiting to run per queue (queued, delayed, or failed and waiting to retry)', (q) => q.pending);
    this.queueGauge(resources.metrics, 'catapult_tasks_running', 'Tasks running per queue', (q) => q.running);
    this.queueGauge(resources.metrics, 'catapult_tasks_dead', 'Dead-lettered tasks per queue', (q) => q.dead);
  }

  /**
   * Adds a task to its queue. Contract: an idempotency key already used in the queue returns that task
   * (`created: false`) and changes nothing. Given `trx`, the task commits with the caller's writes.
   */
  async enqueue(input: EnqueueInput, opts: InTransaction = {}): Promise<EnqueueResult> {
    const [result] = await this.enqueueMany([input], opts);
    return result!;
  }

  /** `enqueue` for many tasks at once, in input order; all are added or, on error, none. */
  async enqueueMany(inputs: readonly EnqueueInput[], opts: InTransaction = {}): Promise<EnqueueResult[]> {
    if (inputs.length === 0) return [];
    const now = this.clock.now();
    const rows = inputs.map((input) => this.newRow(input, now));
    const run = async (db: AnyDb): Promise<EnqueueResult[]> => {
      const t = tables<TaskTables>(db);
      const inserted = new Set<string>();
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        const chunk = rows.slice(i, i + INSERT_CHUNK);
        const out = await t
          .insertInto('tasks')
          .values(chunk)
          .onConflict((oc) => oc.columns(['queue', 'idempotency_key']).where('idempotency_key', 'is not', null).doNothing())
          // Only the ids: the rest of an inserted row is what we just sent.
          .returning('id')
          .execute();
        for (const { id } of out) inserted.add(id);
      }
      const existing = inserted.size === rows.length ? new Map<string, TasksTable>() : await this.existingByKey(t, rows, inserted);
      return rows.map((row) => {
        if (inserted.has(row.id)) return { task: toTask(row), created: true };
        const other = existing.get(keyOf(row.queue, row.idempotency_key!));
        if (!other) throw new Error(`task ${row.id} was neither inserted nor found by its idempotency key`);
        return { task: toTask(other), created: false };
      });
    };
    // One chunk is one statement, atomic without BEGIN/COMMIT; more need a transaction to stay all-or-nothing.
    const results = opts.trx ? await run(opts.trx) : rows.length <= INSERT_CHUNK ? await run(this.store.db) : await this.store.write(run);
    this.notifyEnqueued(rows.map((r) => r.queue));
    return results;
  }

  /**
   * Leases up to `limit` due tasks from `queues` (optionally only `kinds`) to `owner`, highest priority
   * first, then earliest `run_at`, then oldest. Each claim starts an attempt (`attempts + 1`) and gets
   * a fresh lease id. Concurrent claimers never receive the same task: Postgres skips rows another
   * claim has locked; SQLite runs the claim under its single write lock. Queues with a concurrency
   * limit are claimed under a lock on the queue's row, so the limit holds across all workers.
   */
  async claim(opts: ClaimOptions): Promise<ClaimedTask[]> {
    const limit = Math.floor(opts.limit);
    if (limit <= 0 || opts.queues.length === 0 || (opts.kinds && opts.kinds.length === 0)) return [];
    const now = this.clock.now();
    const lease = { leaseId: newId('lease'), owner: opts.owner, expiresAt: now + (opts.leaseMs ?? this.defaultLeaseMs) };
    const limited = await this.limitedQueues(now);
    const rows = opts.queues.some((q) => limited.has(q))
      ? await this.store.write((trx) => this.claimWithLimits(tables<TaskTables>(trx), opts, limit, now, lease))
      : await this.claimUpdate(tables<TaskTables>(this.store.db), opts.queues, opts.kinds, limit, now, lease);
    rows.sort(claimOrder);
    return rows.map((row) => ({ task: toTask(row), lease: { taskId: row.id, ...lease } }));
  }

  /**
   * Extends a held lease to now + `leaseMs` and says whether cancellation was requested. A heartbeat
   * that arrives after the lease ran out but before maintenance reclaimed it still renews it: nobody
   * else holds the task yet. Throws CATAPULT_TASK_LEASE_LOST once the lease is gone.
   */
  async heartbeat(lease: Lease, opts: { leaseMs?: number } = {}): Promise<{ cancelRequested: boolean; expiresAt: number }> {
    const expiresAt = this.clock.now() + (opts.leaseMs ?? this.defaultLeaseMs);
    const row = await this.updateHeld(tables<TaskTables>(this.store.db), lease, { lease_expires_at: expiresAt })
      .returning(['cancel_requested_at'])
      .executeTakeFirst();
    if (!row) throw await this.leaseLost(tables<TaskTables>(this.store.db), lease);
    return { cancelRequested: row.cancel_requested_at !== null, expiresAt };
  }

  /**
   * Marks a held task `succeeded` with `result`. Given `trx`, the completion commits together with
   * the handler's own writes, which is how handlers make their effects exactly-once. A completion
   * wins over a pending cancellation: the work was done. Throws CATAPULT_TASK_LEASE_LOST when the
   * lease no longer holds the task.
   *
   * Without `trx`, completions that arrive while an earlier one is in flight are written together
   * in the next statement ("group commit"): each still succeeds or fails on its own lease, a lone
   * completion goes out at once, and busy workers share round trips instead of queueing for them.
   * Returns nothing: reading the row back would cost more than the update (`get` reads it).
   */
  async complete(lease: Lease, result?: unknown, opts: InTransaction = {}): Promise<void> {
    const item: PendingCompletion = { lease, result: toJson(result ?? null), settle: () => undefined };
    if (opts.trx) {
      let refused: Error | undefined;
      item.settle = (err) => {
        refused = err;
      };
      await this.completeBatch(opts.trx, [item]);
      if (refused) throw refused;
      return;
    }
    const done = new Promise<void>((resolve, reject) => {
      item.settle = (err) => (err ? reject(err) : resolve());
    });
    this.pendingCompletions.push(item);
    this.completing ??= this.flushCompletions();
    return done;
  }

  private async flushCompletions(): Promise<void> {
    try {
      while (this.pendingCompletions.length > 0) {
        const batch = this.nextCompletionBatch();
        try {
          await this.completeBatch(this.store.db, batch);
        } catch (err) {
          for (const item of batch) item.settle(err instanceof Error ? err : new Error(String(err)));
        }
      }
    } finally {
      this.completing = undefined;
    }
  }

  /**
   * Takes up to COMPLETE_BATCH queued completions with distinct task ids: the UPDATE reports which
   * tasks it completed, not through which lease, so a second completion of one task waits a turn.
   */
  private nextCompletionBatch(): PendingCompletion[] {
    const batch: PendingCompletion[] = [];
    const ids = new Set<string>();
    const rest: PendingCompletion[] = [];
    for (const item of this.pendingCompletions) {
      if (batch.length < COMPLETE_BATCH && !ids.has(item.lease.taskId)) {
        ids.add(item.lease.taskId);
        batch.push(item);
      } else {
        rest.push(item);
      }
    }
    this.pendingCompletions.splice(0, this.pendingCompletions.length, ...rest);
    return batch;
  }

  /** One guarded UPDATE for a batch of completions (distinct tasks); settles each, refused ones with the reason. */
  private async completeBatch(db: AnyDb, batch: PendingCompletion[]): Promise<void> {
    const now = this.clock.now();
    // Raw SQL: each task's lease and result join in as a VALUES list, which both dialects name the
    // same way (column1..column4), and UPDATE … FROM is spelled alike in both.
    const rows = await sql<{ id: string; kind: string; started_at: number | null }>`
      update tasks set state = 'succeeded', result = v.column4, finished_at = ${now}, updated_at = ${now},
        lease_id = null, lease_owner = null, lease_expires_at = null
      from (values ${sql.join(batch.map((b) => sql`(${b.lease.taskId}, ${b.lease.leaseId}, ${b.lease.owner}, ${b.result})`))}) as v
      where tasks.id = v.column1 and tasks.lease_id = v.column2 and tasks.lease_owner = v.column3 and tasks.state = 'running'
      returning id, kind, started_at`.execute(db);
    const done = new Set<string>();
    for (const row of rows.rows) {
      done.add(row.id);
      this.observe(row.kind, 'succeeded', row.started_at, now);
    }
    const refused: PendingCompletion[] = [];
    for (const item of batch) {
      if (done.has(item.lease.taskId)) item.settle();
      else refused.push(item);
    }
    for (const item of refused) {
      item.settle(await this.leaseLost(tables<TaskTables>(db), item.lease));
    }
  }

  /**
   * Records a failed attempt of a held task. Retryable with attempts left: `failed`, due again after
   * exponential backoff with jitter (or the failure's own `retryAfterMs`). Not retryable, or the last
   * attempt: `dead`, with a `task.dead` event. Cancellation requested: `cancelled`.
   */
  async fail(lease: Lease, failure: unknown, opts: InTransaction = {}): Promise<Task> {
    const error = toTaskError(failure);
    const retryAfterMs = retryAfterOf(failure);
    const now = this.clock.now();
    const run = async (db: AnyDb): Promise<TasksTable> => {
      const t = tables<TaskTables>(db);
      const row = await this.lockHeld(t, lease);
      const disposition = dispositionOf({
        error,
        attempts: row.attempts,
        maxAttempts: row.max_attempts,
        cancelRequested: row.cancel_requested_at !== null,
      });
      let patch: Patch;
      let event: EventInput | undefined;
      switch (disposition) {
        case 'retry': {
          const delay = retryAfterMs ?? backoffDelay(row.attempts, { baseMs: row.backoff_base_ms, maxMs: row.backoff_max_ms }, this.random);
          patch = { state: 'failed', run_at: now + Math.max(0, delay), error: toJson(error) };
          break;
        }
        case 'dead':
          patch = { state: 'dead', finished_at: now, error: toJson(error) };
          event = taskEvent('task.dead', row, { attempts: row.attempts, error });
          break;
        case 'cancelled':
          patch = { state: 'cancelled', finished_at: now, error: toJson(cancelledError(`Cancelled while running; the handler stopped with: ${error.message}`)) };
          event = taskEvent('task.cancelled', row, { whileRunning: true });
          break;
        default:
          return assertNever(disposition);
      }
      const updated = await this.update(t, row.id, { ...patch, ...NO_LEASE, updated_at: now });
      if (event) await this.events.append(db, event);
      this.observe(row.kind, updated.state, row.started_at, now);
      return updated;
    };
    const row = opts.trx ? await run(opts.trx) : await this.store.write(run);
    if (row.state !== 'failed') this.events.kick();
    if (row.state === 'dead') this.log.warn({ task: row.id, kind: row.kind, queue: row.queue, error }, 'task dead-lettered');
    return toTask(row);
  }

  /**
   * Gives a held task back to its queue without spending the attempt (a worker shutting down).
   * With cancellation requested it becomes `cancelled` instead.
   */
  async release(lease: Lease): Promise<Task> {
    const now = this.clock.now();
    const row = await this.store.write(async (db) => {
      const t = tables<TaskTables>(db);
      const held = await this.lockHeld(t, lease);
      if (held.cancel_requested_at !== null) {
        const updated = await this.update(t, held.id, {
          state: 'cancelled',
          finished_at: now,
          updated_at: now,
          error: toJson(cancelledError('Cancelled while running; the worker released the task.')),
          ...NO_LEASE,
        });
        await this.events.append(db, taskEvent('task.cancelled', held, { whileRunning: true }));
        return updated;
      }
      return this.update(t, held.id, { state: 'queued', attempts: Math.max(0, held.attempts - 1), run_at: now, updated_at: now, ...NO_LEASE });
    });
    if (row.state === 'cancelled') this.events.kick();
    return toTask(row);
  }

  /**
   * Cancels a task. Queued or failed (waiting to retry): `cancelled` at once. Running: the request is
   * recorded, the handler learns it through its heartbeat (AbortSignal), and the task ends `cancelled`
   * when the handler stops (or `succeeded`, if it finishes first). Already cancelled: unchanged.
   * Succeeded or dead: CATAPULT_TASK_NOT_CANCELLABLE.
   */
  async cancel(id: string): Promise<Task> {
    const now = this.clock.now();
    const row = await this.store.write(async (db) => {
      const t = tables<TaskTables>(db);
      const row = await this.lockById(t, id);
      switch (row.state) {
        case 'queued':
        case 'failed': {
          const updated = await this.update(t, id, {
            state: 'cancelled',
            finished_at: now,
            updated_at: now,
            error: toJson(cancelledError('Cancelled before it ran.')),
          });
          await this.events.append(db, taskEvent('task.cancelled', row, { whileRunning: false }));
          return updated;
        }
        case 'running': {
          if (row.cancel_requested_at !== null) return row;
          const updated = await this.update(t, id, { cancel_requested_at: now, updated_at: now });
          await this.events.append(db, taskEvent('task.cancel_requested', row, { owner: row.lease_owner }));
          return updated;
        }
        case 'cancelled':
          return row;
        case 'succeeded':
        case 'dead':
          throw new CatapultError('CATAPULT_TASK_NOT_CANCELLABLE', `Task ${id} is ${row.state}; only queued, failed or running tasks can be cancelled.`, {
            id,
            state: row.state,
          });
        default:
          return assertNever(row.state);
      }
    });
    this.events.kick();
    return toTask(row);
  }

  /**
   * Gives a dead task a fresh set of attempts: `queued`, due now. The last error stays visible until
   * the next failure. Any other state: CATAPULT_TASK_NOT_RETRYABLE.
   */
  async retry(id: string): Promise<Task> {
    const now = this.clock.now();
    const row = await this.store.write(async (db) => {
      const t = tables<TaskTables>(db);
      const row = await this.lockById(t, id);
      if (row.state !== 'dead') {
        throw new CatapultError('CATAPULT_TASK_NOT_RETRYABLE', `Task ${id} is ${row.state}; only dead tasks can be retried.`, { id, state: row.state });
      }
      const updated = await this.update(t, id, {
        state: 'queued',
        attempts: 0,
        run_at: now,
        finished_at: null,
        cancel_requested_at: null,
        updated_at: now,
        ...NO_LEASE,
      });
      await this.events.append(db, taskEvent('task.retried', row, {}));
      return updated;
    });
    this.events.kick();
    this.notifyEnqueued([row.queue]);
    return toTask(row);
  }

  /**
   * Takes back tasks whose lease ran out (the worker crashed, was killed or cut off). The lost attempt
   * counts: with attempts left the task is `queued` again at once (a dead worker is not the task's
   * fault, so no backoff); on its last attempt it is `dead`; with cancellation requested, `cancelled`.
   * Safe to run from every server at once: on Postgres each skips rows another is handling.
   */
  async reclaimExpired(): Promise<{ requeued: number; dead: number; cancelled: number }> {
    const now = this.clock.now();
    const counts = { requeued: 0, dead: 0, cancelled: 0 };
    // Most passes find nothing; a plain read avoids taking the write lock for that.
    const any = await tables<TaskTables>(this.store.db)
      .selectFrom('tasks')
      .select('id')
      .where('state', '=', STATE.running)
      .where('lease_expires_at', '<', now)
      .limit(1)
      .executeTakeFirst();
    if (!any) return counts;
    const error: TaskError = {
      code: ENGINE_FAILURE_CODES.leaseExpired,
      message: 'The worker holding the task stopped heartbeating before its lease ran out.',
      retryable: true,
    };
    await this.store.write(async (db) => {
      const t = tables<TaskTables>(db);
      const expired = await this.store
        .lockRows(
          t.selectFrom('tasks').selectAll().where('state', '=', STATE.running).where('lease_expires_at', '<', now).orderBy('lease_expires_at').limit(RECLAIM_BATCH),
          { skipLocked: true },
        )
        .execute();
      const groups = { retry: [] as TasksTable[], dead: [] as TasksTable[], cancelled: [] as TasksTable[] };
      for (const row of expired) {
        groups[dispositionOf({ error, attempts: row.attempts, maxAttempts: row.max_attempts, cancelRequested: row.cancel_requested_at !== null })].push(row);
      }
      const ids = (rows: TasksTable[]) => rows.map((r) => r.id);
      if (groups.retry.length > 0) {
        await t
          .updateTable('tasks')
          .set({ state: 'queued', run_at: now, updated_at: now, error: toJson(error), ...NO_LEASE })
          .where('id', 'in', ids(groups.retry))
          .execute();
      }
      if (groups.dead.length > 0) {
        await t
          .updateTable('tasks')
          .set({ state: 'dead', finished_at: now, updated_at: now, error: toJson(error), ...NO_LEASE })
          .where('id', 'in', ids(groups.dead))
          .execute();
        for (const row of groups.dead) await this.events.append(db, taskEvent('task.dead', row, { attempts: row.attempts, error }));
      }
      if (groups.cancelled.length > 0) {
        await t
          .updateTable('tasks')
          .set({ state: 'cancelled', finished_at: now, updated_at: now, error: toJson(cancelledError('Cancelled; the worker stopped heartbeating.')), ...NO_LEASE })
          .where('id', 'in', ids(groups.cancelled))
          .execute();
        for (const row of groups.cancelled) await this.events.append(db, taskEvent('task.cancelled', row, { whileRunning: true }));
      }
      counts.requeued = groups.retry.length;
      counts.dead = groups.dead.length;
      counts.cancelled = groups.cancelled.length;
    });
    if (counts.dead + counts.cancelled > 0) this.events.kick();
    if (counts.requeued + counts.dead + counts.cancelled > 0) this.log.warn({ ...counts }, 'reclaimed tasks whose lease expired');
    if (counts.requeued > 0) this.notifyEnqueued([]);
    return counts;
  }

  /** Moves failed attempts whose backoff has passed back to `queued`. Returns how many. */
  async promoteDue(): Promise<number> {
    const now = this.clock.now();
    const result = await tables<TaskTables>(this.store.db)
      .updateTable('tasks')
      .set({ state: 'queued', updated_at: now })
      .where('state', '=', STATE.failed)
      .where('run_at', '<=', now)
      .executeTakeFirst();
    const promoted = Number(result.numUpdatedRows);
    if (promoted > 0) this.notifyEnqueued([]);
    return promoted;
  }

  /** One maintenance pass: reclaim expired leases, then promote due retries. Worker pools run it periodically. */
  async maintain(): Promise<{ requeued: number; dead: number; cancelled: number; promoted: number }> {
    const reclaimed = await this.reclaimExpired();
    const promoted = await this.promoteDue();
    return { ...reclaimed, promoted };
  }

  async get(id: string): Promise<Task> {
    const row = await tables<TaskTables>(this.store.db).selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound(id);
    return toTask(row);
  }

  /** Tasks matching the filter, newest first; `nextCursor` fetches the following page. */
  async list(filter: TaskFilter = {}): Promise<{ items: Task[]; nextCursor: string | null }> {
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1000);
    let q = tables<TaskTables>(this.store.db).selectFrom('tasks').selectAll();
    if (filter.queue !== undefined) q = q.where('queue', '=', filter.queue);
    if (filter.state !== undefined) q = q.where('state', '=', filter.state);
    if (filter.kind !== undefined) q = q.where('kind', '=', filter.kind);
    if (filter.cursor !== undefined) q = q.where('id', '<', filter.cursor);
    const rows = await q.orderBy('id', 'desc').limit(limit + 1).execute();
    const page = rows.slice(0, limit);
    return { items: page.map(toTask), nextCursor: rows.length > limit ? (page[page.length - 1]?.id ?? null) : null };
  }

  /**
   * Limits how many tasks of `queue` run at once across all workers; null removes the limit.
   * Other servers pick a new limit up within `limitsCacheMs`; until then they leave a newly limited
   * queue alone rather than overrun it.
   */
  async setQueueConcurrency(queue: string, concurrency: number | null): Promise<void> {
    checkName('queue', queue);
    if (concurrency !== null && (!Number.isInteger(concurrency) || concurrency < 0)) {
      throw new CatapultError('CATAPULT_VALIDATION_FAILED', `Queue concurrency must be a non-negative integer or null, not ${concurrency}.`);
    }
    const now = this.clock.now();
    await tables<TaskTables>(this.store.db)
      .insertInto('task_queues')
      .values({ name: queue, concurrency, updated_at: now })
      .onConflict((oc) => oc.column('name').doUpdateSet({ concurrency, updated_at: now }))
      .execute();
    this.limits = undefined;
    this.notifyEnqueued([queue]);
  }

  /** Pending, running and dead counts for every queue that has tasks or a limit. */
  async queueStats(): Promise<QueueStats[]> {
    const db = tables<TaskTables>(this.store.db);
    // One grouped count per state, each answered from that state's partial index.
    const countIn = (state: TaskState) =>
      db
        .selectFrom('tasks')
        .select(['queue', (eb) => eb.fn.countAll<number>().as('n')])
        .where('state', '=', STATE[state as keyof typeof STATE])
        .groupBy('queue')
        .execute()
        .then((rows) => rows.map((r) => ({ queue: r.queue, state, n: Number(r.n) })));
    const [queued, failed, running, dead, queues] = await Promise.all([
      countIn('queued'),
      countIn('failed'),
      countIn('running'),
      countIn('dead'),
      db.selectFrom('task_queues').select(['name', 'concurrency']).execute(),
    ]);
    const counts = [...queued, ...failed, ...running, ...dead];
    const byQueue = new Map<string, QueueStats>();
    const entry = (queue: string): QueueStats => {
      let s = byQueue.get(queue);
      if (!s) byQueue.set(queue, (s = { queue, pending: 0, running: 0, dead: 0, concurrency: null }));
      return s;
    };
    for (const q of queues) entry(q.name).concurrency = q.concurrency === null ? null : Number(q.concurrency);
    for (const c of counts) {
      const s = entry(c.queue);
      const n = c.n;
      if (c.state === 'running') s.running += n;
      else if (c.state === 'dead') s.dead += n;
      else s.pending += n;
    }
    return [...byQueue.values()].sort((a, b) => a.queue.localeCompare(b.queue));
  }

  /** The kinds of tasks waiting (queued or failed) in `queues`; a worker pool checks them against its handlers at start. */
  async pendingKinds(queues: readonly string[]): Promise<{ queue: string; kind: string }[]> {
    if (queues.length === 0) return [];
    return tables<TaskTables>(this.store.db)
      .selectFrom('tasks')
      .select(['queue', 'kind'])
      .distinct()
      .where((eb) => eb.or([eb('state', '=', STATE.queued), eb('state', '=', STATE.failed)]))
      .where('queue', 'in', [...queues])
      .orderBy('queue')
      .orderBy('kind')
      .execute();
  }

  /** Calls `listener` after tasks are enqueued in this process, so local workers claim without waiting for their next poll. */
  onEnqueue(listener: (queues: readonly string[]) => void): () => void {
    this.enqueueListeners.add(listener);
    return () => this.enqueueListeners.delete(listener);
  }

  private notifyEnqueued(queues: readonly string[]): void {
    for (const listener of this.enqueueListeners) {
      try {
        listener(queues);
      } catch (err) {
        this.log.error({ err }, 'task enqueue listener failed');
      }
    }
  }

  private newRow(input: EnqueueInput, now: number): TasksTable {
    checkName('queue', input.queue);
    checkName('kind', input.kind);
    const priority = input.priority ?? 0;
    const maxAttempts = input.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    const baseMs = input.backoff?.baseMs ?? DEFAULT_BACKOFF.baseMs;
    const maxMs = input.backoff?.maxMs ?? Math.max(DEFAULT_BACKOFF.maxMs, baseMs);
    if (!Number.isInteger(priority) || Math.abs(priority) > 1_000_000) invalid(`priority must be an integer within ±1000000, not ${priority}`);
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 1000) invalid(`maxAttempts must be an integer from 1 to 1000, not ${maxAttempts}`);
    if (!Number.isInteger(baseMs) || baseMs < 0 || !Number.isInteger(maxMs) || maxMs < baseMs) invalid('backoff needs integer 0 <= baseMs <= maxMs');
    if (input.idempotencyKey !== undefined && (input.idempotencyKey.length === 0 || input.idempotencyKey.length > 500)) {
      invalid('idempotencyKey must be 1 to 500 characters');
    }
    const runAt = input.runAt ?? now + Math.max(0, input.delayMs ?? 0);
    if (!Number.isFinite(runAt)) invalid('runAt must be epoch milliseconds');
    return {
      id: newId('task'),
      queue: input.queue,
      kind: input.kind,
      payload: toJson(input.payload ?? null),
      priority,
      state: 'queued',
      attempts: 0,
      max_attempts: maxAttempts,
      backoff_base_ms: baseMs,
      backoff_max_ms: maxMs,
      run_at: Math.round(runAt),
      lease_id: null,
      lease_owner: null,
      lease_expires_at: null,
      cancel_requested_at: null,
      idempotency_key: input.idempotencyKey ?? null,
      result: null,
      error: null,
      created_at: now,
      updated_at: now,
      started_at: null,
      finished_at: null,
    };
  }

  private async existingByKey(t: TaskDb, rows: TasksTable[], inserted: ReadonlySet<string>): Promise<Map<string, TasksTable>> {
    const wanted = new Map<string, string[]>();
    for (const row of rows) {
      if (inserted.has(row.id) || row.idempotency_key === null) continue;
      const keys = wanted.get(row.queue) ?? [];
      keys.push(row.idempotency_key);
      wanted.set(row.queue, keys);
    }
    const found = new Map<string, TasksTable>();
    for (const [queue, keys] of wanted) {
      for (let i = 0; i < keys.length; i += INSERT_CHUNK) {
        const rowsFound = await t
          .selectFrom('tasks')
          .selectAll()
          .where('queue', '=', queue)
          .where('idempotency_key', 'in', keys.slice(i, i + INSERT_CHUNK))
          .execute();
        for (const r of rowsFound) found.set(keyOf(r.queue, r.idempotency_key!), r);
      }
    }
    return found;
  }

  /** Queues with a concurrency limit, cached; a stale cache only delays a new limit, never breaks one (see claim). */
  private async limitedQueues(now: number): Promise<ReadonlySet<string>> {
    if (this.limits && now - this.limits.at < this.limitsCacheMs && now >= this.limits.at) return this.limits.queues;
    const rows = await tables<TaskTables>(this.store.db).selectFrom('task_queues').select('name').where('concurrency', 'is not', null).execute();
    this.limits = { at: now, queues: new Set(rows.map((r) => r.name)) };
    return this.limits.queues;
  }

  /**
   * The due, unlocked tasks a claim may take, in claim order. `unlimitedOnly` leaves out queues that
   * have a limit (in this statement's own view of task_queues), so a claim that believes a queue is
   * unlimited can never overrun a limit it has not heard of yet.
   */
  private candidates(qc: QueryCreator<TaskTables>, queues: readonly string[], kinds: readonly string[] | undefined, now: number, limit: number, unlimitedOnly: boolean) {
    let q = qc
      .selectFrom('tasks')
      .select(['tasks.id', 'tasks.queue', 'tasks.priority', 'tasks.run_at'])
      .where('tasks.state', '=', STATE.queued)
      .where('tasks.queue', 'in', [...queues])
      .where('tasks.run_at', '<=', now);
    if (kinds) q = q.where('tasks.kind', 'in', [...kinds]);
    if (unlimitedOnly) {
      q = q.where('tasks.queue', 'not in', (eb) => eb.selectFrom('task_queues').select('task_queues.name').where('task_queues.concurrency', 'is not', null));
    }
    return this.store.lockRows(q.orderBy('tasks.priority', 'desc').orderBy('tasks.run_at').orderBy('tasks.id').limit(limit), { skipLocked: true });
  }

  /**
   * The claim's hot path: one statement. The MATERIALIZED CTE runs the locking SELECT exactly once,
   * so the UPDATE takes precisely the rows it locked. On SQLite a write statement takes the database's
   * write lock before it reads, so the one statement is as atomic as an immediate transaction.
   */
  private claimUpdate(
    db: TaskDb,
    queues: readonly string[],
    kinds: readonly string[] | undefined,
    limit: number,
    now: number,
    lease: { leaseId: string; owner: string; expiresAt: number },
  ): Promise<TasksTable[]> {
    return db
      .with(
        (cte) => cte('picked').materialized(),
        (qc) => this.candidates(qc, queues, kinds, now, limit, true),
      )
      .updateTable('tasks')
      .set((eb) => ({
        state: 'running',
        attempts: eb('attempts', '+', 1),
        lease_id: lease.leaseId,
        lease_owner: lease.owner,
        lease_expires_at: lease.expiresAt,
        started_at: now,
        updated_at: now,
      }))
      .where('id', 'in', (eb) => eb.selectFrom('picked').select('picked.id'))
      .returningAll()
      .execute();
  }

  /**
   * Claim when some requested queue has a limit: lock those queues' rows (claims of a limited queue
   * take turns; claims of other queues are unaffected), count what runs, and take no more than the
   * limit allows, merged with the unlimited queues' candidates in claim order.
   */
  private async claimWithLimits(
    t: TaskDb,
    opts: ClaimOptions,
    limit: number,
    now: number,
    lease: { leaseId: string; owner: string; expiresAt: number },
  ): Promise<TasksTable[]> {
    const limitRows = await this.store
      .lockRows(t.selectFrom('task_queues').select(['name', 'concurrency']).where('name', 'in', [...opts.queues]).where('concurrency', 'is not', null).orderBy('name'))
      .execute();
    const limits = new Map(limitRows.map((r) => [r.name, Number(r.concurrency)]));
    const unlimited = opts.queues.filter((q) => !limits.has(q));
    const picked: { id: string; queue: string; priority: number; run_at: number }[] = [];
    if (unlimited.length > 0) picked.push(...(await this.candidates(t, unlimited, opts.kinds, now, limit, false).execute()));
    if (limits.size > 0) {
      const running = await t
        .selectFrom('tasks')
        .select(['queue', (eb) => eb.fn.countAll<number>().as('n')])
        .where('state', '=', STATE.running)
        .where('queue', 'in', [...limits.keys()])
        .groupBy('queue')
        .execute();
      const runningBy = new Map(running.map((r) => [r.queue, Number(r.n)]));
      for (const [queue, max] of limits) {
        const room = Math.min(limit, max - (runningBy.get(queue) ?? 0));
        if (room > 0) picked.push(...(await this.candidates(t, [queue], opts.kinds, now, room, false).execute()));
      }
    }
    const take = picked.sort(claimOrder).slice(0, limit);
    if (take.length === 0) return [];
    return t
      .updateTable('tasks')
      .set((eb) => ({
        state: 'running',
        attempts: eb('attempts', '+', 1),
        lease_id: lease.leaseId,
        lease_owner: lease.owner,
        lease_expires_at: lease.expiresAt,
        started_at: now,
        updated_at: now,
      }))
      .where('id', 'in', take.map((r) => r.id))
      .returningAll()
      .execute();
  }

  /** An UPDATE of the task that matches only while `lease` holds it. */
  private updateHeld(db: TaskDb, lease: Lease, patch: Patch) {
    return db
      .updateTable('tasks')
      .set(patch)
      .where('id', '=', lease.taskId)
      .where('lease_id', '=', lease.leaseId)
      .where('lease_owner', '=', lease.owner)
      .where('state', '=', 'running');
  }

  /** The task's row, locked for this transaction, provided `lease` still holds it. */
  private async lockHeld(t: TaskDb, lease: Lease): Promise<TasksTable> {
    const row = await this.store.lockRows(t.selectFrom('tasks').selectAll().where('id', '=', lease.taskId)).executeTakeFirst();
    if (!row) throw notFound(lease.taskId);
    if (row.state !== 'running' || row.lease_id !== lease.leaseId || row.lease_owner !== lease.owner) throw leaseLostError(lease, row);
    return row;
  }

  private async lockById(t: TaskDb, id: string): Promise<TasksTable> {
    const row = await this.store.lockRows(t.selectFrom('tasks').selectAll().where('id', '=', id)).executeTakeFirst();
    if (!row) throw notFound(id);
    return row;
  }

  /** Why a guarded update matched nothing: the task is gone, or the lease no longer holds it. */
  private async leaseLost(t: TaskDb, lease: Lease): Promise<CatapultError> {
    const row = await t.selectFrom('tasks').selectAll().where('id', '=', lease.taskId).executeTakeFirst();
    return row ? leaseLostError(lease, row) : notFound(lease.taskId);
  }

  private update(t: TaskDb, id: string, patch: Patch): Promise<TasksTable> {
    return t.updateTable('tasks').set(patch).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
  }

  private observe(kind: string, outcome: string, startedAt: number | null, now: number): void {
    if (startedAt === null) return;
    this.duration.observe({ kind, outcome }, Math.max(0, now - Number(startedAt)) / 1000);
  }

  private queueGauge(registry: Registry, name: string, help: string, pick: (q: QueueStats) => number): void {
    const gauge: Gauge<'queue'> = new Gauge({
      name,
      help,
      labelNames: ['queue'] as const,
      registers: [registry],
      collect: async () => {
        try {
          const stats = await this.statsForScrape();
          gauge.reset();
          for (const q of stats) gauge.set({ queue: q.queue }, pick(q));
        } catch (err) {
          // Keep the last values: a scrape during a store outage should not fail the whole /metrics page.
          this.log.debug({ err }, 'could not read queue stats for metrics');
        }
      },
    });
  }

  /** The three queue gauges share one query per scrape. */
  private statsForScrape(): Promise<QueueStats[]> {
    this.statsInFlight ??= this.queueStats().finally(() => {
      this.statsInFlight = undefined;
    });
    return this.statsInFlight;
  }
}

/**
 * States as SQL literals rather than bound parameters: a partial index (`WHERE state = 'queued'`) is
 * used only when the query states the same literal, on SQLite always and on Postgres for cached plans.
 */
const STATE = {
  queued: sql.lit<TaskState>('queued'),
  running: sql.lit<TaskState>('running'),
  failed: sql.lit<TaskState>('failed'),
  dead: sql.lit<TaskState>('dead'),
} as const;

const NO_LEASE = { lease_id: null, lease_owner: null, lease_expires_at: null } as const;

function claimOrder(a: { id: string; priority: number; run_at: number }, b: { id: string; priority: number; run_at: number }): number {
  return Number(b.priority) - Number(a.priority) || Number(a.run_at) - Number(b.run_at) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function keyOf(queue: string, key: string): string {
  return `${queue}\u0000${key}`;
}

function taskEvent(type: string, row: TasksTable, data: Record<string, unknown>): EventInput {
  return { type, subject: { kind: 'task', id: row.id }, data: { queue: row.queue, kind: row.kind, ...data } };
}

function cancelledError(message: string): TaskError {
  return { code: ENGINE_FAILURE_CODES.cancelled, message, retryable: false };
}

function notFound(id: string): CatapultError {
  return new CatapultError('CATAPULT_TASK_NOT_FOUND', `No task with id ${id}.`, { id });
}

function leaseLostError(lease: Lease, row: TasksTable): CatapultError {
  const why =
    row.state === 'running'
      ? 'it was reclaimed after the lease expired and is now held by another attempt'
      : `it is ${row.state}${row.state === 'queued' || row.state === 'failed' ? ' again' : ''}`;
  return new CatapultError('CATAPULT_TASK_LEASE_LOST', `Lease ${lease.leaseId} no longer holds task ${row.id}: ${why}.`, {
    id: row.id,
    state: row.state,
  });
}

function checkName(what: string, value: string): void {
  if (typeof value !== 'string' || !NAME.test(value)) {
    invalid(`${what} must be 1 to 200 characters of letters, digits and . _ : / - (starting with a letter or digit), not ${JSON.stringify(value)}`);
  }
}

function invalid(message: string): never {
  throw new CatapultError('CATAPULT_VALIDATION_FAILED', `Invalid task: ${message}.`);
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${String(value)}`);
}

import { sql } from 'kysely';
import type { CatapultMigration } from '../store/index.js';
import { fromJson } from '../store/index.js';
import type { Task, TaskError, TaskState } from './types.js';

export interface TasksTable {
  id: string;
  queue: string;
  kind: string;
  payload: string;
  priority: number;
  state: TaskState;
  attempts: number;
  max_attempts: number;
  backoff_base_ms: number;
  backoff_max_ms: number;
  run_at: number;
  lease_id: string | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  cancel_requested_at: number | null;
  idempotency_key: string | null;
  result: string | null;
  error: string | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface TaskQueuesTable {
  name: string;
  concurrency: number | null;
  updated_at: number;
}

export interface TaskTables {
  tasks: TasksTable;
  task_queues: TaskQueuesTable;
}

export const taskMigrations: Record<string, CatapultMigration> = {
  '0100_tasks': {
    async up({ db, t }) {
      await db.schema
        .createTable('tasks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('queue', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('payload', t.json, (c) => c.notNull())
        .addColumn('priority', t.int, (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('attempts', t.int, (c) => c.notNull())
        .addColumn('max_attempts', t.int, (c) => c.notNull())
        .addColumn('backoff_base_ms', t.int, (c) => c.notNull())
        .addColumn('backoff_max_ms', t.int, (c) => c.notNull())
        .addColumn('run_at', t.ms, (c) => c.notNull())
        .addColumn('lease_id', 'text')
        .addColumn('lease_owner', 'text')
        .addColumn('lease_expires_at', t.ms)
        .addColumn('cancel_requested_at', t.ms)
        .addColumn('idempotency_key', 'text')
        .addColumn('result', t.json)
        .addColumn('error', t.json)
        .addColumn('created_at', t.ms, (c) => c.notNull())
        .addColumn('updated_at', t.ms, (c) => c.notNull())
        .addColumn('started_at', t.ms)
        .addColumn('finished_at', t.ms)
        .execute();
      // Each state a query looks for has its own partial index, so a row sits in at most one of them
      // (plus the primary key) and each transition writes one small index entry instead of updating
      // an index over every task ever run. Queries name the state as a literal so both planners
      // can match the partial index.
      // Claim walks this one in exactly its ORDER BY, so it reads only the rows it takes, however long the backlog.
      await db.schema
        .createIndex('tasks_claim')
        .on('tasks')
        .columns(['queue', 'priority desc', 'run_at', 'id'])
        .where(sql.ref('state'), '=', 'queued')
        .execute();
      // Expired-lease reclaim, and running counts per queue.
      await db.schema.createIndex('tasks_running').on('tasks').columns(['lease_expires_at', 'queue']).where(sql.ref('state'), '=', 'running').execute();
      // Promotion of failed attempts whose backoff has passed, and counts.
      await db.schema.createIndex('tasks_failed').on('tasks').columns(['run_at', 'queue']).where(sql.ref('state'), '=', 'failed').execute();
      await db.schema.createIndex('tasks_dead').on('tasks').columns(['queue']).where(sql.ref('state'), '=', 'dead').execute();
      // Only tasks with a key take part; the enqueue's ON CONFLICT names the same predicate.
      await db.schema
        .createIndex('tasks_idempotency')
        .unique()
        .on('tasks')
        .columns(['queue', 'idempotency_key'])
        .where('idempotency_key', 'is not', null)
        .execute();
      await db.schema
        .createTable('task_queues')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('concurrency', t.int)
        .addColumn('updated_at', t.ms, (c) => c.notNull())
        .execute();
    },
  },
};

export function toTask(row: TasksTable): Task {
  return {
    id: row.id,
    queue: row.queue,
    kind: row.kind,
    payload: fromJson<unknown>(row.payload, null),
    priority: Number(row.priority),
    state: row.state,
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    runAt: Number(row.run_at),
    lease:
      row.lease_owner !== null && row.lease_expires_at !== null ? { owner: row.lease_owner, expiresAt: Number(row.lease_expires_at) } : null,
    cancelRequestedAt: row.cancel_requested_at === null ? null : Number(row.cancel_requested_at),
    idempotencyKey: row.idempotency_key,
    result: fromJson<unknown>(row.result, null),
    error: row.error === null ? null : fromJson<TaskError | null>(row.error, null),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    startedAt: row.started_at === null ? null : Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
  };
}

import type { CatapultMigration } from '../store/index.js';

/** Every state a benchmark can be in; see README.md for the transitions. */
export const BENCHMARK_STATES = ['pending', 'preparing', 'running', 'completed', 'failed', 'cancelled'] as const;
export type BenchmarkState = (typeof BENCHMARK_STATES)[number];
export const FINAL_STATES: ReadonlySet<BenchmarkState> = new Set(['completed', 'failed', 'cancelled']);

export const SHARD_STATES = ['queued', 'running', 'uploaded', 'failed', 'cancelled'] as const;
export type ShardState = (typeof SHARD_STATES)[number];

export interface BenchmarksTable {
  id: string;
  name: string;
  state: BenchmarkState;
  reason: string | null;
  /** The recipe as validated (defaults filled in), JSON. */
  recipe: string;
  /** The recipe as written (YAML or JSON text), when given as text. */
  recipe_text: string | null;
  target_kind: string;
  target_ref: string;
  /** Where requests go, once resolved (no secrets). */
  target_url: string | null;
  /** Request headers for the target, secrets included (an endpoint's auth header, the run's own gateway key). Never returned; cleared when the run ends. */
  target_headers: string | null;
  /** The id of the run's own gateway key, revoked when the run ends. */
  run_key_id: string | null;
  /** The deployment made for a `service` target. */
  service_deployment_id: string | null;
  /** Runs with clients on Slurm: the service's jobs and the client jobs (`SlurmRunView`, JSON). */
  slurm: string | null;
  model: string | null;
  api: string;
  clients: number;
  where_run: string;
  /** Start time and stages (JSON), fixed when the run starts. */
  plan: string | null;
  progress: string | null;
  summary: string | null;
  results: string | null;
  wer: number | null;
  cer: number | null;
  task_id: string | null;
  cancel_requested_at: number | null;
  /** Last sign of life of the process running it. */
  heartbeat_at: number | null;
  created_by: string | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface BenchmarkShardsTable {
  benchmark_id: string;
  shard: number;
  state: ShardState;
  task_id: string | null;
  /** Who ran it: `local` or the agent's worker id. */
  runner: string | null;
  /** Relative to the data dir. */
  records_file: string | null;
  records: number;
  /** Stage aggregates (StageSummary[]) JSON. */
  summary: string | null;
  progress: string | null;
  error: string | null;
  started_at: number | null;
  finished_at: number | null;
}

export interface BenchTables {
  benchmarks: BenchmarksTable;
  benchmark_shards: BenchmarkShardsTable;
}

export const benchMigrations: Record<string, CatapultMigration> = {
  '0500_benchmarks': {
    async up({ db, t }) {
      await db.schema
        .createTable('benchmarks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('recipe', t.json, (c) => c.notNull())
        .addColumn('recipe_text', 'text')
        .addColumn('target_kind', 'text', (c) => c.notNull())
        .addColumn('target_ref', 'text', (c) => c.notNull())
        .addColumn('target_url', 'text')
        .addColumn('target_headers', t.json)
        .addColumn('run_key_id', 'text')
        .addColumn('service_deployment_id', 'text')
        .addColumn('model', 'text')
        .addColumn('api', 'text', (c) => c.notNull())
        .addColumn('clients', t.int, (c) => c.notNull())
        .addColumn('where_run', 'text', (c) => c.notNull())
        .addColumn('plan', t.json)
        .addColumn('progress', t.json)
        .addColumn('summary', t.json)
        .addColumn('results', t.json)
        .addColumn('wer', t.float)
        .addColumn('cer', t.float)
        .addColumn('task_id', 'text')
        .addColumn('cancel_requested_at', t.ms)
        .addColumn('heartbeat_at', t.ms)
        .addColumn('created_by', 'text')
        .addColumn('created_at', t.ms, (c) => c.notNull())
        .addColumn('updated_at', t.ms, (c) => c.notNull())
        .addColumn('started_at', t.ms)
        .addColumn('finished_at', t.ms)
        .execute();
      await db.schema.createIndex('benchmarks_created').on('benchmarks').columns(['created_at', 'id']).execute();
      await db.schema.createIndex('benchmarks_state').on('benchmarks').columns(['state']).execute();
      await db.schema
        .createTable('benchmark_shards')
        .addColumn('benchmark_id', 'text', (c) => c.notNull().references('benchmarks.id').onDelete('cascade'))
        .addColumn('shard', t.int, (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('task_id', 'text')
        .addColumn('runner', 'text')
        .addColumn('records_file', 'text')
        .addColumn('records', t.int, (c) => c.notNull())
        .addColumn('summary', t.json)
        .addColumn('progress', t.json)
        .addColumn('error', 'text')
        .addColumn('started_at', t.ms)
        .addColumn('finished_at', t.ms)
        .addPrimaryKeyConstraint('benchmark_shards_pk', ['benchmark_id', 'shard'])
        .execute();
      await db.schema.createIndex('benchmark_shards_task').on('benchmark_shards').columns(['task_id']).execute();
    },
  },
  '0501_benchmark_slurm': {
    async up({ db, t }) {
      await db.schema.alterTable('benchmarks').addColumn('slurm', t.json).execute();
    },
  },
};

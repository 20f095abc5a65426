/**
 * Tasks: enqueue + claim + complete throughput of the durable task engine with 4 workers, on SQLite
 * and on Postgres. Anchor: pg-boss (npm) on the same Postgres database in the same run, doing the
 * same work through its own API. Runs alternate between the three so machine load hits all alike;
 * each reports the median of its runs, and the Postgres ratio is the median of the per-run ratios
 * (each pair measured back to back, so a change in machine load between runs cancels out).
 *
 * One run: a producer inserts N tasks in batches of 100 while 4 workers loop: claim up to B tasks,
 * complete each one on its own (as handlers finish independently), repeat until all N are done.
 * For information (no goal) the same N tasks also go through the in-process WorkerPool with 4
 * concurrent no-op handlers, which claims as slots free up.
 *
 * Usage: npm run bench -- tasks [--tasks N] [--runs R] [--batch B] [--workers W] [--pg-url postgres://…/postgres]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { EventLog, eventMigrations } from '../../src/events/index.js';
import { createMetricsRegistry, silentLogger } from '../../src/observability/index.js';
import { Store } from '../../src/store/index.js';
import { EngineTransport, type Lease, TaskEngine, TaskHandlers, WorkerPool, taskMigrations } from '../../src/tasks/index.js';
import { systemClock } from '../../src/util/index.js';
import { ROOT, goal, median, report, sleep } from '../common.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const TASKS = Number(arg('tasks', '5000'));
const RUNS = Number(arg('runs', '5'));
const BATCH = Number(arg('batch', '10'));
const WORKERS = Number(arg('workers', '4'));
const PG_ADMIN_URL = arg('pg-url', 'postgres://postgres@127.0.0.1:5432/postgres');
const PRODUCER_BATCH = 100;
const POOL_SIZE = 10;

const out = (line: string) => process.stdout.write(`${line}\n`);

/** What one run needs from a queue system. */
interface QueueSystem<H> {
  label: string;
  prepare(queue: string): Promise<void>;
  enqueue(queue: string, from: number, count: number): Promise<void>;
  claim(queue: string, worker: number, limit: number): Promise<H[]>;
  complete(queue: string, handle: H): Promise<void>;
  close(): Promise<void>;
}

function catapult(store: Store, label: string): QueueSystem<Lease> {
  const engine = new TaskEngine({
    store,
    clock: systemClock,
    events: new EventLog(store, systemClock, 1000),
    metrics: createMetricsRegistry(),
    log: silentLogger(),
  });
  return {
    label,
    prepare: () => Promise.resolve(),
    async enqueue(queue, from, count) {
      await engine.enqueueMany(Array.from({ length: count }, (_, i) => ({ queue, kind: 'bench', payload: { i: from + i } })));
    },
    async claim(queue, worker, limit) {
      const claimed = await engine.claim({ owner: `bench-${worker}`, queues: [queue], limit, leaseMs: 60_000 });
      return claimed.map((c) => c.lease);
    },
    async complete(_queue, lease) {
      await engine.complete(lease, null);
    },
    close: () => store.close(),
  };
}

function pgBoss(boss: PgBoss): QueueSystem<string> {
  return {
    label: 'pg-boss',
    async prepare(queue) {
      await boss.createQueue(queue);
    },
    async enqueue(queue, from, count) {
      await boss.insert(Array.from({ length: count }, (_, i) => ({ name: queue, data: { i: from + i } })));
    },
    async claim(queue, _worker, limit) {
      const jobs = await boss.fetch<{ i: number }>(queue, { batchSize: limit });
      return jobs.map((j) => j.id);
    },
    async complete(queue, id) {
      await boss.complete(queue, id);
    },
    close: () => boss.stop({ graceful: false, wait: true }),
  };
}

/** One run: N tasks through `WORKERS` workers; returns tasks per second. */
async function runOnce<H>(system: QueueSystem<H>, queue: string, tasks: number): Promise<number> {
  await system.prepare(queue);
  let completed = 0;
  let produced = false;
  const started = performance.now();
  const producer = (async () => {
    for (let i = 0; i < tasks; i += PRODUCER_BATCH) await system.enqueue(queue, i, Math.min(PRODUCER_BATCH, tasks - i));
    produced = true;
  })();
  const worker = async (w: number) => {
    while (completed < tasks) {
      const handles = await system.claim(queue, w, BATCH);
      if (handles.length === 0) {
        if (produced && completed >= tasks) return;
        await sleep(1);
        continue;
      }
      for (const h of handles) {
        await system.complete(queue, h);
        completed++;
      }
    }
  };
  await Promise.all([producer, ...Array.from({ length: WORKERS }, (_, w) => worker(w))]);
  const seconds = (performance.now() - started) / 1000;
  if (completed !== tasks) throw new Error(`${system.label}: completed ${completed} of ${tasks}`);
  return tasks / seconds;
}

/** N tasks through a WorkerPool of `WORKERS` no-op handlers, from enqueue until the pool has recorded every outcome. */
async function runPool(store: Store, queue: string, tasks: number): Promise<number> {
  const log = silentLogger();
  const engine = new TaskEngine({ store, clock: systemClock, events: new EventLog(store, systemClock, 1000), metrics: createMetricsRegistry(), log });
  let handled = 0;
  let allHandled: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    allHandled = resolve;
  });
  const handlers = TaskHandlers.of(queue, {
    noop: () => {
      if (++handled === tasks) allHandled();
      return null;
    },
  });
  const pool = new WorkerPool(new EngineTransport(engine, store), { clock: systemClock, log }, { handlers, concurrency: WORKERS, maintenanceMs: 0 });
  await pool.start();
  const started = performance.now();
  for (let i = 0; i < tasks; i += PRODUCER_BATCH) {
    await engine.enqueueMany(Array.from({ length: Math.min(PRODUCER_BATCH, tasks - i) }, (_, j) => ({ queue, kind: 'noop', payload: { i: i + j } })));
  }
  await done;
  // stop() waits for the last completions to be written.
  await pool.stop({ deadlineMs: 60_000 });
  return tasks / ((performance.now() - started) / 1000);
}

async function createDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `catapult_bench_tasks_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists "${name}" with (force)`);
      await c.end();
    },
  };
}

async function main(): Promise<void> {
  const pgBossVersion = (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'pg-boss', 'package.json'), 'utf8')) as { version: string }).version;
  const migrations = { ...eventMigrations, ...taskMigrations };
  const dir = mkdtempSync(join(tmpdir(), 'catapult-bench-tasks-'));
  const database = await createDatabase();
  const systems: QueueSystem<unknown>[] = [];
  try {
    const sqliteStore = new Store({ databaseUrl: '', sqliteFile: join(dir, 'catapult.db'), migrations });
    await sqliteStore.migrate();
    const pgStore = new Store({ databaseUrl: database.url, sqliteFile: join(dir, 'unused.db'), migrations, poolSize: POOL_SIZE });
    await pgStore.migrate();
    const boss = new PgBoss({ connectionString: database.url, max: POOL_SIZE, schema: 'pgboss', supervise: false, schedule: false, migrate: true });
    boss.on('error', (err) => out(`pg-boss error: ${err.message}`));
    await boss.start();
    const sqlite = catapult(sqliteStore, 'catapult sqlite');
    const postgres = catapult(pgStore, 'catapult postgres');
    const anchor = pgBoss(boss);
    systems.push(sqlite, postgres, anchor);

    out(`tasks: ${TASKS} tasks per run, ${WORKERS} workers claiming up to ${BATCH} and completing one by one, producer batches of ${PRODUCER_BATCH}, ${RUNS} runs`);
    out(`anchor: pg-boss ${pgBossVersion} on the same Postgres database (pool ${POOL_SIZE} each)`);
    // Warm-up: JIT, connection pools, plan caches.
    for (const s of systems) await runOnce(s, 'warmup', Math.min(500, TASKS));

    const results = new Map<string, number[]>(systems.map((s) => [s.label, []]));
    const pairedRatios: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      // Alternate the order so a burst of load from elsewhere does not land on one system only.
      const order = r % 2 === 0 ? systems : [...systems].reverse();
      const line: string[] = [];
      for (const s of order) {
        const rate = await runOnce(s, `run${r}`, TASKS);
        results.get(s.label)!.push(rate);
        line.push(`${s.label} ${Math.round(rate)}/s`);
      }
      out(`run ${r + 1}: ${line.join(', ')}`);
      pairedRatios.push(results.get(postgres.label)![r]! / results.get(anchor.label)![r]!);
    }
    const poolSqlite = await runPool(sqliteStore, 'pool', TASKS);
    const poolPostgres = await runPool(pgStore, 'pool', TASKS);
    out(`WorkerPool (${WORKERS} no-op handlers): sqlite ${Math.round(poolSqlite)}/s, postgres ${Math.round(poolPostgres)}/s (information only)`);
    const med = (label: string) => median(results.get(label)!);
    const sqliteRate = med(sqlite.label);
    const pgRate = med(postgres.label);
    const bossRate = med(anchor.label);
    const ratio = median(pairedRatios);
    out(`sqlite   catapult: ${Math.round(sqliteRate)} tasks/s (median)`);
    out(`postgres catapult: ${Math.round(pgRate)} tasks/s (median)`);
    out(`postgres pg-boss : ${Math.round(bossRate)} tasks/s (median)`);
    out(`ratio catapult/pg-boss on Postgres: ${ratio.toFixed(2)}x (median of per-run ratios ${pairedRatios.map((x) => x.toFixed(2)).join(', ')})`);
    const rounded = (xs: number[]) => xs.map((x) => Math.round(x));
    report({
      bench: 'tasks',
      tasks: TASKS,
      workers: WORKERS,
      claimBatch: BATCH,
      producerBatch: PRODUCER_BATCH,
      runs: RUNS,
      anchor: `pg-boss ${pgBossVersion} on the same Postgres database in the same run`,
      sqlite: { tasksPerSecond: Math.round(sqliteRate), runs: rounded(results.get(sqlite.label)!) },
      postgres: { tasksPerSecond: Math.round(pgRate), runs: rounded(results.get(postgres.label)!) },
      pgboss: { tasksPerSecond: Math.round(bossRate), runs: rounded(results.get(anchor.label)!) },
      pgVsPgbossPerRun: pairedRatios.map((x) => Math.round(x * 100) / 100),
      workerPool: { handlers: WORKERS, sqliteTasksPerSecond: Math.round(poolSqlite), postgresTasksPerSecond: Math.round(poolPostgres) },
      goals: {
        pg_vs_pgboss: goal(ratio, 1.0, 'min', 'x'),
        sqlite_tasks_per_s: goal(sqliteRate, 2000, 'min', 'tasks/s'),
      },
    });
  } finally {
    for (const s of systems) await s.close().catch(() => undefined);
    await database.drop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

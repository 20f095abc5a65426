import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EventLog } from '../../src/events/index.js';
import { createMetricsRegistry, silentLogger } from '../../src/observability/index.js';
import { Store } from '../../src/store/index.js';
import { TaskEngine } from '../../src/tasks/index.js';
import { systemClock } from '../../src/util/index.js';
import { type Backend, type TestDatabase, createTestDatabase, describeEachBackend } from '../helpers/services.js';
import { type FixtureArgs, fixtureMigrations } from './fixtures/tables.js';
import { type WorkerProcess, spawnWorker } from './harness.js';

const TASKS = 300;

describeEachBackend('two worker processes on one database', (backend: Backend) => {
  let db: TestDatabase;
  let store: Store;
  let engine: TaskEngine;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(backend, 'contend');
    store = new Store({ databaseUrl: db.databaseUrl, sqliteFile: db.sqliteFile, migrations: fixtureMigrations });
    await store.migrate();
    engine = new TaskEngine({ store, clock: systemClock, events: new EventLog(store, systemClock, 1000), metrics: createMetricsRegistry(), log: silentLogger() });
  });
  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await store.close();
    await db.cleanup();
  });

  it('never lets two processes hold one task at once, and shares the work between them', async () => {
    const base: Omit<FixtureArgs, 'workerId'> = {
      databaseUrl: db.databaseUrl,
      sqliteFile: db.sqliteFile,
      mode: 'holds',
      queue: 'contend',
      concurrency: 4,
      leaseMs: 30_000,
    };
    workers.push(spawnWorker({ ...base, workerId: 'A' }), spawnWorker({ ...base, workerId: 'B' }));
    await Promise.all(workers.map((w) => w.ready));
    // Both are polling before the first task exists, so both compete for every claim.
    await engine.enqueueMany(Array.from({ length: TASKS }, (_, i) => ({ queue: 'contend', kind: 'hold', priority: i % 4 })));
    const codes = await Promise.all(workers.map((w) => w.exited));
    expect(codes, workers.map((w) => w.output()).join('\n')).toEqual([0, 0]);

    const holds = await sql<{ seq: number; task_id: string; worker: string; event: string }>`
      select seq, task_id, worker, event from holds order by seq`.execute(store.db);
    const holder = new Map<string, string>();
    const violations: string[] = [];
    const perWorker = new Map<string, number>();
    for (const h of holds.rows) {
      const current = holder.get(h.task_id);
      if (h.event === 'start') {
        if (current !== undefined) violations.push(`${h.task_id}: ${h.worker} started while ${current} held it`);
        holder.set(h.task_id, h.worker);
        perWorker.set(h.worker, (perWorker.get(h.worker) ?? 0) + 1);
      } else {
        if (current !== h.worker) violations.push(`${h.task_id}: ${h.worker} ended a hold it did not have`);
        holder.delete(h.task_id);
      }
    }
    expect(violations).toEqual([]);
    expect(holder.size).toBe(0);

    const tasks = await sql<{ state: string; attempts: number; n: number }>`
      select state, attempts, count(*) as n from tasks group by state, attempts`.execute(store.db);
    expect(tasks.rows.map((r) => ({ state: r.state, attempts: Number(r.attempts), n: Number(r.n) }))).toEqual([{ state: 'succeeded', attempts: 1, n: TASKS }]);
    expect([...perWorker.values()].reduce((a, b) => a + b, 0)).toBe(TASKS);
    expect(perWorker.get('A') ?? 0).toBeGreaterThan(0);
    expect(perWorker.get('B') ?? 0).toBeGreaterThan(0);
  });
});

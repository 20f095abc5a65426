import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EventLog } from '../../src/events/index.js';
import { createMetricsRegistry, silentLogger } from '../../src/observability/index.js';
import { Store } from '../../src/store/index.js';
import { TaskEngine } from '../../src/tasks/index.js';
import { systemClock } from '../../src/util/index.js';
import { type Backend, type TestDatabase, createTestDatabase, describeEachBackend } from '../helpers/services.js';
import { type FixtureArgs, fixtureMigrations } from './fixtures/tables.js';
import { spawnWorker, waitFor } from './harness.js';

const TASKS = 200;

describeEachBackend('a worker process killed mid-flight', (backend: Backend) => {
  let db: TestDatabase;
  let store: Store;
  let engine: TaskEngine;

  beforeAll(async () => {
    db = await createTestDatabase(backend, 'crash');
    store = new Store({ databaseUrl: db.databaseUrl, sqliteFile: db.sqliteFile, migrations: fixtureMigrations });
    await store.migrate();
    engine = new TaskEngine({ store, clock: systemClock, events: new EventLog(store, systemClock, 1000), metrics: createMetricsRegistry(), log: silentLogger() });
  });
  afterAll(async () => {
    await store.close();
    await db.cleanup();
  });

  const count = async (query: ReturnType<typeof sql<{ n: number }>>) => Number((await query.execute(store.db)).rows[0]?.n ?? 0);

  it('loses nothing: after SIGKILL and a restart every task succeeds and each side effect happened exactly once', async () => {
    await engine.enqueueMany(Array.from({ length: TASKS }, (_, i) => ({ queue: 'crash', kind: 'effect', idempotencyKey: `effect-${i}`, maxAttempts: 5 })));
    const args: FixtureArgs = {
      databaseUrl: db.databaseUrl,
      sqliteFile: db.sqliteFile,
      mode: 'effects',
      queue: 'crash',
      workerId: 'first',
      concurrency: 8,
      leaseMs: 1_500,
    };
    const first = spawnWorker(args);
    await first.ready;
    // Kill it once a good part is done and more is in flight.
    await waitFor(
      async () => (await count(sql<{ n: number }>`select count(*) as n from tasks where state = 'succeeded'`)) >= TASKS / 4,
      'a quarter of the tasks to finish',
      30_000,
    );
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    const orphaned = await count(sql<{ n: number }>`select count(*) as n from tasks where state = 'running'`);
    const succeededBefore = await count(sql<{ n: number }>`select count(*) as n from tasks where state = 'succeeded'`);
    expect(orphaned).toBeGreaterThan(0);
    expect(succeededBefore).toBeLessThan(TASKS);

    const second = spawnWorker({ ...args, workerId: 'second' });
    expect(await second.exited, second.output()).toBe(0);

    const states = await sql<{ state: string; n: number }>`select state, count(*) as n from tasks group by state`.execute(store.db);
    expect(states.rows.map((r) => ({ state: r.state, n: Number(r.n) }))).toEqual([{ state: 'succeeded', n: TASKS }]);

    const effects = await sql<{ key: string; n: number }>`select key, count(*) as n from effects group by key`.execute(store.db);
    expect(effects.rows).toHaveLength(TASKS);
    expect(effects.rows.filter((r) => Number(r.n) !== 1)).toEqual([]);

    // The kill really interrupted work: some tasks were started by the first process and finished by the second.
    const rerun = await count(sql<{ n: number }>`select count(*) as n from (select key from runs group by key having count(*) > 1) r`);
    expect(rerun).toBeGreaterThan(0);
    const bySecond = await count(sql<{ n: number }>`select count(*) as n from effects where worker = 'second'`);
    expect(bySecond).toBe(TASKS - succeededBefore);
    const reclaimed = await count(sql<{ n: number }>`select count(*) as n from tasks where attempts > 1`);
    expect(reclaimed).toBeGreaterThanOrEqual(orphaned);
  });
});

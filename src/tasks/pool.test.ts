import { sql } from 'kysely';
import { pino } from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type Backend, describeEachBackend } from '../../test/helpers/services.js';
import { type TaskHarness, gate, startTaskHarness, waitFor } from '../../test/tasks/harness.js';
import { silentLogger } from '../observability/index.js';
import type { CatapultMigration } from '../store/index.js';
import { EngineTransport, type TaskContext, TaskFailure, TaskHandlers, WorkerPool, type WorkerPoolOptions, isTaskFailure } from './index.js';

const effectsMigration: Record<string, CatapultMigration> = {
  '9000_effects': {
    async up({ db }) {
      await db.schema.createTable('effects').addColumn('key', 'text', (c) => c.notNull()).execute();
    },
  },
};

describeEachBackend('task worker pool', (backend: Backend) => {
  let h: TaskHarness;
  const pools: WorkerPool[] = [];

  beforeEach(async () => {
    h = await startTaskHarness(backend, { migrations: effectsMigration });
  });
  afterEach(async () => {
    for (const p of pools.splice(0)) await p.stop({ deadlineMs: 0 });
    await h.close();
  });

  const startPool = async (handlers: TaskHandlers, options: Partial<WorkerPoolOptions> = {}): Promise<WorkerPool> => {
    const pool = new WorkerPool(
      new EngineTransport(h.engine, h.store),
      { clock: h.clock, log: silentLogger() },
      { handlers, pollMs: 20, heartbeatMs: 20, leaseMs: 60_000, maintenanceMs: 20, ...options },
    );
    pools.push(pool);
    await pool.start();
    return pool;
  };
  const stateOf = async (id: string) => (await h.engine.get(id)).state;

  it('runs each task with the handler of its kind and stores what the handler returns', async () => {
    await startPool(
      TaskHandlers.of('q', {
        add: ({ payload }) => {
          const { a, b } = payload as { a: number; b: number };
          return { sum: a + b };
        },
        upper: ({ payload }) => String(payload).toUpperCase(),
      }),
    );
    const a = await h.engine.enqueue({ queue: 'q', kind: 'add', payload: { a: 2, b: 3 } });
    const b = await h.engine.enqueue({ queue: 'q', kind: 'upper', payload: 'hi' });
    await waitFor(async () => (await stateOf(b.task.id)) === 'succeeded' && (await stateOf(a.task.id)) === 'succeeded', 'both tasks');
    expect((await h.engine.get(a.task.id)).result).toEqual({ sum: 5 });
    expect((await h.engine.get(b.task.id)).result).toBe('HI');
  });

  it('accepts exactly one handler per kind and no new ones once a pool started', async () => {
    const handlers = new TaskHandlers().register('x', () => 1, { queue: 'q' });
    expect(() => handlers.register('x', () => 2, { queue: 'other' })).toThrow(/already has a handler/);
    await startPool(handlers);
    expect(() => handlers.register('y', () => 3, { queue: 'q' })).toThrow(/already started/);
    expect(() => new WorkerPool(new EngineTransport(h.engine, h.store), { clock: h.clock, log: silentLogger() }, { handlers, leaseMs: 100, heartbeatMs: 100 })).toThrow(
      /heartbeatMs/,
    );
  });

  it('warns at start about tasks waiting in its queues that no handler here runs', async () => {
    await h.engine.enqueue({ queue: 'q', kind: 'orphan' });
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    const pool = new WorkerPool(new EngineTransport(h.engine, h.store), { clock: h.clock, log }, { handlers: TaskHandlers.of('q', { known: () => 'ok' }) });
    pools.push(pool);
    await pool.start();
    expect(lines.map((l) => JSON.parse(l) as { msg: string; unhandled: unknown })).toContainEqual(
      expect.objectContaining({ msg: expect.stringMatching(/no handler here runs their kind/), unhandled: [{ queue: 'q', kind: 'orphan' }] }),
    );
  });

  it('leaves tasks of kinds it has no handler for in the queue', async () => {
    await startPool(TaskHandlers.of('q', { known: () => 'ok' }));
    const unknown = await h.engine.enqueue({ queue: 'q', kind: 'unknown' });
    const known = await h.engine.enqueue({ queue: 'q', kind: 'known' });
    await waitFor(async () => (await stateOf(known.task.id)) === 'succeeded', 'known task');
    expect(await h.engine.get(unknown.task.id)).toMatchObject({ state: 'queued', attempts: 0 });
  });

  it('retries a failing handler after its backoff and records the success', async () => {
    let calls = 0;
    await startPool(
      TaskHandlers.of('q', {
        flaky: () => {
          calls++;
          if (calls === 1) throw new TaskFailure('UPSTREAM_503', 'endpoint unavailable');
          return 'second time lucky';
        },
      }),
    );
    const { task } = await h.engine.enqueue({ queue: 'q', kind: 'flaky', backoff: { baseMs: 5_000, maxMs: 5_000 } });
    const failed = await waitFor(async () => {
      const t = await h.engine.get(task.id);
      return t.state === 'failed' ? t : undefined;
    }, 'the first attempt to fail');
    expect(failed.error).toEqual({ code: 'UPSTREAM_503', message: 'endpoint unavailable', retryable: true });
    expect(failed.runAt).toBe(h.clock.now() + 3_750);
    h.clock.advance(3_750);
    await waitFor(async () => (await stateOf(task.id)) === 'succeeded', 'the retry to succeed');
    expect(await h.engine.get(task.id)).toMatchObject({ attempts: 2, result: 'second time lucky' });
  });

  it('dead-letters a handler failure that no retry can fix', async () => {
    await startPool(
      TaskHandlers.of('q', {
        doomed: () => {
          throw TaskFailure.nonRetryable('BAD_RECIPE', 'recipe has no target', { cause: new Error('parse') });
        },
      }),
    );
    const { task } = await h.engine.enqueue({ queue: 'q', kind: 'doomed' });
    await waitFor(async () => (await stateOf(task.id)) === 'dead', 'the task to die');
    expect((await h.engine.get(task.id)).error).toEqual({ code: 'BAD_RECIPE', message: 'recipe has no target', retryable: false });
  });

  it('aborts a running handler when its task is cancelled, and the task ends cancelled', async () => {
    const started = gate();
    await startPool(
      TaskHandlers.of('q', {
        long: async ({ signal }) => {
          started.open();
          await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
        },
      }),
      { heartbeatMs: 10 },
    );
    const { task } = await h.engine.enqueue({ queue: 'q', kind: 'long' });
    await started.promise;
    await h.engine.cancel(task.id);
    await waitFor(async () => (await stateOf(task.id)) === 'cancelled', 'the task to end cancelled');
    expect((await h.engine.get(task.id)).error).toMatchObject({ code: 'TASK_CANCELLED', retryable: false });
  });

  it('lets running handlers finish when shutting down within the deadline, and claims nothing new', async () => {
    const release = gate();
    const started = gate();
    const pool = await startPool(
      TaskHandlers.of('q', {
        slow: async () => {
          started.open();
          await release.promise;
          return 'finished';
        },
      }),
      { concurrency: 1 },
    );
    const first = await h.engine.enqueue({ queue: 'q', kind: 'slow' });
    await started.promise;
    const second = await h.engine.enqueue({ queue: 'q', kind: 'slow' });
    const stopping = pool.stop({ deadlineMs: 60_000 });
    release.open();
    expect(await stopping).toEqual({ finished: 1, released: 0 });
    expect(await h.engine.get(first.task.id)).toMatchObject({ state: 'succeeded', result: 'finished' });
    expect(await h.engine.get(second.task.id)).toMatchObject({ state: 'queued', attempts: 0 });
  });

  it('releases tasks whose handlers outlive the shutdown deadline, without spending their attempt', async () => {
    const started = gate();
    let aborted: unknown;
    const pool = await startPool(
      TaskHandlers.of('q', {
        stuck: async ({ signal }) => {
          started.open();
          await new Promise((resolve) => signal.addEventListener('abort', resolve));
          aborted = signal.reason;
          return 'too late';
        },
      }),
    );
    const { task } = await h.engine.enqueue({ queue: 'q', kind: 'stuck' });
    await started.promise;
    expect(await pool.stop({ deadlineMs: 0 })).toEqual({ finished: 0, released: 1 });
    expect(isTaskFailure(aborted) && aborted.code).toBe('TASK_SHUTDOWN');
    expect(await h.engine.get(task.id)).toMatchObject({ state: 'queued', attempts: 0, lease: null });
  });

  it('commits a handler effect and its completion together, or neither', async () => {
    let attempt = 0;
    await startPool(
      TaskHandlers.of('q', {
        effect: async (ctx: TaskContext) => {
          attempt++;
          return ctx.complete(async (trx) => {
            await sql`insert into effects (key) values (${ctx.task.idempotencyKey})`.execute(trx);
            if (attempt === 1) throw new Error('crash after the effect, before the commit');
            return { wrote: ctx.task.idempotencyKey };
          });
        },
      }),
    );
    const { task } = await h.engine.enqueue({ queue: 'q', kind: 'effect', idempotencyKey: 'e-1', backoff: { baseMs: 0, maxMs: 0 } });
    await waitFor(async () => (await stateOf(task.id)) === 'succeeded', 'the task to succeed');
    const effects = await sql<{ key: string }>`select key from effects`.execute(h.store.db);
    expect(effects.rows).toEqual([{ key: 'e-1' }]);
    expect(await h.engine.get(task.id)).toMatchObject({ attempts: 2, result: { wrote: 'e-1' } });
  });

  it('stops a handler whose lease was taken over, and records nothing from it', async () => {
    const started = gate();
    const beat = gate();
    let heartbeatError: unknown;
    let reason: unknown;
    const pool = await startPool(
      TaskHandlers.of('q', {
        slow: async (ctx) => {
          started.open();
          await beat.promise;
          try {
            await ctx.heartbeat();
          } catch (err) {
            heartbeatError = err;
          }
          reason = ctx.signal.reason;
          // Whatever it returns now must not overwrite the attempt that replaced it.
          return 'stale';
        },
      }),
      // No timer heartbeat during the test: the lease runs out on the manual clock alone.
      { leaseMs: 600_000, heartbeatMs: 300_000, concurrency: 1 },
    );
    const { task } = await h.engine.enqueue({ queue: 'q', kind: 'slow' });
    await started.promise;
    h.clock.advance(600_001);
    // The pool's own maintenance may be reclaiming the same lease in a concurrent transaction (on
    // Postgres the row is then skipped as locked): claim until the reclaimed task is there.
    let taken: Awaited<ReturnType<typeof h.engine.claim>>[number] | undefined;
    await waitFor(async () => {
      await h.engine.reclaimExpired();
      [taken] = await h.engine.claim({ owner: 'someone-else', queues: ['q'], limit: 1 });
      return taken !== undefined;
    }, 'the expired task to be claimable by someone else');
    expect(taken?.task.attempts).toBe(2);
    beat.open();
    await waitFor(() => pool.active === 0, 'the stale handler to end');
    expect((heartbeatError as { code?: string }).code).toMatch(/LEASE_LOST/);
    expect(isTaskFailure(reason) && reason.code).toBe('TASK_LEASE_LOST');
    expect(await h.engine.get(task.id)).toMatchObject({ state: 'running', attempts: 2, result: null, lease: { owner: 'someone-else' } });
  });
});

import { afterEach, beforeEach, expect, it } from 'vitest';
import { type TaskHarness, startTaskHarness } from '../../test/tasks/harness.js';
import { type Backend, describeEachBackend } from '../../test/helpers/services.js';
import { type ClaimedTask, TaskFailure } from './index.js';

const OWNER = 'worker-a';

describeEachBackend('task engine', (backend: Backend) => {
  let h: TaskHarness;

  beforeEach(async () => {
    h = await startTaskHarness(backend);
  });
  afterEach(async () => {
    await h.close();
  });

  const claimOne = async (queues = ['q'], leaseMs = 10_000): Promise<ClaimedTask> => {
    const [claimed] = await h.engine.claim({ owner: OWNER, queues, limit: 1, leaseMs });
    if (!claimed) throw new Error('nothing claimed');
    return claimed;
  };

  it('enqueues a task that waits in its queue until a worker claims it', async () => {
    const { task, created } = await h.engine.enqueue({ queue: 'q', kind: 'echo', payload: { n: 1 } });
    expect(created).toBe(true);
    expect(task).toMatchObject({ queue: 'q', kind: 'echo', payload: { n: 1 }, state: 'queued', attempts: 0, maxAttempts: 5, priority: 0, lease: null });
    const claimed = await claimOne();
    expect(claimed.task).toMatchObject({ id: task.id, state: 'running', attempts: 1 });
    expect(claimed.task.lease).toEqual({ owner: OWNER, expiresAt: h.clock.now() + 10_000 });
    expect(await h.engine.claim({ owner: OWNER, queues: ['q'], limit: 5 })).toEqual([]);
  });

  it('returns the existing task when an idempotency key is enqueued again in the same queue', async () => {
    const first = await h.engine.enqueue({ queue: 'q', kind: 'echo', payload: 1, idempotencyKey: 'k1' });
    const again = await h.engine.enqueue({ queue: 'q', kind: 'echo', payload: 2, idempotencyKey: 'k1' });
    expect(again.created).toBe(false);
    expect(again.task.id).toBe(first.task.id);
    expect(again.task.payload).toBe(1);
    const otherQueue = await h.engine.enqueue({ queue: 'q2', kind: 'echo', idempotencyKey: 'k1' });
    expect(otherQueue.created).toBe(true);
    // A key stays taken after the task finished: the work it names was done.
    const claimed = await claimOne();
    await h.engine.complete(claimed.lease, 'done');
    expect((await h.engine.enqueue({ queue: 'q', kind: 'echo', idempotencyKey: 'k1' })).task.state).toBe('succeeded');
  });

  it('enqueues many tasks at once, reporting which keys already existed, in input order', async () => {
    await h.engine.enqueue({ queue: 'q', kind: 'echo', idempotencyKey: 'b' });
    const results = await h.engine.enqueueMany([
      { queue: 'q', kind: 'echo', idempotencyKey: 'a' },
      { queue: 'q', kind: 'echo', idempotencyKey: 'b' },
      { queue: 'q', kind: 'echo' },
      { queue: 'q', kind: 'echo', idempotencyKey: 'a' },
    ]);
    expect(results.map((r) => r.created)).toEqual([true, false, true, false]);
    expect(results[3]!.task.id).toBe(results[0]!.task.id);
    expect((await h.engine.list({ queue: 'q' })).items).toHaveLength(3);
  });

  it('rejects malformed tasks with a validation error and writes nothing', async () => {
    await expect(h.engine.enqueue({ queue: '', kind: 'echo' })).rejects.toMatchObject({ code: 'CATAPULT_VALIDATION_FAILED' });
    await expect(h.engine.enqueue({ queue: 'q', kind: 'echo', maxAttempts: 0 })).rejects.toMatchObject({ code: 'CATAPULT_VALIDATION_FAILED' });
    await expect(h.engine.enqueueMany([{ queue: 'q', kind: 'ok' }, { queue: 'q', kind: 'bad kind!' }])).rejects.toMatchObject({
      code: 'CATAPULT_VALIDATION_FAILED',
    });
    expect((await h.engine.list()).items).toEqual([]);
  });

  it('rolls an enqueue back with the caller transaction it joined', async () => {
    await expect(
      h.store.write(async (trx) => {
        await h.engine.enqueue({ queue: 'q', kind: 'echo' }, { trx });
        throw new Error('caller gives up');
      }),
    ).rejects.toThrow('caller gives up');
    expect((await h.engine.list()).items).toEqual([]);
  });

  it('claims higher priorities first, then the earliest run_at, then the oldest', async () => {
    const low = await h.engine.enqueue({ queue: 'q', kind: 'k', priority: -1 });
    const normalLate = await h.engine.enqueue({ queue: 'q', kind: 'k', runAt: h.clock.now() - 10 });
    const normalEarly = await h.engine.enqueue({ queue: 'q', kind: 'k', runAt: h.clock.now() - 20 });
    const high = await h.engine.enqueue({ queue: 'q', kind: 'k', priority: 10 });
    const normalNow = await h.engine.enqueue({ queue: 'q', kind: 'k' });
    const claimed = await h.engine.claim({ owner: OWNER, queues: ['q'], limit: 10 });
    expect(claimed.map((c) => c.task.id)).toEqual([high, normalEarly, normalLate, normalNow, low].map((t) => t.task.id));
    // One at a time gives the same order.
    await h.engine.enqueue({ queue: 'p', kind: 'k', priority: 1 });
    const urgent = await h.engine.enqueue({ queue: 'p', kind: 'k', priority: 5 });
    expect((await claimOne(['p'])).task.id).toBe(urgent.task.id);
  });

  it('does not hand out a delayed task before its time, then does', async () => {
    const delayed = await h.engine.enqueue({ queue: 'q', kind: 'k', delayMs: 60_000 });
    expect(delayed.task.runAt).toBe(h.clock.now() + 60_000);
    expect(await h.engine.claim({ owner: OWNER, queues: ['q'], limit: 1 })).toEqual([]);
    h.clock.advance(59_999);
    expect(await h.engine.claim({ owner: OWNER, queues: ['q'], limit: 1 })).toEqual([]);
    h.clock.advance(1);
    expect((await claimOne()).task.id).toBe(delayed.task.id);
  });

  it('claims only from the named queues and kinds', async () => {
    await h.engine.enqueue({ queue: 'a', kind: 'x' });
    const wanted = await h.engine.enqueue({ queue: 'b', kind: 'y' });
    await h.engine.enqueue({ queue: 'b', kind: 'z' });
    const claimed = await h.engine.claim({ owner: OWNER, queues: ['b'], kinds: ['y'], limit: 10 });
    expect(claimed.map((c) => c.task.id)).toEqual([wanted.task.id]);
    expect(await h.engine.claim({ owner: OWNER, queues: ['b'], kinds: [], limit: 10 })).toEqual([]);
  });

  it('completes a held task with its result, and refuses a second completion', async () => {
    await h.engine.enqueue({ queue: 'q', kind: 'k' });
    const { lease } = await claimOne();
    h.clock.advance(1500);
    await h.engine.complete(lease, { wer: 0.14 });
    expect(await h.engine.get(lease.taskId)).toMatchObject({ state: 'succeeded', result: { wer: 0.14 }, lease: null, finishedAt: h.clock.now(), attempts: 1 });
    await expect(h.engine.complete(lease, {})).rejects.toMatchObject({ code: 'CATAPULT_TASK_LEASE_LOST' });
    const metrics = await h.metrics.metrics();
    expect(metrics).toMatch(/catapult_task_duration_seconds_sum\{kind="k",outcome="succeeded"\} 1\.5/);
  });

  it('completes many tasks at once, each with its own result, refusing only a lease that is gone', async () => {
    await h.engine.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ queue: 'q', kind: 'k', payload: i })));
    const claimed = await h.engine.claim({ owner: OWNER, queues: ['q'], limit: 20 });
    const forged = { ...claimed[3]!.lease, leaseId: 'lease_forged' };
    const outcomes = await Promise.allSettled([...claimed.map((c) => h.engine.complete(c.lease, { n: c.task.payload })), h.engine.complete(forged)]);
    expect(outcomes.slice(0, 20).every((o) => o.status === 'fulfilled')).toBe(true);
    expect(outcomes[20]).toMatchObject({ status: 'rejected', reason: { code: 'CATAPULT_TASK_LEASE_LOST' } });
    const tasks = (await h.engine.list({ queue: 'q' })).items;
    expect(tasks.every((t) => t.state === 'succeeded' && (t.result as { n: unknown }).n === t.payload)).toBe(true);
  });

  it('retries a retryable failure after an exponential backoff with jitter, then succeeds', async () => {
    const { task } = await h.engine.enqueue({ queue: 'q', kind: 'k', backoff: { baseMs: 1000, maxMs: 60_000 } });
    // random() is 0.5 in the harness: delay = d/2 + 0.5 * d/2 = 0.75 d.
    const expected = [750, 1500, 3000];
    for (const delay of expected) {
      const { lease } = await claimOne();
      const failed = await h.engine.fail(lease, new TaskFailure('GPU_BUSY', 'all GPUs are busy'));
      expect(failed).toMatchObject({ state: 'failed', error: { code: 'GPU_BUSY', message: 'all GPUs are busy', retryable: true }, lease: null });
      expect(failed.runAt).toBe(h.clock.now() + delay);
      h.clock.advance(delay - 1);
      await h.engine.maintain();
      expect(await h.engine.claim({ owner: OWNER, queues: ['q'], limit: 1 })).toEqual([]);
      h.clock.advance(1);
      expect((await h.engine.maintain()).promoted).toBe(1);
    }
    const last = await claimOne();
    expect(last.task.attempts).toBe(4);
    await h.engine.complete(last.lease, 'ok');
    expect(await h.engine.get(task.id)).toMatchObject({ id: task.id, state: 'succeeded', attempts: 4 });
  });

  it('keeps every backoff within [d/2, d] and under the cap, whatever the jitter', async () => {
    const { backoffDelay } = await import('./index.js');
    for (const r of [0, 0.3, 0.999]) {
      for (let attempt = 1; attempt <= 12; attempt++) {
        const d = Math.min(60_000, 1000 * 2 ** (attempt - 1));
        const delay = backoffDelay(attempt, { baseMs: 1000, maxMs: 60_000 }, () => r);
        expect(delay).toBeGreaterThanOrEqual(d / 2);
        expect(delay).toBeLessThanOrEqual(d);
      }
    }
  });

  it('dead-letters a task whose attempts are spent, with a task.dead event', async () => {
    const { task } = await h.engine.enqueue({ queue: 'q', kind: 'k', maxAttempts: 2, backoff: { baseMs: 0, maxMs: 0 } });
    await h.engine.fail((await claimOne()).lease, new Error('boom 1'));
    await h.engine.maintain();
    const dead = await h.engine.fail((await claimOne()).lease, new Error('boom 2'));
    expect(dead).toMatchObject({ state: 'dead', attempts: 2, error: { code: 'TASK_HANDLER_ERROR', message: 'boom 2', retryable: true } });
    const events = await h.events.list(0, 100, ['task.dead']);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ subject: { kind: 'task', id: task.id }, data: { queue: 'q', kind: 'k', attempts: 2 } });
    expect(await h.engine.queueStats()).toEqual([{ queue: 'q', pending: 0, running: 0, dead: 1, concurrency: null }]);
  });

  it('dead-letters a non-retryable failure at once, and a retry gives it fresh attempts', async () => {
    const { task } = await h.engine.enqueue({ queue: 'q', kind: 'k', maxAttempts: 5 });
    const dead = await h.engine.fail((await claimOne()).lease, TaskFailure.nonRetryable('MODEL_NOT_FOUND', 'no model named x'));
    expect(dead).toMatchObject({ state: 'dead', attempts: 1, error: { code: 'MODEL_NOT_FOUND', retryable: false } });
    const retried = await h.engine.retry(task.id);
    expect(retried).toMatchObject({ state: 'queued', attempts: 0, runAt: h.clock.now(), finishedAt: null });
    expect((await h.events.list(0, 100, ['task.retried'])).map((e) => e.subject.id)).toEqual([task.id]);
    const again = await claimOne();
    expect(again.task.attempts).toBe(1);
    await expect(h.engine.retry(task.id)).rejects.toMatchObject({ code: 'CATAPULT_TASK_NOT_RETRYABLE' });
    await expect(h.engine.retry('task_missing')).rejects.toMatchObject({ code: 'CATAPULT_TASK_NOT_FOUND' });
  });

  it('honours a failure that names its own retry delay', async () => {
    await h.engine.enqueue({ queue: 'q', kind: 'k' });
    const failed = await h.engine.fail((await claimOne()).lease, new TaskFailure('RATE_LIMITED', 'slow down', { retryAfterMs: 42_000 }));
    expect(failed.runAt).toBe(h.clock.now() + 42_000);
  });

  it('cancels a queued task at once and refuses to cancel a finished one', async () => {
    const { task } = await h.engine.enqueue({ queue: 'q', kind: 'k' });
    const cancelled = await h.engine.cancel(task.id);
    expect(cancelled).toMatchObject({ state: 'cancelled', error: { code: 'TASK_CANCELLED' } });
    expect(await h.engine.claim({ owner: OWNER, queues: ['q'], limit: 1 })).toEqual([]);
    expect((await h.engine.cancel(task.id)).state).toBe('cancelled');
    await h.engine.enqueue({ queue: 'q', kind: 'k' });
    const claimed = await claimOne();
    await h.engine.complete(claimed.lease);
    await expect(h.engine.cancel(claimed.task.id)).rejects.toMatchObject({ code: 'CATAPULT_TASK_NOT_CANCELLABLE' });
    expect((await h.events.list(0, 100, ['task.cancelled'])).map((e) => e.subject.id)).toEqual([task.id]);
  });

  it('tells the holder of a running task through its heartbeat that it was cancelled; the task ends cancelled', async () => {
    const { task } = await h.engine.enqueue({ queue: 'q', kind: 'k' });
    const { lease } = await claimOne();
    expect((await h.engine.heartbeat(lease)).cancelRequested).toBe(false);
    const requested = await h.engine.cancel(task.id);
    expect(requested).toMatchObject({ state: 'running', cancelRequestedAt: h.clock.now() });
    expect((await h.engine.heartbeat(lease)).cancelRequested).toBe(true);
    const ended = await h.engine.fail(lease, new Error('aborted'));
    expect(ended).toMatchObject({ state: 'cancelled', lease: null, error: { code: 'TASK_CANCELLED', retryable: false } });
  });

  it('reclaims a task whose worker stopped heartbeating, and refuses the old holder afterwards', async () => {
    const { task } = await h.engine.enqueue({ queue: 'q', kind: 'k', maxAttempts: 3 });
    const first = await claimOne(['q'], 5_000);
    h.clock.advance(4_000);
    await h.engine.heartbeat(first.lease, { leaseMs: 5_000 });
    h.clock.advance(4_000);
    expect((await h.engine.maintain()).requeued).toBe(0);
    h.clock.advance(1_001);
    expect(await h.engine.maintain()).toMatchObject({ requeued: 1, dead: 0 });
    const reclaimed = await h.engine.get(task.id);
    expect(reclaimed).toMatchObject({ state: 'queued', attempts: 1, lease: null, error: { code: 'TASK_LEASE_EXPIRED' } });
    const second = await claimOne();
    expect(second.task.attempts).toBe(2);
    await expect(h.engine.heartbeat(first.lease)).rejects.toMatchObject({ code: 'CATAPULT_TASK_LEASE_LOST' });
    await expect(h.engine.complete(first.lease, 'late')).rejects.toMatchObject({ code: 'CATAPULT_TASK_LEASE_LOST' });
    await expect(h.engine.fail(first.lease, new Error('late'))).rejects.toMatchObject({ code: 'CATAPULT_TASK_LEASE_LOST' });
    await h.engine.complete(second.lease, 'ok');
    expect((await h.engine.get(task.id)).result).toBe('ok');
  });

  it('dead-letters a task whose last attempt lost its lease', async () => {
    await h.engine.enqueue({ queue: 'q', kind: 'k', maxAttempts: 1 });
    await claimOne(['q'], 1_000);
    h.clock.advance(1_001);
    expect(await h.engine.maintain()).toMatchObject({ requeued: 0, dead: 1 });
    expect(await h.events.list(0, 100, ['task.dead'])).toHaveLength(1);
  });

  it('cancels a running task whose worker vanished after cancellation was asked for', async () => {
    const { task } = await h.engine.enqueue({ queue: 'q', kind: 'k' });
    await claimOne(['q'], 1_000);
    await h.engine.cancel(task.id);
    h.clock.advance(1_001);
    expect(await h.engine.maintain()).toMatchObject({ cancelled: 1 });
    expect((await h.engine.get(task.id)).state).toBe('cancelled');
  });

  it('lets a worker give a task back without spending the attempt', async () => {
    const { task } = await h.engine.enqueue({ queue: 'q', kind: 'k' });
    const { lease } = await claimOne();
    const released = await h.engine.release(lease);
    expect(released).toMatchObject({ id: task.id, state: 'queued', attempts: 0, lease: null });
    await expect(h.engine.complete(lease)).rejects.toMatchObject({ code: 'CATAPULT_TASK_LEASE_LOST' });
    expect((await claimOne()).task.attempts).toBe(1);
  });

  it('keeps a queue within its concurrency limit across claims and engines', async () => {
    await h.engine.enqueueMany(Array.from({ length: 6 }, () => ({ queue: 'limited', kind: 'k' })));
    await h.engine.enqueueMany(Array.from({ length: 3 }, () => ({ queue: 'free', kind: 'k', priority: -1 })));
    await h.engine.setQueueConcurrency('limited', 2);
    const other = h.secondEngine();
    const first = await h.engine.claim({ owner: OWNER, queues: ['limited', 'free'], limit: 10 });
    expect(first.filter((c) => c.task.queue === 'limited')).toHaveLength(2);
    expect(first.filter((c) => c.task.queue === 'free')).toHaveLength(3);
    expect(await other.engine.claim({ owner: 'worker-b', queues: ['limited'], limit: 10 })).toEqual([]);
    await h.engine.complete(first.find((c) => c.task.queue === 'limited')!.lease);
    expect(await other.engine.claim({ owner: 'worker-b', queues: ['limited'], limit: 10 })).toHaveLength(1);
    await h.engine.setQueueConcurrency('limited', null);
    expect(await h.engine.claim({ owner: OWNER, queues: ['limited'], limit: 10 })).toHaveLength(3);
    expect((await h.engine.queueStats()).find((q) => q.queue === 'limited')).toEqual({ queue: 'limited', pending: 0, running: 5, dead: 0, concurrency: null });
  });

  it('never gives one task to two concurrent claimers', async () => {
    await h.engine.enqueueMany(Array.from({ length: 200 }, (_, i) => ({ queue: 'q', kind: 'k', priority: i % 3 })));
    const other = h.secondEngine();
    const owners = Array.from({ length: 8 }, (_, i) => `w${i}`);
    const seen = new Map<string, string>();
    await Promise.all(
      owners.map(async (owner, i) => {
        const engine = i % 2 === 0 ? h.engine : other.engine;
        for (;;) {
          const claimed = await engine.claim({ owner, queues: ['q'], limit: 7 });
          if (claimed.length === 0) return;
          for (const c of claimed) {
            expect(seen.get(c.task.id)).toBeUndefined();
            seen.set(c.task.id, owner);
          }
        }
      }),
    );
    expect(seen.size).toBe(200);
  });

  it('lists tasks newest first, filtered by queue, state and kind, a page at a time', async () => {
    const a = await h.engine.enqueue({ queue: 'q', kind: 'a' });
    const b = await h.engine.enqueue({ queue: 'q', kind: 'b' });
    const c = await h.engine.enqueue({ queue: 'r', kind: 'a' });
    expect((await h.engine.list({ kind: 'a' })).items.map((t) => t.id)).toEqual([c.task.id, a.task.id]);
    expect((await h.engine.list({ queue: 'q', state: 'queued' })).items.map((t) => t.id)).toEqual([b.task.id, a.task.id]);
    const page1 = await h.engine.list({ limit: 2 });
    expect(page1.items.map((t) => t.id)).toEqual([c.task.id, b.task.id]);
    const page2 = await h.engine.list({ limit: 2, cursor: page1.nextCursor! });
    expect(page2).toEqual({ items: [expect.objectContaining({ id: a.task.id })], nextCursor: null });
    await expect(h.engine.get('task_nope')).rejects.toMatchObject({ code: 'CATAPULT_TASK_NOT_FOUND' });
  });

  it('exports pending, running and dead counts per queue on the metrics registry', async () => {
    await h.engine.enqueueMany([
      { queue: 'benchmarks', kind: 'k' },
      { queue: 'benchmarks', kind: 'k' },
      { queue: 'benchmarks', kind: 'k', delayMs: 1000 },
      { queue: 'deployments', kind: 'k', maxAttempts: 1 },
    ]);
    await claimOne(['benchmarks']);
    await h.engine.fail((await claimOne(['deployments'])).lease, new Error('x'));
    const text = await h.metrics.metrics();
    expect(text).toContain('catapult_tasks_pending{queue="benchmarks"} 2');
    expect(text).toContain('catapult_tasks_running{queue="benchmarks"} 1');
    expect(text).toContain('catapult_tasks_dead{queue="deployments"} 1');
    expect(text).toContain('catapult_tasks_pending{queue="deployments"} 0');
    expect(text).toMatch(/catapult_task_duration_seconds_count\{kind="k",outcome="dead"\} 1/);
  });
});

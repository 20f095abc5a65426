import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/observability/index.js';
import { startControlPlane } from '../../src/server/index.js';
import { AgentClient, HttpTaskTransport } from '../../src/agent/index.js';
import { TaskFailure, TaskHandlers, WorkerPool, isTaskFailure } from '../../src/tasks/index.js';
import { ManualClock, systemClock } from '../../src/util/index.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { type Backend, createTestDatabase, describeEachBackend } from '../helpers/services.js';
import { waitFor } from './harness.js';

// Response bodies are checked field by field with toMatchObject; their static type adds nothing here.
 
type Body = any;

describeEachBackend('task API', (backend: Backend) => {
  let t: TestControlPlane;
  let clock: ManualClock;
  let readKey: string;
  let deployKey: string;

  beforeAll(async () => {
    clock = new ManualClock(Date.now());
    t = await startTestControlPlane(backend, { clock });
    readKey = (await t.cp.keys.create({ name: 'viewer', scopes: ['read'] }, null)).secret;
    deployKey = (await t.cp.keys.create({ name: 'deployer', scopes: ['deploy'] }, null)).secret;
  });
  afterAll(async () => {
    await t.close();
  });

  const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as Body });
  const claim = async (body: Record<string, unknown>) => json(await t.call('POST', '/api/v1/agents/tasks/claim', { body }));

  it('lists tasks by queue, state and kind, and shows one by id, to a read key', async () => {
    const a = await t.cp.tasks.enqueue({ queue: 'list-q', kind: 'scan', payload: { model: 'm1' } });
    const b = await t.cp.tasks.enqueue({ queue: 'list-q', kind: 'analyze' });
    await t.cp.tasks.enqueue({ queue: 'list-other', kind: 'scan' });
    const all = await json(await t.call('GET', '/api/v1/tasks?queue=list-q', { key: readKey }));
    expect(all.status).toBe(200);
    expect(all.body.items.map((x: Body) => x.id)).toEqual([b.task.id, a.task.id]);
    const scans = await json(await t.call('GET', '/api/v1/tasks?queue=list-q&kind=scan&state=queued', { key: readKey }));
    expect(scans.body.items.map((x: Body) => x.id)).toEqual([a.task.id]);
    const page = await json(await t.call('GET', '/api/v1/tasks?queue=list-q&limit=1', { key: readKey }));
    expect(page.body.nextCursor).toBe(b.task.id);
    const one = await json(await t.call('GET', `/api/v1/tasks/${a.task.id}`, { key: readKey }));
    expect(one.body).toMatchObject({ id: a.task.id, queue: 'list-q', kind: 'scan', state: 'queued', payload: { model: 'm1' }, lease: null });
    const missing = await json(await t.call('GET', '/api/v1/tasks/task_nope', { key: readKey }));
    expect(missing).toMatchObject({ status: 404, body: { code: 'CATAPULT_TASK_NOT_FOUND' } });
    const bad = await json(await t.call('GET', '/api/v1/tasks?state=sleeping', { key: readKey }));
    expect(bad).toMatchObject({ status: 400, body: { code: 'CATAPULT_VALIDATION_FAILED' } });
  });

  it('cancels and retries only with the deploy scope, and says when a task is past cancelling', async () => {
    const { task } = await t.cp.tasks.enqueue({ queue: 'cancel-q', kind: 'build' });
    expect((await json(await t.call('POST', `/api/v1/tasks/${task.id}/cancel`, { key: readKey }))).status).toBe(403);
    const cancelled = await json(await t.call('POST', `/api/v1/tasks/${task.id}/cancel`, { key: deployKey }));
    expect(cancelled).toMatchObject({ status: 200, body: { state: 'cancelled', error: { code: 'TASK_CANCELLED' } } });
    const again = await json(await t.call('POST', `/api/v1/tasks/${task.id}/retry`, { key: deployKey }));
    expect(again).toMatchObject({ status: 409, body: { code: 'CATAPULT_TASK_NOT_RETRYABLE' } });

    const doomed = await t.cp.tasks.enqueue({ queue: 'cancel-q', kind: 'build', maxAttempts: 1 });
    const [held] = (await claim({ queues: ['cancel-q'] })).body.tasks;
    expect(held.task.id).toBe(doomed.task.id);
    await json(
      await t.call('POST', `/api/v1/agents/tasks/${doomed.task.id}/fail`, {
        body: { leaseId: held.lease.id, error: { code: 'IMAGE_BUILD_FAILED', message: 'no Dockerfile' } },
      }),
    );
    expect((await json(await t.call('POST', `/api/v1/tasks/${doomed.task.id}/cancel`, { key: deployKey }))).body.code).toBe('CATAPULT_TASK_NOT_CANCELLABLE');
    const retried = await json(await t.call('POST', `/api/v1/tasks/${doomed.task.id}/retry`, { key: deployKey }));
    expect(retried).toMatchObject({ status: 200, body: { state: 'queued', attempts: 0 } });
  });

  it('takes work submitted by a client with a priority, and agents claim the highest priority first', async () => {
    const low = await json(await t.call('POST', '/api/v1/tasks', { body: { queue: 'submit-q', kind: 'infer', payload: { prompt: 'a' } }, key: deployKey }));
    expect(low).toMatchObject({ status: 201, body: { queue: 'submit-q', kind: 'infer', priority: 0, state: 'queued', payload: { prompt: 'a' } } });
    const high = await json(await t.call('POST', '/api/v1/tasks', { body: { queue: 'submit-q', kind: 'infer', payload: { prompt: 'b' }, priority: 10, idempotencyKey: 'req-1' }, key: deployKey }));
    expect(high.status).toBe(201);
    // The same idempotency key gives back the task that has it.
    const again = await json(await t.call('POST', '/api/v1/tasks', { body: { queue: 'submit-q', kind: 'infer', priority: 10, idempotencyKey: 'req-1' }, key: deployKey }));
    expect(again).toMatchObject({ status: 200, body: { id: high.body.id } });
    const first = await claim({ queues: ['submit-q'], kinds: ['infer'], limit: 1 });
    expect(first.body.tasks[0].task.id).toBe(high.body.id);
    const second = await claim({ queues: ['submit-q'], kinds: ['infer'], limit: 1 });
    expect(second.body.tasks[0].task.id).toBe(low.body.id);
    // A read key may not submit; the control plane's own kinds are started through their own APIs.
    expect((await t.call('POST', '/api/v1/tasks', { body: { queue: 'submit-q', kind: 'infer' }, key: readKey })).status).toBe(403);
    const own = await json(await t.call('POST', '/api/v1/tasks', { body: { queue: 'benchmarks', kind: 'benchmark.run' }, key: deployKey }));
    expect(own).toMatchObject({ status: 400, body: { code: 'CATAPULT_VALIDATION_FAILED', errors: [{ path: 'body/kind' }] } });
    const bad = await json(await t.call('POST', '/api/v1/tasks', { body: { queue: 'submit-q', kind: 'infer', priority: 'high' }, key: deployKey }));
    expect(bad).toMatchObject({ status: 400, body: { code: 'CATAPULT_VALIDATION_FAILED' } });
  });

  it('lets an agent claim, heartbeat and complete tasks from the queues it names', async () => {
    const { task } = await t.cp.tasks.enqueue({ queue: 'agent-q', kind: 'bench.shard', payload: { shard: 3 }, priority: 5 });
    await t.cp.tasks.enqueue({ queue: 'agent-q', kind: 'other-kind' });
    const claimed = await claim({ queues: ['agent-q'], kinds: ['bench.shard'], limit: 5, leaseMs: 60_000, worker: 'gpu0' });
    expect(claimed.status).toBe(200);
    expect(claimed.body.tasks).toHaveLength(1);
    const [{ task: got, lease }] = claimed.body.tasks;
    expect(got).toMatchObject({ id: task.id, state: 'running', attempts: 1, payload: { shard: 3 } });
    expect(lease).toMatchObject({ owner: expect.stringMatching(/^key:.+\/gpu0$/), expiresAt: clock.now() + 60_000 });

    clock.advance(30_000);
    const beat = await json(await t.call('POST', `/api/v1/agents/tasks/${task.id}/heartbeat`, { body: { leaseId: lease.id, worker: 'gpu0' } }));
    expect(beat).toEqual({ status: 200, body: { cancelled: false, leaseExpiresAt: clock.now() + t.cp.tasks.defaultLeaseMs } });

    // Another worker name is another owner: it cannot finish this lease.
    const stranger = await json(await t.call('POST', `/api/v1/agents/tasks/${task.id}/complete`, { body: { leaseId: lease.id, worker: 'gpu1' } }));
    expect(stranger).toMatchObject({ status: 409, body: { code: 'CATAPULT_TASK_LEASE_LOST' } });

    const done = await json(await t.call('POST', `/api/v1/agents/tasks/${task.id}/complete`, { body: { leaseId: lease.id, worker: 'gpu0', result: { rps: 42 } } }));
    expect(done).toMatchObject({ status: 200, body: { state: 'succeeded', result: { rps: 42 }, lease: null } });
    const twice = await json(await t.call('POST', `/api/v1/agents/tasks/${task.id}/complete`, { body: { leaseId: lease.id, worker: 'gpu0' } }));
    expect(twice.body.code).toBe('CATAPULT_TASK_LEASE_LOST');
  });

  it('tells an agent through its heartbeat that its task was cancelled', async () => {
    const { task } = await t.cp.tasks.enqueue({ queue: 'agent-cancel-q', kind: 'eval' });
    const [{ lease }] = (await claim({ queues: ['agent-cancel-q'] })).body.tasks;
    const requested = await json(await t.call('POST', `/api/v1/tasks/${task.id}/cancel`, { key: deployKey }));
    expect(requested.body).toMatchObject({ state: 'running', cancelRequestedAt: clock.now() });
    const beat = await json(await t.call('POST', `/api/v1/agents/tasks/${task.id}/heartbeat`, { body: { leaseId: lease.id } }));
    expect(beat.body.cancelled).toBe(true);
    const ended = await json(
      await t.call('POST', `/api/v1/agents/tasks/${task.id}/fail`, { body: { leaseId: lease.id, error: { code: 'ABORTED', message: 'stopped on request' } } }),
    );
    expect(ended.body).toMatchObject({ state: 'cancelled', error: { code: 'TASK_CANCELLED' } });
  });

  it('schedules a retry for a retryable agent failure and gives a released task back unspent', async () => {
    const { task } = await t.cp.tasks.enqueue({ queue: 'agent-fail-q', kind: 'convert' });
    let [{ lease }] = (await claim({ queues: ['agent-fail-q'] })).body.tasks;
    const failed = await json(
      await t.call('POST', `/api/v1/agents/tasks/${task.id}/fail`, {
        body: { leaseId: lease.id, error: { code: 'DISK_FULL', message: 'no space', retryable: true, retryAfterMs: 90_000 } },
      }),
    );
    expect(failed.body).toMatchObject({ state: 'failed', runAt: clock.now() + 90_000, error: { code: 'DISK_FULL', retryable: true } });
    clock.advance(90_000);
    await t.cp.tasks.maintain();
    [{ lease }] = (await claim({ queues: ['agent-fail-q'] })).body.tasks;
    const released = await json(await t.call('POST', `/api/v1/agents/tasks/${task.id}/release`, { body: { leaseId: lease.id } }));
    expect(released.body).toMatchObject({ state: 'queued', attempts: 1 });
  });

  it('runs the handlers an agent registers on a worker pool over HTTP: results, failures, cancels and lost leases reach both sides', async () => {
    const client = new AgentClient(t.url);
    client.bearer = t.adminKey;
    const aborted = new Map<string, unknown>();
    const waitForAbort = (ctx: { task: { id: string }; signal: AbortSignal }) =>
      new Promise((_, reject) => {
        ctx.signal.addEventListener('abort', () => {
          aborted.set(ctx.task.id, ctx.signal.reason);
          reject(ctx.signal.reason as Error);
        });
      });
    const handlers = TaskHandlers.of('http-q', {
      add: ({ payload }) => {
        const { a, b } = payload as { a: number; b: number };
        return { sum: a + b };
      },
      busy: () => {
        throw new TaskFailure('GPU_BUSY', 'all GPUs taken', { retryAfterMs: 60_000 });
      },
      broken: () => {
        throw TaskFailure.nonRetryable('MODEL_NOT_FOUND', 'no such model');
      },
      long: waitForAbort,
    });
    const pool = new WorkerPool(new HttpTaskTransport(client), { clock: systemClock, log: silentLogger() }, { handlers, workerId: 'gpu0', concurrency: 4, pollMs: 20, heartbeatMs: 50, leaseMs: 5_000 });
    await pool.start();
    const submit = async (kind: string, payload?: unknown, extra: Record<string, unknown> = {}) =>
      (await json(await t.call('POST', '/api/v1/tasks', { body: { queue: 'http-q', kind, payload, ...extra }, key: deployKey }))).body.id as string;
    const task = async (id: string) => (await json(await t.call('GET', `/api/v1/tasks/${id}`, { key: readKey }))).body;
    try {
      const add = await submit('add', { a: 2, b: 3 });
      const busy = await submit('busy');
      const broken = await submit('broken');
      const cancelMe = await submit('long');
      const loseMe = await submit('long', null, { maxAttempts: 1 });
      expect(await waitFor(async () => ((await task(add)).state === 'succeeded' ? task(add) : undefined), 'add to succeed')).toMatchObject({ result: { sum: 5 } });
      const failed = await waitFor(async () => ((await task(busy)).state === 'failed' ? task(busy) : undefined), 'busy to fail');
      expect(failed).toMatchObject({ error: { code: 'GPU_BUSY', retryable: true }, runAt: clock.now() + 60_000 });
      expect(await waitFor(async () => ((await task(broken)).state === 'dead' ? task(broken) : undefined), 'broken to die')).toMatchObject({
        error: { code: 'MODEL_NOT_FOUND', retryable: false },
      });
      expect((await waitFor(async () => ((await task(cancelMe)).state === 'running' ? task(cancelMe) : undefined), 'long to run')).lease.owner).toMatch(/^key:.+\/gpu0$/);

      // A cancel reaches the handler through the pool's heartbeat; the task ends cancelled.
      await t.call('POST', `/api/v1/tasks/${cancelMe}/cancel`, { key: deployKey });
      await waitFor(async () => (await task(cancelMe)).state === 'cancelled', 'the cancel to reach the handler');
      expect(aborted.get(cancelMe)).toMatchObject({ code: 'TASK_CANCELLED' });

      // The control plane reclaims a lease (its clock passed the expiry): the next heartbeat is refused and the handler aborted.
      await waitFor(async () => {
        clock.advance(10_000);
        await t.cp.tasks.maintain();
        return (await task(loseMe)).state === 'dead';
      }, 'the lease to be reclaimed');
      await waitFor(() => aborted.has(loseMe), 'the handler to hear of the lost lease');
      const reason = aborted.get(loseMe);
      expect(isTaskFailure(reason) && reason.code).toBe('TASK_LEASE_LOST');
      expect((await task(loseMe)).error).toMatchObject({ code: 'TASK_LEASE_EXPIRED' });
    } finally {
      await pool.stop({ deadlineMs: 0 });
    }
  });

  it('rejects unknown fields and malformed claims with a validation error', async () => {
    expect((await claim({ queues: ['q'], priority: 1 })).body.code).toBe('CATAPULT_VALIDATION_FAILED');
    expect((await claim({ queues: [] })).body.code).toBe('CATAPULT_VALIDATION_FAILED');
    expect((await claim({ queues: ['q'], limit: 1000 })).body.code).toBe('CATAPULT_VALIDATION_FAILED');
    const beat = await json(await t.call('POST', '/api/v1/agents/tasks/task_x/heartbeat', { body: { leaseId: 'l', extra: true } }));
    expect(beat).toMatchObject({ status: 400, body: { code: 'CATAPULT_VALIDATION_FAILED' } });
    expect((await claim({ queues: ['q'] })).status).toBe(200);
    expect((await json(await t.call('POST', '/api/v1/agents/tasks/claim', { key: deployKey, body: { queues: ['q'] } }))).status).toBe(403);
  });

  it('reports queues in the cluster status and on /metrics', async () => {
    await t.cp.tasks.enqueue({ queue: 'metrics-q', kind: 'k' });
    await t.cp.tasks.enqueue({ queue: 'metrics-q', kind: 'k' });
    const status = await json(await t.call('GET', '/api/v1/cluster/status', { key: readKey }));
    expect(status.body.queues).toContainEqual({ queue: 'metrics-q', pending: 2, running: 0, dead: 0, concurrency: null });
    const metrics = await (await t.call('GET', '/metrics', { key: null })).text();
    expect(metrics).toContain('catapult_tasks_pending{queue="metrics-q"} 2');
    expect(metrics).toContain('# TYPE catapult_task_duration_seconds histogram');
    expect(metrics).toMatch(/catapult_task_duration_seconds_count\{kind="bench.shard",outcome="succeeded"\} 1/);
  });

  it('documents the agent routes as agent-only and the task routes with their scopes', async () => {
    const doc = (await (await t.call('GET', '/api/openapi.json', { key: null })).json()) as Body;
    expect(doc.paths['/api/v1/agents/tasks/claim'].post['x-catapult-scope']).toBe('agent');
    expect(doc.paths['/api/v1/tasks'].get['x-catapult-scope']).toBe('read');
    expect(doc.paths['/api/v1/tasks/{id}/retry'].post['x-catapult-scope']).toBe('deploy');
  });
});

describeEachBackend('control-plane task workers', (backend: Backend) => {
  it('runs the handlers registered at start and drains them on close', async () => {
    const db = await createTestDatabase(backend, 'cpworkers');
    const config = loadConfig({
      env: { CATAPULT_DATA_DIR: db.dataDir, CATAPULT_DATABASE_URL: db.databaseUrl, CATAPULT_API_PORT: '0', CATAPULT_GATEWAY_PORT: '0' },
      cwd: db.dataDir,
    });
    const cp = await startControlPlane({
      config,
      log: silentLogger(),
      registerTasks: (handlers) => {
        handlers.register('greet', ({ payload }) => `hello ${String(payload)}`, { queue: 'control' });
        handlers.register(
          'refuse',
          () => {
            throw TaskFailure.nonRetryable('NOPE', 'never');
          },
          { queue: 'control' },
        );
      },
    });
    try {
      const greet = await cp.tasks.enqueue({ queue: 'control', kind: 'greet', payload: 'world' });
      const refuse = await cp.tasks.enqueue({ queue: 'control', kind: 'refuse' });
      await waitFor(async () => (await cp.tasks.get(greet.task.id)).state === 'succeeded', 'greet to run');
      expect((await cp.tasks.get(greet.task.id)).result).toBe('hello world');
      await waitFor(async () => (await cp.tasks.get(refuse.task.id)).state === 'dead', 'refuse to die');
    } finally {
      await cp.close();
      await db.cleanup();
    }
  });
});

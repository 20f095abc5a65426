import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BENCH_QUEUE, SHARD_KIND, type ShardProgressReport, runShard, shardRoutes, shardRunOf, shardSpecSchema } from '../bench/index.js';
import type { Logger } from '../observability/index.js';
import { type TaskContext, TaskFailure, TaskHandlers, WorkerPool, isTaskFailure } from '../tasks/index.js';
import { systemClock } from '../util/index.js';
import { type AgentClient, ServerError } from './client.js';
import { HttpTaskTransport } from './tasks.js';

export interface BenchWorkerOptions {
  client: AgentClient;
  /** Where records are written before they are uploaded. */
  dir: string;
  log: Logger;
  /** How often to look for shards when there are none. */
  pollMs?: number;
  leaseMs?: number;
}

/** The worker name in this agent's shard leases. */
const WORKER = 'bench';
/** How long a stopping agent waits for a shard to upload what it recorded before giving the task back. */
const STOP_DEADLINE_MS = 30_000;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

/**
 * Runs benchmark shards on this machine: a WorkerPool over the control plane's task routes with one
 * handler, for `benchmark.shard` tasks, one at a time (so two clients of a run land on two machines).
 * The handler fetches what to run, waits for the run's common start time, sends the load, reports
 * progress and uploads the raw records; the pool claims, heartbeats and records the outcome. A shard
 * the control plane cancels stops at its next heartbeat (every 2 s); the records sent so far are uploaded.
 */
export class BenchWorker {
  private readonly stopping = new AbortController();
  private readonly pool: WorkerPool;
  private started: Promise<void> | undefined;

  constructor(private readonly o: BenchWorkerOptions) {
    const leaseMs = o.leaseMs ?? 30_000;
    const pollMs = o.pollMs ?? 1000;
    const handlers = new TaskHandlers().register(SHARD_KIND, (ctx) => this.runShard(ctx), { queue: BENCH_QUEUE });
    this.pool = new WorkerPool(
      new HttpTaskTransport(o.client, { signal: this.stopping.signal, defaultLeaseMs: leaseMs }),
      { clock: systemClock, log: o.log },
      {
        handlers,
        workerId: WORKER,
        concurrency: 1,
        leaseMs,
        // The heartbeat is also how a cancel reaches the shard.
        heartbeatMs: Math.min(2000, Math.floor(leaseMs / 3)),
        pollMs,
        retryMs: pollMs * 3,
      },
    );
  }

  start(): void {
    this.started = this.pool.start().catch((err: unknown) => this.o.log.warn({ err }, 'cannot start running benchmark shards'));
  }

  /** Stops claiming; a running shard stops, uploads what it recorded and is reported. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error('the agent stopped'));
    await this.started;
    await this.pool.stop({ deadlineMs: STOP_DEADLINE_MS });
  }

  /** Retries a call while the control plane cannot be reached (or answers 5xx), for up to ten minutes. */
  private async persist<T>(call: () => Promise<T>): Promise<T> {
    const signal = this.stopping.signal;
    const deadline = Date.now() + 10 * 60_000;
    let delay = 500;
    for (;;) {
      try {
        return await call();
      } catch (err) {
        if (!(err instanceof ServerError) || !err.transient || Date.now() > deadline || signal.aborted) throw err;
        await sleep(delay, signal);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /** The shard handler: its result is the record count; a stopped or cancelled shard fails non-retryably. */
  private async runShard(ctx: TaskContext): Promise<{ records: number }> {
    const c = this.o.client;
    const taskId = ctx.task.id;
    const file = join(this.o.dir, `${taskId}.jsonl`);
    // Cancelled, lease lost (the pool's signal) or the agent stopping.
    const signal = AbortSignal.any([ctx.signal, this.stopping.signal]);
    let progressTimer: NodeJS.Timeout | undefined;
    try {
      const spec = shardSpecSchema.parse(await c.call<unknown>('GET', shardRoutes.spec(taskId)));
      ctx.log.info({ benchmark: spec.benchmarkId, shard: spec.shard, shards: spec.shards }, 'running benchmark shard');
      let latest: ShardProgressReport | undefined;
      progressTimer = setInterval(() => {
        if (!latest) return;
        c.call('POST', shardRoutes.progress(taskId), latest).catch(() => undefined);
      }, 1000);
      const result = await runShard(shardRunOf(spec), { file, signal, onProgress: (p) => (latest = p) });
      if (latest) await c.call('POST', shardRoutes.progress(taskId), latest).catch(() => undefined);
      // The control plane may be away (restarting) just now: the records wait here until it is back.
      await this.persist(() => c.upload(shardRoutes.records(taskId), 'application/x-ndjson', createReadStream(file)));
      const interrupted = result.interrupted;
      if (interrupted) throw TaskFailure.nonRetryable(interrupted === 'cancelled' ? 'TASK_CANCELLED' : 'SHARD_INTERRUPTED', interrupted);
      return { records: result.records };
    } catch (err) {
      if (isTaskFailure(err)) throw err;
      ctx.log.warn({ err: (err as Error).message }, 'benchmark shard failed');
      throw TaskFailure.nonRetryable('SHARD_FAILED', (err as Error).message, { cause: err });
    } finally {
      if (progressTimer) clearInterval(progressTimer);
      await rm(file, { force: true });
    }
  }
}

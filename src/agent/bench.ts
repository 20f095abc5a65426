import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BENCH_QUEUE, SHARD_KIND, type ShardProgressReport, runShard, shardRoutes, shardRunOf, shardSpecSchema } from '../bench/index.js';
import type { Logger } from '../observability/index.js';
import { type AgentClient, ServerError } from './client.js';

export interface BenchWorkerOptions {
  client: AgentClient;
  /** Where records are written before they are uploaded. */
  dir: string;
  log: Logger;
  /** How often to look for shards when there are none. */
  pollMs?: number;
  leaseMs?: number;
}

const WORKER = 'bench';

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
 * Runs benchmark shards on this machine: claims `benchmark.shard` tasks (one at a time, so two
 * clients of a run land on two machines), fetches what to run, waits for the run's common start
 * time, sends the load, reports progress, uploads the raw records and completes the task. A shard
 * that the control plane cancels stops at its next heartbeat; the records sent so far are uploaded.
 */
export class BenchWorker {
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly o: BenchWorkerOptions) {}

  start(): void {
    this.loop = this.run(this.stopping.signal);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const pollMs = this.o.pollMs ?? 1000;
    while (!signal.aborted) {
      let claimed: Awaited<ReturnType<AgentClient['claimTasks']>>['tasks'];
      try {
        claimed = (await this.o.client.claimTasks({ queues: [BENCH_QUEUE], kinds: [SHARD_KIND], limit: 1, leaseMs: this.o.leaseMs ?? 30_000, worker: WORKER }, signal)).tasks;
      } catch (err) {
        if (signal.aborted) return;
        if (!(err instanceof ServerError) || !err.transient) this.o.log.debug({ err: (err as Error).message }, 'cannot claim benchmark shards');
        await sleep(pollMs * 3, signal);
        continue;
      }
      const first = claimed[0];
      if (!first) {
        await sleep(pollMs, signal);
        continue;
      }
      await this.runShard(first.task.id, first.lease.id, signal);
    }
  }

  /** Retries a call while the control plane cannot be reached (or answers 5xx), for up to ten minutes. */
  private async persist<T>(call: () => Promise<T>, signal: AbortSignal): Promise<T> {
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

  private async runShard(taskId: string, leaseId: string, stopSignal: AbortSignal): Promise<void> {
    const c = this.o.client;
    const held = { leaseId, worker: WORKER };
    const abort = new AbortController();
    const onStop = () => abort.abort(new Error('the agent stopped'));
    stopSignal.addEventListener('abort', onStop, { once: true });
    const leaseMs = this.o.leaseMs ?? 30_000;
    // Every 2 s: the heartbeat is also how a cancel reaches the shard.
    const beat = setInterval(() => {
      c.heartbeatTask(taskId, { ...held, leaseMs })
        .then((r) => {
          if (r.cancelled) abort.abort(new Error('cancelled'));
        })
        .catch((err: unknown) => {
          if (err instanceof ServerError && (err.status === 409 || err.status === 404)) abort.abort(new Error('the shard lease was lost'));
        });
    }, Math.min(2000, Math.floor(leaseMs / 3)));
    const file = join(this.o.dir, `${taskId}.jsonl`);
    let progressTimer: NodeJS.Timeout | undefined;
    try {
      const spec = shardSpecSchema.parse(await c.call<unknown>('GET', shardRoutes.spec(taskId)));
      this.o.log.info({ benchmark: spec.benchmarkId, shard: spec.shard, shards: spec.shards }, 'running benchmark shard');
      let latest: ShardProgressReport | undefined;
      progressTimer = setInterval(() => {
        if (!latest) return;
        c.call('POST', shardRoutes.progress(taskId), latest).catch(() => undefined);
      }, 1000);
      const result = await runShard(shardRunOf(spec), { file, signal: abort.signal, onProgress: (p) => (latest = p) });
      if (latest) await c.call('POST', shardRoutes.progress(taskId), latest).catch(() => undefined);
      // The control plane may be away (restarting) just now: the records wait here until it is back.
      await this.persist(() => c.upload(shardRoutes.records(taskId), 'application/x-ndjson', createReadStream(file)), stopSignal);
      const interrupted = result.interrupted;
      if (interrupted) {
        await this.persist(() => c.failTask(taskId, { ...held, error: { code: interrupted === 'cancelled' ? 'TASK_CANCELLED' : 'SHARD_INTERRUPTED', message: interrupted, retryable: false } }), stopSignal);
      } else {
        await this.persist(() => c.completeTask(taskId, { ...held, result: { records: result.records } }), stopSignal);
      }
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message, task: taskId }, 'benchmark shard failed');
      await c.failTask(taskId, { ...held, error: { code: 'SHARD_FAILED', message: (err as Error).message, retryable: false } }).catch(() => undefined);
    } finally {
      clearInterval(beat);
      if (progressTimer) clearInterval(progressTimer);
      stopSignal.removeEventListener('abort', onStop);
      await rm(file, { force: true });
    }
  }
}

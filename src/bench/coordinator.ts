import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CatapultError } from '../errors/index.js';
import { fromJson, tables, toJson } from '../store/index.js';
import type { TaskContext } from '../tasks/index.js';
import { isTaskFailure } from '../tasks/index.js';
import { planStages } from './plan.js';
import { readAllRecords } from './records.js';
import { type BenchTables, type BenchmarkShardsTable, type BenchmarkState, type BenchmarksTable } from './schema.js';
import { type StageAggregate, type StageSummary, fromSummary, mergeAggregates, summarize, toSummary } from './summary.js';
import { BENCH_QUEUE, SHARD_KIND, type ShardProgressReport, type ShardSpec } from './protocol.js';
import { BenchRows, PROGRESS_WRITE_MS, type Plan, firstLine } from './rows.js';
import { combineProgress } from './views.js';
import { openRecipe } from './secrets.js';

/**
 * The coordinator of runs on agents: one `benchmark.shard` task per client, the agents' view of the
 * shard they hold (spec, progress, records), and the wait for every shard before the merge.
 */
export class ShardCoordinator extends BenchRows {
  /**
   * A run on agents: one `benchmark.shard` task per client (idempotent, so a resumed coordinator
   * finds the same tasks), then wait until every shard has uploaded its records or ended, merging
   * their progress on the way. The agents keep going while the control plane is away.
   */
  async coordinate(ctx: TaskContext<{ benchmarkId: string }>, row: BenchmarksTable, plan: Plan): Promise<unknown> {
    const id = row.id;
    const recipe = openRecipe(this.d.secrets, row.recipe);
    const tasks = await this.d.tasks.enqueueMany(
      Array.from({ length: plan.shards }, (_, shard) => ({ queue: BENCH_QUEUE, kind: SHARD_KIND, payload: { benchmarkId: id, shard }, idempotencyKey: `shard:${id}:${shard}`, maxAttempts: 1, priority: 10 })),
    );
    for (const [shard, t] of tasks.entries()) {
      await tables<BenchTables>(this.d.store.db).updateTable('benchmark_shards').set({ task_id: t.task.id }).where('benchmark_id', '=', id).where('shard', '=', shard).where('task_id', 'is', null).execute();
    }
    let cancelled = false;
    let lastProgress = '';
    let lastProgressAt = 0;
    try {
      for (;;) {
        if (ctx.signal.aborted) {
          const reason = ctx.signal.reason as { code?: string } | undefined;
          if (reason?.code === 'TASK_SHUTDOWN' || reason?.code === 'TASK_LEASE_LOST') {
            // Not ours to end: the shards run on; the next attempt of this task picks them up.
            throw ctx.signal.reason;
          }
          cancelled = true;
          await this.cancelShardTasks(id);
        }
        const shards = await this.shards(this.d.store.db, id);
        const states = await Promise.all(shards.map(async (s) => (s.task_id ? (await this.d.tasks.get(s.task_id)).state : 'queued')));
        const current = await this.row(this.d.store.db, id);
        if (current.cancel_requested_at && !cancelled) {
          cancelled = true;
          await this.cancelShardTasks(id);
        }
        const progress = combineProgress(shards.map((s) => fromJson<ShardProgressReport | null>(s.progress, null)).filter((p): p is ShardProgressReport => p !== null));
        const text = JSON.stringify(progress);
        // Written (and sent as an event) at most once a second, like a local run's.
        if (progress && text !== lastProgress && this.d.clock.now() - lastProgressAt >= PROGRESS_WRITE_MS) {
          lastProgress = text;
          lastProgressAt = this.d.clock.now();
          await this.d.store.write(async (trx) => {
            await tables<BenchTables>(trx).updateTable('benchmarks').set({ progress: text, heartbeat_at: this.d.clock.now() }).where('id', '=', id).execute();
            await this.d.events.append(trx, { type: 'benchmark.progress', subject: { kind: 'benchmark', id }, data: { ...progress } });
          });
          this.d.events.kick();
        }
        const finished = shards.every((s, k) => s.state === 'uploaded' || s.state === 'failed' || s.state === 'cancelled' || ['succeeded', 'dead', 'cancelled'].includes(states[k]!));
        if (finished) {
          const aggs: StageAggregate[][] = [];
          const problems: string[] = [];
          for (const [k, s] of shards.entries()) {
            if (s.summary) aggs.push(fromJson<StageSummary[]>(s.summary, []).map(fromSummary));
            if (s.state !== 'uploaded') {
              const task = s.task_id ? await this.d.tasks.get(s.task_id) : undefined;
              problems.push(`client ${k} ${task?.state ?? s.state}${task?.error ? `: ${task.error.message}` : s.error ? `: ${s.error}` : ''}`);
            }
          }
          const merged = aggs.length > 0 ? mergeAggregates(aggs) : plan.stages.map((st) => summarize([], [st], recipe.slo)[0]!);
          const state: BenchmarkState = cancelled ? 'cancelled' : problems.length > 0 ? 'failed' : 'completed';
          const reason = cancelled ? 'cancelled during the run; the results cover what was sent' : problems.length > 0 ? `${problems.join('; ')}; the results cover the clients that reported` : null;
          return { state: await this.finalize(id, recipe, merged, state, reason) };
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    } catch (err) {
      if (isTaskFailure(err) || (err as { code?: string }).code === 'TASK_SHUTDOWN') throw err;
      await this.setState(id, 'failed', firstLine((err as Error).message), { finished_at: this.d.clock.now() });
      return { state: 'failed' };
    }
  }

  async cancelShardTasks(id: string): Promise<void> {
    for (const s of await this.shards(this.d.store.db, id)) {
      if (s.task_id && (s.state === 'queued' || s.state === 'running')) await this.d.tasks.cancel(s.task_id).catch(() => undefined);
    }
  }

  /** The shard an agent holds: checks that its lease is the agent's. */
  private async heldShard(taskId: string, agentId: string): Promise<{ row: BenchmarksTable; shard: BenchmarkShardsTable }> {
    const task = await this.d.tasks.get(taskId);
    const owner = task.lease?.owner ?? '';
    if (task.kind !== SHARD_KIND || task.state !== 'running' || !(owner === `agent:${agentId}` || owner.startsWith(`agent:${agentId}/`))) {
      throw new CatapultError('CATAPULT_BENCHMARK_SHARD_NOT_HELD', `Task ${taskId} is not a benchmark shard this agent holds.`, { taskId });
    }
    const { benchmarkId, shard } = task.payload as { benchmarkId: string; shard: number };
    const row = await this.row(this.d.store.db, benchmarkId);
    const s = await tables<BenchTables>(this.d.store.db).selectFrom('benchmark_shards').selectAll().where('benchmark_id', '=', benchmarkId).where('shard', '=', shard).executeTakeFirst();
    if (!s) throw new CatapultError('CATAPULT_BENCHMARK_SHARD_NOT_HELD', `Benchmark ${benchmarkId} has no shard ${shard}.`, { taskId });
    return { row, shard: s };
  }

  async shardSpec(taskId: string, agentId: string): Promise<ShardSpec> {
    const { row, shard } = await this.heldShard(taskId, agentId);
    const recipe = openRecipe(this.d.secrets, row.recipe);
    const plan = fromJson<Plan | null>(row.plan, null);
    if (!plan || !row.target_url) throw new CatapultError('CATAPULT_CONFLICT', `Benchmark ${row.id} is not running.`);
    await this.patchShard(row.id, Number(shard.shard), { state: 'running', runner: agentId, started_at: this.d.clock.now() });
    return {
      benchmarkId: row.id,
      shard: Number(shard.shard),
      shards: plan.shards,
      startAt: plan.startAt,
      api: recipe.workload.api,
      stream: recipe.workload.stream,
      timeoutMs: recipe.timeout,
      slo: recipe.slo,
      seed: recipe.seed,
      stages: plan.stages,
      target: { baseUrl: row.target_url, headers: this.d.secrets.openJson<Record<string, string>>(row.target_headers, {}) },
      items: await this.readItems(row.id),
    };
  }

  async shardProgress(taskId: string, agentId: string, progress: ShardProgressReport): Promise<void> {
    const { row, shard } = await this.heldShard(taskId, agentId);
    await this.patchShard(row.id, Number(shard.shard), { progress: toJson(progress) });
  }

  /** Stores a shard's raw records (NDJSON) and the summary computed from them here. */
  async shardRecords(taskId: string, agentId: string, body: Readable): Promise<{ records: number }> {
    const { row, shard } = await this.heldShard(taskId, agentId);
    const n = Number(shard.shard);
    const { rel, abs } = this.recordsPath(row.id, n);
    await mkdir(dirname(abs), { recursive: true });
    const tmp = `${abs}.upload`;
    await pipeline(body, createWriteStream(tmp));
    await rename(tmp, abs);
    const recipe = openRecipe(this.d.secrets, row.recipe);
    const plan = fromJson<Plan | null>(row.plan, null);
    const records = await readAllRecords(abs);
    const aggs = summarize(records, plan?.stages ?? planStages(recipe), recipe.slo);
    await this.patchShard(row.id, n, { state: 'uploaded', records_file: rel, records: records.length, summary: toJson(aggs.map(toSummary)), finished_at: this.d.clock.now() });
    return { records: records.length };
  }
}

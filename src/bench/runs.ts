import { isCatapultError } from '../errors/index.js';
import { fromJson, tables, toJson } from '../store/index.js';
import type { TaskContext } from '../tasks/index.js';
import { isTaskFailure } from '../tasks/index.js';
import { DatasetError } from './audio.js';
import { prepareItems } from './dataset.js';
import type { PreparedItem } from './engine.js';
import { planStages } from './plan.js';
import type { Recipe } from './recipe.js';
import { type BenchTables, type BenchmarkState, type BenchmarksTable, FINAL_STATES } from './schema.js';
import { type StageAggregate, mergeAggregates, toSummary } from './summary.js';
import { PreflightError, type ResolvedTarget, preflight, resolveTarget } from './target.js';
import { AGENT_LEAD_MS, BenchRows, type BenchmarkServiceDeps, LOCAL_LEAD_MS, type LocalRun, PROGRESS_WRITE_MS, type Plan, STALE_AFTER_MS, firstLine } from './rows.js';
import type { ShardCoordinator } from './coordinator.js';
import { runCommandClients } from './commands.js';
import { runShard } from './shard.js';
import { combineProgress } from './views.js';
import { openRecipe } from './secrets.js';

/**
 * Runs: the `benchmark.run` task (prepare, preflight, plan), the clients run in this process with
 * their progress, the hand-over to the coordinator for runs on agents, and the sweep that ends local
 * runs whose control plane died.
 */
export class RunSystem extends BenchRows {
  constructor(
    d: BenchmarkServiceDeps,
    local: Map<string, LocalRun>,
    private readonly coordinator: ShardCoordinator,
  ) {
    super(d, local);
  }

  private sweepTimer: NodeJS.Timeout | undefined;

  private closing = false;

  /** Starts the sweep that ends runs whose control plane died. */
  start(): void {
    this.sweepTimer = setInterval(() => void this.sweep().catch((err: unknown) => this.d.log.warn({ err }, 'benchmark sweep failed')), 5000);
    this.sweepTimer.unref();
    void this.sweep().catch(() => undefined);
  }

  /** Stops local runs (they end `failed`, keeping what they recorded) before the task pool stops. */
  async stop(): Promise<void> {
    this.closing = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const run of this.local.values()) run.abort.abort(new Error('the control plane shut down during the run'));
    const deadline = Date.now() + 5000;
    while (this.local.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  }

  /** Persists live progress at most once a second; also the run's heartbeat and its look for a cancel from another server. */
  private async writeProgress(id: string, run: LocalRun, force = false): Promise<void> {
    const now = this.d.clock.now();
    if (!force && now - run.lastWrite < PROGRESS_WRITE_MS) return;
    run.lastWrite = now;
    const progress = combineProgress([...run.progress.values()]);
    await this.d.store.write(async (trx) => {
      await tables<BenchTables>(trx).updateTable('benchmarks').set({ progress: toJson(progress), heartbeat_at: now, updated_at: now }).where('id', '=', id).execute();
      if (progress) await this.d.events.append(trx, { type: 'benchmark.progress', subject: { kind: 'benchmark', id }, data: { ...progress } });
    });
    this.d.events.kick();
    const row = await tables<BenchTables>(this.d.store.db).selectFrom('benchmarks').select('cancel_requested_at').where('id', '=', id).executeTakeFirst();
    if (row?.cancel_requested_at) run.abort.abort(new Error('cancelled'));
  }

  /** Ends local runs whose control plane stopped sending signs of life (it crashed); they keep what they recorded. */
  private async sweep(): Promise<void> {
    if (this.closing) return;
    const now = this.d.clock.now();
    const stale = await tables<BenchTables>(this.d.store.db)
      .selectFrom('benchmarks')
      .selectAll()
      .where('state', 'in', ['preparing', 'running'])
      .where('where_run', '=', 'local')
      .where('heartbeat_at', '<', now - STALE_AFTER_MS)
      .execute();
    for (const row of stale) {
      if (this.local.has(row.id)) continue;
      const silent = Math.round((now - Number(row.heartbeat_at)) / 1000);
      await this.finalizeInterrupted(row, `the control plane running it stopped (no sign of life for ${silent} s); what it recorded is kept`);
    }
  }

  async runTask(ctx: TaskContext<{ benchmarkId: string }>): Promise<unknown> {
    const id = ctx.payload.benchmarkId;
    let row: BenchmarksTable;
    try {
      row = await this.row(this.d.store.db, id);
    } catch (err) {
      if (isCatapultError(err) && err.code === 'CATAPULT_BENCHMARK_NOT_FOUND') return { skipped: 'deleted' };
      throw err;
    }
    if (FINAL_STATES.has(row.state)) return { state: row.state };
    if (row.where_run === 'local' && (row.state === 'preparing' || row.state === 'running')) {
      // An earlier attempt was cut off (its control plane stopped): the load it sent is gone, the records stay.
      await this.finalizeInterrupted(row, 'the control plane stopped during the run; what it recorded is kept');
      return { state: 'failed' };
    }
    try {
      if (row.where_run === 'agents' && row.state === 'running' && row.plan) {
        // The agents kept running their shards while this control plane was away: wait for them again.
        return await this.coordinator.coordinate(ctx, row, fromJson<Plan>(row.plan, { startAt: 0, stages: [], shards: 0 }));
      }
      return await this.prepareAndRun(ctx, row);
    } finally {
      await this.cleanup(id, openRecipe(this.d.secrets, row.recipe)).catch((err: unknown) => this.d.log.warn({ err, benchmark: id }, 'benchmark cleanup failed'));
    }
  }

  private async prepareAndRun(ctx: TaskContext<{ benchmarkId: string }>, row: BenchmarksTable): Promise<unknown> {
    const id = row.id;
    const recipe = openRecipe(this.d.secrets, row.recipe);
    const run: LocalRun = { abort: new AbortController(), progress: new Map(), lastWrite: 0 };
    const onTaskAbort = () => run.abort.abort(ctx.signal.reason);
    ctx.signal.addEventListener('abort', onTaskAbort, { once: true });
    this.local.set(id, run);
    let target: ResolvedTarget | undefined;
    try {
      await this.setState(id, 'preparing', 'resolving the target and loading the dataset', { heartbeat_at: this.d.clock.now() });
      if (recipe.clients.where === 'slurm') return { state: await runCommandClients(this, id, recipe, run.abort.signal) };
      target = await resolveTarget(this, id, recipe, run.abort.signal);
      const pre = await preflight(target, recipe.workload.api, run.abort.signal);
      target.model = pre.model;
      const items = await prepareItems(recipe, { model: target.model ?? '', cwd: process.cwd() });
      const stages = planStages(recipe);
      if (recipe.stop.epochs !== undefined) {
        // Epochs are passes over the dataset, so the request count is only known now.
        for (const s of stages) s.maxRequests = Math.min(s.maxRequests ?? Infinity, recipe.stop.epochs * items.length);
      }
      const shards = recipe.clients.count;
      if (recipe.clients.where === 'agents') {
        const ready = this.d.readyAgents();
        if (ready < shards) throw new PreflightError(`the recipe asks for ${shards} clients on agents, but ${ready} agent(s) are ready`);
      }
      const plan: Plan = { startAt: this.d.clock.now() + (recipe.clients.where === 'agents' ? AGENT_LEAD_MS : LOCAL_LEAD_MS), stages, shards };
      await this.writeItems(id, items);
      await this.d.store.write(async (trx) => {
        const db = tables<BenchTables>(trx);
        await db.deleteFrom('benchmark_shards').where('benchmark_id', '=', id).execute();
        for (let shard = 0; shard < shards; shard++) {
          await db
            .insertInto('benchmark_shards')
            .values({ benchmark_id: id, shard, state: 'queued', task_id: null, runner: null, records_file: null, records: 0, summary: null, progress: null, error: null, started_at: null, finished_at: null })
            .execute();
        }
        await db
          .updateTable('benchmarks')
          .set({
            state: 'running',
            reason: `${stages.length} stage(s), ${shards} client(s)${recipe.clients.where === 'agents' ? ' on agents' : ''}, ${items.length} dataset item(s)`,
            plan: toJson(plan),
            model: target!.model,
            target_url: target!.baseUrl,
            // Agents fetch the headers with their shard.
            ...(recipe.clients.where === 'agents' ? { target_headers: this.d.secrets.sealJson(target!.headers) } : {}),
            started_at: this.d.clock.now(),
            heartbeat_at: this.d.clock.now(),
            updated_at: this.d.clock.now(),
          })
          .where('id', '=', id)
          .execute();
        await this.d.events.append(trx, { type: 'benchmark.updated', subject: { kind: 'benchmark', id }, data: { name: row.name, state: 'running', stages: stages.length, clients: shards } });
      });
      this.d.events.kick();
      if (recipe.clients.where === 'agents') {
        this.local.delete(id);
        ctx.signal.removeEventListener('abort', onTaskAbort);
        return await this.coordinator.coordinate(ctx, await this.row(this.d.store.db, id), plan);
      }
      const aggregates = await this.runLocal(id, recipe, plan, items, target, run);
      const reason = run.abort.signal.aborted ? String((run.abort.signal.reason as Error | undefined)?.message ?? run.abort.signal.reason) : null;
      const state: BenchmarkState = reason === null ? 'completed' : reason === 'cancelled' ? 'cancelled' : 'failed';
      return { state: await this.finalize(id, recipe, aggregates, state, reason === null ? null : reason === 'cancelled' ? 'cancelled during the run; the results cover what was sent' : `${reason}; the results cover what was sent`) };
    } catch (err) {
      const message = err instanceof PreflightError || err instanceof DatasetError ? `preflight: ${err.message}` : isCatapultError(err) ? err.message : isTaskFailure(err) ? err.message : (err as Error).message;
      const cancelled = run.abort.signal.aborted && String((run.abort.signal.reason as Error | undefined)?.message) === 'cancelled';
      await this.setState(id, cancelled ? 'cancelled' : 'failed', cancelled ? 'cancelled while preparing' : firstLine(message), { finished_at: this.d.clock.now(), target_headers: null });
      this.d.log.info({ benchmark: id, err: message }, 'benchmark ended before its load');
      return { state: cancelled ? 'cancelled' : 'failed' };
    } finally {
      ctx.signal.removeEventListener('abort', onTaskAbort);
      this.local.delete(id);
    }
  }

  /** Runs every client in this process, each with its own engine and records file. */
  private async runLocal(id: string, recipe: Recipe, plan: Plan, items: PreparedItem[], target: ResolvedTarget, run: LocalRun): Promise<StageAggregate[]> {
    const ticker = setInterval(() => void this.writeProgress(id, run).catch(() => undefined), 250);
    try {
      const parts = await Promise.all(
        Array.from({ length: plan.shards }, async (_, shard) => {
          const { rel, abs } = this.recordsPath(id, shard);
          await this.patchShard(id, shard, { state: 'running', runner: 'local', records_file: rel, started_at: this.d.clock.now() });
          const result = await runShard(
            { shard, shards: plan.shards, startAt: plan.startAt, api: recipe.workload.api, stream: recipe.workload.stream, timeoutMs: recipe.timeout, slo: recipe.slo, seed: recipe.seed, stages: plan.stages, target: { baseUrl: target.baseUrl, headers: target.headers }, items },
            { file: abs, signal: run.abort.signal, onProgress: (p) => run.progress.set(shard, p) },
          );
          await this.patchShard(id, shard, {
            state: result.interrupted ? 'cancelled' : 'uploaded',
            records: result.records,
            summary: toJson(result.aggregates.map(toSummary)),
            finished_at: this.d.clock.now(),
          });
          return result.aggregates;
        }),
      );
      await this.writeProgress(id, run, true);
      return mergeAggregates(parts);
    } finally {
      clearInterval(ticker);
    }
  }
}

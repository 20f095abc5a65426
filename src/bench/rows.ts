import type { SlurmBenchHooks, SlurmRunView } from './commands.js';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { KeyService } from '../auth/index.js';
import type { DeploymentService } from '../deployments/index.js';
import { CatapultError } from '../errors/index.js';
import type { EventLog } from '../events/index.js';
import type { EndpointService } from '../gateway/index.js';
import type { Logger } from '../observability/index.js';
import type { AnyDb, Store } from '../store/index.js';
import { fromJson, tables, toJson } from '../store/index.js';
import type { TaskEngine } from '../tasks/index.js';
import { type Clock } from '../util/index.js';
import { type PreparedItem } from './engine.js';
import { type StagePlan, planStages } from './plan.js';
import { type Recipe } from './recipe.js';
import { type RequestRecord, readAllRecords } from './records.js';
import { type BenchTables, type BenchmarkShardsTable, type BenchmarkState, type BenchmarksTable, FINAL_STATES } from './schema.js';
import { type StageAggregate, allRequestsFailed, mergeAggregates, overallEvaluation, stageResults, summarize } from './summary.js';
import { type ProgressView, type ShardProgressReport, type ShardSpec } from './protocol.js';
import { type BenchmarkView, type SummaryView, combineProgress, lastStageSummary } from './views.js';
import { openRecipe, viewRecipe, viewRecipeText } from './secrets.js';
import type { SecretBox } from '../secrets/index.js';

/** What a client (a local engine or an agent) is told to run. */
export interface Plan {
  startAt: number;
  stages: StagePlan[];
  shards: number;
}

export interface BenchmarkServiceDeps {
  store: Store;
  events: EventLog;
  clock: Clock;
  log: Logger;
  tasks: TaskEngine;
  /** Raw records live under `<dataDir>/benchmarks/<id>/`. */
  dataDir: string;
  deployments: DeploymentService;
  endpoints: EndpointService;
  keys: KeyService;
  /** Agents that can take benchmark shards now. */
  readyAgents: () => number;
  /** Where the data-plane gateway listens. */
  gatewayUrl: () => string;
  /** Seals recipes' headers and the run's target headers at rest. */
  secrets: SecretBox;
  /** Slurm for seed 004's command clients (`clients.where: slurm`); without it such recipes fail with a reason. */
  slurm?: SlurmBenchHooks;
}

export const PROGRESS_WRITE_MS = 1000;
export const STALE_AFTER_MS = 15_000;
export const LOCAL_LEAD_MS = 150;
export const AGENT_LEAD_MS = 3000;

export const firstLine = (s: string): string => s.split('\n')[0] ?? s;

/** A run in this process: how to stop it, and its clients' latest progress. */
export interface LocalRun {
  abort: AbortController;
  progress: Map<number, ShardProgressReport>;
  lastWrite: number;
}

/**
 * The shared state of the benchmark systems: a run's row and shards in the store, its files under
 * the data directory, the runs in this process, and the state changes every system makes (progress,
 * the final results). The systems (service.ts, runs.ts, coordinator.ts) extend it.
 */
export class BenchRows {
  constructor(
    readonly d: BenchmarkServiceDeps,
    /** Runs in this process, by benchmark id. */
    readonly local: Map<string, LocalRun>,
  ) {}

  dir(id: string): string {
    return join(this.d.dataDir, 'benchmarks', id);
  }

  async row(db: AnyDb, id: string): Promise<BenchmarksTable> {
    const row = await tables<BenchTables>(db).selectFrom('benchmarks').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new CatapultError('CATAPULT_BENCHMARK_NOT_FOUND', `No benchmark with id ${id}.`, { id });
    return row;
  }

  view(row: BenchmarksTable): BenchmarkView {
    const local = this.local.get(row.id);
    const liveProgress = local ? combineProgress([...local.progress.values()]) : null;
    return {
      id: row.id,
      name: row.name,
      state: row.state,
      status: row.state,
      reason: row.reason,
      target: { kind: row.target_kind, ref: row.target_ref, url: row.target_url },
      api: row.api,
      model: row.model,
      clients: Number(row.clients),
      where: row.where_run,
      createdAt: Number(row.created_at),
      createdBy: row.created_by,
      startedAt: row.started_at === null ? null : Number(row.started_at),
      finishedAt: row.finished_at === null ? null : Number(row.finished_at),
      progress: liveProgress ?? fromJson<ProgressView | null>(row.progress, null),
      summary: fromJson<SummaryView | null>(row.summary, null),
      wer: row.wer === null ? null : Number(row.wer),
      cer: row.cer === null ? null : Number(row.cer),
      recipe: viewRecipe(this.d.secrets, row.recipe),
      recipeText: viewRecipeText(this.d.secrets, row.recipe_text),
      slurm: fromJson<SlurmRunView | null>(row.slurm ?? null, null),
    };
  }

  async shards(db: AnyDb, id: string): Promise<BenchmarkShardsTable[]> {
    return tables<BenchTables>(db).selectFrom('benchmark_shards').selectAll().where('benchmark_id', '=', id).orderBy('shard').execute();
  }

  async patch(id: string, patch: Partial<BenchmarksTable>, event?: Record<string, unknown>): Promise<void> {
    await this.d.store.write(async (trx) => {
      await tables<BenchTables>(trx).updateTable('benchmarks').set({ ...patch, updated_at: this.d.clock.now() }).where('id', '=', id).execute();
      if (event) {
        const named = await tables<BenchTables>(trx).selectFrom('benchmarks').select('name').where('id', '=', id).executeTakeFirst();
        await this.d.events.append(trx, { type: 'benchmark.updated', subject: { kind: 'benchmark', id }, data: { name: named?.name ?? null, ...event } });
      }
    });
    if (event) this.d.events.kick();
  }

  async setState(id: string, state: BenchmarkState, reason: string | null, extra: Partial<BenchmarksTable> = {}): Promise<void> {
    await this.patch(id, { state, reason, ...extra }, { state, reason });
  }

  async heartbeatRow(id: string): Promise<void> {
    await tables<BenchTables>(this.d.store.db).updateTable('benchmarks').set({ heartbeat_at: this.d.clock.now() }).where('id', '=', id).execute();
  }

  itemsFile(id: string): string {
    return join(this.dir(id), 'items.jsonl');
  }

  async writeItems(id: string, items: PreparedItem[]): Promise<void> {
    const file = this.itemsFile(id);
    await mkdir(dirname(file), { recursive: true });
    const out = createWriteStream(file);
    for (const it of items) out.write(`${JSON.stringify({ ...it, body: it.body ? it.body.toString('base64') : null })}\n`);
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }

  async readItems(id: string): Promise<ShardSpec['items']> {
    const text = await readFile(this.itemsFile(id), 'utf8');
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as ShardSpec['items'][number]);
  }

  recordsPath(id: string, shard: number): { rel: string; abs: string } {
    const rel = join('benchmarks', id, `shard-${shard}.jsonl`);
    return { rel, abs: join(this.d.dataDir, rel) };
  }

  async patchShard(id: string, shard: number, patch: Partial<BenchmarkShardsTable>): Promise<void> {
    await tables<BenchTables>(this.d.store.db).updateTable('benchmark_shards').set(patch).where('benchmark_id', '=', id).where('shard', '=', shard).execute();
  }

  /**
   * Writes the merged results and the final state, which it returns: a run that would end `completed`
   * although every request it sent failed ends `failed`, with the first error of each kind as reason.
   */
  async finalize(id: string, recipe: Recipe, aggregates: StageAggregate[], state: BenchmarkState, reason: string | null): Promise<BenchmarkState> {
    const stages = aggregates.map((a) => stageResults(a, recipe.slo));
    if (state === 'completed') {
      const allFailed = allRequestsFailed(stages);
      if (allFailed) {
        state = 'failed';
        reason = allFailed;
      }
    }
    const evaluation = overallEvaluation(aggregates);
    const summary = lastStageSummary(stages);
    const now = this.d.clock.now();
    await this.d.store.write(async (trx) => {
      await tables<BenchTables>(trx)
        .updateTable('benchmarks')
        .set({
          state,
          reason,
          results: toJson({ stages, evaluation }),
          summary: toJson(summary),
          wer: evaluation?.wer ?? null,
          cer: evaluation?.cer ?? null,
          finished_at: now,
          updated_at: now,
          target_headers: null,
        })
        .where('id', '=', id)
        .execute();
      await this.d.events.append(trx, { type: 'benchmark.updated', subject: { kind: 'benchmark', id }, data: { name: recipe.name, state, reason, summary, wer: evaluation?.wer ?? null, cer: evaluation?.cer ?? null } });
    });
    this.d.events.kick();
    return state;
  }

  /** A run cut off by a dead control plane: results from the records it managed to write. */
  async finalizeInterrupted(row: BenchmarksTable, reason: string): Promise<void> {
    const recipe = openRecipe(this.d.secrets, row.recipe);
    const plan = fromJson<Plan | null>(row.plan, null);
    const stages = plan?.stages ?? planStages(recipe);
    const parts: StageAggregate[][] = [];
    for (const s of await this.shards(this.d.store.db, row.id)) {
      if (!s.records_file) continue;
      const records = await readAllRecords(join(this.d.dataDir, s.records_file)).catch(() => [] as RequestRecord[]);
      parts.push(summarize(records, stages, recipe.slo));
      await this.patchShard(row.id, Number(s.shard), { state: 'failed', records: records.length, error: 'interrupted', finished_at: this.d.clock.now() });
    }
    const merged = parts.length > 0 ? mergeAggregates(parts) : summarize([], stages, recipe.slo);
    await this.finalize(row.id, recipe, merged, 'failed', reason);
    if (row.task_id) await this.d.tasks.cancel(row.task_id).catch(() => undefined);
    await this.cleanup(row.id, recipe);
  }

  /** Once a run has ended: revokes its key and removes a service deployment unless the recipe keeps it. */
  async cleanup(id: string, recipe: Recipe): Promise<void> {
    const row = await this.row(this.d.store.db, id).catch(() => undefined);
    if (!row || !FINAL_STATES.has(row.state)) return;
    if (row.run_key_id) {
      await this.d.keys.revoke(row.run_key_id).catch(() => undefined);
      await this.patch(id, { run_key_id: null, target_headers: null });
    }
    if (row.service_deployment_id && !recipe.target.service?.keep) {
      await this.d.deployments.delete(row.service_deployment_id).catch(() => undefined);
    }
  }
}

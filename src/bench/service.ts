import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { KeyService } from '../auth/index.js';
import type { Deployment, DeploymentService } from '../deployments/index.js';
import { CatapultError, isCatapultError } from '../errors/index.js';
import type { EventLog } from '../events/index.js';
import type { EndpointService } from '../gateway/index.js';
import type { Logger } from '../observability/index.js';
import type { AnyDb, Store } from '../store/index.js';
import { fromJson, tables, toJson } from '../store/index.js';
import type { TaskContext, TaskEngine, TaskHandlers } from '../tasks/index.js';
import { isTaskFailure } from '../tasks/index.js';
import { type Clock, newId } from '../util/index.js';
import { DatasetError } from './audio.js';
import { prepareItems } from './dataset.js';
import { LoadEngine, type PreparedItem } from './engine.js';
import { type StagePlan, planStages, shardStages } from './plan.js';
import { type Recipe, RecipeError, parseRecipe, validateRecipe } from './recipe.js';
import { RecordWriter, type RequestRecord, readAllRecords, readRecords } from './records.js';
import { type BenchTables, type BenchmarkShardsTable, type BenchmarkState, type BenchmarksTable, FINAL_STATES } from './schema.js';
import { decodeHistogram, mergeHistograms, percentilesMs } from './stats.js';
import {
  type EvaluationView,
  type StageAggregate,
  type StageResults,
  type StageSummary,
  allRequestsFailed,
  fromSummary,
  mergeAggregates,
  overallEvaluation,
  stageResults,
  summarize,
  toSummary,
} from './summary.js';
import { BENCH_QUEUE, type ProgressView, RUN_KIND, SHARD_KIND, type ShardProgressReport, type ShardSpec, toProgressReport } from './protocol.js';
import { PreflightError, type ResolvedTarget, preflight } from './target.js';


/** Live progress of a run, over all its clients. */

/** The headline numbers of a run (its last stage), for lists and the seed-000 status answer. */
export interface SummaryView {
  requests: number;
  errors: number;
  requestsPerS: number | null;
  outputTokensPerS: number | null;
  ttftP50Ms: number | null;
  ttftP99Ms: number | null;
  itlP50Ms: number | null;
  e2eP50Ms: number | null;
  e2eP99Ms: number | null;
  goodputPerS: number | null;
}

export interface BenchmarkView {
  id: string;
  name: string;
  state: BenchmarkState;
  /** The same as `state` (seed 000's field name). */
  status: BenchmarkState;
  reason: string | null;
  target: { kind: string; ref: string; url: string | null };
  api: string;
  model: string | null;
  clients: number;
  where: string;
  createdAt: number;
  createdBy: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  progress: ProgressView | null;
  summary: SummaryView | null;
  wer: number | null;
  cer: number | null;
  recipe: Recipe;
  recipeText: string | null;
}

export interface ResultsView {
  id: string;
  state: BenchmarkState;
  stages: StageResults[];
  evaluation: EvaluationView | null;
  shards: { shard: number; state: string; runner: string | null; records: number; error: string | null }[];
}

/** What a client (a local engine or an agent) is told to run. */

interface Plan {
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
}

export interface CreateInput {
  /** A recipe as YAML (or JSON) text, */
  yaml?: string | undefined;
  /** or as an object. */
  recipe?: unknown;
}

/** Seed 000's `POST /api/v1/benchmarks/async` body. */
export interface AsyncInput {
  name?: string | undefined;
  endpoint_url?: string | undefined;
  production_endpoint_id?: string | number | undefined;
  deployment?: string | undefined;
  asr_eval_dataset: string;
  evaluation_only?: boolean | undefined;
  /** With `evaluation_only: false`: passes over the dataset in the load stage (default 3). */
  load_epochs?: number | undefined;
  /** How the audio travels: `multipart` (default) or `json-base64`. */
  audio_encoding?: 'multipart' | 'json-base64' | undefined;
  model?: string | undefined;
  concurrency?: number | undefined;
  audio_column?: string | undefined;
  text_column?: string | undefined;
}

const PROGRESS_WRITE_MS = 1000;
const STALE_AFTER_MS = 15_000;
const LOCAL_LEAD_MS = 150;
const AGENT_LEAD_MS = 3000;

const firstLine = (s: string): string => s.split('\n')[0] ?? s;

function recipeProblem(err: RecipeError): CatapultError {
  return new CatapultError('CATAPULT_RECIPE_INVALID', `The recipe is invalid: ${err.issues.map((i) => `${i.line !== null ? `line ${i.line}: ` : ''}${i.path || '(top)'}: ${i.message}`).join('; ')}`, {
    errors: err.issues.map((i) => ({ path: i.path, message: i.message, line: i.line, column: i.column })),
  });
}

/** A run's target kind and what it names. */
function targetOf(recipe: Recipe): { kind: 'deployment' | 'endpoint' | 'url' | 'service'; ref: string } {
  const t = recipe.target;
  if (t.deployment) return { kind: 'deployment', ref: t.deployment };
  if (t.endpoint) return { kind: 'endpoint', ref: t.endpoint };
  if (t.url) return { kind: 'url', ref: t.url };
  return { kind: 'service', ref: t.service!.runtime };
}

function lastStageSummary(stages: StageResults[]): SummaryView | null {
  const s = stages[stages.length - 1];
  if (!s) return null;
  return {
    requests: s.requests.sent,
    errors: s.requests.errors,
    requestsPerS: s.throughput.requestsPerS,
    outputTokensPerS: s.throughput.outputTokensPerS,
    ttftP50Ms: s.latency.ttft.p50,
    ttftP99Ms: s.latency.ttft.p99,
    itlP50Ms: s.latency.itl.p50,
    e2eP50Ms: s.latency.e2e.p50,
    e2eP99Ms: s.latency.e2e.p99,
    goodputPerS: s.goodput?.requestsPerS ?? null,
  };
}

/** Progress over all clients: sums, the furthest stage, percentiles of the merged histograms. */
function combineProgress(parts: ShardProgressReport[]): ProgressView | null {
  if (parts.length === 0) return null;
  const stage = Math.max(...parts.map((p) => p.stage));
  const current = parts.filter((p) => p.stage === stage);
  const ttft = percentilesMs(mergeHistograms(current.map((p) => decodeHistogram(p.ttft))));
  const e2e = percentilesMs(mergeHistograms(current.map((p) => decodeHistogram(p.e2e))));
  const elapsedS = Math.max(...current.map((p) => p.elapsedS));
  const sum = (f: (p: ShardProgressReport) => number) => current.reduce((a, p) => a + f(p), 0);
  const totals = current.map((p) => p.total);
  const n = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);
  return {
    stage,
    stages: parts[0]!.stages,
    stageLabel: current[0]!.stageLabel,
    done: sum((p) => p.done),
    sent: sum((p) => p.sent),
    excluded: sum((p) => p.excluded),
    total: totals.every((t) => t !== null) ? totals.reduce((a, t) => a + t, 0) : null,
    durationS: current[0]!.durationS ?? null,
    errors: sum((p) => p.errors),
    inFlight: sum((p) => p.inFlight),
    ratePerS: Math.round(sum((p) => p.ratePerS) * 10) / 10,
    elapsedS: Math.round(elapsedS * 10) / 10,
    ttftP50Ms: n(ttft.p50),
    ttftP99Ms: n(ttft.p99),
    e2eP50Ms: n(e2e.p50),
    e2eP99Ms: n(e2e.p99),
    outputTokensPerS: elapsedS > 0 ? Math.round(sum((p) => p.outputTokens) / elapsedS) : 0,
    finished: finishedStages(parts),
  };
}

/** The finished stages' counts, summed over the clients that have finished them. */
function finishedStages(parts: ShardProgressReport[]): ProgressView['finished'] {
  const by = new Map<number, ProgressView['finished'][number]>();
  for (const p of parts) {
    for (const f of p.finished) {
      const o = by.get(f.stage);
      if (!o) by.set(f.stage, { ...f });
      else {
        o.done += f.done;
        o.sent += f.sent;
        o.excluded += f.excluded;
        o.errors += f.errors;
      }
    }
  }
  return [...by.values()].sort((a, b) => a.stage - b.stage);
}

/** A run in this process: how to stop it, and its clients' latest progress. */
interface LocalRun {
  abort: AbortController;
  progress: Map<number, ShardProgressReport>;
  lastWrite: number;
}

/**
 * Benchmarks and evaluations: recipes become durable `benchmark.run` tasks; a run prepares its
 * target and dataset, checks the target answers, then runs its clients (in this process, or as
 * `benchmark.shard` tasks that agents claim), keeps every request's record, and merges the clients'
 * results. See README.md for the state machine.
 */
export class BenchmarkService {
  private readonly local = new Map<string, LocalRun>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(private readonly d: BenchmarkServiceDeps) {}

  /** Registers the run handler (agents run the shard kind). */
  registerTasks(handlers: TaskHandlers): void {
    handlers.register(RUN_KIND, (ctx: TaskContext<{ benchmarkId: string }>) => this.runTask(ctx), { queue: BENCH_QUEUE });
  }

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

  private dir(id: string): string {
    return join(this.d.dataDir, 'benchmarks', id);
  }

  // ---- Creating -------------------------------------------------------------------------------

  /** Parses and checks a recipe; throws CATAPULT_RECIPE_INVALID naming path and line. */
  parse(input: CreateInput): { recipe: Recipe; text: string | null } {
    try {
      if (input.yaml !== undefined) return { recipe: parseRecipe(input.yaml), text: input.yaml };
      if (input.recipe !== undefined) return { recipe: validateRecipe(input.recipe), text: null };
    } catch (err) {
      if (err instanceof RecipeError) throw recipeProblem(err);
      throw err;
    }
    throw new CatapultError('CATAPULT_VALIDATION_FAILED', 'Give the recipe as `yaml` (text) or `recipe` (an object).', {
      errors: [{ path: 'body', message: 'needs yaml or recipe' }],
    });
  }

  /** Validates without running, for editors: every problem with its path and line. */
  validate(input: CreateInput): { valid: boolean; errors: { path: string; line: number | null; column: number | null; message: string }[] } {
    try {
      this.parse(input);
      return { valid: true, errors: [] };
    } catch (err) {
      if (isCatapultError(err) && err.code === 'CATAPULT_RECIPE_INVALID') {
        return { valid: false, errors: err.extra.errors as { path: string; line: number | null; column: number | null; message: string }[] };
      }
      if (isCatapultError(err)) return { valid: false, errors: [{ path: '', line: null, column: null, message: err.message }] };
      throw err;
    }
  }

  /** Creates a benchmark and queues its run. A named deployment or endpoint must exist. */
  async create(input: CreateInput, createdBy: string | null): Promise<BenchmarkView> {
    const { recipe, text } = this.parse(input);
    const target = targetOf(recipe);
    if (target.kind === 'deployment') {
      await this.d.deployments.get(target.ref).catch((err: unknown) => {
        if (isCatapultError(err) && err.status === 404) {
          throw new CatapultError('CATAPULT_BENCHMARK_TARGET_NOT_FOUND', `No deployment named or with id '${target.ref}' (recipe target.deployment).`, { errors: [{ path: 'target.deployment', message: 'no such deployment' }] });
        }
        throw err;
      });
    }
    if (target.kind === 'endpoint') {
      await this.d.endpoints.get(target.ref).catch((err: unknown) => {
        if (isCatapultError(err) && err.status === 404) {
          throw new CatapultError('CATAPULT_BENCHMARK_TARGET_NOT_FOUND', `No endpoint named or with id '${target.ref}' (recipe target.endpoint).`, { errors: [{ path: 'target.endpoint', message: 'no such endpoint' }] });
        }
        throw err;
      });
    }
    const now = this.d.clock.now();
    const id = newId('bench');
    const row: BenchmarksTable = {
      id,
      name: recipe.name,
      state: 'pending',
      reason: 'queued',
      recipe: toJson(recipe),
      recipe_text: text,
      target_kind: target.kind,
      target_ref: target.ref,
      target_url: target.kind === 'url' ? target.ref : null,
      target_headers: null,
      run_key_id: null,
      service_deployment_id: null,
      model: recipe.workload.model ?? null,
      api: recipe.workload.api,
      clients: recipe.clients.count,
      where_run: recipe.clients.where,
      plan: null,
      progress: null,
      summary: null,
      results: null,
      wer: null,
      cer: null,
      task_id: null,
      cancel_requested_at: null,
      heartbeat_at: null,
      created_by: createdBy,
      created_at: now,
      updated_at: now,
      started_at: null,
      finished_at: null,
    };
    await this.d.store.write(async (trx) => {
      const { task } = await this.d.tasks.enqueue({ queue: BENCH_QUEUE, kind: RUN_KIND, payload: { benchmarkId: id }, idempotencyKey: `run:${id}`, maxAttempts: 3 }, { trx });
      row.task_id = task.id;
      await tables<BenchTables>(trx).insertInto('benchmarks').values(row).execute();
      await this.d.events.append(trx, { type: 'benchmark.created', subject: { kind: 'benchmark', id }, data: { name: row.name, target: target.kind, ref: target.ref, api: row.api } });
    });
    this.d.events.kick();
    return this.view(row);
  }

  /**
   * Seed 000's asynchronous evaluation: an endpoint (registered, or a bare URL) and an ASR dataset
   * (a manifest JSONL or a Hugging Face .arrow file); every utterance is transcribed once and the
   * benchmark ends `completed` with `wer` and `cer`.
   */
  async createAsync(input: AsyncInput, createdBy: string | null): Promise<BenchmarkView> {
    const dataset = /\.arrow$/i.test(input.asr_eval_dataset)
      ? { type: 'hf-arrow', path: input.asr_eval_dataset, ...(input.audio_column ? { audioColumn: input.audio_column } : {}), ...(input.text_column ? { textColumn: input.text_column } : {}) }
      : { type: 'asr-manifest', path: input.asr_eval_dataset };
    let target: Record<string, unknown>;
    if (typeof input.production_endpoint_id === 'number') {
      // Seed 000's ids were database numbers; Catapult's are strings.
      throw new CatapultError(
        'CATAPULT_VALIDATION_FAILED',
        `production_endpoint_id ${input.production_endpoint_id} is a number; endpoint ids look like "ep_…" (or give the endpoint's name). List them with GET /api/v1/endpoints.`,
        { errors: [{ path: 'body/production_endpoint_id', message: 'an endpoint id ("ep_…") or name, as a string' }] },
      );
    }
    if (input.production_endpoint_id !== undefined) {
      const ep = await this.d.endpoints.get(input.production_endpoint_id);
      target = input.endpoint_url ? { url: input.endpoint_url, headers: (await this.d.endpoints.upstream(ep.id)).headers } : { endpoint: ep.id };
    } else if (input.deployment) {
      target = { deployment: input.deployment };
    } else if (input.endpoint_url) {
      target = { url: input.endpoint_url };
    } else {
      throw new CatapultError('CATAPULT_VALIDATION_FAILED', 'Say what to evaluate: endpoint_url, production_endpoint_id or deployment.', {
        errors: [{ path: 'body/endpoint_url', message: 'give endpoint_url, production_endpoint_id or deployment' }],
      });
    }
    const concurrency = input.concurrency ?? 4;
    // Evaluation only: every utterance once. Otherwise the dataset is also sent as load, several
    // passes at the given concurrency, and the results report latency and RTFx under that load.
    const evaluationOnly = input.evaluation_only !== false;
    const epochs = evaluationOnly ? 1 : (input.load_epochs ?? 3);
    const recipe = {
      name: input.name ?? `ASR evaluation of ${String(input.production_endpoint_id ?? input.deployment ?? input.endpoint_url)}`,
      target,
      workload: { api: 'asr-transcriptions', ...(input.model ? { model: input.model } : {}), stream: false, ...(input.audio_encoding ? { audioEncoding: input.audio_encoding } : {}), dataset },
      load: { type: 'closed', concurrency },
      stop: { epochs },
      description: evaluationOnly ? 'evaluation only: every utterance once' : `evaluation with a load stage: ${epochs} passes over the dataset at concurrency ${concurrency}; latency and RTFx`,
    };
    const view = await this.create({ recipe }, createdBy);
    return view;
  }

  // ---- Reading --------------------------------------------------------------------------------

  private async row(db: AnyDb, id: string): Promise<BenchmarksTable> {
    const row = await tables<BenchTables>(db).selectFrom('benchmarks').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new CatapultError('CATAPULT_BENCHMARK_NOT_FOUND', `No benchmark with id ${id}.`, { id });
    return row;
  }

  private view(row: BenchmarksTable): BenchmarkView {
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
      recipe: fromJson<Recipe>(row.recipe, {} as Recipe),
      recipeText: row.recipe_text,
    };
  }

  async get(id: string): Promise<BenchmarkView> {
    return this.view(await this.row(this.d.store.db, id));
  }

  async list(filter: { state?: BenchmarkState; limit?: number; cursor?: string } = {}): Promise<{ items: BenchmarkView[]; nextCursor: string | null }> {
    const limit = filter.limit ?? 50;
    let q = tables<BenchTables>(this.d.store.db).selectFrom('benchmarks').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1);
    if (filter.state) q = q.where('state', '=', filter.state);
    if (filter.cursor) {
      const at = await tables<BenchTables>(this.d.store.db).selectFrom('benchmarks').select(['created_at', 'id']).where('id', '=', filter.cursor).executeTakeFirst();
      if (at) q = q.where((eb) => eb.or([eb('created_at', '<', at.created_at), eb.and([eb('created_at', '=', at.created_at), eb('id', '<', at.id)])]));
    }
    const rows = await q.execute();
    const page = rows.slice(0, limit);
    return { items: page.map((r) => this.view(r)), nextCursor: rows.length > limit ? page[page.length - 1]!.id : null };
  }

  private async shards(db: AnyDb, id: string): Promise<BenchmarkShardsTable[]> {
    return tables<BenchTables>(db).selectFrom('benchmark_shards').selectAll().where('benchmark_id', '=', id).orderBy('shard').execute();
  }

  async results(id: string): Promise<ResultsView> {
    const row = await this.row(this.d.store.db, id);
    const shards = await this.shards(this.d.store.db, id);
    const stored = fromJson<{ stages: StageResults[]; evaluation: EvaluationView | null } | null>(row.results, null);
    return {
      id,
      state: row.state,
      stages: stored?.stages ?? [],
      evaluation: stored?.evaluation ?? null,
      shards: shards.map((s) => ({ shard: Number(s.shard), state: s.state, runner: s.runner, records: Number(s.records), error: s.error })),
    };
  }

  /** Raw per-request records, in client then request order. */
  async *records(id: string): AsyncGenerator<RequestRecord> {
    await this.row(this.d.store.db, id);
    for (const s of await this.shards(this.d.store.db, id)) {
      if (!s.records_file) continue;
      try {
        yield* readRecords(join(this.d.dataDir, s.records_file));
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOENT') throw err;
      }
    }
  }

  async compare(ids: string[]): Promise<{ benchmark: BenchmarkView; results: ResultsView }[]> {
    return Promise.all(ids.map(async (id) => ({ benchmark: await this.get(id), results: await this.results(id) })));
  }

  // ---- Cancelling and deleting ----------------------------------------------------------------

  async cancel(id: string): Promise<BenchmarkView> {
    const now = this.d.clock.now();
    const row = await this.d.store.write(async (trx) => {
      const r = await this.row(trx, id);
      if (FINAL_STATES.has(r.state)) throw new CatapultError('CATAPULT_BENCHMARK_FINISHED', `Benchmark ${id} has already ended (${r.state}).`, { state: r.state });
      const patch: Partial<BenchmarksTable> = { cancel_requested_at: now, updated_at: now };
      if (r.state === 'pending') Object.assign(patch, { state: 'cancelled', reason: 'cancelled before it started', finished_at: now });
      await tables<BenchTables>(trx).updateTable('benchmarks').set(patch).where('id', '=', id).execute();
      if (patch.state) await this.d.events.append(trx, { type: 'benchmark.updated', subject: { kind: 'benchmark', id }, data: { name: r.name, state: patch.state, reason: patch.reason } });
      return { ...r, ...patch };
    });
    this.d.events.kick();
    if (row.task_id) await this.d.tasks.cancel(row.task_id).catch(() => undefined);
    this.local.get(id)?.abort.abort(new Error('cancelled'));
    await this.cancelShardTasks(id);
    return this.view(row);
  }

  private async cancelShardTasks(id: string): Promise<void> {
    for (const s of await this.shards(this.d.store.db, id)) {
      if (s.task_id && (s.state === 'queued' || s.state === 'running')) await this.d.tasks.cancel(s.task_id).catch(() => undefined);
    }
  }

  async delete(id: string): Promise<BenchmarkView> {
    const row = await this.d.store.write(async (trx) => {
      const r = await this.row(trx, id);
      if (!FINAL_STATES.has(r.state)) throw new CatapultError('CATAPULT_BENCHMARK_NOT_FINISHED', `Benchmark ${id} is ${r.state}; cancel it before deleting it.`, { state: r.state });
      await tables<BenchTables>(trx).deleteFrom('benchmark_shards').where('benchmark_id', '=', id).execute();
      await tables<BenchTables>(trx).deleteFrom('benchmarks').where('id', '=', id).execute();
      await this.d.events.append(trx, { type: 'benchmark.deleted', subject: { kind: 'benchmark', id }, data: { name: r.name } });
      return r;
    });
    this.d.events.kick();
    await rm(this.dir(id), { recursive: true, force: true });
    return this.view(row);
  }

  // ---- State changes --------------------------------------------------------------------------

  private async patch(id: string, patch: Partial<BenchmarksTable>, event?: Record<string, unknown>): Promise<void> {
    await this.d.store.write(async (trx) => {
      await tables<BenchTables>(trx).updateTable('benchmarks').set({ ...patch, updated_at: this.d.clock.now() }).where('id', '=', id).execute();
      if (event) {
        const named = await tables<BenchTables>(trx).selectFrom('benchmarks').select('name').where('id', '=', id).executeTakeFirst();
        await this.d.events.append(trx, { type: 'benchmark.updated', subject: { kind: 'benchmark', id }, data: { name: named?.name ?? null, ...event } });
      }
    });
    if (event) this.d.events.kick();
  }

  private async setState(id: string, state: BenchmarkState, reason: string | null, extra: Partial<BenchmarksTable> = {}): Promise<void> {
    await this.patch(id, { state, reason, ...extra }, { state, reason });
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

  // ---- Running ----------------------------------------------------------------------------------

  private async runTask(ctx: TaskContext<{ benchmarkId: string }>): Promise<unknown> {
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
        return await this.coordinate(ctx, row, fromJson<Plan>(row.plan, { startAt: 0, stages: [], shards: 0 }));
      }
      return await this.prepareAndRun(ctx, row);
    } finally {
      await this.cleanup(id, fromJson<Recipe>(row.recipe, {} as Recipe)).catch((err: unknown) => this.d.log.warn({ err, benchmark: id }, 'benchmark cleanup failed'));
    }
  }

  private async prepareAndRun(ctx: TaskContext<{ benchmarkId: string }>, row: BenchmarksTable): Promise<unknown> {
    const id = row.id;
    const recipe = fromJson<Recipe>(row.recipe, {} as Recipe);
    const run: LocalRun = { abort: new AbortController(), progress: new Map(), lastWrite: 0 };
    const onTaskAbort = () => run.abort.abort(ctx.signal.reason);
    ctx.signal.addEventListener('abort', onTaskAbort, { once: true });
    this.local.set(id, run);
    let target: ResolvedTarget | undefined;
    try {
      await this.setState(id, 'preparing', 'resolving the target and loading the dataset', { heartbeat_at: this.d.clock.now() });
      target = await this.resolveTarget(id, recipe, run.abort.signal);
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
        return await this.coordinate(ctx, await this.row(this.d.store.db, id), plan);
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

  /** Resolves the recipe's target to a URL and headers; deploys a `service` and mints the run's gateway key as needed. */
  private async resolveTarget(id: string, recipe: Recipe, signal: AbortSignal): Promise<ResolvedTarget> {
    const t = recipe.target;
    const model = recipe.workload.model ?? null;
    if (t.url) return { kind: 'url', ref: t.url, baseUrl: t.url.replace(/\/+$/, ''), headers: { ...t.headers }, model, deploymentId: null, viaGateway: false };
    if (t.endpoint) {
      const ep = await this.d.endpoints.upstream(t.endpoint);
      if (t.viaGateway) {
        const headers = await this.runKey(id, ep.id);
        return { kind: 'endpoint', ref: t.endpoint, baseUrl: this.d.gatewayUrl(), headers: { ...t.headers, ...headers }, model: model ?? ep.name, deploymentId: null, viaGateway: true };
      }
      return { kind: 'endpoint', ref: t.endpoint, baseUrl: ep.url, headers: { ...t.headers, ...ep.headers }, model: model ?? ep.model, deploymentId: null, viaGateway: false };
    }
    let deployment: Deployment;
    if (t.service) {
      deployment = await this.deployService(id, recipe, signal);
    } else {
      deployment = await this.d.deployments.get(t.deployment!);
    }
    if (deployment.replicas.ready === 0) {
      throw new PreflightError(`deployment ${deployment.name} has no ready replica (${deployment.state}${deployment.reason ? `: ${deployment.reason}` : ''})`);
    }
    const served = deployment.spec.servedModelName ?? deployment.name;
    if (t.viaGateway === false) {
      const replica = deployment.replicas.items.find((r) => r.state === 'ready' && r.desired === 'run' && r.url);
      if (!replica?.url) throw new PreflightError(`deployment ${deployment.name} has no ready replica with a URL`);
      return { kind: t.service ? 'service' : 'deployment', ref: deployment.name, baseUrl: replica.url, headers: { ...t.headers }, model: model ?? served, deploymentId: deployment.id, viaGateway: false };
    }
    const headers = await this.runKey(id, deployment.id);
    return { kind: t.service ? 'service' : 'deployment', ref: deployment.name, baseUrl: this.d.gatewayUrl(), headers: { ...t.headers, ...headers }, model: model ?? served, deploymentId: deployment.id, viaGateway: true };
  }

  /** An `infer` key for this run only, limited to its target, revoked when the run ends. */
  private async runKey(id: string, routeId: string): Promise<Record<string, string>> {
    const { key, secret } = await this.d.keys.create({ name: `benchmark ${id}`, scopes: ['infer'], deployments: [routeId], expiresAt: this.d.clock.now() + 7 * 86_400_000 }, null);
    const headers = { authorization: `Bearer ${secret}` };
    await this.patch(id, { run_key_id: key.id, target_headers: toJson(headers) });
    return headers;
  }

  private async deployService(id: string, recipe: Recipe, signal: AbortSignal): Promise<Deployment> {
    const s = recipe.target.service!;
    const name = `bench-${id.slice(-10).toLowerCase()}`;
    await this.setState(id, 'preparing', `deploying service ${name} (${s.runtime})`);
    const created = await this.d.deployments.create({
      name,
      runtime: s.runtime,
      ...(s.model ? { model: s.model } : {}),
      replicas: s.replicas,
      args: s.args,
      env: s.env,
      options: s.options,
      ...(s.resources ? { resources: s.resources } : {}),
      ...(s.placement ? { placement: s.placement } : {}),
      ...(s.readinessTimeoutSeconds ? { readinessTimeoutSeconds: s.readinessTimeoutSeconds } : {}),
    });
    await this.patch(id, { service_deployment_id: created.id, target_ref: name });
    const deadline = this.d.clock.now() + (s.readinessTimeoutSeconds ?? 600) * 1000 + 30_000;
    for (;;) {
      if (signal.aborted) throw new Error(String((signal.reason as Error | undefined)?.message ?? 'cancelled'));
      const d = await this.d.deployments.get(created.id);
      if (d.state === 'active') return d;
      if (d.state === 'failed') throw new PreflightError(`service ${name} failed to start: ${d.reason ?? 'no reason given'}`);
      if (this.d.clock.now() > deadline) throw new PreflightError(`service ${name} was not active in time (${d.state}: ${d.reason ?? ''})`);
      await this.heartbeatRow(id);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async heartbeatRow(id: string): Promise<void> {
    await tables<BenchTables>(this.d.store.db).updateTable('benchmarks').set({ heartbeat_at: this.d.clock.now() }).where('id', '=', id).execute();
  }

  private itemsFile(id: string): string {
    return join(this.dir(id), 'items.jsonl');
  }

  private async writeItems(id: string, items: PreparedItem[]): Promise<void> {
    const file = this.itemsFile(id);
    await mkdir(dirname(file), { recursive: true });
    const out = createWriteStream(file);
    for (const it of items) out.write(`${JSON.stringify({ ...it, body: it.body ? it.body.toString('base64') : null })}\n`);
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }

  private async readItems(id: string): Promise<ShardSpec['items']> {
    const text = await readFile(this.itemsFile(id), 'utf8');
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as ShardSpec['items'][number]);
  }

  private recordsPath(id: string, shard: number): { rel: string; abs: string } {
    const rel = join('benchmarks', id, `shard-${shard}.jsonl`);
    return { rel, abs: join(this.d.dataDir, rel) };
  }

  /** Runs every client in this process, each with its own engine and records file. */
  private async runLocal(id: string, recipe: Recipe, plan: Plan, items: PreparedItem[], target: ResolvedTarget, run: LocalRun): Promise<StageAggregate[]> {
    const ticker = setInterval(() => void this.writeProgress(id, run).catch(() => undefined), 250);
    try {
      const parts = await Promise.all(
        Array.from({ length: plan.shards }, async (_, shard) => {
          const { rel, abs } = this.recordsPath(id, shard);
          await this.patchShard(id, shard, { state: 'running', runner: 'local', records_file: rel, started_at: this.d.clock.now() });
          const writer = new RecordWriter(abs);
          const flusher = setInterval(() => void writer.flush().catch(() => undefined), 1000);
          try {
            const engine = new LoadEngine({
              api: recipe.workload.api,
              stream: recipe.workload.stream,
              timeoutMs: recipe.timeout,
              slo: recipe.slo,
              shard,
              stages: shardStages(plan.stages, shard, plan.shards, recipe.seed),
              items,
              target: { baseUrl: target.baseUrl, headers: target.headers },
              startAt: plan.startAt,
              records: writer,
              signal: run.abort.signal,
              onProgress: (p) => run.progress.set(shard, toProgressReport(p)),
            });
            const result = await engine.run();
            await writer.close();
            await this.patchShard(id, shard, {
              state: result.interrupted ? 'cancelled' : 'uploaded',
              records: result.records,
              summary: toJson(result.aggregates.map(toSummary)),
              finished_at: this.d.clock.now(),
            });
            return result.aggregates;
          } finally {
            clearInterval(flusher);
          }
        }),
      );
      await this.writeProgress(id, run, true);
      return mergeAggregates(parts);
    } finally {
      clearInterval(ticker);
    }
  }

  private async patchShard(id: string, shard: number, patch: Partial<BenchmarkShardsTable>): Promise<void> {
    await tables<BenchTables>(this.d.store.db).updateTable('benchmark_shards').set(patch).where('benchmark_id', '=', id).where('shard', '=', shard).execute();
  }

  /**
   * A run on agents: one `benchmark.shard` task per client (idempotent, so a resumed coordinator
   * finds the same tasks), then wait until every shard has uploaded its records or ended, merging
   * their progress on the way. The agents keep going while the control plane is away.
   */
  private async coordinate(ctx: TaskContext<{ benchmarkId: string }>, row: BenchmarksTable, plan: Plan): Promise<unknown> {
    const id = row.id;
    const recipe = fromJson<Recipe>(row.recipe, {} as Recipe);
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

  /**
   * Writes the merged results and the final state, which it returns: a run that would end `completed`
   * although every request it sent failed ends `failed`, with the first error of each kind as reason.
   */
  private async finalize(id: string, recipe: Recipe, aggregates: StageAggregate[], state: BenchmarkState, reason: string | null): Promise<BenchmarkState> {
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
  private async finalizeInterrupted(row: BenchmarksTable, reason: string): Promise<void> {
    const recipe = fromJson<Recipe>(row.recipe, {} as Recipe);
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
  private async cleanup(id: string, recipe: Recipe): Promise<void> {
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

  // ---- Agent side -----------------------------------------------------------------------------

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
    const recipe = fromJson<Recipe>(row.recipe, {} as Recipe);
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
      target: { baseUrl: row.target_url, headers: fromJson<Record<string, string>>(row.target_headers, {}) },
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
    const recipe = fromJson<Recipe>(row.recipe, {} as Recipe);
    const plan = fromJson<Plan | null>(row.plan, null);
    const records = await readAllRecords(abs);
    const aggs = summarize(records, plan?.stages ?? planStages(recipe), recipe.slo);
    await this.patchShard(row.id, n, { state: 'uploaded', records_file: rel, records: records.length, summary: toJson(aggs.map(toSummary)), finished_at: this.d.clock.now() });
    return { records: records.length };
  }
}


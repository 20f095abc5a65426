import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { CatapultError, isCatapultError } from '../errors/index.js';
import { fromJson, tables } from '../store/index.js';
import type { TaskContext, TaskHandlers } from '../tasks/index.js';
import { newId } from '../util/index.js';
import { type Recipe, RecipeError, parseRecipe, validateRecipe } from './recipe.js';
import { type RequestRecord, readRecords } from './records.js';
import { type BenchTables, type BenchmarkState, type BenchmarksTable, FINAL_STATES } from './schema.js';
import { type EvaluationView, type StageResults } from './summary.js';
import { BENCH_QUEUE, RUN_KIND, type ShardProgressReport, type ShardSpec } from './protocol.js';
import { ShardCoordinator } from './coordinator.js';
import { BenchRows, type BenchmarkServiceDeps } from './rows.js';
import { RunSystem } from './runs.js';
import { type BenchmarkView, type ResultsView, targetOf } from './views.js';
import { sealRecipeJson, sealRecipeText, sealStoredBenchmarks } from './secrets.js';

export type { BenchmarkServiceDeps } from './rows.js';
export type { BenchmarkView, ResultsView, SummaryView } from './views.js';

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

function recipeProblem(err: RecipeError): CatapultError {
  return new CatapultError('CATAPULT_RECIPE_INVALID', `The recipe is invalid: ${err.issues.map((i) => `${i.line !== null ? `line ${i.line}: ` : ''}${i.path || '(top)'}: ${i.message}`).join('; ')}`, {
    errors: err.issues.map((i) => ({ path: i.path, message: i.message, line: i.line, column: i.column })),
  });
}

/**
 * Benchmarks and evaluations: recipes become durable `benchmark.run` tasks; a run prepares its
 * target and dataset, checks the target answers, then runs its clients (in this process, or as
 * `benchmark.shard` tasks that agents claim), keeps every request's record, and merges the clients'
 * results. See README.md for the state machine.
 */
export class BenchmarkService extends BenchRows {
  private readonly coordinator: ShardCoordinator;
  private readonly runs: RunSystem;

  constructor(d: BenchmarkServiceDeps) {
    super(d, new Map());
    this.coordinator = new ShardCoordinator(d, this.local);
    this.runs = new RunSystem(d, this.local, this.coordinator);
  }

  /** Registers the run handler (agents run the shard kind). */
  registerTasks(handlers: TaskHandlers): void {
    handlers.register(RUN_KIND, (ctx: TaskContext<{ benchmarkId: string }>) => this.runs.runTask(ctx), { queue: BENCH_QUEUE });
  }

  /** Starts the sweep that ends runs whose control plane died. */
  start(): void {
    this.runs.start();
  }

  /** Stops local runs (they end `failed`, keeping what they recorded) before the task pool stops. */
  async stop(): Promise<void> {
    await this.runs.stop();
  }

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
      recipe: sealRecipeJson(this.d.secrets, recipe),
      recipe_text: sealRecipeText(this.d.secrets, text, recipe),
      target_kind: target.kind,
      target_ref: target.ref,
      target_url: target.kind === 'url' ? target.ref : null,
      target_headers: null,
      run_key_id: null,
      service_deployment_id: null,
      slurm: null,
      model: recipe.clients.where === 'slurm' ? null : (recipe.workload.model ?? null),
      api: recipe.clients.where === 'slurm' ? 'command' : recipe.workload.api,
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

  /** Seals headers stored in clear by older versions (at startup); returns how many benchmarks changed. */
  async sealStored(): Promise<number> {
    return this.d.store.write((trx) => sealStoredBenchmarks(trx, this.d.secrets));
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
    await this.coordinator.cancelShardTasks(id);
    return this.view(row);
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

  // ---- What the agents that run shards call -------------------------------------------------

  async shardSpec(taskId: string, agentId: string): Promise<ShardSpec> {
    return this.coordinator.shardSpec(taskId, agentId);
  }

  async shardProgress(taskId: string, agentId: string, progress: ShardProgressReport): Promise<void> {
    await this.coordinator.shardProgress(taskId, agentId, progress);
  }

  /** Stores a shard's raw records (NDJSON) and the summary computed from them here. */
  async shardRecords(taskId: string, agentId: string, body: Readable): Promise<{ records: number }> {
    return this.coordinator.shardRecords(taskId, agentId, body);
  }
}

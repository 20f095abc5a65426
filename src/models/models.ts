import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EventLog } from '../events/index.js';
import { CatapultError } from '../errors/index.js';
import type { AnyDb, CatapultMigration, Store } from '../store/index.js';
import { fromJson, tables, toJson } from '../store/index.js';
import type { TaskContext, TaskEngine, TaskHandlers } from '../tasks/index.js';
import { type Clock, newId } from '../util/index.js';
import { AnalysisError, analyzeModel } from './analyze.js';
import type { ModelDescriptor } from './descriptor.js';
import { type EstimateOptions, type ResourceEstimate, estimateResources } from './estimate.js';
import { type ScanReport, scanModel } from './scan.js';
import { type S3Credentials, SourceError, downloadS3, parseS3 } from './sources.js';
import { FolderWatcher, type WatchOptions } from './watch.js';
import { SecretBox } from '../secrets/index.js';

/** Where a model is in intake: `registered → analysing → scanned | unsafe | failed`. */
export const MODEL_STATES = ['registered', 'analysing', 'scanned', 'unsafe', 'failed'] as const;
export type ModelState = (typeof MODEL_STATES)[number];

/** An admin's decision to deploy a model the scanner refused (or could not scan). */
export interface ModelOverride {
  by: string;
  reason: string;
  at: number;
}

/** The task kind that ingests, analyses and scans one model. */
export const MODEL_INTAKE_TASK = 'model.intake';
const MODEL_QUEUE = 'models';

/** A registered model artifact: where it is, what format it has, and (later) what the analyzer and scanner found. */
export interface Model {
  id: string;
  name: string;
  version: string;
  /** As given: a local path or `file://` URI. */
  source: string;
  /** Absolute local path of the file or directory. */
  path: string;
  format: string;
  /** What decided the format, for people: "ONNX protobuf with ir_version 8". */
  formatEvidence: string;
  sizeBytes: number;
  description: string | null;
  labels: Record<string, string>;
  createdAt: number;
  state: ModelState;
  /** Why analysis failed, for people: what was wrong and in which file. */
  error: string | null;
  /** Parameters, per the analyzer (null until analysed, or when it cannot be known). */
  parameterCount: number | null;
  /** GPU memory for one replica at the model's own context length and one sequence (null until analysed). */
  estimate: ResourceEstimate | null;
  scanVerdict: 'safe' | 'unsafe' | null;
  findingCount: number;
  override: ModelOverride | null;
  updatedAt: number;
}

export interface RegisterModelInput {
  name: string;
  version?: string;
  source: string;
  description?: string;
  labels?: Record<string, string>;
  /** Set by the folder watcher: the files' sha256, the model's identity. */
  contentHash?: string;
  /** For `s3://` sources: how to reach the store. Never returned. */
  credentials?: S3Credentials;
}

/**
 * Decides a model's format from its bytes; supplied by the runtimes module. `path` is the file that
 * decided it when a directory was given (the one model file in it), so runtimes get that file.
 */
export type FormatDetector = (path: string) => Promise<{ format: string; evidence: string; path?: string }>;

/** Says which deployments use a model, so a model in use cannot be deleted. */
export type ModelUsage = (modelId: string) => Promise<string[]>;

interface ModelsTable {
  id: string;
  name: string;
  version: string;
  source: string;
  path: string;
  format: string;
  format_evidence: string;
  size_bytes: number;
  description: string | null;
  labels: string;
  created_at: number;
  state: string;
  error: string | null;
  descriptor: string | null;
  scan: string | null;
  override: string | null;
  updated_at: number;
  content_hash: string | null;
  /** S3 credentials, sealed with the server's secret key. */
  source_credentials: string | null;
}
interface ModelTables {
  models: ModelsTable;
}

export const modelMigrations: Record<string, CatapultMigration> = {
  '0300_models': {
    async up({ db, t }) {
      await db.schema
        .createTable('models')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('format', 'text', (c) => c.notNull())
        .addColumn('format_evidence', 'text', (c) => c.notNull())
        .addColumn('size_bytes', t.ms, (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('labels', t.json, (c) => c.notNull())
        .addColumn('created_at', t.ms, (c) => c.notNull())
        .addUniqueConstraint('models_name_version', ['name', 'version'])
        .execute();
    },
  },
  // Model intake owns the 0600 range.
  '0600_model_intake': {
    async up({ db, t }) {
      // Models registered before intake existed are analysed and scanned once the server starts.
      await db.schema.alterTable('models').addColumn('state', 'text', (c) => c.notNull().defaultTo('registered')).execute();
      await db.schema.alterTable('models').addColumn('error', 'text').execute();
      await db.schema.alterTable('models').addColumn('descriptor', t.json).execute();
      await db.schema.alterTable('models').addColumn('scan', t.json).execute();
      await db.schema.alterTable('models').addColumn('override', t.json).execute();
      await db.schema.alterTable('models').addColumn('updated_at', t.ms, (c) => c.notNull().defaultTo(0)).execute();
      // sha256 of the files, for models found by a watched folder: a model is registered once per content.
      await db.schema.alterTable('models').addColumn('content_hash', 'text').execute();
      await db.schema.createIndex('models_content_hash').on('models').column('content_hash').execute();
      // S3 credentials for the model's source, never returned by the API; to be encrypted by the secrets module.
      await db.schema.alterTable('models').addColumn('source_credentials', t.json).execute();
    },
  },
};

/** Resolves a model source to a local path, or says why it cannot. */
export function resolveSource(source: string, cwd = process.cwd()): string {
  if (/^(gs|hf|https?):\/\//i.test(source)) {
    throw new CatapultError('CATAPULT_MODEL_SOURCE_UNSUPPORTED', `Model source '${source}' is not a local path.`, {
      errors: [{ path: 'body/source', message: 'only local paths and file:// URIs are supported' }],
    });
  }
  let path: string;
  try {
    path = source.startsWith('file://') ? fileURLToPath(source) : isAbsolute(source) ? source : resolve(cwd, source);
  } catch {
    throw new CatapultError('CATAPULT_VALIDATION_FAILED', `Model source '${source}' is not a valid path or file:// URI.`, {
      errors: [{ path: 'body/source', message: 'not a valid path or file:// URI' }],
    });
  }
  if (!existsSync(path)) {
    throw new CatapultError('CATAPULT_MODEL_SOURCE_NOT_FOUND', `Nothing exists at ${path} (from source '${source}').`, {
      errors: [{ path: 'body/source', message: `no file or directory at ${path}` }],
    });
  }
  return path;
}

async function sizeOf(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path, { withFileTypes: true })) {
    total += await sizeOf(join(path, entry.name));
  }
  return total;
}

/** The model registry. */
export class ModelService {
  private usage: ModelUsage = () => Promise.resolve([]);
  private tasks: TaskEngine | undefined;
  /** How long `register` and `rescan` wait for intake to finish before returning the model as it is. */
  waitMs = 60_000;
  private pollMs = 50;

  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
    private readonly clock: Clock,
    private readonly detect: FormatDetector,
  ) {}

  /** Lets the deployments module say which deployments use a model. */
  setUsage(usage: ModelUsage): void {
    this.usage = usage;
  }

  /**
   * Runs intake as durable tasks on the `models` queue. Without it (a bare service in unit tests)
   * intake runs inline in `register`.
   */
  registerTasks(engine: TaskEngine, handlers: TaskHandlers): void {
    this.tasks = engine;
    handlers.register(MODEL_INTAKE_TASK, (ctx: TaskContext<{ modelId: string }>) => this.intakeTask(ctx), { queue: MODEL_QUEUE });
  }

  /** Queues intake for models left `registered` or `analysing` (a restart, models from before intake). */
  async resume(): Promise<void> {
    if (!this.tasks) return;
    const rows = await tables<ModelTables>(this.store.db).selectFrom('models').select(['id', 'updated_at']).where('state', 'in', ['registered', 'analysing']).execute();
    for (const r of rows) await this.tasks.enqueue(this.intakeInput(r.id, `resume:${r.id}:${Number(r.updated_at)}`));
  }

  private intakeInput(modelId: string, key: string) {
    return { queue: MODEL_QUEUE, kind: MODEL_INTAKE_TASK, payload: { modelId }, idempotencyKey: `model-intake:${key}`, maxAttempts: 3 };
  }

  /** Where downloaded models go (`<dataDir>/artifacts`). */
  artifactsDir = join(process.cwd(), '.catapult', 'artifacts');
  /** Seals source credentials at rest; the composition root gives it the server's key (a throwaway one otherwise). */
  secrets: SecretBox = new SecretBox(randomBytes(32), { kind: 'setting' });

  async register(input: RegisterModelInput, cwd?: string, opts: { wait?: boolean } = {}): Promise<Model> {
    const id = newId('mdl');
    const remote = parseS3(input.source);
    if (/^s3:\/\//i.test(input.source) && !remote?.bucket) {
      throw new CatapultError('CATAPULT_VALIDATION_FAILED', `Model source '${input.source}' is not s3://bucket/prefix.`, { errors: [{ path: 'body/source', message: 'expected s3://bucket/prefix' }] });
    }
    const given = remote ? join(this.artifactsDir, id) : resolveSource(input.source, cwd);
    const version = input.version ?? '1';
    const detected: { format: string; evidence: string; path?: string } = remote
      ? { format: 'unknown', evidence: 'not downloaded yet' }
      : await this.detect(given).catch((err: Error) => ({ format: 'unknown', evidence: `could not read: ${err.message}` }));
    // A directory holding one model file is served as that file: a runtime given the directory fails (EISDIR).
    const path = detected.path ?? given;
    const row: ModelsTable = {
      id,
      name: input.name,
      version,
      source: input.source,
      path,
      format: detected.format,
      format_evidence: detected.evidence,
      size_bytes: remote ? 0 : statSync(path).isDirectory() ? await sizeOf(path) : statSync(path).size,
      description: input.description ?? null,
      labels: toJson(input.labels ?? {}),
      created_at: this.clock.now(),
      state: 'registered',
      error: null,
      descriptor: null,
      scan: null,
      override: null,
      updated_at: this.clock.now(),
      content_hash: input.contentHash ?? null,
      source_credentials: input.credentials ? this.secrets.sealJson(input.credentials) : null,
    };
    await this.store.write(async (trx) => {
      const db = tables<ModelTables>(trx);
      const clash = await db.selectFrom('models').select('id').where('name', '=', input.name).where('version', '=', version).executeTakeFirst();
      if (clash) {
        throw new CatapultError('CATAPULT_MODEL_EXISTS', `Model ${input.name} version ${version} is already registered as ${clash.id}.`, {
          id: clash.id,
        });
      }
      await db.insertInto('models').values(row).execute();
      await this.events.append(trx, { type: 'model.registered', subject: { kind: 'model', id: row.id }, data: { name: row.name, version, format: row.format } });
      if (this.tasks) await this.tasks.enqueue(this.intakeInput(row.id, row.id), { trx });
    });
    this.events.kick();
    if (!this.tasks) {
      await this.runIntake(row.id);
      return this.get(row.id);
    }
    return opts.wait === false ? toModel(row) : this.waitSettled(row.id);
  }

  /** Scans (and analyses) a model again, e.g. after a scanner update; waits like `register`. */
  async rescan(ref: string, opts: { wait?: boolean } = {}): Promise<Model> {
    const model = await this.get(ref);
    const now = this.clock.now();
    await this.store.write(async (trx) => {
      await tables<ModelTables>(trx).updateTable('models').set({ state: 'registered', updated_at: now }).where('id', '=', model.id).execute();
      await this.events.append(trx, { type: 'model.rescan', subject: { kind: 'model', id: model.id }, data: { name: model.name } });
      if (this.tasks) await this.tasks.enqueue(this.intakeInput(model.id, `${model.id}:${now}`), { trx });
    });
    this.events.kick();
    if (!this.tasks) {
      await this.runIntake(model.id);
      return this.get(model.id);
    }
    return opts.wait === false ? this.get(model.id) : this.waitSettled(model.id);
  }

  private async waitSettled(id: string): Promise<Model> {
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      const m = await this.get(id);
      if ((m.state !== 'registered' && m.state !== 'analysing') || Date.now() >= deadline) return m;
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  private async intakeTask(ctx: TaskContext<{ modelId: string }>): Promise<unknown> {
    const last = ctx.task.attempts >= ctx.task.maxAttempts;
    return this.runIntake(ctx.payload.modelId, { complete: (fn) => ctx.complete(fn), lastAttempt: last });
  }

  /**
   * Ingest → analyse → scan one model, then records descriptor, scan report and state in one
   * transaction. Bad input (AnalysisError) ends in `failed` at once; other errors are retried, and
   * the last attempt ends in `failed` too, so no model is left half-analysed.
   */
  private async runIntake(
    id: string,
    opts: { complete?: <T>(fn: (trx: AnyDb) => Promise<T>) => Promise<T>; lastAttempt?: boolean } = {},
  ): Promise<{ state: ModelState }> {
    const model = await this.find(id);
    if (!model) return { state: 'failed' };
    await this.store.write(async (trx) => {
      await tables<ModelTables>(trx).updateTable('models').set({ state: 'analysing', updated_at: this.clock.now() }).where('id', '=', id).execute();
      await this.events.append(trx, { type: 'model.analysing', subject: { kind: 'model', id }, data: { name: model.name } });
    });
    this.events.kick();
    let descriptor: ModelDescriptor | null = null;
    let error: string | null = null;
    let scan: ScanReport | null = null;
    let path = model.path;
    if (parseS3(model.source)) {
      // Ingest: download into the artifact store, then analyse the local copy.
      try {
        const row = await this.row(id);
        path = await downloadS3(model.source, join(this.artifactsDir, id), this.secrets.openJson<S3Credentials | null>(row.source_credentials, null));
        const detected = await this.detect(path).catch((err: Error) => ({ format: 'unknown', evidence: `could not read: ${(err).message}` }));
        const size = statSync(path).isDirectory() ? await sizeOf(path) : statSync(path).size;
        await this.store.write(async (trx) => {
          await tables<ModelTables>(trx).updateTable('models').set({ path, format: detected.format, format_evidence: detected.evidence, size_bytes: size }).where('id', '=', id).execute();
          await this.events.append(trx, { type: 'model.ingested', subject: { kind: 'model', id }, data: { name: model.name, bytes: size } });
        });
        this.events.kick();
      } catch (err) {
        if (!(err instanceof SourceError) && opts.lastAttempt === false) throw err;
        const message = `download failed: ${(err as Error).message}`;
        const fail = async (trx: AnyDb) => {
          await tables<ModelTables>(trx).updateTable('models').set({ state: 'failed', error: message, updated_at: this.clock.now() }).where('id', '=', id).execute();
          await this.events.append(trx, { type: 'model.failed', subject: { kind: 'model', id }, data: { name: model.name, state: 'failed', error: message } });
          return { state: 'failed' as ModelState };
        };
        const r = opts.complete ? await opts.complete(fail) : await this.store.write(fail);
        this.events.kick();
        return r;
      }
    }
    try {
      descriptor = await analyzeModel(path);
    } catch (err) {
      if (err instanceof AnalysisError) error = `${err.location}: ${err.message}`;
      else if ((err as NodeJS.ErrnoException).code === 'ENOENT') error = `${path} no longer exists`;
      else if (opts.lastAttempt === false) throw err;
      else error = `analysis failed: ${(err as Error).message}`;
    }
    try {
      scan = await scanModel(path);
    } catch (err) {
      if (opts.lastAttempt === false && !error) throw err;
      error ??= `scan failed: ${(err as Error).message}`;
    }
    // A model that cannot be analysed is `failed` (its error says why) unless the scan found an attack.
    const attack = scan?.findings.some((f) => f.severity === 'critical') ?? false;
    const state: ModelState = attack || (!error && scan?.verdict === 'unsafe') ? 'unsafe' : error || !scan ? 'failed' : 'scanned';
    const write = async (trx: AnyDb) => {
      await tables<ModelTables>(trx)
        .updateTable('models')
        .set({ state, error, descriptor: descriptor ? toJson(descriptor) : null, scan: scan ? toJson(scan) : null, updated_at: this.clock.now() })
        .where('id', '=', id)
        .execute();
      await this.events.append(trx, {
        type: `model.${state}`,
        subject: { kind: 'model', id },
        data: { name: model.name, state, ...(error ? { error } : {}), ...(scan ? { verdict: scan.verdict, findings: scan.findings.length } : {}) },
      });
      return { state };
    };
    const result = opts.complete ? await opts.complete(write) : await this.store.write(write);
    this.events.kick();
    return result;
  }

  /** The model registered with this content hash, if any. */
  async findByHash(hash: string): Promise<{ id: string } | undefined> {
    return tables<ModelTables>(this.store.db).selectFrom('models').select('id').where('content_hash', '=', hash).executeTakeFirst();
  }

  /**
   * Watches a folder and registers each new model in it once it is stable, once per content hash.
   * Returns a stop function.
   */
  watchFolder(dir: string, opts: WatchOptions): FolderWatcher {
    const watcher = new FolderWatcher(
      dir,
      {
        findByHash: (hash) => this.findByHash(hash),
        registerWatched: (input) => this.register({ ...input, labels: { 'catapult.watch': 'folder' } }, undefined, { wait: false }),
      },
      this.events,
      opts,
    );
    watcher.start();
    return watcher;
  }

  /** The analyzer's descriptor; refused until the model is analysed. */
  async descriptor(ref: string): Promise<ModelDescriptor> {
    const row = await this.row(ref);
    const d = fromJson<ModelDescriptor | null>(row.descriptor, null);
    if (!d) {
      throw new CatapultError('CATAPULT_MODEL_NOT_ANALYSED', `Model ${row.name}:${row.version} has no descriptor: it is ${row.state}${row.error ? ` (${row.error})` : ''}.`, { state: row.state });
    }
    return d;
  }

  /** The latest scan report; refused until the model is scanned. */
  async scanReport(ref: string): Promise<ScanReport & { state: ModelState; override: ModelOverride | null }> {
    const row = await this.row(ref);
    const report = fromJson<ScanReport | null>(row.scan, null);
    if (!report) throw new CatapultError('CATAPULT_MODEL_NOT_ANALYSED', `Model ${row.name}:${row.version} has not been scanned yet: it is ${row.state}.`, { state: row.state });
    return { ...report, state: row.state as ModelState, override: fromJson<ModelOverride | null>(row.override, null) };
  }

  /** The estimate at a deployment's context length and concurrency (the model's defaults otherwise). */
  async estimate(ref: string, opts: EstimateOptions = {}): Promise<ResourceEstimate | null> {
    const row = await this.row(ref);
    const d = fromJson<ModelDescriptor | null>(row.descriptor, null);
    return d ? estimateResources(d, opts) : null;
  }

  /** Lets an admin deploy a model the scanner refused or could not scan; the API audits the call. */
  async setOverride(ref: string, override: { by: string; reason: string } | null): Promise<Model> {
    const model = await this.get(ref);
    const value = override ? { ...override, at: this.clock.now() } : null;
    await this.store.write(async (trx) => {
      await tables<ModelTables>(trx).updateTable('models').set({ override: value ? toJson(value) : null, updated_at: this.clock.now() }).where('id', '=', model.id).execute();
      await this.events.append(trx, {
        type: value ? 'model.override' : 'model.override_removed',
        subject: { kind: 'model', id: model.id },
        data: { name: model.name, state: model.state, ...(value ? { by: value.by, reason: value.reason } : {}) },
      });
    });
    this.events.kick();
    return this.get(model.id);
  }

  /**
   * The deploy policy: a model deploys only once scanned safe, or with an admin's override.
   * Throws a problem the API shows as is.
   */
  assertDeployable(model: Model): void {
    if (model.state === 'scanned' || model.override) return;
    const name = `${model.name}:${model.version}`;
    if (model.state === 'unsafe') {
      throw new CatapultError('CATAPULT_MODEL_UNSAFE', `Model ${name} failed its security scan (${model.findingCount} finding(s)); see GET /api/v1/models/${model.id}/scan.`, {
        model: model.id,
        state: model.state,
      });
    }
    throw new CatapultError('CATAPULT_MODEL_NOT_SCANNED', `Model ${name} is ${model.state}${model.error ? ` (${model.error})` : ''}; only scanned models deploy.`, {
      model: model.id,
      state: model.state,
    });
  }

  private async row(ref: string): Promise<ModelsTable> {
    const m = await this.get(ref);
    return (await tables<ModelTables>(this.store.db).selectFrom('models').selectAll().where('id', '=', m.id).executeTakeFirstOrThrow());
  }

  async list(): Promise<Model[]> {
    const rows = await tables<ModelTables>(this.store.db).selectFrom('models').selectAll().orderBy('name').orderBy('version').execute();
    return rows.map(toModel);
  }

  /** By id, or by `name` (newest version) or `name:version`. */
  async get(ref: string): Promise<Model> {
    const model = await this.find(ref);
    if (!model) throw new CatapultError('CATAPULT_MODEL_NOT_FOUND', `No model '${ref}'. List models with GET /api/v1/models.`, { ref });
    return model;
  }

  async find(ref: string): Promise<Model | undefined> {
    const db = tables<ModelTables>(this.store.db);
    const byId = await db.selectFrom('models').selectAll().where('id', '=', ref).executeTakeFirst();
    if (byId) return toModel(byId);
    const [name, version] = ref.split(':', 2) as [string, string | undefined];
    let q = db.selectFrom('models').selectAll().where('name', '=', name);
    if (version !== undefined) q = q.where('version', '=', version);
    const rows = await q.orderBy('created_at', 'desc').limit(1).execute();
    return rows[0] ? toModel(rows[0]) : undefined;
  }

  /** Deletes a model's registration (never its files); refused while a deployment uses it. */
  async delete(ref: string): Promise<Model> {
    const model = await this.get(ref);
    const users = await this.usage(model.id);
    if (users.length > 0) {
      throw new CatapultError('CATAPULT_MODEL_IN_USE', `Model ${model.name}:${model.version} is used by deployment(s) ${users.join(', ')}.`, {
        deployments: users,
      });
    }
    await this.store.write(async (trx) => {
      await tables<ModelTables>(trx).deleteFrom('models').where('id', '=', model.id).execute();
      await this.events.append(trx, { type: 'model.deleted', subject: { kind: 'model', id: model.id }, data: { name: model.name } });
    });
    this.events.kick();
    return model;
  }
}

function toModel(r: ModelsTable): Model {
  const descriptor = fromJson<ModelDescriptor | null>(r.descriptor, null);
  const scan = fromJson<ScanReport | null>(r.scan, null);
  return {
    id: r.id,
    name: r.name,
    version: r.version,
    source: r.source,
    path: r.path,
    format: r.format,
    formatEvidence: r.format_evidence,
    sizeBytes: Number(r.size_bytes),
    description: r.description,
    labels: fromJson<Record<string, string>>(r.labels, {}),
    createdAt: Number(r.created_at),
    state: r.state as ModelState,
    error: r.error,
    parameterCount: descriptor?.parameterCount ?? null,
    estimate: descriptor ? estimateResources(descriptor) : null,
    scanVerdict: scan?.verdict ?? null,
    findingCount: scan?.findings.length ?? 0,
    override: fromJson<ModelOverride | null>(r.override, null),
    updatedAt: Number(r.updated_at),
  };
}

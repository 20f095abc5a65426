import { existsSync, statSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { EventLog } from '../events/index.js';
import { CatapultError } from '../errors/index.js';
import type { CatapultMigration, Store } from '../store/index.js';
import { fromJson, tables, toJson } from '../store/index.js';
import { type Clock, newId } from '../util/index.js';

/** A registered model artifact: where it is, what format it has, and (later) what the analyzer and scanner found. */
export const modelSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    version: z.string(),
    // As given: a local path or `file://` URI.
    source: z.string(),
    // Absolute local path of the file or directory.
    path: z.string(),
    format: z.string(),
    // What decided the format, for people: "ONNX protobuf with ir_version 8".
    formatEvidence: z.string(),
    sizeBytes: z.number(),
    description: z.string().nullable(),
    labels: z.record(z.string(), z.string()),
    createdAt: z.number(),
  })
  .meta({ id: 'Model' });
export type Model = z.infer<typeof modelSchema>;

export interface RegisterModelInput {
  name: string;
  version?: string;
  source: string;
  description?: string;
  labels?: Record<string, string>;
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
};

/** Resolves a model source to a local path, or says why it cannot. */
export function resolveSource(source: string, cwd = process.cwd()): string {
  if (/^(s3|gs|hf|https?):\/\//i.test(source)) {
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

  async register(input: RegisterModelInput, cwd?: string): Promise<Model> {
    const given = resolveSource(input.source, cwd);
    const version = input.version ?? '1';
    const detected: { format: string; evidence: string; path?: string } = await this.detect(given).catch((err: Error) => ({
      format: 'unknown',
      evidence: `could not read: ${err.message}`,
    }));
    // A directory holding one model file is served as that file: a runtime given the directory fails (EISDIR).
    const path = detected.path ?? given;
    const row: ModelsTable = {
      id: newId('mdl'),
      name: input.name,
      version,
      source: input.source,
      path,
      format: detected.format,
      format_evidence: detected.evidence,
      size_bytes: statSync(path).isDirectory() ? await sizeOf(path) : statSync(path).size,
      description: input.description ?? null,
      labels: toJson(input.labels ?? {}),
      created_at: this.clock.now(),
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
    });
    this.events.kick();
    return toModel(row);
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
  };
}

import { z } from 'zod';
import { CatapultError } from '../errors/index.js';
import type { EventLog } from '../events/index.js';
import type { CatapultMigration, Store } from '../store/index.js';
import { fromJson, tables, toJson } from '../store/index.js';
import { type Clock, newId } from '../util/index.js';
import { SshCommunicator, type SshTarget } from './communicator.js';
import { type ClusterReport, describeCluster } from './slurm.js';
import type { SecretBox } from '../secrets/index.js';

export const SLURM_CLUSTER_NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;

const jumpSchema = z.strictObject({
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().min(1).max(100),
  privateKey: z.string().min(1).max(20_000).optional().describe("Default: the cluster's own key"),
  hostKey: z.string().min(1).max(2000),
});

export const createSlurmClusterSchema = z.strictObject({
  name: z.string().regex(SLURM_CLUSTER_NAME, 'lower-case letters, digits, dots, dashes and underscores, 1-63 characters'),
  host: z.string().min(1).max(255).describe('Login node'),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().min(1).max(100),
  privateKey: z.string().min(1).max(20_000).describe('OpenSSH private key; stored on the server, never returned'),
  hostKey: z.string().min(1).max(2000).describe("The login node's public host key (`ssh-ed25519 AAAA…`) or its SHA256 fingerprint; any other key is refused"),
  jump: jumpSchema.nullable().optional(),
  partition: z.string().min(1).max(100).nullable().optional(),
  account: z.string().min(1).max(100).nullable().optional(),
  qos: z.string().min(1).max(100).nullable().optional(),
  timeLimit: z.string().regex(/^(\d+-)?\d+(:\d+){0,2}$/, 'a Slurm time: minutes, H:MM:SS or D-HH:MM:SS').nullable().optional(),
  workDir: z.string().regex(/^\//, 'an absolute path on the cluster').max(1000).describe('Working directory on the cluster (scripts, outputs, staged models)'),
  imageCacheDir: z.string().regex(/^\//, 'an absolute path on the cluster').max(1000).nullable().optional(),
  /** Command that runs Catapult on the nodes, for built-in runtimes; default: this installation's. */
  catapultCommand: z.array(z.string().min(1)).min(1).max(20).nullable().optional(),
  pollIntervalMs: z.number().int().min(200).max(600_000).default(2000),
});
export type CreateSlurmClusterInput = z.input<typeof createSlurmClusterSchema>;

/** PATCH: every field optional; only the named ones change. */
export const updateSlurmClusterSchema = createSlurmClusterSchema
  .omit({ name: true })
  .partial()
  .extend({ port: z.number().int().min(1).max(65535).optional(), pollIntervalMs: z.number().int().min(200).max(600_000).optional() })
  .strict();
export type UpdateSlurmClusterInput = z.input<typeof updateSlurmClusterSchema>;

export const slurmClusterSchema = z.object({
  id: z.string(),
  name: z.string(),
  host: z.string(),
  port: z.number(),
  user: z.string(),
  hasPrivateKey: z.boolean(),
  hostKey: z.string(),
  jump: z.object({ host: z.string(), port: z.number(), user: z.string(), hostKey: z.string() }).nullable(),
  partition: z.string().nullable(),
  account: z.string().nullable(),
  qos: z.string().nullable(),
  timeLimit: z.string().nullable(),
  workDir: z.string(),
  imageCacheDir: z.string().nullable(),
  catapultCommand: z.array(z.string()).nullable(),
  pollIntervalMs: z.number(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export type SlurmCluster = z.infer<typeof slurmClusterSchema>;

export const clusterReportSchema = z.object({
  cluster: z.string(),
  version: z.string(),
  nodes: z.array(
    z.object({
      name: z.string(),
      address: z.string(),
      state: z.string(),
      cpus: z.number(),
      memoryMb: z.number(),
      partitions: z.array(z.string()),
      gpus: z.number(),
      gres: z.string(),
      reason: z.string().nullable(),
    }),
  ),
  partitions: z.array(z.object({ name: z.string(), available: z.string(), timeLimit: z.string(), nodes: z.number(), isDefault: z.boolean() })),
});

/** The stored row. Secrets live only in `private_key_secret` (and the jump host's key inside `jump_secret`). */
interface SlurmClustersTable {
  id: string;
  name: string;
  host: string;
  port: number;
  user: string;
  /** The SSH private key: the one column holding it; never returned by the API. */
  private_key_secret: string;
  host_key: string;
  /** The jump host, JSON, including its private key when it has its own: a secret as a whole. */
  jump_secret: string | null;
  settings: string;
  created_at: number;
  updated_at: number;
}
interface SlurmTables {
  slurm_clusters: SlurmClustersTable;
}

interface Settings {
  partition: string | null;
  account: string | null;
  qos: string | null;
  timeLimit: string | null;
  workDir: string;
  imageCacheDir: string | null;
  catapultCommand: string[] | null;
  pollIntervalMs: number;
}

export const slurmClusterMigrations: Record<string, CatapultMigration> = {
  '0700_slurm_clusters': {
    async up({ db, t }) {
      await db.schema
        .createTable('slurm_clusters')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('port', t.int, (c) => c.notNull())
        .addColumn('user', 'text', (c) => c.notNull())
        .addColumn('private_key_secret', 'text', (c) => c.notNull())
        .addColumn('host_key', 'text', (c) => c.notNull())
        .addColumn('jump_secret', t.json)
        .addColumn('settings', t.json, (c) => c.notNull())
        .addColumn('created_at', t.ms, (c) => c.notNull())
        .addColumn('updated_at', t.ms, (c) => c.notNull())
        .execute();
    },
  },
};

function issuesToError(what: string, err: z.ZodError): CatapultError {
  const errors = err.issues.map((i) => ({ path: ['body', ...i.path].join('/'), message: i.message }));
  return new CatapultError('CATAPULT_VALIDATION_FAILED', `Invalid ${what}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
}

export interface ClusterWithSecrets {
  view: SlurmCluster;
  target: SshTarget;
}

/**
 * Slurm clusters Catapult reaches over SSH: their connection (the private key stays on the server)
 * and defaults for the jobs it submits there. One SSH session per cluster, shared by every user of it.
 */
export class SlurmClusterService {
  private readonly sessions = new Map<string, { key: string; comm: SshCommunicator }>();
  private readonly usage: ((clusterName: string) => Promise<string[]>)[] = [];

  /** `secrets` seals the private keys at rest; rows are opened as they are read, so nothing else sees ciphertext. */
  constructor(private readonly d: { store: Store; events: EventLog; clock: Clock; secrets: SecretBox }) {}

  /** Lets a domain that places work on clusters block their deletion while it uses them. */
  addUsage(fn: (clusterName: string) => Promise<string[]>): void {
    this.usage.push(fn);
  }

  async create(input: unknown): Promise<SlurmCluster> {
    const parsed = createSlurmClusterSchema.safeParse(input);
    if (!parsed.success) throw issuesToError('Slurm cluster', parsed.error);
    const c = parsed.data;
    const now = this.d.clock.now();
    const row: SlurmClustersTable = {
      id: newId('slc'),
      name: c.name,
      host: c.host,
      port: c.port,
      user: c.user,
      private_key_secret: this.d.secrets.seal(c.privateKey),
      host_key: c.hostKey.trim(),
      jump_secret: c.jump ? this.d.secrets.sealJson(c.jump) : null,
      settings: toJson(settingsOf(c)),
      created_at: now,
      updated_at: now,
    };
    await this.d.store.write(async (trx) => {
      const db = tables<SlurmTables>(trx);
      const clash = await db.selectFrom('slurm_clusters').select('id').where('name', '=', c.name).executeTakeFirst();
      if (clash) throw new CatapultError('CATAPULT_SLURM_CLUSTER_EXISTS', `A Slurm cluster named ${c.name} already exists.`, { name: c.name });
      await db.insertInto('slurm_clusters').values(row).execute();
      await this.d.events.append(trx, { type: 'slurm_cluster.created', subject: { kind: 'slurm_cluster', id: row.id }, data: { name: c.name, host: c.host } });
    });
    this.d.events.kick();
    return view(row);
  }

  async list(): Promise<SlurmCluster[]> {
    const rows = await tables<SlurmTables>(this.d.store.db).selectFrom('slurm_clusters').selectAll().orderBy('name').execute();
    return rows.map((r) => view(this.opened(r)));
  }

  async get(ref: string): Promise<SlurmCluster> {
    return view(await this.row(ref));
  }

  /** The cluster with its connection secrets, for this server's own use (never for the API). */
  async withSecrets(ref: string): Promise<ClusterWithSecrets> {
    const row = await this.row(ref);
    return { view: view(row), target: targetOf(row) };
  }

  async update(ref: string, input: unknown): Promise<SlurmCluster> {
    const parsed = updateSlurmClusterSchema.safeParse(input);
    if (!parsed.success) throw issuesToError('Slurm cluster update', parsed.error);
    // Only the fields the request names: zod defaults must not reset the others.
    const ch = Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined)) as z.output<typeof updateSlurmClusterSchema>;
    const named = new Set(Object.keys(ch));
    const current = await this.row(ref);
    const settings = { ...fromJson<Settings>(current.settings, {} as Settings) };
    for (const k of ['partition', 'account', 'qos', 'timeLimit', 'workDir', 'imageCacheDir', 'catapultCommand', 'pollIntervalMs'] as const) {
      if (k in ch) (settings as unknown as Record<string, unknown>)[k] = (ch as Record<string, unknown>)[k] ?? null;
    }
    const next: Partial<SlurmClustersTable> = { settings: toJson(settings), updated_at: this.d.clock.now() };
    if (ch.host !== undefined) next.host = ch.host;
    if (ch.port !== undefined) next.port = ch.port;
    if (ch.user !== undefined) next.user = ch.user;
    if (ch.privateKey !== undefined) next.private_key_secret = this.d.secrets.seal(ch.privateKey);
    if (ch.hostKey !== undefined) next.host_key = ch.hostKey.trim();
    if ('jump' in ch) next.jump_secret = ch.jump ? this.d.secrets.sealJson(ch.jump) : null;
    await this.d.store.write(async (trx) => {
      await tables<SlurmTables>(trx).updateTable('slurm_clusters').set(next).where('id', '=', current.id).execute();
      await this.d.events.append(trx, {
        type: 'slurm_cluster.updated',
        subject: { kind: 'slurm_cluster', id: current.id },
        data: { name: current.name, fields: [...named].filter((k) => k in ch) },
      });
    });
    this.d.events.kick();
    this.drop(current.id);
    return this.get(current.id);
  }

  async delete(ref: string): Promise<SlurmCluster> {
    const current = await this.row(ref);
    const users = (await Promise.all(this.usage.map((u) => u(current.name)))).flat();
    if (users.length > 0) {
      throw new CatapultError('CATAPULT_SLURM_CLUSTER_IN_USE', `Slurm cluster ${current.name} runs deployment(s) ${users.join(', ')}.`, { deployments: users });
    }
    await this.d.store.write(async (trx) => {
      await tables<SlurmTables>(trx).deleteFrom('slurm_clusters').where('id', '=', current.id).execute();
      await this.d.events.append(trx, { type: 'slurm_cluster.deleted', subject: { kind: 'slurm_cluster', id: current.id }, data: { name: current.name } });
    });
    this.d.events.kick();
    this.drop(current.id);
    return view(current);
  }

  /** Connects and reports nodes, partitions, GRES and the Slurm version. */
  async test(ref: string): Promise<ClusterReport & { cluster: string }> {
    const row = await this.row(ref);
    const comm = this.communicator(row);
    return { cluster: row.name, ...(await describeCluster(comm)) };
  }

  /** The shared SSH session of a cluster (one per cluster; replaced when its connection settings change). */
  async session(ref: string): Promise<SshCommunicator> {
    return this.communicator(await this.row(ref));
  }

  close(): void {
    for (const s of this.sessions.values()) s.comm.close();
    this.sessions.clear();
  }

  private communicator(row: SlurmClustersTable): SshCommunicator {
    const key = `${row.host}|${row.port}|${row.user}|${row.host_key}|${row.private_key_secret}|${row.jump_secret ?? ''}`;
    const s = this.sessions.get(row.id);
    if (s && s.key === key) return s.comm;
    s?.comm.close();
    const comm = new SshCommunicator(targetOf(row), { label: row.name });
    this.sessions.set(row.id, { key, comm });
    return comm;
  }

  private drop(id: string): void {
    // Connection settings may have changed: the next user opens a fresh session.
    const s = this.sessions.get(id);
    if (!s) return;
    void this.row(id)
      .then((r) => this.communicator(r))
      .catch(() => {
        s.comm.close();
        this.sessions.delete(id);
      });
  }

  private async row(ref: string): Promise<SlurmClustersTable> {
    const db = tables<SlurmTables>(this.d.store.db);
    const row =
      (await db.selectFrom('slurm_clusters').selectAll().where('id', '=', ref).executeTakeFirst()) ??
      (await db.selectFrom('slurm_clusters').selectAll().where('name', '=', ref).executeTakeFirst());
    if (!row) throw new CatapultError('CATAPULT_SLURM_CLUSTER_NOT_FOUND', `No Slurm cluster '${ref}'.`, { ref });
    return this.opened(row);
  }

  /** The row with its secrets opened (values written before sealing existed read as they are). */
  private opened(row: SlurmClustersTable): SlurmClustersTable {
    return {
      ...row,
      private_key_secret: this.d.secrets.open(row.private_key_secret),
      jump_secret: row.jump_secret === null ? null : toJson(this.d.secrets.openJson<unknown>(row.jump_secret, null)),
    };
  }
}

function settingsOf(c: z.output<typeof createSlurmClusterSchema>): Settings {
  return {
    partition: c.partition ?? null,
    account: c.account ?? null,
    qos: c.qos ?? null,
    timeLimit: c.timeLimit ?? null,
    workDir: c.workDir,
    imageCacheDir: c.imageCacheDir ?? null,
    catapultCommand: c.catapultCommand ?? null,
    pollIntervalMs: c.pollIntervalMs,
  };
}

function targetOf(row: SlurmClustersTable): SshTarget {
  const jump = row.jump_secret ? fromJson<z.output<typeof jumpSchema> | null>(row.jump_secret, null) : null;
  return {
    host: row.host,
    port: Number(row.port),
    user: row.user,
    privateKey: row.private_key_secret,
    hostKey: row.host_key,
    jump: jump ? { host: jump.host, port: jump.port, user: jump.user, hostKey: jump.hostKey, privateKey: jump.privateKey ?? row.private_key_secret } : null,
  };
}

function view(row: SlurmClustersTable): SlurmCluster {
  const s = fromJson<Settings>(row.settings, {} as Settings);
  const jump = row.jump_secret ? fromJson<z.output<typeof jumpSchema> | null>(row.jump_secret, null) : null;
  return {
    id: row.id,
    name: row.name,
    host: row.host,
    port: Number(row.port),
    user: row.user,
    hasPrivateKey: row.private_key_secret.length > 0,
    hostKey: row.host_key,
    jump: jump ? { host: jump.host, port: jump.port, user: jump.user, hostKey: jump.hostKey } : null,
    partition: s.partition ?? null,
    account: s.account ?? null,
    qos: s.qos ?? null,
    timeLimit: s.timeLimit ?? null,
    workDir: s.workDir,
    imageCacheDir: s.imageCacheDir ?? null,
    catapultCommand: s.catapultCommand ?? null,
    pollIntervalMs: Number(s.pollIntervalMs ?? 2000),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

import type { CatapultMigration } from '../store/index.js';
import { fromJson, toJson } from '../store/index.js';
import type {
  Assignment,
  DesiredState,
  Gpu,
  GpuVendor,
  JoinToken,
  PlacementExplanation,
  PlacementPolicy,
  ReplicaState,
  ResourceRequest,
  WorkerCapacity,
  WorkerLiveness,
} from './types.js';

/** The cluster's own tables. Nothing outside src/cluster reads them; other domains use ClusterService. */
export interface WorkersTable {
  id: string;
  name: string;
  credential_hash: string;
  labels: string;
  capacity: string;
  gpus: string;
  cached_models: string;
  liveness: string;
  cordoned: number;
  draining: number;
  agent_version: string | null;
  hostname: string | null;
  join_token_id: string | null;
  registered_at: number;
  last_heartbeat_at: number;
  state_changed_at: number;
  clock_skew_ms: number | null;
}

export interface JoinTokensTable {
  id: string;
  name: string;
  prefix: string;
  hash: string;
  created_at: number;
  created_by: string | null;
  expires_at: number | null;
  max_uses: number | null;
  uses: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface AssignmentsTable {
  id: string;
  owner: string;
  spec: string;
  resources: string;
  selectors: string;
  policy: string;
  allow_cpu_fallback: number;
  model_key: string | null;
  worker_id: string | null;
  mode: string | null;
  gpu_vendor: string | null;
  gpu_indices: string;
  gpu_memory_bytes: number;
  desired: string;
  state: string;
  message: string | null;
  endpoint: string | null;
  explanation: string | null;
  moves: number;
  created_at: number;
  updated_at: number;
  placed_at: number | null;
  state_changed_at: number;
}

export interface ClusterTables {
  workers: WorkersTable;
  join_tokens: JoinTokensTable;
  assignments: AssignmentsTable;
}

export const clusterMigrations: Record<string, CatapultMigration> = {
  '0200_cluster': {
    async up({ db, t }) {
      await db.schema
        .createTable('join_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', t.ms, (c) => c.notNull())
        .addColumn('created_by', 'text')
        .addColumn('expires_at', t.ms)
        .addColumn('max_uses', t.int)
        .addColumn('uses', t.int, (c) => c.notNull().defaultTo(0))
        .addColumn('last_used_at', t.ms)
        .addColumn('revoked_at', t.ms)
        .execute();
      await db.schema
        .createTable('workers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('credential_hash', 'text', (c) => c.notNull().unique())
        .addColumn('labels', t.json, (c) => c.notNull())
        .addColumn('capacity', t.json, (c) => c.notNull())
        .addColumn('gpus', t.json, (c) => c.notNull())
        .addColumn('cached_models', t.json, (c) => c.notNull())
        .addColumn('liveness', 'text', (c) => c.notNull())
        .addColumn('cordoned', t.int, (c) => c.notNull().defaultTo(0))
        .addColumn('draining', t.int, (c) => c.notNull().defaultTo(0))
        .addColumn('agent_version', 'text')
        .addColumn('hostname', 'text')
        .addColumn('join_token_id', 'text')
        .addColumn('registered_at', t.ms, (c) => c.notNull())
        .addColumn('last_heartbeat_at', t.ms, (c) => c.notNull())
        .addColumn('state_changed_at', t.ms, (c) => c.notNull())
        .addColumn('clock_skew_ms', t.ms)
        .execute();
      await db.schema
        .createTable('assignments')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('spec', t.json, (c) => c.notNull())
        .addColumn('resources', t.json, (c) => c.notNull())
        .addColumn('selectors', t.json, (c) => c.notNull())
        .addColumn('policy', 'text', (c) => c.notNull())
        .addColumn('allow_cpu_fallback', t.int, (c) => c.notNull())
        .addColumn('model_key', 'text')
        .addColumn('worker_id', 'text')
        .addColumn('mode', 'text')
        .addColumn('gpu_vendor', 'text')
        .addColumn('gpu_indices', t.json, (c) => c.notNull())
        // Byte counts pass 2^31; the epoch-milliseconds type is the 64-bit integer of both dialects.
        .addColumn('gpu_memory_bytes', t.ms, (c) => c.notNull())
        .addColumn('desired', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('message', 'text')
        .addColumn('endpoint', 'text')
        .addColumn('explanation', t.json)
        .addColumn('moves', t.int, (c) => c.notNull())
        .addColumn('created_at', t.ms, (c) => c.notNull())
        .addColumn('updated_at', t.ms, (c) => c.notNull())
        .addColumn('placed_at', t.ms)
        .addColumn('state_changed_at', t.ms, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('assignments_owner').on('assignments').columns(['owner', 'created_at']).execute();
      await db.schema.createIndex('assignments_worker').on('assignments').columns(['worker_id']).execute();
    },
  },
};

/** A worker row in the shape the service keeps in memory. */
export interface WorkerRecord {
  id: string;
  name: string;
  credentialHash: string;
  labels: Record<string, string>;
  capacity: WorkerCapacity;
  gpus: Gpu[];
  cachedModels: string[];
  liveness: WorkerLiveness;
  cordoned: boolean;
  draining: boolean;
  agentVersion: string | null;
  hostname: string | null;
  joinTokenId: string | null;
  registeredAt: number;
  lastHeartbeatAt: number;
  stateChangedAt: number;
  clockSkewMs: number | null;
}

export function workerFromRow(row: WorkersTable): WorkerRecord {
  return {
    id: row.id,
    name: row.name,
    credentialHash: row.credential_hash,
    labels: fromJson<Record<string, string>>(row.labels, {}),
    capacity: fromJson<WorkerCapacity>(row.capacity, { cpuCores: 0, memoryBytes: 0 }),
    gpus: fromJson<Gpu[]>(row.gpus, []),
    cachedModels: fromJson<string[]>(row.cached_models, []),
    liveness: row.liveness as WorkerLiveness,
    cordoned: Number(row.cordoned) === 1,
    draining: Number(row.draining) === 1,
    agentVersion: row.agent_version,
    hostname: row.hostname,
    joinTokenId: row.join_token_id,
    registeredAt: Number(row.registered_at),
    lastHeartbeatAt: Number(row.last_heartbeat_at),
    stateChangedAt: Number(row.state_changed_at),
    clockSkewMs: row.clock_skew_ms === null ? null : Number(row.clock_skew_ms),
  };
}

export function assignmentFromRow(row: AssignmentsTable): Assignment {
  return {
    id: row.id,
    owner: row.owner,
    spec: fromJson<Record<string, unknown>>(row.spec, {}),
    resources: fromJson<ResourceRequest>(row.resources, { cpu: 0, memoryBytes: 0, gpus: null }),
    selectors: fromJson<Record<string, string>>(row.selectors, {}),
    policy: row.policy as PlacementPolicy,
    allowCpuFallback: Number(row.allow_cpu_fallback) === 1,
    modelKey: row.model_key,
    workerId: row.worker_id,
    mode: row.mode as Assignment['mode'],
    gpuVendor: row.gpu_vendor as GpuVendor | null,
    gpuIndices: fromJson<number[]>(row.gpu_indices, []),
    gpuMemoryBytes: Number(row.gpu_memory_bytes),
    desired: row.desired as DesiredState,
    state: row.state as ReplicaState,
    message: row.message,
    endpoint: row.endpoint,
    explanation: row.explanation === null ? null : fromJson<PlacementExplanation | null>(row.explanation, null),
    moves: Number(row.moves),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    placedAt: row.placed_at === null ? null : Number(row.placed_at),
    stateChangedAt: Number(row.state_changed_at),
  };
}

export function joinTokenFromRow(row: JoinTokensTable): JoinToken {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: Number(row.created_at),
    createdBy: row.created_by,
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
    maxUses: row.max_uses === null ? null : Number(row.max_uses),
    uses: Number(row.uses),
    lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  };
}

export function workerToRow(rec: WorkerRecord): WorkersTable {
  return {
    id: rec.id,
    name: rec.name,
    credential_hash: rec.credentialHash,
    labels: toJson(rec.labels),
    capacity: toJson(rec.capacity),
    gpus: toJson(rec.gpus),
    cached_models: toJson(rec.cachedModels),
    liveness: rec.liveness,
    cordoned: rec.cordoned ? 1 : 0,
    draining: rec.draining ? 1 : 0,
    agent_version: rec.agentVersion,
    hostname: rec.hostname,
    join_token_id: rec.joinTokenId,
    registered_at: rec.registeredAt,
    last_heartbeat_at: rec.lastHeartbeatAt,
    state_changed_at: rec.stateChangedAt,
    clock_skew_ms: rec.clockSkewMs,
  };
}

export function assignmentToRow(a: Assignment): AssignmentsTable {
  return {
    id: a.id,
    owner: a.owner,
    spec: toJson(a.spec),
    resources: toJson(a.resources),
    selectors: toJson(a.selectors),
    policy: a.policy,
    allow_cpu_fallback: a.allowCpuFallback ? 1 : 0,
    model_key: a.modelKey,
    worker_id: a.workerId,
    mode: a.mode,
    gpu_vendor: a.gpuVendor,
    gpu_indices: toJson(a.gpuIndices),
    gpu_memory_bytes: a.gpuMemoryBytes,
    desired: a.desired,
    state: a.state,
    message: a.message,
    endpoint: a.endpoint,
    explanation: a.explanation ? toJson(a.explanation) : null,
    moves: a.moves,
    created_at: a.createdAt,
    updated_at: a.updatedAt,
    placed_at: a.placedAt,
    state_changed_at: a.stateChangedAt,
  };
}

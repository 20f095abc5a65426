/**
 * The cluster's vocabulary: GPUs, workers, resource requests and assignments. These types are the
 * contract between the server (registry, scheduler) and the agent, and the interface later domains
 * (deployments) use to run replicas.
 */

export const GPU_VENDORS = ['nvidia', 'amd'] as const;
export type GpuVendor = (typeof GPU_VENDORS)[number];

/** One GPU as an agent reports it, whichever tool it came from (nvidia-smi, rocm-smi, or declared fake). */
export interface Gpu {
  vendor: GpuVendor;
  /** The vendor's device index on that machine (what CUDA_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES name). */
  index: number;
  name: string;
  uuid: string;
  memoryTotalBytes: number;
  memoryUsedBytes: number;
  /** 0–100; null when the tool does not report it. */
  utilizationPercent: number | null;
  temperatureC: number | null;
  /** Declared with `--fake-gpus` for tests and demos: no hardware behind it. */
  fake: boolean;
}

/** Liveness as judged by the server from its own receive times. */
export const WORKER_LIVENESS = ['ready', 'not_ready', 'offline'] as const;
export type WorkerLiveness = (typeof WORKER_LIVENESS)[number];

/** What a worker shows: its liveness, or `draining` while an operator empties a live worker. */
export const WORKER_STATES = ['ready', 'not_ready', 'offline', 'draining'] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

export interface WorkerCapacity {
  cpuCores: number;
  memoryBytes: number;
}

/** A GPU with the scheduler's bookkeeping: what replicas reserve and what is left. */
export interface WorkerGpu extends Gpu {
  /** Memory reserved by the replicas placed on this GPU. */
  reservedBytes: number;
  /** What the scheduler may still hand out: total − max(reserved, reported used). */
  freeBytes: number;
}

/** A machine running `catapult agent`, as the registry sees it. */
export interface Worker {
  id: string;
  name: string;
  state: WorkerState;
  liveness: WorkerLiveness;
  /** No new replicas are placed here; running ones stay. */
  cordoned: boolean;
  /** Cordoned, and its replicas are being moved elsewhere. */
  draining: boolean;
  labels: Record<string, string>;
  capacity: WorkerCapacity;
  /** CPU and memory reserved by the replicas placed here. */
  allocated: { cpu: number; memoryBytes: number };
  gpus: WorkerGpu[];
  /** True when any of its GPUs is fake. */
  fake: boolean;
  cachedModels: string[];
  /** Replicas placed here that are meant to run, by observed state. */
  replicas: { total: number; byState: Partial<Record<ReplicaState, number>> };
  agentVersion: string | null;
  hostname: string | null;
  registeredAt: number;
  /** Server receive time of the latest heartbeat (or registration). */
  lastHeartbeatAt: number;
  stateChangedAt: number;
  /** The agent's clock minus the server's at the latest heartbeat; informational, never used for liveness. */
  clockSkewMs: number | null;
}

export const PLACEMENT_POLICIES = ['binpack', 'spread'] as const;
export type PlacementPolicy = (typeof PLACEMENT_POLICIES)[number];

/**
 * GPUs a replica needs. With `count`, each of `count` GPUs on one worker needs `memoryBytes` free.
 * Without it, `memoryBytes` is the replica's total need (a model's estimate): one GPU if one has room,
 * else the fewest GPUs of one worker (up to `maxCount`) that each hold an even share.
 */
export interface GpuRequest {
  count?: number | null;
  memoryBytes: number;
  maxCount?: number | null;
  vendor?: GpuVendor | null;
  /** A model name such as `H100` or `MI300X`; matches GPUs whose name contains every word of it. */
  type?: string | null;
}

export interface ResourceRequest {
  /** CPU cores (fractions allowed). */
  cpu: number;
  memoryBytes: number;
  gpus: GpuRequest | null;
}

/** Everything the scheduler needs to place one replica. */
export interface PlacementRequest {
  resources: ResourceRequest;
  /** Labels a worker must carry, exactly. */
  selectors: Record<string, string>;
  policy: PlacementPolicy;
  /** When no GPU fits, run on CPU (only when the runtime can). */
  allowCpuFallback: boolean;
  /** Prefer workers that already cache this model. */
  modelKey: string | null;
}

/**
 * Replica states as agents report them (`pending` and `assigned` are the server's own):
 * `pending → assigned → starting → ready → draining → stopped | failed`.
 */
export const REPLICA_STATES = ['pending', 'assigned', 'starting', 'ready', 'draining', 'stopped', 'failed'] as const;
export type ReplicaState = (typeof REPLICA_STATES)[number];

/** States only an agent reports. */
export const REPORTED_REPLICA_STATES = ['starting', 'ready', 'draining', 'stopped', 'failed'] as const;
export type ReportedReplicaState = (typeof REPORTED_REPLICA_STATES)[number];

export type DesiredState = 'run' | 'stop';

/** Why a replica could not be placed: one line per worker, with the arithmetic. */
export interface PlacementExplanation {
  summary: string;
  reasons: { workerId: string; worker: string; kind: RejectionKind; reason: string }[];
  /** How many workers were checked (reasons may list fewer). */
  workersChecked: number;
  byKind: Partial<Record<RejectionKind, number>>;
}

export const REJECTION_KINDS = [
  'not_ready',
  'offline',
  'cordoned',
  'draining',
  'selector',
  'cpu',
  'memory',
  'no_gpus',
  'gpu_vendor',
  'gpu_type',
  'gpu_memory',
  'gpu_count',
] as const;
export type RejectionKind = (typeof REJECTION_KINDS)[number];

/** Where a replica was placed. */
export interface Placement {
  workerId: string;
  /** `gpu`: on the GPUs named; `cpu`: CPU only (no GPU request, or the fallback). */
  mode: 'gpu' | 'cpu';
  gpuVendor: GpuVendor | null;
  gpuIndices: number[];
  /** GPU memory reserved on each of those GPUs. */
  gpuMemoryBytes: number;
}

/** What a later domain asks the cluster to run. `owner` and `spec` are opaque to the cluster. */
export interface AssignmentInput {
  /** Who asked, e.g. a deployment id; used to list and remove. */
  owner: string;
  /** What the agent needs to run it (runtime, command, model location...). */
  spec?: Record<string, unknown>;
  resources: ResourceRequest;
  selectors?: Record<string, string>;
  policy?: PlacementPolicy;
  allowCpuFallback?: boolean;
  modelKey?: string | null;
}

/** One replica slot: what should run, where it was placed, and what its agent last reported. */
export interface Assignment {
  id: string;
  owner: string;
  spec: Record<string, unknown>;
  resources: ResourceRequest;
  selectors: Record<string, string>;
  policy: PlacementPolicy;
  allowCpuFallback: boolean;
  modelKey: string | null;
  workerId: string | null;
  mode: 'gpu' | 'cpu' | null;
  gpuVendor: GpuVendor | null;
  gpuIndices: number[];
  /** GPU memory reserved on each GPU in gpuIndices. */
  gpuMemoryBytes: number;
  desired: DesiredState;
  state: ReplicaState;
  /** The agent's latest message about it (e.g. why it failed). */
  message: string | null;
  /** Where the replica serves (http://host:port), as its agent reports it; null until it does. */
  endpoint: string | null;
  /** Why it is pending (or could not move off a draining worker); null once placed cleanly. */
  explanation: PlacementExplanation | null;
  /** How many times it was placed elsewhere after its worker went offline or drained. */
  moves: number;
  createdAt: number;
  updatedAt: number;
  placedAt: number | null;
  stateChangedAt: number;
}

/** One assignment as an agent receives it. */
export interface AgentAssignment {
  id: string;
  owner: string;
  spec: Record<string, unknown>;
  resources: ResourceRequest;
  modelKey: string | null;
  mode: 'gpu' | 'cpu';
  gpuVendor: GpuVendor | null;
  gpuIndices: number[];
  gpuMemoryBytes: number;
}

/** One replica as an agent reports it. */
export interface ReplicaReport {
  assignmentId: string;
  state: ReportedReplicaState;
  message?: string | null;
  /** Where it serves (http://host:port), once it does. */
  endpoint?: string | null;
  /** Identifies one start of the replica on the agent; a new value means it was restarted. */
  runId?: string | null;
  /** When it started, by the agent's clock (informational). */
  startedAt?: number | null;
}

/** A join token as listed; the secret is shown once at creation. */
export interface JoinToken {
  id: string;
  name: string;
  prefix: string;
  createdAt: number;
  createdBy: string | null;
  expiresAt: number | null;
  maxUses: number | null;
  uses: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

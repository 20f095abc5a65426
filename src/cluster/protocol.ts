import { z } from 'zod';
import { GPU_VENDORS, PLACEMENT_POLICIES, REJECTION_KINDS, REPLICA_STATES, REPORTED_REPLICA_STATES, WORKER_LIVENESS, WORKER_STATES } from './types.js';

/**
 * Wire schemas: what agents send and receive, and what the API returns. The routes validate with
 * them; the service validates assignment input with them too, because later domains call it directly.
 */

const bytes = z.number().int().min(0).max(2 ** 53 - 1);

export const workerNameSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, underscore and dash; starts with a letter or digit');

const labelKey = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, 'letters, digits and . _ / -');
const labelValue = z.string().max(200);

export const labelsSchema = z
  .record(labelKey, labelValue)
  .refine((v) => Object.keys(v).length <= 64, 'at most 64 labels')
  .describe('key=value labels');

export const gpuSchema = z
  .strictObject({
    vendor: z.enum(GPU_VENDORS),
    index: z.number().int().min(0).max(1023),
    name: z.string().min(1).max(200),
    uuid: z.string().min(1).max(200),
    memoryTotalBytes: bytes,
    memoryUsedBytes: bytes,
    utilizationPercent: z.number().min(0).max(100).nullable(),
    temperatureC: z.number().min(-100).max(300).nullable(),
    fake: z.boolean(),
  })
  .meta({ id: 'Gpu' });

export const capacitySchema = z.strictObject({
  cpuCores: z.number().positive().max(100_000),
  memoryBytes: bytes,
});

const modelKey = z.string().min(1).max(500);

/** Sent with `Authorization: Bearer <join token>` on first start, `Bearer <agent credential>` afterwards. */
export const registerBodySchema = z.strictObject({
  name: workerNameSchema,
  labels: labelsSchema.default({}),
  capacity: capacitySchema,
  gpus: z.array(gpuSchema).max(64),
  cachedModels: z.array(modelKey).max(1000).default([]),
  agentVersion: z.string().max(100).optional(),
  hostname: z.string().max(255).optional(),
});
export type RegisterBody = z.infer<typeof registerBodySchema>;

export const registerResponseSchema = z.object({
  workerId: z.string(),
  name: z.string(),
  /** Present only when a new credential was issued (first join, or a take-over of an offline worker's name). */
  credential: z.string().optional(),
  state: z.enum(WORKER_STATES),
  heartbeatIntervalMs: z.number(),
});
export type RegisterResponse = z.infer<typeof registerResponseSchema>;

export const replicaReportSchema = z.strictObject({
  assignmentId: z.string().min(1).max(200),
  state: z.enum(REPORTED_REPLICA_STATES),
  message: z.string().max(4000).nullable().optional(),
  endpoint: z.string().max(500).nullable().optional(),
  runId: z.string().max(200).nullable().optional(),
  startedAt: z.number().int().nullable().optional(),
});

export const heartbeatBodySchema = z.strictObject({
  /** The agent's clock when it sent this; informational only. */
  sentAt: z.number().int().min(0).optional(),
  gpus: z.array(gpuSchema).max(64),
  replicas: z.array(replicaReportSchema).max(5000).default([]),
  cachedModels: z.array(modelKey).max(1000).default([]),
});
export type HeartbeatBody = z.infer<typeof heartbeatBodySchema>;

export const heartbeatResponseSchema = z.object({
  state: z.enum(WORKER_STATES),
  heartbeatIntervalMs: z.number(),
  /** The version of this worker's assignment set; when it differs from the agent's, the agent fetches it. */
  assignmentsVersion: z.string(),
  serverTime: z.number(),
});
export type HeartbeatResponse = z.infer<typeof heartbeatResponseSchema>;

export const gpuRequestSchema = z
  .strictObject({
    count: z.number().int().min(1).max(64).nullable().optional().describe('Exactly this many GPUs on one worker; omit to fit by memory'),
    memoryBytes: bytes.describe('Per GPU with count; in total without'),
    maxCount: z.number().int().min(1).max(64).nullable().optional().describe('Without count: the most GPUs to split over (default 8)'),
    vendor: z.enum(GPU_VENDORS).nullable().optional(),
    type: z.string().min(1).max(100).nullable().optional().describe('e.g. H100, MI300X'),
  })
  .meta({ id: 'GpuRequest' });

export const resourceRequestSchema = z
  .strictObject({
    cpu: z.number().min(0).max(100_000),
    memoryBytes: bytes,
    gpus: gpuRequestSchema.nullable(),
  })
  .meta({ id: 'ResourceRequest' });

/**
 * What an agent needs to run one replica of a deployment: the `spec` of its assignment. The cluster
 * stores and forwards it without reading it; the deployments domain writes it and the agent's
 * process executor parses it with this schema, so both ends share one contract.
 */
export const replicaSpecSchema = z
  .object({
    deploymentId: z.string().min(1),
    deploymentName: z.string().min(1),
    /** The deployment generation it runs; replicas of older generations are replaced one by one. */
    generation: z.number().int().min(0),
    runtime: z.string().min(1),
    /** Path of the model file or folder on the worker; empty for runtimes that serve no model file. */
    modelPath: z.string(),
    /** The name clients use. */
    modelName: z.string().min(1),
    args: z.array(z.string()),
    env: z.record(z.string(), z.string()),
    options: z.record(z.string(), z.unknown()),
    /** How long it may take to become ready; null: the runtime's default. */
    readinessTimeoutMs: z.number().int().positive().nullable(),
    /** Limits the agent applies to the replica process; absent in specs written before limits existed. */
    limits: z.object({ memoryBytes: z.number().int().positive().optional() }).optional(),
  })
  .meta({ id: 'ReplicaSpec' });
export type ReplicaSpec = z.infer<typeof replicaSpecSchema>;

/** The generation a replica spec names, 0 when it names none (not a deployment's replica). */
export function replicaGeneration(spec: Record<string, unknown>): number {
  const g = replicaSpecSchema.shape.generation.safeParse(spec.generation);
  return g.success ? g.data : 0;
}

export const assignmentInputSchema = z.strictObject({
  owner: z.string().min(1).max(200),
  spec: z.record(z.string(), z.unknown()).optional(),
  resources: resourceRequestSchema,
  selectors: z.record(labelKey, labelValue).optional(),
  policy: z.enum(PLACEMENT_POLICIES).optional(),
  allowCpuFallback: z.boolean().optional(),
  modelKey: modelKey.nullable().optional(),
});

export const explanationSchema = z
  .object({
    summary: z.string(),
    reasons: z.array(z.object({ workerId: z.string(), worker: z.string(), kind: z.enum(REJECTION_KINDS), reason: z.string() })),
    workersChecked: z.number(),
    byKind: z.record(z.string(), z.number()),
  })
  .meta({ id: 'PlacementExplanation' });

export const agentAssignmentSchema = z
  .object({
    id: z.string(),
    owner: z.string(),
    spec: z.record(z.string(), z.unknown()),
    resources: resourceRequestSchema,
    modelKey: z.string().nullable(),
    mode: z.enum(['gpu', 'cpu']),
    gpuVendor: z.enum(GPU_VENDORS).nullable(),
    gpuIndices: z.array(z.number()),
    gpuMemoryBytes: z.number(),
  })
  .meta({ id: 'AgentAssignment' });

export const agentAssignmentsResponseSchema = z.object({
  version: z.string(),
  items: z.array(agentAssignmentSchema),
});

export const workerSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    state: z.enum(WORKER_STATES),
    liveness: z.enum(WORKER_LIVENESS),
    cordoned: z.boolean(),
    draining: z.boolean(),
    labels: z.record(z.string(), z.string()),
    capacity: z.object({ cpuCores: z.number(), memoryBytes: z.number() }),
    allocated: z.object({ cpu: z.number(), memoryBytes: z.number() }),
    gpus: z.array(
      z.object({
        vendor: z.enum(GPU_VENDORS),
        index: z.number(),
        name: z.string(),
        uuid: z.string(),
        memoryTotalBytes: z.number(),
        memoryUsedBytes: z.number(),
        utilizationPercent: z.number().nullable(),
        temperatureC: z.number().nullable(),
        fake: z.boolean(),
        reservedBytes: z.number(),
        freeBytes: z.number(),
      }),
    ),
    fake: z.boolean(),
    cachedModels: z.array(z.string()),
    replicas: z.object({ total: z.number(), byState: z.record(z.string(), z.number()) }),
    agentVersion: z.string().nullable(),
    hostname: z.string().nullable(),
    registeredAt: z.number(),
    lastHeartbeatAt: z.number(),
    stateChangedAt: z.number(),
    clockSkewMs: z.number().nullable(),
  })
  .meta({ id: 'Worker' });

export const assignmentSchema = z
  .object({
    id: z.string(),
    owner: z.string(),
    spec: z.record(z.string(), z.unknown()),
    resources: resourceRequestSchema,
    selectors: z.record(z.string(), z.string()),
    policy: z.enum(PLACEMENT_POLICIES),
    allowCpuFallback: z.boolean(),
    modelKey: z.string().nullable(),
    workerId: z.string().nullable(),
    mode: z.enum(['gpu', 'cpu']).nullable(),
    gpuVendor: z.enum(GPU_VENDORS).nullable(),
    gpuIndices: z.array(z.number()),
    gpuMemoryBytes: z.number(),
    desired: z.enum(['run', 'stop']),
    state: z.enum(REPLICA_STATES),
    message: z.string().nullable(),
    endpoint: z.string().nullable(),
    explanation: explanationSchema.nullable(),
    moves: z.number(),
    createdAt: z.number(),
    updatedAt: z.number(),
    placedAt: z.number().nullable(),
    stateChangedAt: z.number(),
  })
  .meta({ id: 'Assignment' });

export const joinTokenSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string(),
    createdAt: z.number(),
    createdBy: z.string().nullable(),
    expiresAt: z.number().nullable(),
    maxUses: z.number().nullable(),
    uses: z.number(),
    lastUsedAt: z.number().nullable(),
    revokedAt: z.number().nullable(),
  })
  .meta({ id: 'JoinToken' });

export const createJoinTokenBodySchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100).optional().describe('What the token is for'),
    expiresAt: z.number().int().positive().nullable().optional().describe('Epoch milliseconds after which it stops working; null: never. Default: 24 hours from now'),
    expiresInSeconds: z.number().int().positive().max(10 * 365 * 86400).optional().describe('Alternative to expiresAt'),
    maxUses: z.number().int().positive().max(1_000_000).nullable().optional().describe('How many agents may join with it'),
  })
  .refine((b) => !(b.expiresAt && b.expiresInSeconds), { message: 'give expiresAt or expiresInSeconds, not both', path: ['expiresInSeconds'] });
export type CreateJoinTokenBody = z.infer<typeof createJoinTokenBodySchema>;

/** A join token given no expiry lasts this long: a leaked token should not work forever. */
export const DEFAULT_JOIN_TOKEN_TTL_SECONDS = 24 * 3600;

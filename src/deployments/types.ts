import { z } from 'zod';
import type { DeploymentSpec } from './spec.js';

/**
 * A deployment's state, derived from its replicas:
 * `pending` (nothing placed yet) → `scheduling` (some replicas cannot be placed) → `provisioning`
 * (placed, starting) → `active` (all ready) | `degraded` (some ready) | `failed` (none can run)
 * → `stopped` (scaled to zero or deleted).
 */
export const DEPLOYMENT_STATES = ['pending', 'scheduling', 'provisioning', 'active', 'degraded', 'failed', 'stopped'] as const;
export type DeploymentState = (typeof DEPLOYMENT_STATES)[number];

export interface Condition {
  type: 'Scheduled' | 'Ready' | 'Progressing';
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  since: number;
}

export const replicaViewSchema = z.object({
  id: z.string(),
  generation: z.number(),
  workerId: z.string().nullable(),
  state: z.string(),
  desired: z.enum(['run', 'stop']),
  gpuIndices: z.array(z.number()),
  // Where the replica serves, once its agent reports it.
  url: z.string().nullable(),
  message: z.string().nullable(),
  // Why it is not placed, per worker, with the arithmetic.
  explanation: z.unknown(),
});
export type ReplicaView = z.infer<typeof replicaViewSchema>;

export interface Deployment {
  id: string;
  name: string;
  modelId: string | null;
  runtime: string;
  protocol: string;
  spec: DeploymentSpec;
  /** Bumped by every spec change; replicas of older generations are replaced one by one. */
  generation: number;
  state: DeploymentState;
  /** Why it is in this state, in a sentence. */
  reason: string | null;
  conditions: Condition[];
  replicas: { desired: number; ready: number; total: number; items: ReplicaView[] };
  /** Where clients reach it, per protocol, through the gateway. */
  urls: Record<string, string>;
  createdAt: number;
  updatedAt: number;
}

/**
 * A deployment as the API documents it. The spec is shown loosely (the console renders it as YAML)
 * and state as text, so `Deployment` above is the narrower type the service returns; the compiler
 * checks below that every `Deployment` fits this schema.
 */
export const deploymentSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    modelId: z.string().nullable(),
    runtime: z.string(),
    protocol: z.string(),
    spec: z.unknown(),
    generation: z.number(),
    state: z.string(),
    reason: z.string().nullable(),
    conditions: z.array(z.object({ type: z.string(), status: z.string(), reason: z.string(), message: z.string(), since: z.number() })),
    urls: z.record(z.string(), z.string()),
    replicas: z.object({ desired: z.number(), ready: z.number(), total: z.number(), items: z.array(replicaViewSchema) }),
    createdAt: z.number(),
    updatedAt: z.number(),
  })
  .meta({ id: 'Deployment' });
export type DeploymentView = z.infer<typeof deploymentSchema>;
// Fails to compile when a Deployment field drifts from what the API documents.
type Fits<T extends DeploymentView> = T;
export type _DeploymentFitsItsSchema = Fits<Deployment>;

/** What the agent needs to run one replica; the cluster's wire contract (`replicaSpecSchema`). */
export type { ReplicaSpec } from '../cluster/index.js';

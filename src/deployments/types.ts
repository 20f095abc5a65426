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

export interface ReplicaView {
  id: string;
  generation: number;
  workerId: string | null;
  state: string;
  desired: 'run' | 'stop';
  gpuIndices: number[];
  /** Where the replica serves, once its agent reports it. */
  url: string | null;
  message: string | null;
  /** Why it is not placed, per worker, with the arithmetic. */
  explanation: unknown;
}

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

/** What the agent needs to run one replica; stored as the assignment's opaque spec. */
export interface ReplicaSpec {
  deploymentId: string;
  deploymentName: string;
  generation: number;
  runtime: string;
  modelPath: string;
  modelName: string;
  args: string[];
  env: Record<string, string>;
  options: Record<string, unknown>;
  readinessTimeoutMs: number | null;
  /** Limits the agent applies to the replica process; absent in specs written before limits existed. */
  limits?: { memoryBytes?: number };
}

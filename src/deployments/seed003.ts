import { z } from 'zod';
import { CatapultError } from '../errors/index.js';
import type { Deployment } from './types.js';
import type { DeploymentSpecInput } from './spec.js';

/**
 * Seed 003's model-deployment shape (`POST /api/v1/modelDeployment`), accepted as it is and mapped
 * onto a deployment: `type` cpu|gpu, `model {version, type, bucket, prefix}`, `replicas`,
 * `request_res` and `limit_res` in Kubernetes units.
 */
const resources = z.strictObject({ cpu: z.string().min(1), memory: z.string().min(1) });
export const modelDeploymentSchema = z.strictObject({
  type: z.enum(['cpu', 'gpu']),
  model: z.strictObject({
    version: z.string().min(1),
    type: z.string().min(1).default('single'),
    /** A local directory or file:// URI; object stores are not reachable here. */
    bucket: z.string().min(1),
    prefix: z.string().default(''),
  }),
  replicas: z.number().int().min(0).max(1000).default(1),
  request_res: resources,
  limit_res: resources.optional(),
});
export type ModelDeploymentInput = z.output<typeof modelDeploymentSchema>;

/** The local path a seed-003 `model` block points at. */
export function seedModelPath(input: ModelDeploymentInput): string {
  const bucket = input.model.bucket;
  if (/^(s3|gs):\/\//i.test(bucket)) {
    throw new CatapultError('CATAPULT_MODEL_SOURCE_UNSUPPORTED', `Bucket '${bucket}' is an object store; Catapult reads models from local paths.`, {
      errors: [{ path: 'body/model/bucket', message: 'use a local directory or file:// URI' }],
    });
  }
  const base = bucket.replace(/^file:\/\//, '').replace(/\/$/, '');
  return input.model.prefix ? `${base}/${input.model.prefix.replace(/^\//, '')}` : base;
}

/** Where the request as given is kept on the deployment, so GET answers in the units it was asked in. */
export const MODEL_DEPLOYMENT_ANNOTATION = 'catapult.modelDeployment';

export function seedToSpec(name: string, modelRef: string, runtime: string, input: ModelDeploymentInput): DeploymentSpecInput {
  const asked = { type: input.type, model: input.model, request_res: input.request_res, ...(input.limit_res ? { limit_res: input.limit_res } : {}) };
  return {
    name,
    model: modelRef,
    runtime,
    replicas: input.replicas,
    resources: {
      cpu: input.request_res.cpu,
      memory: input.request_res.memory,
      gpus: input.type === 'gpu' ? { count: 1 } : null,
    },
    ...(input.limit_res ? { limits: { cpu: input.limit_res.cpu, memory: input.limit_res.memory } } : {}),
    annotations: { [MODEL_DEPLOYMENT_ANNOTATION]: JSON.stringify(asked) },
    placement: { selectors: {}, policy: 'spread', allowCpuFallback: false },
  };
}

type Asked = Pick<ModelDeploymentInput, 'type' | 'model' | 'request_res' | 'limit_res'>;

/** What each limit does on the process backend, for people reading the answer. */
function limitNotes(limit: { cpu: string; memory: string } | undefined): string[] {
  if (!limit) return [];
  return [
    `limit_res.memory ${limit.memory}: enforced as each replica process's data limit (RLIMIT_DATA, set with prlimit); a replica that needs more fails to allocate`,
    `limit_res.cpu ${limit.cpu}: not enforced: the process backend has no CPU controller (no cgroups); request_res.cpu is what placement reserves`,
  ];
}

/**
 * The answer in seed 003's shape: its status words, the predict URL, and the request as it was
 * given (units and model block untouched). `fallback` describes deployments made another way.
 */
export function toSeedResponse(d: Deployment, fallback: Asked) {
  const status = d.state === 'active' ? 'active' : d.state === 'failed' ? 'failed' : d.state === 'stopped' ? 'stopped' : 'pending';
  const spec = d.spec;
  const kept = spec.annotations?.[MODEL_DEPLOYMENT_ANNOTATION];
  const asked: Asked = kept ? (JSON.parse(kept) as Asked) : fallback;
  return {
    id: d.id,
    status,
    url: d.urls.predict ?? d.urls['kserve-v2'] ?? Object.values(d.urls)[0] ?? '',
    type: asked.type,
    replicas: spec.replicas,
    model: asked.model,
    request_res: asked.request_res,
    ...(asked.limit_res ? { limit_res: asked.limit_res } : {}),
    notes: limitNotes(asked.limit_res),
    created_at: new Date(d.createdAt).toISOString(),
    updated_at: new Date(d.updatedAt).toISOString(),
  };
}

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

export function seedToSpec(name: string, modelRef: string, runtime: string, input: ModelDeploymentInput): DeploymentSpecInput {
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
    placement: { selectors: {}, policy: 'spread', allowCpuFallback: false },
  };
}

/** The answer in seed 003's shape: its status words and the predict URL. */
export function toSeedResponse(d: Deployment, input: ModelDeploymentInput | undefined) {
  const status = d.state === 'active' ? 'active' : d.state === 'failed' ? 'failed' : d.state === 'stopped' ? 'stopped' : 'pending';
  const spec = d.spec;
  return {
    id: d.id,
    status,
    url: d.urls.predict ?? d.urls['kserve-v2'] ?? Object.values(d.urls)[0] ?? '',
    type: spec.resources.gpus ? 'gpu' : 'cpu',
    replicas: spec.replicas,
    model: input?.model ?? { version: '1', type: 'single', bucket: '', prefix: '' },
    request_res: input?.request_res ?? { cpu: String(spec.resources.cpu ?? ''), memory: String(spec.resources.memory ?? '') },
    ...(input?.limit_res ? { limit_res: input.limit_res } : {}),
    created_at: new Date(d.createdAt).toISOString(),
    updated_at: new Date(d.updatedAt).toISOString(),
  };
}

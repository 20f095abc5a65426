import { z } from 'zod';
import { parseBytes } from '../util/index.js';

/** A byte size: a number of bytes or a string with a unit ("512Mi", "16GiB", "1.5G"). */
export const byteSize = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  const n = parseBytes(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: `'${String(v)}' is not a size; use bytes or a unit like 512Mi, 16GiB` });
    return z.NEVER;
  }
  return n;
});

/** CPU cores: a number (0.5) or Kubernetes millicores ("500m"). */
export const cpuAmount = z.union([z.number().positive(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(v.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `'${v}' is not a CPU amount; use cores (0.5) or millicores (500m)` });
    return z.NEVER;
  }
  return m[2] === 'm' ? Number(m[1]) / 1000 : Number(m[1]);
});

export const DEPLOYMENT_NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;

export const gpuRequestSchema = z.strictObject({
  count: z.number().int().min(1).max(64).optional().describe('GPUs per replica, on one worker'),
  memory: byteSize.optional().describe('GPU memory needed on each GPU (with count) or in total (without)'),
  vendor: z.enum(['nvidia', 'amd']).optional(),
  type: z.string().min(1).max(100).optional().describe('GPU model, e.g. H100 or MI300X'),
});

export const deploymentSpecSchema = z.strictObject({
  name: z.string().regex(DEPLOYMENT_NAME, 'lower-case letters, digits, dots, dashes and underscores, 1-63 characters').describe('Unique name; clients use it as the model name'),
  model: z.string().min(1).max(300).optional().describe('Model id, name or name:version; required by runtimes that serve a model file'),
  runtime: z.string().min(1).max(100),
  replicas: z.number().int().min(0).max(1000).default(1),
  resources: z
    .strictObject({
      cpu: cpuAmount.optional(),
      memory: byteSize.optional(),
      gpus: gpuRequestSchema.nullable().optional(),
    })
    .default({}),
  limits: z
    .strictObject({
      cpu: cpuAmount.optional().describe('Not enforced by the process backend (no CPU controller); kept and shown'),
      memory: byteSize.optional().describe("Each replica process's memory limit (its data segment, RLIMIT_DATA, set with prlimit)"),
    })
    .optional()
    .describe('Most each replica may use, where the backend can enforce it'),
  annotations: z
    .record(z.string().min(1).max(200), z.string().max(10_000))
    .default({})
    .describe('Notes kept with the deployment and shown as given (the model-deployment API keeps its request here)'),
  placement: z
    .strictObject({
      selectors: z.record(z.string(), z.string()).default({}),
      policy: z.enum(['binpack', 'spread']).default('spread'),
      allowCpuFallback: z.boolean().default(false),
      backend: z.enum(['agents', 'slurm']).optional().describe('Where replicas run: on agents (default) or as jobs on a Slurm cluster'),
      cluster: z.string().min(1).max(63).optional().describe('The Slurm cluster (by name) when backend is slurm'),
      partition: z.string().min(1).max(100).optional().describe("Slurm partition; default: the cluster's"),
      account: z.string().min(1).max(100).optional().describe("Slurm account; default: the cluster's"),
      qos: z.string().min(1).max(100).optional().describe("Slurm QOS; default: the cluster's"),
      timeLimit: z.string().regex(/^(\d+-)?\d+(:\d+){0,2}$/, 'a Slurm time: minutes, H:MM:SS or D-HH:MM:SS').optional().describe("Slurm time limit of each replica's job; default: the cluster's"),
    })
    .default({ selectors: {}, policy: 'spread', allowCpuFallback: false }),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'), z.string()).default({}),
  args: z.array(z.string()).max(200).default([]),
  options: z.record(z.string(), z.unknown()).default({}).describe("Runtime options (see the runtime's documentation)"),
  readinessTimeoutSeconds: z.number().int().min(1).max(86_400).optional().describe("How long a replica may take to become ready; default: the runtime's"),
  servedModelName: z.string().min(1).max(200).optional().describe('Name clients use; default: the deployment name'),
  container: z
    .strictObject({
      image: z.string().min(1).max(1000).describe('Apptainer image (a .sif path or a docker:// reference) the replica runs in'),
      binds: z.array(z.string().min(1).max(1000)).max(50).default([]).describe('Extra bind mounts, src[:dst[:opts]]'),
      gpuVendor: z.enum(['nvidia', 'amd']).optional().describe('Apptainer GPU flag: nvidia → --nv (default), amd → --rocm'),
    })
    .optional()
    .describe('Runs each replica in a container; Slurm placement only (apptainer exec)'),
});

export type DeploymentSpecInput = z.input<typeof deploymentSpecSchema>;
export type DeploymentSpec = z.output<typeof deploymentSpecSchema>;

/**
 * Fields a deployment update may change; the rest are fixed at creation. Nothing here has a default:
 * a field the update does not name keeps its value. `resources` and `placement` merge by field (naming
 * `placement.policy` keeps the selectors; `resources.gpus: null` drops GPUs); `env`, `args` and
 * `options` are replaced whole.
 */
export const deploymentUpdateSchema = z.strictObject({
  replicas: z.number().int().min(0).max(1000).optional(),
  resources: z
    .strictObject({
      cpu: cpuAmount.optional(),
      memory: byteSize.optional(),
      gpus: gpuRequestSchema.nullable().optional(),
    })
    .optional(),
  placement: z
    .strictObject({
      selectors: z.record(z.string(), z.string()).optional(),
      policy: z.enum(['binpack', 'spread']).optional(),
      allowCpuFallback: z.boolean().optional(),
    })
    .optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'), z.string()).optional(),
  args: z.array(z.string()).max(200).optional(),
  options: z.record(z.string(), z.unknown()).optional().describe("Runtime options (see the runtime's documentation); replaces them all"),
  limits: deploymentSpecSchema.shape.limits,
  readinessTimeoutSeconds: deploymentSpecSchema.shape.readinessTimeoutSeconds,
  container: deploymentSpecSchema.shape.container,
});
export type DeploymentUpdate = z.output<typeof deploymentUpdateSchema>;

/** Drops the fields an update left out (absent or undefined), so they cannot overwrite anything. */
function named<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The spec after an update: only the fields it names change (pure). */
export function applyDeploymentUpdate(spec: DeploymentSpec, change: DeploymentUpdate): DeploymentSpec {
  const { resources, placement, ...rest } = change;
  return {
    ...spec,
    ...named(rest),
    resources: resources ? { ...spec.resources, ...named(resources) } : spec.resources,
    placement: placement ? { ...spec.placement, ...named(placement) } : spec.placement,
  };
}

import { z } from 'zod';
import { MODEL_STATES, type Model } from './models.js';
import { SEVERITIES } from './scan.js';

// What the API answers about models, as schemas; the OpenAPI document and the console's types come from them.

export const estimateSchema = z
  .object({
    weightsBytes: z.number(),
    kvBytesPerToken: z.number().describe('2 × layers × KV heads × head dim × bytes per element'),
    contextLength: z.number(),
    concurrency: z.number(),
    kvCacheBytes: z.number(),
    activationBytes: z.number(),
    runtimeOverheadBytes: z.number(),
    totalBytes: z.number(),
    minGpus: z.number().nullable(),
    gpuMemoryBytes: z.number().nullable(),
  })
  .meta({ id: 'ResourceEstimate' });
export const overrideSchema = z.object({ by: z.string(), reason: z.string(), at: z.number() });

export const modelSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    version: z.string(),
    source: z.string(),
    path: z.string(),
    format: z.string(),
    formatEvidence: z.string(),
    sizeBytes: z.number(),
    description: z.string().nullable(),
    labels: z.record(z.string(), z.string()),
    createdAt: z.number(),
    state: z.enum(MODEL_STATES).describe('registered → analysing → scanned | unsafe | failed; only scanned models (or overridden ones) deploy'),
    error: z.string().nullable().describe('why analysis failed: the file and what was wrong'),
    parameterCount: z.number().nullable(),
    estimate: estimateSchema.nullable().describe("GPU memory for one replica at the model's own context length and one sequence"),
    scanVerdict: z.enum(['safe', 'unsafe']).nullable(),
    findingCount: z.number(),
    override: overrideSchema.nullable(),
    updatedAt: z.number(),
  })
  .meta({ id: 'Model' });

export const findingSchema = z.object({ severity: z.enum(SEVERITIES), kind: z.string(), location: z.string(), message: z.string() });
export const modelScanSchema = z
  .object({
    scannerVersion: z.number(),
    verdict: z.enum(['safe', 'unsafe']),
    findings: z.array(findingSchema),
    filesScanned: z.number(),
    bytesScanned: z.number(),
    picklesScanned: z.number(),
    state: z.enum(MODEL_STATES),
    override: overrideSchema.nullable(),
  })
  .meta({ id: 'ModelScan' });

// Fails to compile when a Model field drifts from what the API documents.
type Fits<T extends z.infer<typeof modelSchema>> = T;
export type _ModelFitsItsSchema = Fits<Model>;

import { z } from 'zod';
import { WORKLOAD_APIS, type ShardProgress } from './engine.js';
import type { StagePlan } from './plan.js';
import { encodeHistogram } from './stats.js';

/**
 * The wire contract between the control plane and whoever runs a shard of a benchmark (this
 * process, an agent, a Slurm job): task queue and kinds, the shard's routes, the spec it fetches,
 * the progress it posts. The API routes parse with these schemas and the runners build with their
 * types, so the shapes are written once.
 */

/** The task queue of benchmark work, and its two task kinds. */
export const BENCH_QUEUE = 'benchmarks';
/** One run: prepares, runs or coordinates its shards, merges. */
export const RUN_KIND = 'benchmark.run';
/** One client's part of a run on agents. */
export const SHARD_KIND = 'benchmark.shard';

/** The routes a shard runner calls, by task id (it must hold the task's lease). */
export const shardRoutes = {
  spec: (taskId: string): string => `/api/v1/agents/benchmarks/shards/${encodeURIComponent(taskId)}`,
  progress: (taskId: string): string => `/api/v1/agents/benchmarks/shards/${encodeURIComponent(taskId)}/progress`,
  /** Records as NDJSON (`application/x-ndjson`), one RequestRecord a line. */
  records: (taskId: string): string => `/api/v1/agents/benchmarks/shards/${encodeURIComponent(taskId)}/records`,
} as const;

const count = z.number().int().min(0);

const stageCountsSchema = z.object({ stage: count, done: count, sent: count, excluded: count, errors: count });

/** A shard's progress as its runner posts it: the engine's counters, its stage's histograms encoded. */
export const shardProgressReportSchema = z.strictObject({
  stage: count,
  stages: z.number().int().min(1),
  stageLabel: z.string().max(200),
  done: count.describe('requests finished in the stage, any outcome, warmup and cooldown included'),
  sent: count.default(0).describe('measured requests sent: what the results count as sent'),
  excluded: count.default(0).describe('warmup and cooldown requests'),
  total: count.nullable(),
  durationS: z.number().min(0).nullable(),
  errors: count,
  inFlight: count,
  elapsedS: z.number().min(0),
  ratePerS: z.number().min(0),
  outputTokens: z.number().min(0),
  finished: z.array(stageCountsSchema).max(10_000).default([]).describe('final counts of the stages already finished'),
  ttft: z.string().max(1_000_000),
  e2e: z.string().max(1_000_000),
});
export type ShardProgressReport = z.infer<typeof shardProgressReportSchema>;

export function toProgressReport(p: ShardProgress): ShardProgressReport {
  return { ...p, ttft: encodeHistogram(p.ttft), e2e: encodeHistogram(p.e2e) };
}

const num = z.number().nullable();

/** A run's progress over all its clients, as the API shows it. */
export const progressViewSchema = z
  .object({
    stage: z.number(),
    stages: z.number(),
    stageLabel: z.string(),
    done: z.number().describe('requests finished in the stage, warmup and cooldown included'),
    sent: z.number().describe('measured requests sent so far: what the results will count as sent'),
    excluded: z.number().describe('warmup and cooldown requests so far'),
    total: num,
    durationS: num.describe('How long the stage sends for, when its stop rule has a duration'),
    errors: z.number(),
    inFlight: z.number(),
    ratePerS: z.number().describe("successful measured requests per second so far: the results' requestsPerS as it stands"),
    elapsedS: z.number(),
    ttftP50Ms: num,
    ttftP99Ms: num,
    e2eP50Ms: num,
    e2eP99Ms: num,
    outputTokensPerS: z.number(),
    finished: z.array(stageCountsSchema).describe('final counts of the stages already finished, over all clients'),
  })
  .meta({ id: 'BenchmarkProgress' });
export type ProgressView = z.infer<typeof progressViewSchema>;

const preparedItemSchema = z.object({
  id: z.string(),
  method: z.enum(['GET', 'POST', 'PUT']),
  path: z.string(),
  contentType: z.string().nullable(),
  body: z.string().nullable().describe('base64'),
  promptTokens: z.number().nullable(),
  maxTokens: z.number().nullable(),
  reference: z.string().nullable(),
  audioSeconds: z.number().nullable(),
});

/** What a shard runner fetches: everything it needs to send its part of the load. */
export const shardSpecSchema = z.object({
  benchmarkId: z.string(),
  shard: count,
  shards: z.number().int().min(1),
  startAt: z.number().describe('epoch ms at which every client starts'),
  api: z.enum(WORKLOAD_APIS),
  stream: z.boolean(),
  timeoutMs: z.number(),
  slo: z.object({ ttftMs: z.number().optional(), tpotMs: z.number().optional(), e2eMs: z.number().optional() }),
  seed: z.number(),
  // The stage plans are built by plan.ts on the control plane and read back by the same code.
  stages: z.array(z.custom<StagePlan>((v) => typeof v === 'object' && v !== null && 'index' in v && 'load' in v)),
  target: z.object({ baseUrl: z.string(), headers: z.record(z.string(), z.string()) }),
  items: z.array(preparedItemSchema),
});
export type ShardSpec = z.infer<typeof shardSpecSchema>;

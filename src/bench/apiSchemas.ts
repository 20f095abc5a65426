import { z } from 'zod';
import { progressViewSchema } from './protocol.js';
import { BENCHMARK_STATES } from './schema.js';

// What the API answers about benchmarks, as schemas: the OpenAPI document and the console's types come from them.

const num = z.number().nullable();

const percentilesSchema = z
  .object({ count: z.number(), mean: num, min: num, p50: num, p90: num, p95: num, p99: num, p999: num, max: num })
  .meta({ id: 'Percentiles', description: 'Latency percentiles in milliseconds' });

const editCounts = z.object({ hits: z.number(), substitutions: z.number(), deletions: z.number(), insertions: z.number(), referenceLength: z.number() }).meta({ id: 'EditCounts' });

const alignedToken = z.object({ op: z.enum(['equal', 'substitute', 'delete', 'insert']), ref: z.string().optional(), hyp: z.string().optional() });

const evaluationSchema = z
  .object({
    wer: num,
    cer: num,
    normalizer: z.string().describe('The text normaliser and its version, e.g. catapult-en/1'),
    utterances: z.number(),
    scored: z.number(),
    failed: z.number().describe('Utterances whose request failed; not in the rates'),
    words: editCounts,
    chars: editCounts,
    audioSeconds: num,
    rtfx: num.describe('Audio seconds per second of request latency; null when durations are unknown'),
    worst: z.array(z.object({ id: z.string(), reference: z.string(), hypothesis: z.string(), wer: num, edits: z.number(), ops: z.array(alignedToken) })),
  })
  .meta({ id: 'Evaluation' });

const sloSchema = z.object({ ttftMs: z.number().optional(), tpotMs: z.number().optional(), e2eMs: z.number().optional() });
const points = z.array(z.object({ p: z.number(), ms: z.number() }));

const stageSchema = z
  .object({
    index: z.number(),
    label: z.string(),
    durationS: num,
    requests: z.object({ sent: z.number(), ok: z.number(), errors: z.number(), dropped: z.number(), excluded: z.number().describe('warmup and cooldown') }),
    errorsByKind: z.record(z.string(), z.number()),
    errorSamples: z.record(z.string(), z.array(z.string())).describe('the first distinct messages of each error kind'),
    achievedRate: num,
    scheduleLagMs: percentilesSchema,
    throughput: z.object({ requestsPerS: num, inputTokensPerS: num, outputTokensPerS: num }),
    goodput: z.object({ requestsPerS: num, share: num, slo: sloSchema }).nullable(),
    latency: z.object({ ttft: percentilesSchema, ttftFromSend: percentilesSchema, itl: percentilesSchema, tpot: percentilesSchema, e2e: percentilesSchema, e2eFromSend: percentilesSchema }),
    distributions: z.object({ ttft: points, itl: points, e2e: points }),
    timeseries: z.array(z.object({ t: z.number(), requests: z.number(), errors: z.number(), outputTokens: z.number(), ttftMeanMs: num, e2eMeanMs: num })),
    tokens: z.object({ input: z.number(), output: z.number(), inputSources: z.record(z.string(), z.number()), outputSources: z.record(z.string(), z.number()) }),
    evaluation: evaluationSchema.nullable(),
  })
  .meta({ id: 'StageResults' });

const progressSchema = progressViewSchema;

const summarySchema = z
  .object({ requests: z.number(), errors: z.number(), requestsPerS: num, outputTokensPerS: num, ttftP50Ms: num, ttftP99Ms: num, itlP50Ms: num, e2eP50Ms: num, e2eP99Ms: num, goodputPerS: num })
  .meta({ id: 'BenchmarkSummary' });

const slurmJobTime = z.string().nullable();
const slurmSchema = z
  .object({
    cluster: z.string(),
    service: z
      .object({
        name: z.string(),
        url: z.string(),
        deploymentId: z.string().nullable(),
        jobs: z.array(
          z.object({
            replica: z.string(),
            cluster: z.string(),
            jobId: z.string().nullable(),
            state: z.string(),
            jobState: z.string().nullable(),
            hostname: z.string().nullable(),
            url: z.string().nullable(),
            submittedAt: num,
            startedAt: num,
            readyAt: num,
          }),
        ),
      })
      .nullable(),
    clients: z.array(
      z.object({
        name: z.string(),
        serviceName: z.string(),
        benchmarkCommand: z.string(),
        jobName: z.string(),
        jobId: z.string(),
        state: z.string().describe("Slurm's job state"),
        hostname: z.string().nullable(),
        submitTime: slurmJobTime,
        startTime: slurmJobTime,
        endTime: slurmJobTime,
        workingDir: z.string().describe('On the cluster'),
        logFile: z.string().describe('On the cluster'),
        metricsFile: z.string().describe('On the cluster'),
        collected: z.object({ log: z.string().nullable(), metrics: z.string().nullable() }).describe("The copies in the benchmark's data dir on the control plane"),
        metadata: z.record(z.string(), z.unknown()),
      }),
    ),
  })
  .describe("Clients on Slurm (seed 004): the service's jobs and the client jobs");

export const benchmarkSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    state: z.enum(BENCHMARK_STATES),
    status: z.enum(BENCHMARK_STATES).describe('The same as state'),
    reason: z.string().nullable(),
    target: z.object({ kind: z.string(), ref: z.string(), url: z.string().nullable() }),
    api: z.string(),
    model: z.string().nullable(),
    clients: z.number(),
    where: z.string(),
    createdAt: z.number(),
    createdBy: z.string().nullable(),
    startedAt: num,
    finishedAt: num,
    progress: progressSchema.nullable(),
    summary: summarySchema.nullable(),
    wer: num,
    cer: num,
    recipe: z.record(z.string(), z.unknown()),
    recipeText: z.string().nullable(),
    slurm: slurmSchema.nullable(),
  })
  .meta({ id: 'Benchmark' });

export const benchmarkResultsSchema = z
  .object({
    id: z.string(),
    state: z.enum(BENCHMARK_STATES),
    stages: z.array(stageSchema),
    evaluation: evaluationSchema.nullable(),
    shards: z.array(z.object({ shard: z.number(), state: z.string(), runner: z.string().nullable(), records: z.number(), error: z.string().nullable() })),
  })
  .meta({ id: 'BenchmarkResults' });

import type { SlurmRunView } from './commands.js';
import type { BenchmarkState } from './schema.js';
import type { Recipe } from './recipe.js';
import type { ProgressView, ShardProgressReport } from './protocol.js';
import { decodeHistogram, mergeHistograms, percentilesMs } from './stats.js';
import type { EvaluationView, StageResults } from './summary.js';

/**
 * What people read about a run: its view, its headline numbers, its live progress merged over the
 * clients. Pure functions of stored rows and progress reports.
 */

/** The headline numbers of a run (its last stage), for lists and the seed-000 status answer. */
export interface SummaryView {
  requests: number;
  errors: number;
  requestsPerS: number | null;
  outputTokensPerS: number | null;
  ttftP50Ms: number | null;
  ttftP99Ms: number | null;
  itlP50Ms: number | null;
  e2eP50Ms: number | null;
  e2eP99Ms: number | null;
  goodputPerS: number | null;
}

export interface BenchmarkView {
  id: string;
  name: string;
  state: BenchmarkState;
  /** The same as `state` (seed 000's field name). */
  status: BenchmarkState;
  reason: string | null;
  target: { kind: string; ref: string; url: string | null };
  api: string;
  model: string | null;
  clients: number;
  where: string;
  createdAt: number;
  createdBy: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  progress: ProgressView | null;
  summary: SummaryView | null;
  wer: number | null;
  cer: number | null;
  recipe: Recipe;
  recipeText: string | null;
  /** Clients on Slurm: the service's jobs and the client jobs with their ids, states and times. */
  slurm: SlurmRunView | null;
}

export interface ResultsView {
  id: string;
  state: BenchmarkState;
  stages: StageResults[];
  evaluation: EvaluationView | null;
  shards: { shard: number; state: string; runner: string | null; records: number; error: string | null }[];
}


/** A run's target kind and what it names. */
export function targetOf(recipe: Recipe): { kind: 'deployment' | 'endpoint' | 'url' | 'service'; ref: string } {
  const t = recipe.target;
  if (t.deployment) return { kind: 'deployment', ref: t.deployment };
  if (t.endpoint) return { kind: 'endpoint', ref: t.endpoint };
  if (t.url) return { kind: 'url', ref: t.url };
  return { kind: 'service', ref: t.service!.runtime };
}

export function lastStageSummary(stages: StageResults[]): SummaryView | null {
  const s = stages[stages.length - 1];
  if (!s) return null;
  return {
    requests: s.requests.sent,
    errors: s.requests.errors,
    requestsPerS: s.throughput.requestsPerS,
    outputTokensPerS: s.throughput.outputTokensPerS,
    ttftP50Ms: s.latency.ttft.p50,
    ttftP99Ms: s.latency.ttft.p99,
    itlP50Ms: s.latency.itl.p50,
    e2eP50Ms: s.latency.e2e.p50,
    e2eP99Ms: s.latency.e2e.p99,
    goodputPerS: s.goodput?.requestsPerS ?? null,
  };
}

/** Progress over all clients: sums, the furthest stage, percentiles of the merged histograms. */
export function combineProgress(parts: ShardProgressReport[]): ProgressView | null {
  if (parts.length === 0) return null;
  const stage = Math.max(...parts.map((p) => p.stage));
  const current = parts.filter((p) => p.stage === stage);
  const ttft = percentilesMs(mergeHistograms(current.map((p) => decodeHistogram(p.ttft))));
  const e2e = percentilesMs(mergeHistograms(current.map((p) => decodeHistogram(p.e2e))));
  const elapsedS = Math.max(...current.map((p) => p.elapsedS));
  const sum = (f: (p: ShardProgressReport) => number) => current.reduce((a, p) => a + f(p), 0);
  const totals = current.map((p) => p.total);
  const n = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);
  return {
    stage,
    stages: parts[0]!.stages,
    stageLabel: current[0]!.stageLabel,
    done: sum((p) => p.done),
    sent: sum((p) => p.sent),
    excluded: sum((p) => p.excluded),
    total: totals.every((t) => t !== null) ? totals.reduce((a, t) => a + t, 0) : null,
    durationS: current[0]!.durationS ?? null,
    errors: sum((p) => p.errors),
    inFlight: sum((p) => p.inFlight),
    ratePerS: Math.round(sum((p) => p.ratePerS) * 10) / 10,
    elapsedS: Math.round(elapsedS * 10) / 10,
    ttftP50Ms: n(ttft.p50),
    ttftP99Ms: n(ttft.p99),
    e2eP50Ms: n(e2e.p50),
    e2eP99Ms: n(e2e.p99),
    outputTokensPerS: elapsedS > 0 ? Math.round(sum((p) => p.outputTokens) / elapsedS) : 0,
    finished: finishedStages(parts),
  };
}

/** The finished stages' counts, summed over the clients that have finished them. */
export function finishedStages(parts: ShardProgressReport[]): ProgressView['finished'] {
  const by = new Map<number, ProgressView['finished'][number]>();
  for (const p of parts) {
    for (const f of p.finished) {
      const o = by.get(f.stage);
      if (!o) by.set(f.stage, { ...f });
      else {
        o.done += f.done;
        o.sent += f.sent;
        o.excluded += f.excluded;
        o.errors += f.errors;
      }
    }
  }
  return [...by.values()].sort((a, b) => a.stage - b.stage);
}


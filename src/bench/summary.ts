import type { RequestRecord } from './records.js';
import { type Histogram, type Percentiles, decodeHistogram, encodeHistogram, lowestRecorded, newHistogram, percentilesMs, recordMs } from './stats.js';
import { type AlignedToken, type EditCounts, NORMALIZER_VERSION } from './wer.js';

/**
 * Aggregation as vLLM's serving benchmark defines its metrics, done so that clients' results merge
 * exactly: latencies go into HDR histograms (merged by adding), everything else is a sum, a minimum
 * or a maximum. Summarising the union of several clients' records gives the same result as merging
 * their summaries.
 */

export interface Slo {
  ttftMs?: number | undefined;
  tpotMs?: number | undefined;
  e2eMs?: number | undefined;
}

export const LATENCIES = ['ttft', 'ttftFromSend', 'itl', 'tpot', 'e2e', 'e2eFromSend', 'lag'] as const;
export type LatencyName = (typeof LATENCIES)[number];

interface SeriesBucket {
  requests: number;
  errors: number;
  outputTokens: number;
  ttftSum: number;
  ttftCount: number;
  e2eSum: number;
  e2eCount: number;
}

export interface WorstUtterance {
  id: string;
  reference: string;
  hypothesis: string;
  wer: number | null;
  edits: number;
  ops: AlignedToken[];
}

interface EvalSums {
  words: EditCounts;
  chars: EditCounts;
  scored: number;
  failed: number;
  audioSeconds: number;
  /** Scored utterances whose audio duration is known. */
  audioKnown: number;
  /** Sum of their request latencies (s), for RTFx. */
  processingSeconds: number;
  worst: WorstUtterance[];
}

/** A stage's mergeable aggregate, in memory. */
export interface StageAggregate {
  index: number;
  label: string;
  /** Measured requests that were sent (dropped arrivals are not). */
  sent: number;
  ok: number;
  errors: number;
  dropped: number;
  /** Warmup and cooldown requests: recorded, not measured. */
  excluded: number;
  /** ok requests within every SLO. */
  good: number;
  errorsByKind: Record<string, number>;
  /** The first distinct messages of each error kind (at most ERROR_SAMPLES each), for people to read. */
  errorSamples: Record<string, string[]>;
  hist: Record<LatencyName, Histogram>;
  inputTokens: number;
  outputTokens: number;
  inputSources: Record<string, number>;
  outputSources: Record<string, number>;
  /** Measured window: first intended send, last send, last end (ms from the run start). */
  firstIntended: number | null;
  firstSent: number | null;
  lastSent: number | null;
  lastEnd: number | null;
  series: Map<number, SeriesBucket>;
  evaluation: EvalSums | null;
}

/** The JSON form of a StageAggregate (histograms encoded), as stored and sent between processes. */
export interface StageSummary extends Omit<StageAggregate, 'hist' | 'series'> {
  hist: Record<LatencyName, string>;
  series: [number, SeriesBucket][];
}

const WORST_KEPT = 25;
/** Distinct messages kept per error kind. */
export const ERROR_SAMPLES = 3;

function sampleError(m: Record<string, string[]>, kind: string, message: string): void {
  const list = (m[kind] ??= []);
  if (list.length < ERROR_SAMPLES && !list.includes(message)) list.push(message.slice(0, 300));
}
const zeroEdits = (): EditCounts => ({ hits: 0, substitutions: 0, deletions: 0, insertions: 0, referenceLength: 0 });
const addEdits = (a: EditCounts, b: EditCounts): void => {
  a.hits += b.hits;
  a.substitutions += b.substitutions;
  a.deletions += b.deletions;
  a.insertions += b.insertions;
  a.referenceLength += b.referenceLength;
};
const bump = (m: Record<string, number>, k: string, n = 1): void => {
  m[k] = (m[k] ?? 0) + n;
};
const minOf = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.min(a, b));
const maxOf = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.max(a, b));

export function newStageAggregate(index: number, label: string): StageAggregate {
  const hist = {} as Record<LatencyName, Histogram>;
  for (const name of LATENCIES) hist[name] = newHistogram();
  return {
    index,
    label,
    sent: 0,
    ok: 0,
    errors: 0,
    dropped: 0,
    excluded: 0,
    good: 0,
    errorsByKind: {},
    errorSamples: {},
    hist,
    inputTokens: 0,
    outputTokens: 0,
    inputSources: {},
    outputSources: {},
    firstIntended: null,
    firstSent: null,
    lastSent: null,
    lastEnd: null,
    series: new Map(),
    evaluation: null,
  };
}

function keepWorst(list: WorstUtterance[], add: WorstUtterance[]): WorstUtterance[] {
  // Most edits first, then highest rate, then id, so the kept set does not depend on arrival order.
  return [...list, ...add]
    .sort((a, b) => b.edits - a.edits || (b.wer ?? -1) - (a.wer ?? -1) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, WORST_KEPT);
}

/** Adds one request to its stage's aggregate. */
export function addRecord(agg: StageAggregate, r: RequestRecord, slo: Slo): void {
  const dropped = r.error?.kind === 'dropped';
  if (!dropped) {
    const bucket = Math.floor(r.end / 1000);
    let b = agg.series.get(bucket);
    if (!b) {
      b = { requests: 0, errors: 0, outputTokens: 0, ttftSum: 0, ttftCount: 0, e2eSum: 0, e2eCount: 0 };
      agg.series.set(bucket, b);
    }
    if (r.error) {
      b.errors++;
    } else {
      b.requests++;
      b.outputTokens += r.outputTokens ?? 0;
      if (r.firstToken !== null) {
        b.ttftSum += r.firstToken - r.intended;
        b.ttftCount++;
      }
      b.e2eSum += r.end - r.intended;
      b.e2eCount++;
    }
  }
  if (r.phase !== 'measure') {
    agg.excluded++;
    return;
  }
  agg.firstIntended = minOf(agg.firstIntended, r.intended);
  if (dropped) {
    agg.dropped++;
    bump(agg.errorsByKind, 'dropped');
    if (r.error) sampleError(agg.errorSamples, 'dropped', r.error.message);
    return;
  }
  agg.sent++;
  agg.firstSent = minOf(agg.firstSent, r.sent);
  agg.lastSent = maxOf(agg.lastSent, r.sent);
  agg.lastEnd = maxOf(agg.lastEnd, r.end);
  const isAsr = r.reference !== null;
  if (isAsr) agg.evaluation ??= { words: zeroEdits(), chars: zeroEdits(), scored: 0, failed: 0, audioSeconds: 0, audioKnown: 0, processingSeconds: 0, worst: [] };
  if (r.error) {
    agg.errors++;
    bump(agg.errorsByKind, r.error.kind);
    sampleError(agg.errorSamples, r.error.kind, r.error.message);
    if (agg.evaluation) agg.evaluation.failed++;
    return;
  }
  agg.ok++;
  const e2e = r.end - r.intended;
  const ttft = r.firstToken !== null ? r.firstToken - r.intended : null;
  recordMs(agg.hist.e2e, e2e);
  recordMs(agg.hist.e2eFromSend, r.end - r.sent);
  recordMs(agg.hist.lag, r.sent - r.intended);
  if (ttft !== null && r.firstToken !== null) {
    recordMs(agg.hist.ttft, ttft);
    recordMs(agg.hist.ttftFromSend, r.firstToken - r.sent);
  }
  for (let k = 1; k < r.chunks.length; k++) recordMs(agg.hist.itl, r.chunks[k]! - r.chunks[k - 1]!);
  let tpot: number | null = null;
  if (r.firstToken !== null && r.outputTokens !== null && r.outputTokens > 1) {
    tpot = (r.end - r.firstToken) / (r.outputTokens - 1);
    recordMs(agg.hist.tpot, tpot);
  }
  agg.inputTokens += r.inputTokens ?? 0;
  agg.outputTokens += r.outputTokens ?? 0;
  bump(agg.inputSources, r.inputSource);
  bump(agg.outputSources, r.outputSource);
  const hasSlo = slo.ttftMs !== undefined || slo.tpotMs !== undefined || slo.e2eMs !== undefined;
  if (
    hasSlo &&
    (slo.ttftMs === undefined || (ttft !== null && ttft <= slo.ttftMs)) &&
    (slo.tpotMs === undefined || tpot === null || tpot <= slo.tpotMs) &&
    (slo.e2eMs === undefined || e2e <= slo.e2eMs)
  ) {
    agg.good++;
  }
  const ev = agg.evaluation;
  if (ev && r.score) {
    ev.scored++;
    addEdits(ev.words, r.score.words);
    addEdits(ev.chars, r.score.chars);
    if (r.audioSeconds !== null) {
      ev.audioSeconds += r.audioSeconds;
      ev.audioKnown++;
      ev.processingSeconds += (r.end - r.sent) / 1000;
    }
    const edits = r.score.words.substitutions + r.score.words.deletions + r.score.words.insertions;
    if (edits > 0) {
      ev.worst = keepWorst(ev.worst, [{ id: r.item, reference: r.reference ?? '', hypothesis: r.text ?? '', wer: r.score.wer, edits, ops: r.score.ops }]);
    }
  }
}

/** Aggregates records into per-stage aggregates (stages given by index and label). */
export function summarize(records: Iterable<RequestRecord>, stages: readonly { index: number; label: string }[], slo: Slo): StageAggregate[] {
  const aggs = stages.map((s) => newStageAggregate(s.index, s.label));
  for (const r of records) {
    const agg = aggs[r.stage];
    if (agg) addRecord(agg, r, slo);
  }
  return aggs;
}

/** Merges stage aggregates of several clients, stage by stage. */
export function mergeAggregates(parts: readonly (readonly StageAggregate[])[]): StageAggregate[] {
  const first = parts[0];
  if (!first) return [];
  return first.map((s, stageIndex) => {
    const out = newStageAggregate(s.index, s.label);
    for (const shard of parts) {
      const a = shard[stageIndex];
      if (!a) continue;
      out.sent += a.sent;
      out.ok += a.ok;
      out.errors += a.errors;
      out.dropped += a.dropped;
      out.excluded += a.excluded;
      out.good += a.good;
      for (const [k, n] of Object.entries(a.errorsByKind)) bump(out.errorsByKind, k, n);
      for (const [k, list] of Object.entries(a.errorSamples ?? {})) for (const msg of list) sampleError(out.errorSamples, k, msg);
      for (const name of LATENCIES) out.hist[name].add(a.hist[name]);
      out.inputTokens += a.inputTokens;
      out.outputTokens += a.outputTokens;
      for (const [k, n] of Object.entries(a.inputSources)) bump(out.inputSources, k, n);
      for (const [k, n] of Object.entries(a.outputSources)) bump(out.outputSources, k, n);
      out.firstIntended = minOf(out.firstIntended, a.firstIntended);
      out.firstSent = minOf(out.firstSent, a.firstSent);
      out.lastSent = maxOf(out.lastSent, a.lastSent);
      out.lastEnd = maxOf(out.lastEnd, a.lastEnd);
      for (const [bucket, b] of a.series) {
        const o = out.series.get(bucket);
        if (!o) {
          out.series.set(bucket, { ...b });
          continue;
        }
        o.requests += b.requests;
        o.errors += b.errors;
        o.outputTokens += b.outputTokens;
        o.ttftSum += b.ttftSum;
        o.ttftCount += b.ttftCount;
        o.e2eSum += b.e2eSum;
        o.e2eCount += b.e2eCount;
      }
      if (a.evaluation) {
        const ev = (out.evaluation ??= { words: zeroEdits(), chars: zeroEdits(), scored: 0, failed: 0, audioSeconds: 0, audioKnown: 0, processingSeconds: 0, worst: [] });
        addEdits(ev.words, a.evaluation.words);
        addEdits(ev.chars, a.evaluation.chars);
        ev.scored += a.evaluation.scored;
        ev.failed += a.evaluation.failed;
        ev.audioSeconds += a.evaluation.audioSeconds;
        ev.audioKnown += a.evaluation.audioKnown;
        ev.processingSeconds += a.evaluation.processingSeconds;
        ev.worst = keepWorst(ev.worst, a.evaluation.worst);
      }
    }
    return out;
  });
}

export function toSummary(agg: StageAggregate): StageSummary {
  const hist = {} as Record<LatencyName, string>;
  for (const name of LATENCIES) hist[name] = encodeHistogram(agg.hist[name]);
  return { ...agg, hist, series: [...agg.series.entries()].sort((a, b) => a[0] - b[0]) };
}

export function fromSummary(s: StageSummary): StageAggregate {
  const hist = {} as Record<LatencyName, Histogram>;
  for (const name of LATENCIES) hist[name] = decodeHistogram(s.hist[name]);
  // Summaries stored before error samples existed have none.
  return { ...s, errorSamples: s.errorSamples ?? {}, hist, series: new Map(s.series) };
}

// ---- Results: what people read ------------------------------------------------------------------

export interface PercentilesView {
  count: number;
  mean: number | null;
  min: number | null;
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
}

export interface EvaluationView {
  wer: number | null;
  cer: number | null;
  normalizer: string;
  utterances: number;
  scored: number;
  failed: number;
  words: EditCounts;
  chars: EditCounts;
  audioSeconds: number | null;
  /** Audio seconds per second of request latency (the Open ASR Leaderboard's RTFx at one request at a time). */
  rtfx: number | null;
  worst: WorstUtterance[];
}

export interface StageResults {
  index: number;
  label: string;
  /** The measured window: first intended send to last response. */
  durationS: number | null;
  requests: { sent: number; ok: number; errors: number; dropped: number; excluded: number };
  errorsByKind: Record<string, number>;
  /** The first distinct messages of each error kind. */
  errorSamples: Record<string, string[]>;
  /** Requests sent per second over the measured window. */
  achievedRate: number | null;
  scheduleLagMs: PercentilesView;
  throughput: { requestsPerS: number | null; inputTokensPerS: number | null; outputTokensPerS: number | null };
  goodput: { requestsPerS: number | null; share: number | null; slo: Slo } | null;
  latency: Record<Exclude<LatencyName, 'lag'>, PercentilesView>;
  /** Latency at percentiles (for distribution charts). */
  distributions: Record<'ttft' | 'itl' | 'e2e', { p: number; ms: number }[]>;
  /** Per second of the stage, from its first second with activity. */
  timeseries: { t: number; requests: number; errors: number; outputTokens: number; ttftMeanMs: number | null; e2eMeanMs: number | null }[];
  tokens: { input: number; output: number; inputSources: Record<string, number>; outputSources: Record<string, number> };
  evaluation: EvaluationView | null;
}

const num = (x: number): number | null => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);

function view(h: Histogram): PercentilesView {
  const p: Percentiles = percentilesMs(h);
  return { count: p.count, mean: num(p.mean), min: num(p.min), p50: num(p.p50), p90: num(p.p90), p95: num(p.p95), p99: num(p.p99), p999: num(p.p999), max: num(p.max) };
}

const DISTRIBUTION_POINTS = [0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97.5, 99, 99.5, 99.9, 99.99, 100];

function distribution(h: Histogram): { p: number; ms: number }[] {
  if (h.totalCount === 0) return [];
  return DISTRIBUTION_POINTS.map((p) => ({ p, ms: (p === 0 ? lowestRecorded(h) : h.getValueAtPercentile(p)) / 1000 }));
}

export function evaluationView(ev: EvalSums | null): EvaluationView | null {
  if (!ev) return null;
  const rate = (c: EditCounts): number | null => {
    const edits = c.substitutions + c.deletions + c.insertions;
    if (c.referenceLength === 0) return ev.scored === 0 ? null : edits === 0 ? 0 : null;
    return edits / c.referenceLength;
  };
  const allKnown = ev.scored > 0 && ev.audioKnown === ev.scored;
  return {
    wer: rate(ev.words),
    cer: rate(ev.chars),
    normalizer: NORMALIZER_VERSION,
    utterances: ev.scored + ev.failed,
    scored: ev.scored,
    failed: ev.failed,
    words: ev.words,
    chars: ev.chars,
    audioSeconds: allKnown ? num(ev.audioSeconds) : null,
    rtfx: allKnown && ev.processingSeconds > 0 ? num(ev.audioSeconds / ev.processingSeconds) : null,
    worst: ev.worst,
  };
}

export function stageResults(agg: StageAggregate, slo: Slo): StageResults {
  const windowMs = agg.firstIntended !== null && agg.lastEnd !== null ? agg.lastEnd - agg.firstIntended : null;
  const windowS = windowMs !== null && windowMs > 0 ? windowMs / 1000 : null;
  const per = (n: number): number | null => (windowS ? num(n / windowS) : null);
  const sendSpanS = agg.firstSent !== null && agg.lastSent !== null && agg.sent > 1 ? (agg.lastSent - agg.firstSent) / 1000 : null;
  const hasSlo = slo.ttftMs !== undefined || slo.tpotMs !== undefined || slo.e2eMs !== undefined;
  const buckets = [...agg.series.keys()].sort((a, b) => a - b);
  const firstBucket = buckets[0] ?? 0;
  const lastBucket = buckets[buckets.length - 1] ?? -1;
  const timeseries: StageResults['timeseries'] = [];
  for (let b = firstBucket; b <= lastBucket; b++) {
    const s = agg.series.get(b);
    timeseries.push({
      t: b - firstBucket,
      requests: s?.requests ?? 0,
      errors: s?.errors ?? 0,
      outputTokens: s?.outputTokens ?? 0,
      ttftMeanMs: s && s.ttftCount > 0 ? num(s.ttftSum / s.ttftCount) : null,
      e2eMeanMs: s && s.e2eCount > 0 ? num(s.e2eSum / s.e2eCount) : null,
    });
  }
  return {
    index: agg.index,
    label: agg.label,
    durationS: windowS === null ? null : num(windowS),
    requests: { sent: agg.sent, ok: agg.ok, errors: agg.errors, dropped: agg.dropped, excluded: agg.excluded },
    errorsByKind: agg.errorsByKind,
    errorSamples: agg.errorSamples ?? {},
    achievedRate: sendSpanS && sendSpanS > 0 ? num((agg.sent - 1) / sendSpanS) : null,
    scheduleLagMs: view(agg.hist.lag),
    throughput: { requestsPerS: per(agg.ok), inputTokensPerS: per(agg.inputTokens), outputTokensPerS: per(agg.outputTokens) },
    goodput: hasSlo ? { requestsPerS: per(agg.good), share: agg.sent + agg.dropped > 0 ? num(agg.good / (agg.sent + agg.dropped)) : null, slo } : null,
    latency: {
      ttft: view(agg.hist.ttft),
      ttftFromSend: view(agg.hist.ttftFromSend),
      itl: view(agg.hist.itl),
      tpot: view(agg.hist.tpot),
      e2e: view(agg.hist.e2e),
      e2eFromSend: view(agg.hist.e2eFromSend),
    },
    distributions: { ttft: distribution(agg.hist.ttft), itl: distribution(agg.hist.itl), e2e: distribution(agg.hist.e2e) },
    timeseries,
    tokens: { input: agg.inputTokens, output: agg.outputTokens, inputSources: agg.inputSources, outputSources: agg.outputSources },
    evaluation: evaluationView(agg.evaluation),
  };
}

/** The evaluation over all stages, for the benchmark as a whole. */
export function overallEvaluation(aggs: readonly StageAggregate[]): EvaluationView | null {
  const withEval = aggs.filter((a) => a.evaluation);
  if (withEval.length === 0) return null;
  const merged = mergeAggregates(withEval.map((a) => [{ ...a, index: 0 }]))[0]!;
  return evaluationView(merged.evaluation);
}

/**
 * The reason a run is a failure although it ran to its end: every measured request it made failed
 * ("every one of the 6 requests failed: connect 6 (ECONNREFUSED: …)"); null when one succeeded or none
 * was made.
 */
export function allRequestsFailed(stages: readonly StageResults[]): string | null {
  let made = 0;
  let ok = 0;
  const kinds: Record<string, number> = {};
  const first: Record<string, string> = {};
  for (const s of stages) {
    made += s.requests.sent + s.requests.dropped;
    ok += s.requests.ok;
    for (const [k, n] of Object.entries(s.errorsByKind)) bump(kinds, k, n);
    for (const [k, list] of Object.entries(s.errorSamples)) if (list[0] !== undefined) first[k] ??= list[0];
  }
  if (made === 0 || ok > 0) return null;
  const parts = Object.entries(kinds)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}${first[k] ? ` (${first[k].slice(0, 160)})` : ''}`);
  return `every one of the ${made} requests failed: ${parts.join('; ')}`;
}

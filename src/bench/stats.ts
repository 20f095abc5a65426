import * as hdr from 'hdr-histogram-js';

/**
 * Latency statistics as the load generators that get it right compute them: HDR histograms in
 * microseconds (3 significant digits), mergeable across clients by adding histograms, never by
 * averaging percentiles.
 */
const HIGHEST_US = 3_600_000_000; // one hour

export function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3, bitBucketSize: 32 });
}

export interface Percentiles {
  count: number;
  mean: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

/** hdr-histogram-js builds JsHistogram, whose bucket bounds the shared interface does not declare. */
type Buckets = { lowestEquivalentValue(value: number): number; highestEquivalentValue(value: number): number };

/** The smallest recorded value as its bucket's lower bound (µs), as a merged histogram keeps it. */
export function lowestRecorded(h: hdr.Histogram): number {
  return (h as unknown as Buckets).lowestEquivalentValue(h.minNonZeroValue);
}

/** The largest recorded value as its bucket's upper bound (µs). */
export function highestRecorded(h: hdr.Histogram): number {
  return (h as unknown as Buckets).highestEquivalentValue(h.maxValue);
}

/** Percentiles in milliseconds of a histogram recorded in microseconds. */
export function percentilesMs(h: hdr.Histogram): Percentiles {
  if (h.totalCount === 0) return { count: 0, mean: NaN, min: NaN, p50: NaN, p90: NaN, p95: NaN, p99: NaN, p999: NaN, max: NaN };
  const at = (p: number) => h.getValueAtPercentile(p) / 1000;
  return {
    count: h.totalCount,
    mean: h.mean / 1000,
    // Bucket-equivalent extremes, as a merged histogram keeps them, so one histogram of all samples
    // and the sum of per-client histograms report the same numbers.
    min: lowestRecorded(h) / 1000,
    p50: at(50),
    p90: at(90),
    p95: at(95),
    p99: at(99),
    p999: at(99.9),
    max: highestRecorded(h) / 1000,
  };
}

/** Records a millisecond value (fractional allowed) at microsecond resolution. */
export function recordMs(h: hdr.Histogram, ms: number): void {
  if (!Number.isFinite(ms) || ms < 0) return;
  h.recordValue(Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1000))));
}

export function encodeHistogram(h: hdr.Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(text: string): hdr.Histogram {
  const decoded = hdr.decodeFromCompressedBase64(text);
  const h = newHistogram();
  h.add(decoded);
  return h;
}

/** Adds histograms into a new one; the merged percentiles are those of the union of their samples. */
export function mergeHistograms(parts: readonly hdr.Histogram[]): hdr.Histogram {
  const out = newHistogram();
  for (const p of parts) out.add(p);
  return out;
}

export type { Histogram } from 'hdr-histogram-js';

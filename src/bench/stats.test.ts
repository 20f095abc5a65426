import { describe, expect, it } from 'vitest';
import { decodeHistogram, encodeHistogram, mergeHistograms, newHistogram, percentilesMs, recordMs } from './stats.js';

describe('latency histograms', () => {
  it('reports percentiles in milliseconds within 0.1% of the exact values', () => {
    const h = newHistogram();
    for (let i = 1; i <= 10_000; i++) recordMs(h, i / 10); // 0.1 ms .. 1000 ms
    const p = percentilesMs(h);
    expect(p.count).toBe(10_000);
    expect(p.p50).toBeGreaterThan(500 * 0.999);
    expect(p.p50).toBeLessThan(500 * 1.001);
    expect(p.p99).toBeGreaterThan(990 * 0.999);
    expect(p.p99).toBeLessThan(990 * 1.001);
    expect(p.min).toBeCloseTo(0.1, 3);
  });

  it('merges shards to exactly the histogram of all samples, also after an encode/decode round trip', () => {
    const a = newHistogram();
    const b = newHistogram();
    const all = newHistogram();
    for (let i = 0; i < 5000; i++) {
      const v = (i * 7919) % 1000;
      recordMs(i % 2 ? a : b, v);
      recordMs(all, v);
    }
    const merged = percentilesMs(mergeHistograms([decodeHistogram(encodeHistogram(a)), decodeHistogram(encodeHistogram(b))]));
    const exact = percentilesMs(all);
    // The encoding keeps bucket counts; only the recorded maximum widens to its bucket's upper edge.
    expect({ ...merged, max: 0 }).toEqual({ ...exact, max: 0 });
    expect(merged.max / exact.max).toBeLessThan(1.001);
  });

  it('answers with an empty summary, not an error, when nothing was recorded', () => {
    expect(percentilesMs(newHistogram()).count).toBe(0);
  });
});

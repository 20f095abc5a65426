import { describe, expect, it } from 'vitest';
import { arrivalOffsets } from './schedule.js';

function gaps(offsets: Float64Array): number[] {
  const out: number[] = [];
  for (let i = 1; i < offsets.length; i++) out.push(offsets[i]! - offsets[i - 1]!);
  return out;
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const cv = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) ** 2))) / m;
};

describe('arrival schedules', () => {
  it('spaces a constant rate exactly, starting at zero', () => {
    const o = arrivalOffsets({ kind: 'constant', rate: 100 }, { durationMs: 1000 }, 1);
    expect(o.length).toBe(100);
    expect(o[0]).toBe(0);
    expect(o[99]).toBeCloseTo(990, 9);
  });

  it('gives Poisson arrivals the requested mean rate and exponential gaps (coefficient of variation near 1)', () => {
    const o = arrivalOffsets({ kind: 'poisson', rate: 200 }, { maxRequests: 20_000 }, 7);
    const g = gaps(o);
    expect(mean(g)).toBeGreaterThan(4.85);
    expect(mean(g)).toBeLessThan(5.15);
    expect(cv(g)).toBeGreaterThan(0.95);
    expect(cv(g)).toBeLessThan(1.05);
  });

  it('makes gamma arrivals burstier below burstiness 1 and smoother above, at the same mean rate', () => {
    const bursty = gaps(arrivalOffsets({ kind: 'gamma', rate: 100, burstiness: 0.25 }, { maxRequests: 20_000 }, 3));
    const smooth = gaps(arrivalOffsets({ kind: 'gamma', rate: 100, burstiness: 4 }, { maxRequests: 20_000 }, 3));
    expect(mean(bursty)).toBeCloseTo(10, 0);
    expect(mean(smooth)).toBeCloseTo(10, 0);
    expect(cv(bursty)).toBeGreaterThan(1.8); // 1/sqrt(0.25) = 2
    expect(cv(smooth)).toBeLessThan(0.6); // 1/sqrt(4) = 0.5
  });

  it('ramps the rate linearly: the second half of a 0→200/s ramp holds three times the first', () => {
    const o = arrivalOffsets({ kind: 'ramp', from: 0.0001, to: 200, poisson: false }, { durationMs: 10_000 }, 1);
    // Expected count: integral of the rate = 200/2 * 10 s = 1000.
    expect(o.length).toBeGreaterThan(990);
    expect(o.length).toBeLessThanOrEqual(1001);
    const firstHalf = [...o].filter((t) => t < 5000).length;
    expect((o.length - firstHalf) / firstHalf).toBeCloseTo(3, 1);
  });

  it('repeats exactly for the same seed and differs for another', () => {
    const a = arrivalOffsets({ kind: 'poisson', rate: 50 }, { durationMs: 5000 }, 11);
    const b = arrivalOffsets({ kind: 'poisson', rate: 50 }, { durationMs: 5000 }, 11);
    const c = arrivalOffsets({ kind: 'poisson', rate: 50 }, { durationMs: 5000 }, 12);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  it('stops at whichever of duration and request count comes first', () => {
    expect(arrivalOffsets({ kind: 'constant', rate: 10 }, { durationMs: 10_000, maxRequests: 5 }, 1).length).toBe(5);
    expect(arrivalOffsets({ kind: 'constant', rate: 10 }, { durationMs: 1000, maxRequests: 500 }, 1).length).toBe(10);
  });
});

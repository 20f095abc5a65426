import { afterEach, describe, expect, it } from 'vitest';
import { OutlierDetector } from './health.js';
import { Upstream } from './upstream.js';

describe('passive outlier ejection', () => {
  const opened: Upstream[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((u) => u.pool.destroy()));
  });

  function setup(probeResults: boolean[]) {
    let now = 0;
    const ejections: number[] = [];
    const probes: (() => void)[] = [];
    const u = new Upstream('http://127.0.0.1:1', { connectTimeoutMs: 100, responseTimeoutMs: 1000, initialEwmaMs: 1, tauMs: 10_000 });
    opened.push(u);
    const detector = new OutlierDetector(
      { ejectAfter: 3, baseMs: 1000, maxMs: 5000, forgetAfterMs: 10_000 },
      () => now,
      () =>
        new Promise<boolean>((resolve) => {
          probes.push(() => resolve(probeResults.shift() ?? true));
        }),
      (_u, ms) => ejections.push(ms),
    );
    return { u, detector, ejections, probes, advance: (ms: number) => (now += ms), at: () => now };
  }

  it('ejects after consecutive failures only; a success in between resets the count', () => {
    const { u, detector, ejections } = setup([]);
    detector.failure(u);
    detector.failure(u);
    detector.success(u);
    detector.failure(u);
    detector.failure(u);
    expect(ejections).toEqual([]);
    detector.failure(u);
    expect(ejections).toEqual([1000]);
    expect(u.isEjected(0)).toBe(true);
    clearTimeout(u.probeTimer);
  });

  it('grows the backoff while probes keep failing, and readmits on a successful probe on probation', async () => {
    const { u, detector, ejections, probes, advance } = setup([false, true]);
    for (let i = 0; i < 3; i++) detector.failure(u);
    expect(ejections).toEqual([1000]);
    // Run the scheduled probe by hand rather than waiting for its timer.
    clearTimeout(u.probeTimer);
    advance(1000);
    const first = (detector as unknown as { afterBackoff(u: Upstream): Promise<void> }).afterBackoff(u);
    probes.shift()!();
    await first;
    expect(ejections).toEqual([1000, 2000]);
    clearTimeout(u.probeTimer);
    advance(2000);
    const second = (detector as unknown as { afterBackoff(u: Upstream): Promise<void> }).afterBackoff(u);
    probes.shift()!();
    await second;
    expect(u.isEjected(3000)).toBe(false);
    // On probation: one more failure ejects again, for longer still.
    detector.failure(u);
    expect(ejections).toEqual([1000, 2000, 4000]);
    clearTimeout(u.probeTimer);
  });
});

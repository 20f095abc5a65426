import { describe, expect, it } from 'vitest';
import { RateWindow } from './limits.js';

const MIN = 60_000;

describe('per-minute limits', () => {
  it('allows the limit within a minute, then says when to retry', () => {
    const w = new RateWindow(3);
    const t0 = 10 * MIN + 15_000;
    for (let i = 0; i < 3; i++) {
      expect(w.check(t0, 1)).toEqual({ ok: true });
      w.add(t0, 1);
    }
    const refused = w.check(t0, 1);
    expect(refused.ok).toBe(false);
    // Three in this window: the next fits once enough of them has faded from the sliding window.
    if (!refused.ok) expect(refused.retryAfterS).toBeGreaterThanOrEqual(45);
    expect(w.check(t0 + 2 * MIN, 1)).toEqual({ ok: true });
  });

  it('slides: the previous minute still counts in proportion to its overlap', () => {
    const w = new RateWindow(10);
    w.add(5 * MIN + 59_000, 10);
    // 6 s into the next minute, 90% of the previous minute's 10 still counts.
    expect(w.used(6 * MIN + 6_000)).toBeCloseTo(9, 5);
    expect(w.check(6 * MIN + 6_000, 1)).toEqual({ ok: true });
    expect(w.check(6 * MIN + 6_000, 2).ok).toBe(false);
    const r = w.check(6 * MIN + 6_000, 2);
    // 2 fit when the previous minute's share drops to 8: at 12 s into this one.
    if (!r.ok) expect(r.retryAfterS).toBe(6);
  });

  it('with amount 0 asks whether the budget is already spent (tokens are counted after the answer)', () => {
    const w = new RateWindow(100);
    w.add(0, 99);
    expect(w.check(0, 0)).toEqual({ ok: true });
    w.add(0, 5);
    expect(w.check(0, 0).ok).toBe(false);
  });
});

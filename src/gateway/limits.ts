const WINDOW_MS = 60_000;

/**
 * A per-minute limit as a sliding window approximated from two fixed windows (the current minute and
 * the previous one, weighted by how much of it still overlaps): O(1) memory per key, no timers, and
 * no burst of twice the limit at a window edge.
 */
export class RateWindow {
  private start = 0;
  private current = 0;
  private previous = 0;

  constructor(readonly limit: number) {}

  private roll(now: number): void {
    if (now - this.start < WINDOW_MS) return;
    const aligned = now - (now % WINDOW_MS);
    this.previous = aligned - this.start === WINDOW_MS ? this.current : 0;
    this.current = 0;
    this.start = aligned;
  }

  /** The usage the window sees at `now`. */
  used(now: number): number {
    this.roll(now);
    const overlap = 1 - (now - this.start) / WINDOW_MS;
    return this.previous * overlap + this.current;
  }

  /**
   * Whether `amount` more fits now. When it does not, the seconds after which it would (for Retry-After).
   * `amount` 0 asks whether the window is already full (tokens are counted after the response).
   */
  check(now: number, amount: number): { ok: true } | { ok: false; retryAfterS: number } {
    const used = this.used(now);
    if (amount === 0 ? used < this.limit : used + amount <= this.limit) return { ok: true };
    const a = Math.max(amount, 1);
    const elapsed = now - this.start;
    // Next window: what is counted now becomes "previous" and fades out linearly.
    const afterBoundary = WINDOW_MS - elapsed + (this.current > 0 ? Math.max(0, WINDOW_MS * (1 - (this.limit - a) / this.current)) : 0);
    let waitMs = afterBoundary;
    const roomNow = this.limit - this.current - a;
    if (roomNow >= 0 && this.previous > 0) {
      const t = WINDOW_MS * (1 - roomNow / this.previous) - elapsed;
      if (elapsed + t < WINDOW_MS) waitMs = Math.max(0, t);
    }
    return { ok: false, retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  add(now: number, amount: number): void {
    this.roll(now);
    this.current += amount;
  }
}

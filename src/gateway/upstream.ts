import { Pool } from 'undici';

export interface UpstreamOptions {
  /** Time allowed to open a TCP connection, in ms. */
  connectTimeoutMs: number;
  /** Time allowed for response headers (and between body chunks), in ms; 0: none. */
  responseTimeoutMs: number;
  /** Latency to assume for a replica before its first sample, in ms. */
  initialEwmaMs: number;
  /** Decay time of the latency average, in ms. */
  tauMs: number;
}

/**
 * One replica server as the gateway sees it: a keep-alive connection pool and the state that
 * balancing and outlier ejection read. Shared by every route that points at the same URL, so its
 * load and health are counted once.
 *
 * Health states: `healthy` → (ejectAfter consecutive connect failures or 5xx) → `ejected` for a
 * backoff that doubles with each ejection → a probe (TCP connect) → `healthy` on success, `ejected`
 * again (longer) on failure. A success resets the failure count; ejections are forgotten after a
 * quiet period.
 */
export class Upstream {
  readonly origin: string;
  /** Path prefix of the replica URL ('' for none), prepended to every upstream path. */
  readonly basePath: string;
  readonly host: string;
  readonly port: number;
  readonly pool: Pool;
  /** Routes referencing it; the pool closes when this drops to zero. */
  refs = 0;
  /** Requests sent and not yet finished. */
  outstanding = 0;
  /** Exponentially weighted moving average of time to first response byte, in ms, as of `lastSampleAt`. */
  ewmaMs: number;
  lastSampleAt: number;
  private readonly tauMs: number;
  /** Consecutive connect failures or 5xx responses. */
  failures = 0;
  /** Monotonic ms until which it is ejected; 0: not ejected. */
  ejectedUntil = 0;
  /** Ejections in a row, for the growing backoff. */
  ejections = 0;
  lastEjectionEnd = 0;
  probeTimer: NodeJS.Timeout | undefined;
  closed = false;

  constructor(
    readonly url: string,
    opts: UpstreamOptions,
  ) {
    const u = new URL(url);
    this.origin = u.origin;
    this.basePath = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '');
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    this.ewmaMs = opts.initialEwmaMs;
    this.tauMs = opts.tauMs;
    this.lastSampleAt = performance.now();
    this.pool = new Pool(this.origin, {
      // Unbounded: thousands of concurrent streams each hold a connection; undici keeps idle ones alive.
      connections: null,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: opts.responseTimeoutMs,
      bodyTimeout: opts.responseTimeoutMs,
      connect: { timeout: opts.connectTimeoutMs, noDelay: true, keepAlive: true },
    });
    // Connection errors are reported to the request that hit them; the pool's own events need no handler.
  }

  /**
   * The latency average, decayed toward zero for the time since its last sample (as Finagle's and
   * Linkerd's peak-EWMA balancers do): a replica that stopped getting traffic because it once looked
   * slow is tried again after a while instead of being starved forever.
   */
  latency(now: number): number {
    const dt = now - this.lastSampleAt;
    return dt > 0 ? this.ewmaMs * Math.exp(-dt / this.tauMs) : this.ewmaMs;
  }

  /** Records a latency sample with a time-based weight, so the average means the same at any request rate. */
  sample(ms: number, now: number): void {
    const dt = now - this.lastSampleAt;
    const w = dt > 0 ? Math.exp(-dt / this.tauMs) : 1;
    this.ewmaMs = this.ewmaMs * w + ms * (1 - w);
    if (dt > 0) this.lastSampleAt = now;
  }

  isEjected(now: number): boolean {
    return this.ejectedUntil > now;
  }
}

/** The set of upstreams in use, one per replica URL, reference-counted across routes. */
export class UpstreamSet {
  private readonly byUrl = new Map<string, Upstream>();

  constructor(private readonly opts: UpstreamOptions) {}

  acquire(url: string, initialEwmaMs?: number): Upstream {
    let u = this.byUrl.get(url);
    if (!u) {
      u = new Upstream(url, { ...this.opts, initialEwmaMs: initialEwmaMs ?? this.opts.initialEwmaMs });
      this.byUrl.set(url, u);
    }
    u.refs++;
    return u;
  }

  /** Drops a reference; the last one closes the pool once its in-flight requests finish. */
  release(u: Upstream): void {
    u.refs--;
    if (u.refs > 0) return;
    this.byUrl.delete(u.url);
    u.closed = true;
    if (u.probeTimer) clearTimeout(u.probeTimer);
    void u.pool.close().catch(() => undefined);
  }

  get size(): number {
    return this.byUrl.size;
  }

  all(): IterableIterator<Upstream> {
    return this.byUrl.values();
  }

  async closeAll(): Promise<void> {
    const all = [...this.byUrl.values()];
    this.byUrl.clear();
    await Promise.all(
      all.map(async (u) => {
        u.closed = true;
        if (u.probeTimer) clearTimeout(u.probeTimer);
        await u.pool.destroy().catch(() => undefined);
      }),
    );
  }
}

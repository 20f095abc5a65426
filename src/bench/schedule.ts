import { Rng } from '../util/index.js';

/**
 * The arrival schedule of an open-loop run, computed before the first request is sent: absolute
 * offsets (ms) from one start time. Latency is then measured from each request's intended send time,
 * so a client that falls behind shows up as latency and schedule lag instead of silently slowing the
 * load (no coordinated omission).
 */
export type ArrivalProcess =
  | { kind: 'constant'; rate: number }
  | { kind: 'poisson'; rate: number }
  /** Gamma-distributed gaps with mean 1/rate; burstiness < 1 is burstier than Poisson, > 1 smoother (as vLLM). */
  | { kind: 'gamma'; rate: number; burstiness: number }
  /** Rate rising (or falling) linearly from `from` to `to` over the run's duration; Poisson arrivals when `poisson`. */
  | { kind: 'ramp'; from: number; to: number; poisson: boolean };

export interface ScheduleLimits {
  /** Stop scheduling at this offset (ms). */
  durationMs?: number;
  /** Stop after this many arrivals. */
  maxRequests?: number;
}

/**
 * Offsets in milliseconds. Arrivals are generated in "expected count" space as cumulative sums of
 * unit-mean gaps (1 for constant, exponential for Poisson, gamma for bursty), then mapped to time
 * through the inverse of the cumulative rate, which makes ramps exact.
 */
export function arrivalOffsets(process: ArrivalProcess, limits: ScheduleLimits, seed: number): Float64Array {
  if (limits.durationMs === undefined && limits.maxRequests === undefined) {
    throw new Error('a schedule needs a duration or a request count');
  }
  const rng = new Rng(seed);
  const max = limits.maxRequests ?? Number.POSITIVE_INFINITY;
  const end = limits.durationMs ?? Number.POSITIVE_INFINITY;
  const out: number[] = [];
  let u = 0;
  const gap = (): number => {
    switch (process.kind) {
      case 'constant':
        return 1;
      case 'poisson':
        return rng.exponential(1);
      case 'gamma':
        return rng.gamma(process.burstiness, 1 / process.burstiness);
      case 'ramp':
        return process.poisson ? rng.exponential(1) : 1;
    }
  };
  const toTime = inverseCumulativeRate(process, limits.durationMs);
  // The first request goes at t=0 for constant schedules (as wrk2 and vLLM), after one gap otherwise.
  if (process.kind !== 'constant' && !(process.kind === 'ramp' && !process.poisson)) u = gap();
  while (out.length < max) {
    const t = toTime(u);
    if (!(t < end) || !Number.isFinite(t)) break;
    out.push(t);
    u += gap();
  }
  return Float64Array.from(out);
}

/** Maps an expected arrival count to the time (ms) at which the cumulative rate reaches it. */
function inverseCumulativeRate(p: ArrivalProcess, durationMs: number | undefined): (u: number) => number {
  if (p.kind !== 'ramp') {
    const perMs = p.rate / 1000;
    return (u) => u / perMs;
  }
  if (durationMs === undefined) throw new Error('a ramp needs a duration');
  const a = p.from / 1000;
  const b = (p.to - p.from) / 1000 / durationMs;
  // N(t) = a t + b t^2 / 2  =>  t = (-a + sqrt(a^2 + 2 b u)) / b
  if (Math.abs(b) < 1e-15) return (u) => u / a;
  return (u) => {
    const disc = a * a + 2 * b * u;
    if (disc < 0) return Number.POSITIVE_INFINITY;
    return (-a + Math.sqrt(disc)) / b;
  };
}

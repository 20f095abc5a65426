import type { Member } from './table.js';
import type { Upstream } from './upstream.js';

export interface AffinityGuard {
  /**
   * Affinity holds while the preferred replica's outstanding requests stay within
   * `factor` × the average of the eligible replicas + `slack`; beyond that the request is balanced
   * normally, so one hot session or prompt cannot pile onto one replica.
   */
  factor: number;
  slack: number;
}

export const DEFAULT_AFFINITY_GUARD: AffinityGuard = { factor: 1.5, slack: 4 };

export interface BalanceOptions {
  /**
   * How strongly outstanding requests weigh against latency: cost = latency × (outstanding + 1)^bias
   * (Envoy's `active_request_bias`). 1 suits servers that work one request at a time; below 1 suits
   * servers that batch (LLM servers), where requests in flight slow a new one far less than linearly.
   */
  bias: number;
  guard: AffinityGuard;
  rand: () => number;
}

export const DEFAULT_BALANCE: BalanceOptions = { bias: 0.5, guard: DEFAULT_AFFINITY_GUARD, rand: Math.random };

export interface Choice {
  member: Member;
  /** hit: the affinity replica was taken; overflow: affinity was dropped by the guard; none: no affinity asked. */
  affinity: 'hit' | 'overflow' | 'none';
  /** Every eligible replica was ejected, so an ejected one was used rather than failing. */
  panic: boolean;
}

/** 32-bit FNV-1a of a string. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A 32-bit finaliser (murmur3 fmix32): spreads a combined hash so rendezvous scores are uniform. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Cost of sending one more request: outstanding requests weighted by the replica's latency average. */
export function cost(u: Upstream, now: number, bias = 1): number {
  const load = u.outstanding + 1;
  return u.latency(now) * (bias === 1 ? load : load ** bias);
}

function better(a: Member, b: Member, now: number, bias: number): Member {
  const ca = cost(a.upstream, now, bias);
  const cb = cost(b.upstream, now, bias);
  if (ca < cb) return a;
  if (cb < ca) return b;
  return a.upstream.outstanding <= b.upstream.outstanding ? a : b;
}

function twoChoices(list: readonly Member[], now: number, o: BalanceOptions): Member {
  const n = list.length;
  if (n === 1) return list[0]!;
  const i = Math.floor(o.rand() * n);
  let j = Math.floor(o.rand() * (n - 1));
  if (j >= i) j++;
  return better(list[i]!, list[j]!, now, o.bias);
}

/**
 * Picks the replica for a request from the route's ready replicas.
 *
 * - Replicas already tried by this request and ejected replicas are skipped; when only ejected ones
 *   remain, one of them is used (panic) rather than failing the request outright.
 * - With an affinity key, rendezvous hashing names a preferred replica (stable while the replica set
 *   is, moving only the keys of a replica that leaves), unless the guard finds it overloaded.
 * - Otherwise, power of two choices: two random replicas, the one with the lower `cost` wins.
 *
 * Keeps no per-request or per-key state, so routing memory does not grow with traffic.
 */
export function choose(
  ready: readonly Member[],
  now: number,
  tried: readonly Upstream[] | null,
  affinityKey: string | null,
  o: BalanceOptions = DEFAULT_BALANCE,
): Choice | undefined {
  const n = ready.length;
  if (n === 0) return undefined;
  const usable = (m: Member): boolean => !m.upstream.isEjected(now) && (tried === null || !tried.includes(m.upstream));

  let affinity: Choice['affinity'] = 'none';
  if (affinityKey !== null) {
    const kh = hash32(affinityKey);
    let best: Member | undefined;
    let bestScore = -1;
    let total = 0;
    let count = 0;
    for (const m of ready) {
      if (!usable(m)) continue;
      total += m.upstream.outstanding;
      count++;
      const score = mix32(kh ^ hash32(m.id));
      if (score > bestScore) {
        bestScore = score;
        best = m;
      }
    }
    if (best) {
      if (best.upstream.outstanding <= o.guard.factor * (total / count) + o.guard.slack) return { member: best, affinity: 'hit', panic: false };
      affinity = 'overflow';
    }
  }

  // Fast paths: a single usable replica, or two random picks that are both usable, need no filtering pass.
  if (n === 1 && usable(ready[0]!)) return { member: ready[0]!, affinity, panic: false };
  if (n >= 2) {
    const i = Math.floor(o.rand() * n);
    let j = Math.floor(o.rand() * (n - 1));
    if (j >= i) j++;
    const a = ready[i]!;
    const b = ready[j]!;
    if (usable(a) && usable(b)) return { member: better(a, b, now, o.bias), affinity, panic: false };
  }
  const candidates = ready.filter(usable);
  if (candidates.length > 0) return { member: twoChoices(candidates, now, o), affinity, panic: false };
  const untried = tried === null ? [...ready] : ready.filter((m) => !tried.includes(m.upstream));
  if (untried.length === 0) return undefined;
  return { member: twoChoices(untried, now, o), affinity, panic: true };
}

import type { Recipe } from './recipe.js';
import { type ArrivalProcess, arrivalOffsets } from './schedule.js';

/**
 * What one stage of a run does. A recipe without a sweep has one stage; `concurrencies` or `rates`
 * make one stage per value, run one after another with the same stop rule.
 */
export type StageLoad =
  /** `rampUpMs`: the in-flight slots start spread evenly over this long. */
  | { mode: 'closed'; concurrency: number; rampUpMs: number }
  | { mode: 'open'; process: ArrivalProcess; maxInFlight: number };

export interface StagePlan {
  index: number;
  label: string;
  load: StageLoad;
  /** Stop sending after this long (ms from the stage start). */
  durationMs: number | null;
  /** Stop after this many requests in the stage, over all clients. */
  maxRequests: number | null;
  warmupMs: number;
  cooldownMs: number;
}

/** The recipe's stages, in run order. */
export function planStages(recipe: Recipe): StagePlan[] {
  const { load, stop } = recipe;
  const common = { durationMs: stop.duration ?? null, maxRequests: stop.requests ?? null, warmupMs: stop.warmup, cooldownMs: stop.cooldown };
  if (load.type === 'closed') {
    const values = load.concurrencies ?? [load.concurrency!];
    return values.map((concurrency, index) => ({ index, label: `concurrency ${concurrency}`, load: { mode: 'closed', concurrency, rampUpMs: load.rampUp }, ...common }));
  }
  if (load.type === 'ramp') {
    const process: ArrivalProcess = { kind: 'ramp', from: load.from!, to: load.to!, poisson: true };
    return [{ index: 0, label: `ramp ${load.from}→${load.to}/s`, load: { mode: 'open', process, maxInFlight: load.maxInFlight }, ...common }];
  }
  const values = load.rates ?? [load.rate!];
  return values.map((rate, index) => {
    const process: ArrivalProcess =
      load.type === 'constant' ? { kind: 'constant', rate } : load.type === 'poisson' ? { kind: 'poisson', rate } : { kind: 'gamma', rate, burstiness: load.burstiness };
    const label = `${load.type === 'constant' ? '' : `${load.type} `}${rate}/s`;
    return { index, label, load: { mode: 'open', process, maxInFlight: load.maxInFlight }, ...common };
  });
}

/**
 * One client's share of a stage. Requests are numbered across all clients; client `shard` of
 * `shards` takes the numbers congruent to it, so the union of the shards is exactly the one-client
 * run: the same arrival times, the same dataset items.
 */
export interface ShardStage {
  stage: StagePlan;
  /** How many clients share the stage. */
  shards: number;
  /** Open loop: this shard's arrivals as [global request number, offset ms from the stage start]. */
  arrivals: { index: Uint32Array; offsetMs: Float64Array } | null;
  /** Closed loop: this shard's requests in flight at once. */
  concurrency: number | null;
  /** Closed loop: the most requests this shard sends (its share of the stage's request count). */
  maxRequests: number | null;
}

/** Splits every stage among `shards` clients; the arrival schedule is computed here, up front, from the seed. */
export function shardStages(stages: readonly StagePlan[], shard: number, shards: number, seed: number): ShardStage[] {
  return stages.map((stage) => {
    if (stage.load.mode === 'closed') {
      const c = stage.load.concurrency;
      const concurrency = Math.floor(c / shards) + (shard < c % shards ? 1 : 0);
      const maxRequests = stage.maxRequests === null ? null : Math.floor(stage.maxRequests / shards) + (shard < stage.maxRequests % shards ? 1 : 0);
      return { stage, shards, arrivals: null, concurrency, maxRequests };
    }
    const limits = { ...(stage.durationMs !== null ? { durationMs: stage.durationMs } : {}), ...(stage.maxRequests !== null ? { maxRequests: stage.maxRequests } : {}) };
    // Each stage has its own stream of the seed, so a sweep's stages differ but repeat run to run.
    const all = arrivalOffsets(stage.load.process, limits, seed * 7919 + stage.index);
    const count = all.length > shard ? Math.ceil((all.length - shard) / shards) : 0;
    const index = new Uint32Array(count);
    const offsetMs = new Float64Array(count);
    for (let k = 0, i = shard; i < all.length; i += shards, k++) {
      index[k] = i;
      offsetMs[k] = all[i]!;
    }
    return { stage, shards, arrivals: { index, offsetMs }, concurrency: null, maxRequests: null };
  });
}

/** The phase of a request by its intended send time within the stage: warmup and cooldown are recorded but not measured. */
export function phaseOf(stage: StagePlan, offsetMs: number): 'warmup' | 'measure' | 'cooldown' {
  if (offsetMs < stage.warmupMs) return 'warmup';
  if (stage.durationMs !== null && stage.cooldownMs > 0 && offsetMs >= stage.durationMs - stage.cooldownMs) return 'cooldown';
  return 'measure';
}

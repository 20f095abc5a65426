import { formatBytes } from '../util/index.js';
import type {
  GpuVendor,
  Placement,
  PlacementExplanation,
  PlacementPolicy,
  PlacementRequest,
  RejectionKind,
  ResourceRequest,
  WorkerLiveness,
} from './types.js';

/**
 * The scheduler: filter, then score. Pure and synchronous: it reads a snapshot of the workers and
 * their reservations and answers where each replica goes, or why it cannot go anywhere. The
 * ClusterService persists what it decides.
 *
 * Filters, in order (the first that fails is the reason given for a worker): ready, not cordoned
 * or draining, label selectors, CPU, memory, GPU vendor/type, free GPU memory per GPU.
 * Fit order: one GPU, then several GPUs on one worker, then CPU when the replica allows it.
 * Score: model affinity (3) + binpack/spread fill (2) − current GPU utilisation (1).
 */

/** What the scheduler needs to know about one worker. */
export interface WorkerSnapshot {
  id: string;
  name: string;
  liveness: WorkerLiveness;
  cordoned: boolean;
  draining: boolean;
  labels: Record<string, string>;
  cpuCores: number;
  memoryBytes: number;
  /** CPU and memory already reserved by replicas placed here. */
  cpuReserved: number;
  memoryReserved: number;
  gpus: readonly SnapshotGpu[];
  cachedModels: readonly string[];
  /** Replicas placed here. */
  replicas: number;
}

export interface SnapshotGpu {
  vendor: GpuVendor;
  index: number;
  name: string;
  memoryTotalBytes: number;
  /** As the agent last reported it (covers processes the scheduler does not know about). */
  memoryUsedBytes: number;
  /** Reserved by replicas placed on it. */
  reservedBytes: number;
  utilizationPercent: number | null;
}

export type PlacementDecision = { placed: true; placement: Placement; score: number } | { placed: false; explanation: PlacementExplanation };

const W_AFFINITY = 3;
const W_POLICY = 2;
const W_LOAD = 1;
/** CPU-only replicas prefer machines without GPUs, keeping GPU machines' cores for GPU work. */
const CPU_ON_GPU_WORKER_PENALTY = 0.5;
const DEFAULT_MAX_GPUS = 8;
const EPS = 1e-9;
const MAX_REASONS = 100;

const VENDOR_CODE: Record<GpuVendor, number> = { nvidia: 1, amd: 2 };
const VENDORS: GpuVendor[] = ['nvidia', 'amd'];
const VENDOR_LABEL: Record<GpuVendor, string> = { nvidia: 'NVIDIA', amd: 'AMD' };

/** Lower-case words of a GPU name or type, for `type` matching ("H100" matches "NVIDIA H100 80GB HBM3"). */
export function nameTokens(name: string): string[] {
  return name
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** Whether a GPU's name carries every word of a requested type. */
export function gpuMatchesType(gpuName: string, type: string): boolean {
  const have = new Set(nameTokens(gpuName));
  return nameTokens(type).every((t) => have.has(t));
}

/** GPU memory the scheduler may still hand out on one GPU. */
export function gpuFreeBytes(gpu: Pick<SnapshotGpu, 'memoryTotalBytes' | 'memoryUsedBytes' | 'reservedBytes'>): number {
  return Math.max(0, gpu.memoryTotalBytes - Math.max(gpu.reservedBytes, gpu.memoryUsedBytes));
}

/** "1 GPU with 16.0 GiB free, 2 CPU cores, 4.0 GiB memory". */
export function describeRequest(r: ResourceRequest): string {
  const parts: string[] = [];
  const g = r.gpus;
  if (g) {
    const kind = [g.vendor ? VENDOR_LABEL[g.vendor] : null, g.type ?? null].filter(Boolean).join(' ');
    const gpuWord = kind ? `${kind} GPU` : 'GPU';
    if (g.count) {
      // A request for whole GPUs without a memory figure: "2 GPUs", not "2 GPUs with 0 B free each".
      const free = g.memoryBytes > 0 ? ` with ${formatBytes(g.memoryBytes)} free${g.count === 1 ? '' : ' each'}` : '';
      parts.push(`${g.count} ${gpuWord}${g.count === 1 ? '' : 's'}${free}`);
    } else {
      parts.push(`${formatBytes(g.memoryBytes)} of ${gpuWord} memory`);
    }
  }
  parts.push(`${formatCpu(r.cpu)} CPU core${r.cpu === 1 ? '' : 's'}`, `${formatBytes(r.memoryBytes)} memory`);
  return parts.join(', ');
}

function formatCpu(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/0+$/, '');
}

const KIND_TEXT: Record<RejectionKind, string> = {
  not_ready: 'not ready',
  offline: 'offline',
  cordoned: 'cordoned',
  draining: 'draining',
  selector: 'labels do not match',
  cpu: 'not enough free CPU',
  memory: 'not enough free memory',
  no_gpus: 'no GPUs',
  gpu_vendor: 'no GPU of that vendor',
  gpu_type: 'no GPU of that type',
  gpu_memory: 'not enough free GPU memory',
  gpu_count: 'too few suitable GPUs',
};

function selectorKey(selectors: Record<string, string>): string {
  const keys = Object.keys(selectors);
  if (keys.length === 0) return '';
  return keys
    .sort()
    .map((k) => `${k}=${selectors[k]}`)
    .join('\u0000');
}

function resourcesKey(r: ResourceRequest): string {
  const g = r.gpus;
  const gpus = g ? `${g.count ?? ''}/${g.memoryBytes}/${g.maxCount ?? ''}/${g.vendor ?? ''}/${g.type ?? ''}` : '-';
  return `${r.cpu}|${r.memoryBytes}|${gpus}`;
}

/** Stable key of what decides feasibility (not policy or affinity). */
function shapeKey(r: PlacementRequest): string {
  return `${resourcesKey(r.resources)}|${r.allowCpuFallback ? 1 : 0}|${selectorKey(r.selectors)}`;
}

/** Stable key of what decides a worker's score for a GPU fit (CPU and memory only filter). */
function gpuPassKey(r: PlacementRequest): string {
  const g = r.resources.gpus;
  const gpus = g ? `${g.count ?? ''}/${g.memoryBytes}/${g.maxCount ?? ''}/${g.vendor ?? ''}/${g.type ?? ''}` : '-';
  return `${gpus}|${r.policy}|${r.modelKey ?? ''}|${selectorKey(r.selectors)}`;
}

/** Stable key of everything that decides a worker's score. */
function requestKey(r: PlacementRequest): string {
  return `${resourcesKey(r.resources)}|${r.policy}|${r.modelKey ?? ''}|${selectorKey(r.selectors)}`;
}

/**
 * Cached scores of every worker for one fit of one kind of request, in a tournament tree whose root
 * is the best worker. A placement changes one worker; each pass re-scores only the workers changed
 * since it was last asked (the planner's change log), so a placement costs O(log workers).
 */
interface Pass {
  scores: Float64Array;
  /** The GPU (flat index) a single-GPU fit chose on each worker. */
  one: Int32Array;
  /** The GPUs a several-GPU fit chose on each worker. */
  several: (number[] | null)[];
  /** Dedupes catch-up work: the catch-up round in which a worker was last re-scored. */
  stamp: Uint32Array;
  round: number;
  /** Leaves at [size, 2·size): worker indices; inner nodes: the better child (the lower index on a tie). */
  tree: Int32Array;
  size: number;
  /** How far into the planner's change log this pass is up to date. */
  seen: number;
  sel: Uint8Array;
  aff: Uint8Array | undefined;
  mask: Uint8Array | undefined;
}

interface Pick1 {
  worker: number;
  gpus: number[];
  score: number;
}

/**
 * A mutable plan over one snapshot: each successful `place` reserves what it took, so a batch never
 * hands out the same memory twice. Build one per scheduling pass.
 */
export class PlacementPlanner {
  private readonly n: number;
  private readonly eligible: Uint8Array;
  private readonly ineligibleKind: (RejectionKind | null)[];
  private readonly cpuFree: Float64Array;
  private readonly cpuTotal: Float64Array;
  private readonly memFree: Float64Array;
  private readonly memTotal: Float64Array;
  private readonly gpuStart: Int32Array;
  private readonly gpuFree: Float64Array;
  private readonly gpuTotal: Float64Array;
  private readonly gpuUtil: Float64Array;
  private readonly gpuVendor: Uint8Array;
  private readonly gpuIndex: Int32Array;
  private readonly wGpuFree: Float64Array;
  private readonly wGpuTotal: Float64Array;
  private readonly load: Int32Array;
  private readonly selectorMasks = new Map<string, Uint8Array>();
  private readonly gpuMasks = new Map<string, Uint8Array>();
  private readonly affinityMasks = new Map<string, Uint8Array>();
  private readonly failedShapes = new Map<string, PlacementExplanation>();
  private readonly scratch: number[] = [];
  /** Workers whose free resources changed, in order; passes catch up from their position in it. */
  private readonly changes: number[] = [];
  private readonly passes = new Map<string, Pass>();
  private lastScore = 0;

  constructor(private readonly workers: readonly WorkerSnapshot[]) {
    const n = workers.length;
    this.n = n;
    this.eligible = new Uint8Array(n);
    this.ineligibleKind = new Array<RejectionKind | null>(n).fill(null);
    this.cpuFree = new Float64Array(n);
    this.cpuTotal = new Float64Array(n);
    this.memFree = new Float64Array(n);
    this.memTotal = new Float64Array(n);
    this.gpuStart = new Int32Array(n + 1);
    this.wGpuFree = new Float64Array(n);
    this.wGpuTotal = new Float64Array(n);
    this.load = new Int32Array(n);
    let totalGpus = 0;
    for (const w of workers) totalGpus += w.gpus.length;
    this.gpuFree = new Float64Array(totalGpus);
    this.gpuTotal = new Float64Array(totalGpus);
    this.gpuUtil = new Float64Array(totalGpus);
    this.gpuVendor = new Uint8Array(totalGpus);
    this.gpuIndex = new Int32Array(totalGpus);
    let g = 0;
    for (let i = 0; i < n; i++) {
      const w = workers[i]!;
      const kind: RejectionKind | null =
        w.liveness === 'offline' ? 'offline' : w.liveness !== 'ready' ? 'not_ready' : w.draining ? 'draining' : w.cordoned ? 'cordoned' : null;
      this.ineligibleKind[i] = kind;
      this.eligible[i] = kind === null ? 1 : 0;
      this.cpuTotal[i] = w.cpuCores;
      this.cpuFree[i] = w.cpuCores - w.cpuReserved;
      this.memTotal[i] = w.memoryBytes;
      this.memFree[i] = w.memoryBytes - w.memoryReserved;
      this.load[i] = w.replicas;
      this.gpuStart[i] = g;
      for (const gpu of w.gpus) {
        const free = gpuFreeBytes(gpu);
        this.gpuFree[g] = free;
        this.gpuTotal[g] = gpu.memoryTotalBytes;
        this.gpuUtil[g] = (gpu.utilizationPercent ?? 0) / 100;
        this.gpuVendor[g] = VENDOR_CODE[gpu.vendor];
        this.gpuIndex[g] = gpu.index;
        this.wGpuFree[i] = this.wGpuFree[i]! + free;
        this.wGpuTotal[i] = this.wGpuTotal[i]! + gpu.memoryTotalBytes;
        g++;
      }
    }
    this.gpuStart[n] = g;
  }

  /** Places one replica and reserves what it takes, or explains why no worker can run it. */
  place(request: PlacementRequest): PlacementDecision {
    const shape = shapeKey(request);
    const failed = this.failedShapes.get(shape);
    if (failed) return { placed: false, explanation: failed };
    const pick = this.find(request);
    if (!pick) {
      const explanation = this.explain(request);
      this.failedShapes.set(shape, explanation);
      return { placed: false, explanation };
    }
    const w = pick.worker;
    const r = request.resources;
    const perGpu = pick.mode === 'gpu' ? pick.perGpu : 0;
    this.cpuFree[w] = this.cpuFree[w]! - r.cpu;
    this.memFree[w] = this.memFree[w]! - r.memoryBytes;
    this.load[w] = this.load[w]! + 1;
    this.changes.push(w);
    for (const g of pick.gpus) {
      this.gpuFree[g] = this.gpuFree[g]! - perGpu;
      this.wGpuFree[w] = this.wGpuFree[w]! - perGpu;
    }
    const first = pick.gpus[0];
    return {
      placed: true,
      score: pick.score,
      placement: {
        workerId: this.workers[w]!.id,
        mode: pick.mode,
        gpuVendor: first === undefined ? null : VENDORS[this.gpuVendor[first]! - 1]!,
        gpuIndices: pick.gpus.map((gi) => this.gpuIndex[gi]!),
        gpuMemoryBytes: perGpu,
      },
    };
  }

  /** Gives back what a placement reserved (for moves planned in the same pass). */
  release(placement: Placement, resources: ResourceRequest): void {
    const w = this.workers.findIndex((x) => x.id === placement.workerId);
    if (w < 0) return;
    this.cpuFree[w] = this.cpuFree[w]! + resources.cpu;
    this.memFree[w] = this.memFree[w]! + resources.memoryBytes;
    this.load[w] = Math.max(0, this.load[w]! - 1);
    this.changes.push(w);
    for (let g = this.gpuStart[w]!; g < this.gpuStart[w + 1]!; g++) {
      if (VENDORS[this.gpuVendor[g]! - 1] === placement.gpuVendor && placement.gpuIndices.includes(this.gpuIndex[g]!)) {
        this.gpuFree[g] = Math.min(this.gpuTotal[g]!, this.gpuFree[g]! + placement.gpuMemoryBytes);
        this.wGpuFree[w] = this.wGpuFree[w]! + placement.gpuMemoryBytes;
      }
    }
    this.failedShapes.clear();
  }

  private find(request: PlacementRequest): (Pick1 & { mode: 'gpu' | 'cpu'; perGpu: number }) | undefined {
    const r = request.resources;
    const g = r.gpus;
    if (g) {
      // GPU scores do not depend on the CPU and memory asked for (only whether they fit), so
      // replicas that differ only there share one pass.
      const key = gpuPassKey(request);
      if (g.count && g.count > 0) {
        const pick = this.best(`${key}|g${g.count}|${g.memoryBytes}`, request, g.count, g.memoryBytes);
        if (pick) return { ...pick, mode: 'gpu', perGpu: g.memoryBytes };
      } else {
        const maxCount = Math.max(1, g.maxCount ?? DEFAULT_MAX_GPUS);
        for (let count = 1; count <= maxCount; count++) {
          const perGpu = Math.ceil(g.memoryBytes / count);
          const pick = this.best(`${key}|g${count}|${perGpu}`, request, count, perGpu);
          if (pick) return { ...pick, mode: 'gpu', perGpu };
        }
      }
      if (!request.allowCpuFallback) return undefined;
    }
    const pick = this.best(`${requestKey(request)}|cpu`, request, 0, 0);
    return pick ? { ...pick, mode: 'cpu', perGpu: 0 } : undefined;
  }

  /** The best worker for one fit (`count` GPUs with `perGpu` each, or CPU when count is 0). */
  private best(passKey: string, request: PlacementRequest, count: number, perGpu: number): Pick1 | undefined {
    let pass = this.passes.get(passKey);
    if (!pass) {
      let size = 1;
      while (size < Math.max(1, this.n)) size *= 2;
      pass = {
        scores: new Float64Array(this.n),
        one: new Int32Array(this.n).fill(-1),
        several: count > 1 ? new Array<number[] | null>(this.n).fill(null) : [],
        stamp: new Uint32Array(this.n),
        round: 0,
        tree: new Int32Array(2 * size).fill(-1),
        size,
        seen: this.changes.length,
        sel: this.selectorMask(request.selectors),
        aff: request.modelKey ? this.affinityMask(request.modelKey) : undefined,
        mask: request.resources.gpus ? this.gpuMask(request.resources.gpus.vendor ?? null, request.resources.gpus.type ?? null) : undefined,
      };
      this.rebuild(pass, request, count, perGpu);
      this.passes.set(passKey, pass);
    } else if (pass.seen < this.changes.length) {
      // A pass left unused for long has a long backlog; past a point, scoring everyone is cheaper.
      if (this.changes.length - pass.seen > this.n / 4) {
        this.rebuild(pass, request, count, perGpu);
      } else {
        pass.round++;
        for (let i = pass.seen; i < this.changes.length; i++) {
          const w = this.changes[i]!;
          if (pass.stamp[w] === pass.round) continue;
          pass.stamp[w] = pass.round;
          this.score(pass, w, request, count, perGpu);
          for (let node = (pass.size + w) >> 1; node >= 1; node >>= 1) pass.tree[node] = this.better(pass, pass.tree[2 * node]!, pass.tree[2 * node + 1]!);
        }
      }
      pass.seen = this.changes.length;
    }
    let best = pass.tree[1]!;
    if (best < 0 || pass.scores[best] === -Infinity) return undefined;
    if (count > 0 && !this.hostFits(best, request.resources)) {
      // The best GPU fit lacks CPU or memory: look further, over the cached scores only.
      const scores = pass.scores;
      let bestScore = -Infinity;
      best = -1;
      for (let w = 0; w < this.n; w++) {
        const sc = scores[w]!;
        if (sc > bestScore + EPS && this.hostFits(w, request.resources)) {
          bestScore = sc;
          best = w;
        }
      }
      if (best < 0) return undefined;
    }
    const gpus = count === 0 ? [] : count === 1 ? [pass.one[best]!] : pass.several[best]!;
    return { worker: best, gpus, score: pass.scores[best]! };
  }

  private rebuild(pass: Pass, request: PlacementRequest, count: number, perGpu: number): void {
    for (let w = 0; w < this.n; w++) {
      this.score(pass, w, request, count, perGpu);
      pass.tree[pass.size + w] = w;
    }
    for (let i = pass.size - 1; i >= 1; i--) pass.tree[i] = this.better(pass, pass.tree[2 * i]!, pass.tree[2 * i + 1]!);
    pass.seen = this.changes.length;
  }

  private score(pass: Pass, w: number, request: PlacementRequest, count: number, perGpu: number): void {
    const ok = count === 0 ? this.scoreCpu(w, request, pass) : this.scoreGpu(w, request, pass, count, perGpu);
    pass.scores[w] = ok ? this.lastScore : -Infinity;
  }

  private hostFits(w: number, r: ResourceRequest): boolean {
    return this.cpuFree[w]! + EPS >= r.cpu && this.memFree[w]! >= r.memoryBytes;
  }

  /** The better of two workers in a pass; the lower index unless the other scores clearly higher. */
  private better(pass: Pass, a: number, b: number): number {
    if (a < 0) return b;
    if (b < 0) return a;
    return pass.scores[b]! > pass.scores[a]! + EPS ? b : a;
  }

  /** Scores worker `w` for a GPU fit into `lastScore` and records its GPUs in the pass; false if it cannot fit. CPU and memory are the caller's to check. */
  private scoreGpu(w: number, request: PlacementRequest, pass: Pass, count: number, perGpu: number): boolean {
    const binpack = request.policy === 'binpack';
    const { gpuFree, gpuTotal, gpuUtil } = this;
    if (this.eligible[w] === 0 || pass.sel[w] === 0) return false;
    const start = this.gpuStart[w]!;
    const end = this.gpuStart[w + 1]!;
    if (end - start < count) return false;
    const mask = pass.mask!;
    let fill = 0;
    let util = 0;
    if (count === 1) {
      let bestFree = binpack ? Infinity : -Infinity;
      let one = -1;
      for (let g = start; g < end; g++) {
        if (mask[g] === 0) continue;
        const free = gpuFree[g]!;
        if (free < perGpu) continue;
        if (binpack ? free < bestFree : free > bestFree) {
          bestFree = free;
          one = g;
        }
      }
      if (one < 0) return false;
      pass.one[w] = one;
      fill = (gpuTotal[one]! - gpuFree[one]! + perGpu) / gpuTotal[one]!;
      util = gpuUtil[one]!;
    } else {
      const several = this.chooseSeveral(start, end, mask, count, perGpu, binpack);
      if (!several) return false;
      pass.several[w] = several;
      for (const g of several) {
        fill += (gpuTotal[g]! - gpuFree[g]! + perGpu) / gpuTotal[g]!;
        util += gpuUtil[g]!;
      }
      fill /= count;
      util /= count;
    }
    const workerFill = (this.wGpuTotal[w]! - this.wGpuFree[w]! + perGpu * count) / this.wGpuTotal[w]!;
    const packed = (fill + workerFill) / 2;
    const policy = binpack ? packed : 1 - packed;
    this.lastScore = (pass.aff && pass.aff[w] === 1 ? W_AFFINITY : 0) + W_POLICY * policy - W_LOAD * util;
    return true;
  }

  /** `count` GPUs of one vendor with `perGpu` free each: the fullest that fit (binpack) or the emptiest (spread). */
  private chooseSeveral(start: number, end: number, mask: Uint8Array, count: number, perGpu: number, binpack: boolean): number[] | undefined {
    for (const vendorCode of [1, 2]) {
      const c = this.scratch;
      c.length = 0;
      for (let g = start; g < end; g++) {
        if (mask[g] === 1 && this.gpuVendor[g] === vendorCode && this.gpuFree[g]! >= perGpu) c.push(g);
      }
      if (c.length < count) continue;
      // Insertion sort: a worker has a handful of GPUs, and this runs for every worker re-scored.
      const free = this.gpuFree;
      for (let i = 1; i < c.length; i++) {
        const g = c[i]!;
        let j = i - 1;
        while (j >= 0 && (binpack ? free[c[j]!]! > free[g]! : free[c[j]!]! < free[g]!)) {
          c[j + 1] = c[j]!;
          j--;
        }
        c[j + 1] = g;
      }
      return c.slice(0, count);
    }
    return undefined;
  }

  private scoreCpu(w: number, request: PlacementRequest, pass: Pass): boolean {
    const { cpu, memoryBytes } = request.resources;
    if (this.eligible[w] === 0 || pass.sel[w] === 0) return false;
    if (this.cpuFree[w]! + EPS < cpu || this.memFree[w]! < memoryBytes) return false;
    const cpuTotal = this.cpuTotal[w]!;
    const memTotal = this.memTotal[w]!;
    const cpuFill = cpuTotal > 0 ? (cpuTotal - this.cpuFree[w]! + cpu) / cpuTotal : 1;
    const memFill = memTotal > 0 ? (memTotal - this.memFree[w]! + memoryBytes) / memTotal : 1;
    const packed = Math.max(cpuFill, memFill);
    const policy = request.policy === 'binpack' ? packed : 1 - packed;
    const hasGpus = this.gpuStart[w + 1]! > this.gpuStart[w]!;
    this.lastScore = (pass.aff && pass.aff[w] === 1 ? W_AFFINITY : 0) + W_POLICY * policy - (hasGpus ? CPU_ON_GPU_WORKER_PENALTY : 0);
    return true;
  }

  private selectorMask(selectors: Record<string, string>): Uint8Array {
    const key = selectorKey(selectors);
    let mask = this.selectorMasks.get(key);
    if (!mask) {
      mask = new Uint8Array(this.n);
      const entries = Object.entries(selectors);
      for (let w = 0; w < this.n; w++) {
        const labels = this.workers[w]!.labels;
        mask[w] = entries.every(([k, v]) => labels[k] === v) ? 1 : 0;
      }
      this.selectorMasks.set(key, mask);
    }
    return mask;
  }

  private gpuMask(vendor: GpuVendor | null, type: string | null): Uint8Array {
    const key = `${vendor ?? ''}|${type ?? ''}`;
    let mask = this.gpuMasks.get(key);
    if (!mask) {
      mask = new Uint8Array(this.gpuFree.length);
      const typeTokens = type ? nameTokens(type) : [];
      let g = 0;
      for (const w of this.workers) {
        for (const gpu of w.gpus) {
          const vendorOk = !vendor || gpu.vendor === vendor;
          const have = typeTokens.length > 0 ? new Set(nameTokens(gpu.name)) : undefined;
          const typeOk = !have || typeTokens.every((t) => have.has(t));
          mask[g++] = vendorOk && typeOk ? 1 : 0;
        }
      }
      this.gpuMasks.set(key, mask);
    }
    return mask;
  }

  private affinityMask(modelKey: string): Uint8Array {
    let mask = this.affinityMasks.get(modelKey);
    if (!mask) {
      mask = new Uint8Array(this.n);
      for (let w = 0; w < this.n; w++) mask[w] = this.workers[w]!.cachedModels.includes(modelKey) ? 1 : 0;
      this.affinityMasks.set(modelKey, mask);
    }
    return mask;
  }

  /** Why each worker cannot take the replica, with the numbers. Only runs when placement failed. */
  private explain(request: PlacementRequest): PlacementExplanation {
    const reasons: PlacementExplanation['reasons'] = [];
    const byKind: Partial<Record<RejectionKind, number>> = {};
    for (let w = 0; w < this.n; w++) {
      const worker = this.workers[w]!;
      const [kind, reason] = this.rejection(w, request);
      byKind[kind] = (byKind[kind] ?? 0) + 1;
      if (reasons.length < MAX_REASONS) reasons.push({ workerId: worker.id, worker: worker.name, kind, reason: `worker ${worker.name}: ${reason}` });
    }
    const wants = describeRequest(request.resources);
    let summary: string;
    if (this.n === 0) {
      summary = `No worker can run this replica (${wants}): no worker has joined the cluster. Start one with \`catapult agent --server URL --token TOKEN\`.`;
    } else {
      const counts = Object.entries(byKind)
        .sort(([, a], [, b]) => b - a)
        .map(([k, c]) => `${c} ${KIND_TEXT[k as RejectionKind]}`)
        .join(', ');
      summary = `No worker can run this replica (${wants}): ${this.n} worker${this.n === 1 ? '' : 's'} checked; ${counts}.`;
    }
    return { summary, reasons, workersChecked: this.n, byKind };
  }

  private rejection(w: number, request: PlacementRequest): [RejectionKind, string] {
    const worker = this.workers[w]!;
    const kind = this.ineligibleKind[w];
    if (kind) {
      const text: Record<string, string> = {
        offline: 'offline (no heartbeat within the grace period)',
        not_ready: 'not ready (heartbeats missed)',
        draining: 'draining',
        cordoned: 'cordoned',
      };
      return [kind, text[kind] ?? kind];
    }
    const missing = Object.entries(request.selectors).filter(([k, v]) => worker.labels[k] !== v);
    if (missing.length > 0) {
      const parts = missing.map(([k, v]) => (worker.labels[k] === undefined ? `wants ${k}=${v}, has no ${k} label` : `wants ${k}=${v}, has ${k}=${worker.labels[k]}`));
      return ['selector', `labels do not match (${parts.join('; ')})`];
    }
    const r = request.resources;
    if (this.cpuFree[w]! + EPS < r.cpu) {
      return ['cpu', `${formatCpu(Math.max(0, this.cpuFree[w]!))} of ${formatCpu(this.cpuTotal[w]!)} CPU cores free, needs ${formatCpu(r.cpu)}`];
    }
    if (this.memFree[w]! < r.memoryBytes) {
      return ['memory', `${formatBytes(Math.max(0, this.memFree[w]!))} of ${formatBytes(this.memTotal[w]!)} memory free, needs ${formatBytes(r.memoryBytes)}`];
    }
    const g = r.gpus;
    if (!g) return ['cpu', 'fits, but was taken by an earlier replica of this batch'];
    const start = this.gpuStart[w]!;
    const end = this.gpuStart[w + 1]!;
    if (end === start) return ['no_gpus', 'has no GPUs'];
    const all = this.workers[w]!.gpus;
    const have = summarizeGpus(all.map((x) => x.name));
    if (g.vendor && !all.some((x) => x.vendor === g.vendor)) return ['gpu_vendor', `has no ${VENDOR_LABEL[g.vendor]} GPUs (has ${have})`];
    const mask = this.gpuMask(g.vendor ?? null, g.type ?? null);
    const matching: number[] = [];
    for (let i = start; i < end; i++) if (mask[i] === 1) matching.push(i);
    if (matching.length === 0) return ['gpu_type', `has no ${g.type ?? ''} GPUs (has ${have})`];
    const freeList = (idx: number[]) => idx.map((i) => `GPU ${this.gpuIndex[i]} has ${formatBytes(this.gpuFree[i]!)} free`).join(', ');
    if (g.count && g.count > 0) {
      if (matching.length < g.count) return ['gpu_count', `needs ${g.count} GPUs, has ${matching.length} suitable`];
      if (g.count === 1) return ['gpu_memory', `${freeList(matching)}, needs ${formatBytes(g.memoryBytes)}`];
      const enough = matching.filter((i) => this.gpuFree[i]! >= g.memoryBytes).length;
      return ['gpu_memory', `needs ${g.count} GPUs with ${formatBytes(g.memoryBytes)} free each, ${enough} ha${enough === 1 ? 's' : 've'} it (${freeList(matching)})`];
    }
    const maxCount = Math.min(Math.max(1, g.maxCount ?? DEFAULT_MAX_GPUS), matching.length);
    if (maxCount === 1) return ['gpu_memory', `${freeList(matching)}, needs ${formatBytes(g.memoryBytes)}`];
    const share = Math.ceil(g.memoryBytes / maxCount);
    return [
      'gpu_memory',
      `needs ${formatBytes(g.memoryBytes)} of GPU memory; no GPU has it alone, and split over ${maxCount} GPUs it needs ${formatBytes(share)} each (${freeList(matching)})`,
    ];
  }
}

function summarizeGpus(names: string[]): string {
  const counts = new Map<string, number>();
  for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  return [...counts].map(([n, c]) => `${c}× ${n}`).join(', ');
}

/** Places one replica on a snapshot (does not change the snapshot). */
export function placeReplica(workers: readonly WorkerSnapshot[], request: PlacementRequest): PlacementDecision {
  return new PlacementPlanner(workers).place(request);
}

/** Places replicas in order on one snapshot; each placement sees the reservations of those before it. */
export function planPlacements(workers: readonly WorkerSnapshot[], requests: readonly PlacementRequest[]): PlacementDecision[] {
  const planner = new PlacementPlanner(workers);
  return requests.map((r) => planner.place(r));
}

/** Fills defaults for a placement request. */
export function placementRequest(input: {
  resources: ResourceRequest;
  selectors?: Record<string, string> | null;
  policy?: PlacementPolicy | null;
  allowCpuFallback?: boolean | null;
  modelKey?: string | null;
}): PlacementRequest {
  return {
    resources: input.resources,
    selectors: input.selectors ?? {},
    policy: input.policy ?? 'binpack',
    allowCpuFallback: input.allowCpuFallback ?? false,
    modelKey: input.modelKey ?? null,
  };
}

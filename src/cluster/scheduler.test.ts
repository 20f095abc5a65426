import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PlacementDecision, type WorkerSnapshot, gpuMatchesType, placeReplica, placementRequest, planPlacements } from './scheduler.js';
import type { GpuVendor, PlacementRequest, ResourceRequest } from './types.js';

const GiB = 2 ** 30;

interface GpuSpec {
  name?: string;
  vendor?: GpuVendor;
  totalGiB: number;
  usedGiB?: number;
  reservedGiB?: number;
  util?: number;
}

function worker(name: string, gpus: GpuSpec[] = [], o: Partial<WorkerSnapshot> = {}): WorkerSnapshot {
  return {
    id: `id-${name}`,
    name,
    liveness: 'ready',
    cordoned: false,
    draining: false,
    labels: {},
    cpuCores: 32,
    memoryBytes: 256 * GiB,
    cpuReserved: 0,
    memoryReserved: 0,
    cachedModels: [],
    replicas: 0,
    ...o,
    gpus: gpus.map((g, index) => ({
      vendor: g.vendor ?? 'nvidia',
      index,
      name: g.name ?? (g.vendor === 'amd' ? 'AMD Instinct MI300X' : 'NVIDIA H100 80GB HBM3'),
      memoryTotalBytes: g.totalGiB * GiB,
      memoryUsedBytes: (g.usedGiB ?? 0) * GiB,
      reservedBytes: (g.reservedGiB ?? 0) * GiB,
      utilizationPercent: g.util ?? 0,
    })),
  };
}

function gpuReq(memGiB: number, extra: Partial<NonNullable<ResourceRequest['gpus']>> = {}, o: Partial<PlacementRequest> = {}): PlacementRequest {
  return placementRequest({ resources: { cpu: 1, memoryBytes: GiB, gpus: { count: 1, memoryBytes: memGiB * GiB, ...extra } }, ...o });
}

function where(d: PlacementDecision): string {
  if (!d.placed) return `unplaced: ${d.explanation.summary}`;
  return `${d.placement.workerId.replace('id-', '')}:${d.placement.mode}:${d.placement.gpuIndices.join('+')}`;
}

describe('scheduler', () => {
  it('binpack fills one GPU before touching the next, and spread puts each replica on the emptiest worker', () => {
    const workers = [worker('a', [{ totalGiB: 80 }, { totalGiB: 80 }]), worker('b', [{ totalGiB: 80 }, { totalGiB: 80 }])];
    const four = (policy: 'binpack' | 'spread') => planPlacements(workers, Array.from({ length: 4 }, () => gpuReq(20, {}, { policy }))).map(where);
    expect(four('binpack')).toEqual(['a:gpu:0', 'a:gpu:0', 'a:gpu:0', 'a:gpu:0']);
    expect(four('spread')).toEqual(['a:gpu:0', 'b:gpu:0', 'a:gpu:1', 'b:gpu:1']);
  });

  it('binpack prefers the worker that is already partly full; spread the one that is emptier', () => {
    const workers = [worker('empty', [{ totalGiB: 80 }]), worker('half', [{ totalGiB: 80, reservedGiB: 40 }])];
    expect(where(placeReplica(workers, gpuReq(20, {}, { policy: 'binpack' })))).toBe('half:gpu:0');
    expect(where(placeReplica(workers, gpuReq(20, {}, { policy: 'spread' })))).toBe('empty:gpu:0');
  });

  it('passes over the best GPU fit when its host has no CPU or memory left for the replica', () => {
    const workers = [worker('empty', [{ totalGiB: 80 }]), worker('half', [{ totalGiB: 80, reservedGiB: 40 }], { cpuCores: 32, cpuReserved: 31 })];
    const withCpu = (cpu: number) => placementRequest({ resources: { cpu, memoryBytes: GiB, gpus: { count: 1, memoryBytes: 10 * GiB } } });
    expect(planPlacements(workers, [withCpu(0.5), withCpu(0.5), withCpu(0.5), withCpu(1)]).map(where)).toEqual([
      'half:gpu:0',
      'half:gpu:0',
      'empty:gpu:0',
      'empty:gpu:0',
    ]);
  });

  it('prefers a worker that already caches the model, even against the placement policy', () => {
    const workers = [worker('half', [{ totalGiB: 80, reservedGiB: 40 }]), worker('cached', [{ totalGiB: 80 }], { cachedModels: ['llama-3-8b'] })];
    expect(where(placeReplica(workers, gpuReq(20, {}, { policy: 'binpack', modelKey: 'llama-3-8b' })))).toBe('cached:gpu:0');
    expect(where(placeReplica(workers, gpuReq(20, {}, { policy: 'binpack', modelKey: 'other-model' })))).toBe('half:gpu:0');
  });

  it('places a multi-GPU replica on several GPUs of one worker, never across workers', () => {
    const workers = [worker('one-free', [{ totalGiB: 80 }, { totalGiB: 80, reservedGiB: 80 }]), worker('two-free', [{ totalGiB: 80 }, { totalGiB: 80 }, { totalGiB: 80, reservedGiB: 70 }])];
    const d = placeReplica(workers, gpuReq(40, { count: 2 }));
    expect(where(d)).toBe('two-free:gpu:0+1');
    const three = placeReplica(workers, gpuReq(40, { count: 3 }));
    expect(three.placed).toBe(false);
    if (!three.placed) {
      expect(three.explanation.reasons.map((r) => r.reason)).toEqual([
        'worker one-free: needs 3 GPUs, has 2 suitable',
        'worker two-free: needs 3 GPUs with 40.0 GiB free each, 2 have it (GPU 0 has 80.0 GiB free, GPU 1 has 80.0 GiB free, GPU 2 has 10.0 GiB free)',
      ]);
    }
  });

  it('fits by memory in order: one GPU, then the fewest GPUs of one worker, then CPU when allowed', () => {
    const workers = [worker('gpu', [{ totalGiB: 80, reservedGiB: 30 }, { totalGiB: 80, reservedGiB: 30 }, { totalGiB: 80, reservedGiB: 30 }]), worker('cpu-only')];
    const auto = (totalGiB: number, allowCpuFallback = false) =>
      placementRequest({ resources: { cpu: 2, memoryBytes: 4 * GiB, gpus: { memoryBytes: totalGiB * GiB } }, allowCpuFallback });
    expect(where(placeReplica(workers, auto(40)))).toBe('gpu:gpu:0');
    const two = placeReplica(workers, auto(90));
    expect(where(two)).toBe('gpu:gpu:0+1');
    if (two.placed) expect(two.placement.gpuMemoryBytes).toBe(45 * GiB);
    expect(where(placeReplica(workers, auto(140)))).toBe('gpu:gpu:0+1+2');
    expect(where(placeReplica(workers, auto(200, true)))).toBe('cpu-only:cpu:');
    const none = placeReplica(workers, auto(200));
    expect(none.placed).toBe(false);
    if (!none.placed) {
      expect(none.explanation.reasons[0]!.reason).toBe(
        'worker gpu: needs 200.0 GiB of GPU memory; no GPU has it alone, and split over 3 GPUs it needs 66.7 GiB each (GPU 0 has 50.0 GiB free, GPU 1 has 50.0 GiB free, GPU 2 has 50.0 GiB free)',
      );
      expect(none.explanation.reasons[1]!.reason).toBe('worker cpu-only: has no GPUs');
    }
  });

  it('explains a replica it cannot place, per worker, with the arithmetic', () => {
    const workers = [
      worker('gpu-1', [{ totalGiB: 80, reservedGiB: 70 }]),
      worker('gpu-2', [{ totalGiB: 24, usedGiB: 12 }]),
      worker('gpu-3', [{ totalGiB: 80 }], { liveness: 'offline' }),
      worker('gpu-4', [{ totalGiB: 80 }], { cordoned: true }),
      worker('amd-1', [{ totalGiB: 192, vendor: 'amd' }]),
      worker('small', [{ totalGiB: 80 }], { cpuCores: 4, cpuReserved: 3.5 }),
    ];
    const d = placeReplica(workers, gpuReq(16, { vendor: 'nvidia' }));
    expect(d.placed).toBe(false);
    if (d.placed) return;
    expect(d.explanation.reasons.map((r) => r.reason)).toEqual([
      'worker gpu-1: GPU 0 has 10.0 GiB free, needs 16.0 GiB',
      'worker gpu-2: GPU 0 has 12.0 GiB free, needs 16.0 GiB',
      'worker gpu-3: offline (no heartbeat within the grace period)',
      'worker gpu-4: cordoned',
      'worker amd-1: has no NVIDIA GPUs (has 1× AMD Instinct MI300X)',
      'worker small: 0.5 of 4 CPU cores free, needs 1',
    ]);
    expect(d.explanation.summary).toBe(
      'No worker can run this replica (1 NVIDIA GPU with 16.0 GiB free, 1 CPU core, 1.0 GiB memory): 6 workers checked; 2 not enough free GPU memory, 1 offline, 1 cordoned, 1 no GPU of that vendor, 1 not enough free CPU.',
    );
    expect(d.explanation.byKind).toEqual({ gpu_memory: 2, offline: 1, cordoned: 1, gpu_vendor: 1, cpu: 1 });
  });

  it('says plainly when no worker has joined at all', () => {
    const d = placeReplica([], gpuReq(1));
    expect(d.placed).toBe(false);
    if (!d.placed) expect(d.explanation.summary).toMatch(/no worker has joined the cluster/);
  });

  it('filters by label selectors, GPU type and vendor', () => {
    const workers = [
      worker('a100', [{ totalGiB: 40, name: 'NVIDIA A100-SXM4-40GB' }], { labels: { zone: 'eu' } }),
      worker('h100', [{ totalGiB: 80 }], { labels: { zone: 'us' } }),
      worker('mi300', [{ totalGiB: 192, vendor: 'amd' }], { labels: { zone: 'eu' } }),
    ];
    expect(where(placeReplica(workers, gpuReq(10, { type: 'H100' })))).toBe('h100:gpu:0');
    expect(where(placeReplica(workers, gpuReq(10, { type: 'a100' })))).toBe('a100:gpu:0');
    expect(where(placeReplica(workers, gpuReq(10, { vendor: 'amd' })))).toBe('mi300:gpu:0');
    expect(where(placeReplica(workers, gpuReq(10, {}, { selectors: { zone: 'us' } })))).toBe('h100:gpu:0');
    const d = placeReplica(workers, gpuReq(10, { type: 'H100' }, { selectors: { zone: 'eu' } }));
    expect(d.placed).toBe(false);
    if (!d.placed) {
      expect(d.explanation.reasons.map((r) => r.reason)).toEqual([
        'worker a100: has no H100 GPUs (has 1× NVIDIA A100-SXM4-40GB)',
        'worker h100: labels do not match (wants zone=eu, has zone=us)',
        'worker mi300: has no H100 GPUs (has 1× AMD Instinct MI300X)',
      ]);
    }
    expect(gpuMatchesType('NVIDIA H100 80GB HBM3', 'h100 80gb')).toBe(true);
    expect(gpuMatchesType('NVIDIA H100 80GB HBM3', 'H10')).toBe(false);
  });

  it('counts memory an agent reports in use even when no replica reserved it', () => {
    const workers = [worker('busy', [{ totalGiB: 80, usedGiB: 70 }]), worker('idle', [{ totalGiB: 80 }])];
    expect(where(placeReplica(workers, gpuReq(20, {}, { policy: 'binpack' })))).toBe('idle:gpu:0');
  });

  it('places CPU replicas on CPU and memory alone, preferring machines without GPUs', () => {
    const workers = [worker('gpu', [{ totalGiB: 80 }]), worker('cpu', [], { cpuCores: 8 })];
    const cpuOnly = (cpu: number) => placementRequest({ resources: { cpu, memoryBytes: 2 * GiB, gpus: null } });
    expect(where(placeReplica(workers, cpuOnly(4)))).toBe('cpu:cpu:');
    expect(planPlacements(workers, [cpuOnly(6), cpuOnly(6)]).map(where)).toEqual(['cpu:cpu:', 'gpu:cpu:']);
  });

  it('never hands out more GPU memory, CPU or memory than a worker has, whatever is asked', () => {
    const gpuArb = fc.record({ totalGiB: fc.integer({ min: 8, max: 192 }), reservedGiB: fc.integer({ min: 0, max: 8 }), usedGiB: fc.integer({ min: 0, max: 8 }) });
    const workerArb = fc.record({
      gpus: fc.array(gpuArb, { maxLength: 8 }),
      cpu: fc.integer({ min: 1, max: 64 }),
      memGiB: fc.integer({ min: 1, max: 512 }),
      ready: fc.boolean(),
    });
    const reqArb = fc.record({
      memGiB: fc.integer({ min: 1, max: 200 }),
      count: fc.option(fc.integer({ min: 1, max: 8 })),
      cpu: fc.integer({ min: 0, max: 16 }),
      memoryGiB: fc.integer({ min: 0, max: 64 }),
      gpu: fc.boolean(),
      spread: fc.boolean(),
      fallback: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(workerArb, { minLength: 1, maxLength: 12 }), fc.array(reqArb, { maxLength: 60 }), (ws, rs) => {
        const workers = ws.map((w, i) =>
          worker(`w${i}`, w.gpus, { cpuCores: w.cpu, memoryBytes: w.memGiB * GiB, liveness: w.ready ? 'ready' : 'not_ready' }),
        );
        const requests = rs.map((r) =>
          placementRequest({
            resources: { cpu: r.cpu, memoryBytes: r.memoryGiB * GiB, gpus: r.gpu ? { count: r.count, memoryBytes: r.memGiB * GiB } : null },
            policy: r.spread ? 'spread' : 'binpack',
            allowCpuFallback: r.fallback,
          }),
        );
        const decisions = planPlacements(workers, requests);
        const gpuUse = new Map<string, number>();
        const cpuUse = new Map<string, number>();
        const memUse = new Map<string, number>();
        decisions.forEach((d, i) => {
          if (!d.placed) return;
          const p = d.placement;
          const w = workers.find((x) => x.id === p.workerId)!;
          expect(w.liveness).toBe('ready');
          cpuUse.set(w.id, (cpuUse.get(w.id) ?? 0) + requests[i]!.resources.cpu);
          memUse.set(w.id, (memUse.get(w.id) ?? 0) + requests[i]!.resources.memoryBytes);
          expect(new Set(p.gpuIndices).size).toBe(p.gpuIndices.length);
          for (const g of p.gpuIndices) gpuUse.set(`${w.id}:${g}`, (gpuUse.get(`${w.id}:${g}`) ?? 0) + p.gpuMemoryBytes);
        });
        for (const w of workers) {
          expect(cpuUse.get(w.id) ?? 0).toBeLessThanOrEqual(w.cpuCores);
          expect(memUse.get(w.id) ?? 0).toBeLessThanOrEqual(w.memoryBytes);
          for (const g of w.gpus) {
            const before = Math.max(g.reservedBytes, g.memoryUsedBytes);
            expect(before + (gpuUse.get(`${w.id}:${g.index}`) ?? 0)).toBeLessThanOrEqual(g.memoryTotalBytes);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

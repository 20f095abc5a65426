import { gpuFreeBytes } from '../scheduler.js';
import { type ClusterState, type WorkerEntry, displayState } from '../state.js';
import type { ReplicaState, Worker, WorkerState } from '../types.js';

/** Views: workers as the API shows them (with what is reserved and free), and the cluster status sections. */
export class StatusSystem {
  constructor(private readonly s: ClusterState) {}


  listWorkers(filter: { state?: WorkerState } = {}): Worker[] {
    const out: Worker[] = [];
    for (const e of this.s.workers.values()) {
      const w = this.toWorker(e);
      if (!filter.state || w.state === filter.state) out.push(w);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** A worker by id or name. */
  getWorker(idOrName: string): Worker {
    return this.toWorker(this.s.workerEntry(idOrName));
  }


  toWorker(e: WorkerEntry): Worker {
    const rec = e.rec;
    const s = this.s.snapshot(e);
    const byState: Partial<Record<ReplicaState, number>> = {};
    let total = 0;
    for (const a of this.s.assignmentsOn(rec.id)) {
      if (a.desired !== 'run') continue;
      total++;
      byState[a.state] = (byState[a.state] ?? 0) + 1;
    }
    return {
      id: rec.id,
      name: rec.name,
      state: displayState(rec),
      liveness: rec.liveness,
      cordoned: rec.cordoned,
      draining: rec.draining,
      labels: { ...rec.labels },
      capacity: { ...rec.capacity },
      allocated: { cpu: s.cpuReserved, memoryBytes: s.memoryReserved },
      gpus: rec.gpus.map((g, i) => {
        const reservedBytes = s.gpus[i]!.reservedBytes;
        return { ...g, reservedBytes, freeBytes: gpuFreeBytes({ ...g, reservedBytes }) };
      }),
      fake: rec.gpus.some((g) => g.fake),
      cachedModels: [...rec.cachedModels],
      replicas: { total, byState },
      agentVersion: rec.agentVersion,
      hostname: rec.hostname,
      registeredAt: rec.registeredAt,
      lastHeartbeatAt: rec.lastHeartbeatAt,
      stateChangedAt: rec.stateChangedAt,
      clockSkewMs: rec.clockSkewMs,
    };
  }


  /** Sections for /api/v1/cluster/status: workers by state, GPUs and their free memory, replicas by state. */
  statusSections(): Record<string, () => Promise<unknown>> {
    return {
      workers: () => Promise.resolve(this.workersStatus()),
      gpus: () => Promise.resolve(this.gpusStatus()),
      replicas: () => Promise.resolve(this.replicasStatus()),
    };
  }

  private workersStatus() {
    const byState: Record<WorkerState, number> = { ready: 0, not_ready: 0, offline: 0, draining: 0 };
    let cordoned = 0;
    let fake = 0;
    for (const e of this.s.workers.values()) {
      byState[displayState(e.rec)]++;
      if (e.rec.cordoned) cordoned++;
      if (e.rec.gpus.some((g) => g.fake)) fake++;
    }
    return { total: this.s.workers.size, byState, cordoned, withFakeGpus: fake };
  }

  private gpusStatus() {
    const items: unknown[] = [];
    let total = 0;
    let fake = 0;
    let memoryTotalBytes = 0;
    let memoryFreeBytes = 0;
    const LIMIT = 200;
    for (const e of [...this.s.workers.values()].sort((a, b) => a.rec.name.localeCompare(b.rec.name))) {
      const w = this.toWorker(e);
      for (const g of w.gpus) {
        total++;
        if (g.fake) fake++;
        memoryTotalBytes += g.memoryTotalBytes;
        // A GPU on a worker that cannot take replicas has nothing to offer.
        const free = w.state === 'ready' && !w.cordoned ? g.freeBytes : 0;
        memoryFreeBytes += free;
        if (items.length < LIMIT) {
          items.push({
            workerId: w.id,
            worker: w.name,
            workerState: w.state,
            vendor: g.vendor,
            index: g.index,
            name: g.name,
            fake: g.fake,
            memoryTotalBytes: g.memoryTotalBytes,
            memoryUsedBytes: g.memoryUsedBytes,
            memoryReservedBytes: g.reservedBytes,
            memoryFreeBytes: free,
            utilizationPercent: g.utilizationPercent,
            temperatureC: g.temperatureC,
          });
        }
      }
    }
    return { total, fake, memoryTotalBytes, memoryFreeBytes, items, truncated: total > items.length };
  }

  private replicasStatus() {
    const byState: Partial<Record<ReplicaState, number>> = {};
    const unschedulable: { id: string; owner: string; reason: string }[] = [];
    let stopping = 0;
    for (const a of this.s.assignments.values()) {
      byState[a.state] = (byState[a.state] ?? 0) + 1;
      if (a.desired === 'stop') stopping++;
      if (a.state === 'pending' && a.explanation && unschedulable.length < 20) unschedulable.push({ id: a.id, owner: a.owner, reason: a.explanation.summary });
    }
    return { total: this.s.assignments.size, byState, stopping, unschedulable };
  }

}

import { createHash } from 'node:crypto';
import { CatapultError } from '../errors/index.js';
import type { EventInput } from '../events/index.js';
import type { AnyDb } from '../store/index.js';
import type { LivenessPolicy } from './liveness.js';
import { Mutex } from './mutex.js';
import type { ClusterResources } from './resources.js';
import { type PlacementDecision, PlacementPlanner, type WorkerSnapshot } from './scheduler.js';
import type { WorkerRecord } from './tables.js';
import type { AgentAssignment, Assignment, PlacementExplanation, WorkerLiveness, WorkerState } from './types.js';

/** A worker as the service holds it: its record plus what only lives in memory. */
export interface WorkerEntry {
  rec: WorkerRecord;
  /** Server receive time of the latest heartbeat; at least the service's start, so a restart does not count its own downtime. */
  lastSeenAt: number;
  streak: number;
  telemetryDirty: boolean;
  version: string | undefined;
}

const MAX_EVENT_REASONS = 50;

/**
 * The cluster's one shared state, which every system works on: the registry of workers and the
 * assignments (loaded at start, written through to the store), their indexes, the long-poll waiters,
 * the placement mutex and the reconciler's flags. It also answers what several systems ask: what a
 * worker has reserved, what it should run (and that set's version); and it wakes an agent's
 * long-poll when that set changes.
 */
export class ClusterState {
  readonly workers = new Map<string, WorkerEntry>();
  readonly byName = new Map<string, string>();
  readonly byCredential = new Map<string, string>();
  readonly assignments = new Map<string, Assignment>();
  readonly byWorker = new Map<string, Set<string>>();
  readonly waiters = new Map<string, Set<() => void>>();
  /** Placement decisions and the writes that follow them run one at a time: no GPU is handed out twice. */
  readonly mutex = new Mutex();
  /** Something changed that may let a pending replica fit (a worker came back, a replica went). */
  capacityChanged = true;
  lastPendingTry = 0;
  lastFlush = 0;
  stopped = false;

  constructor(
    readonly res: ClusterResources,
    readonly policy: LivenessPolicy,
  ) {}

  workerEntry(idOrName: string): WorkerEntry {
    const entry = this.workers.get(idOrName) ?? this.workers.get(this.byName.get(idOrName) ?? '');
    if (!entry) throw new CatapultError('CATAPULT_WORKER_NOT_FOUND', `No worker with id or name ${idOrName}.`, { id: idOrName });
    return entry;
  }

  remember(rec: WorkerRecord, now: number): WorkerEntry {
    const entry: WorkerEntry = {
      rec,
      lastSeenAt: Math.max(rec.lastHeartbeatAt, now),
      streak: rec.liveness === 'ready' ? this.policy.recoverHeartbeats : 0,
      telemetryDirty: false,
      version: undefined,
    };
    this.workers.set(rec.id, entry);
    this.byName.set(rec.name, rec.id);
    this.byCredential.set(rec.credentialHash, rec.id);
    return entry;
  }

  rememberAssignment(a: Assignment): void {
    this.assignments.set(a.id, a);
    if (a.workerId) {
      let set = this.byWorker.get(a.workerId);
      if (!set) this.byWorker.set(a.workerId, (set = new Set()));
      set.add(a.id);
    }
  }

  forgetAssignment(id: string): void {
    const a = this.assignments.get(id);
    if (!a) return;
    this.assignments.delete(id);
    if (a.workerId) {
      const set = this.byWorker.get(a.workerId);
      set?.delete(id);
      if (set?.size === 0) this.byWorker.delete(a.workerId);
    }
  }

  assignmentsOn(workerId: string): Assignment[] {
    const out: Assignment[] = [];
    for (const id of this.byWorker.get(workerId) ?? []) {
      const a = this.assignments.get(id);
      if (a) out.push(a);
    }
    return out.sort((x, y) => x.createdAt - y.createdAt || x.id.localeCompare(y.id));
  }

  desiredFor(workerId: string): AgentAssignment[] {
    return this.assignmentsOn(workerId)
      .filter((a) => a.desired === 'run' && a.mode !== null)
      .map((a) => ({
        id: a.id,
        owner: a.owner,
        spec: a.spec,
        resources: a.resources,
        modelKey: a.modelKey,
        mode: a.mode!,
        gpuVendor: a.gpuVendor,
        gpuIndices: a.gpuIndices,
        gpuMemoryBytes: a.gpuMemoryBytes,
      }))
      .sort((x, y) => x.id.localeCompare(y.id));
  }

  /** A digest of what the worker should run; stable across server restarts, so a reconnecting agent's long-poll just waits. */
  versionOf(workerId: string): string {
    const entry = this.workers.get(workerId);
    if (entry?.version) return entry.version;
    const digest = createHash('sha256');
    for (const a of this.desiredFor(workerId)) digest.update(`${a.id}|${a.mode}|${a.gpuVendor ?? ''}|${a.gpuIndices.join(',')}\n`);
    const version = digest.digest('hex').slice(0, 16);
    if (entry) entry.version = version;
    return version;
  }

  notify(workerId: string): void {
    const entry = this.workers.get(workerId);
    if (entry) entry.version = undefined;
    const set = this.waiters.get(workerId);
    if (!set) return;
    this.waiters.delete(workerId);
    for (const wake of set) wake();
  }

  /** A planner over the current registry and reservations; `exclude` takes a worker out (one being removed). */
  planner(exclude?: string): PlacementPlanner {
    const snapshots: WorkerSnapshot[] = [];
    const entries = [...this.workers.values()].sort((a, b) => a.rec.name.localeCompare(b.rec.name));
    for (const e of entries) {
      const s = this.snapshot(e);
      if (e.rec.id === exclude) s.cordoned = true;
      snapshots.push(s);
    }
    return new PlacementPlanner(snapshots);
  }

  snapshot(e: WorkerEntry): WorkerSnapshot {
    const rec = e.rec;
    let cpu = 0;
    let memory = 0;
    const reserved = new Map<string, number>();
    const on = this.byWorker.get(rec.id);
    let replicas = 0;
    for (const id of on ?? []) {
      const a = this.assignments.get(id);
      // A failed replica (crash loop, readiness timeout) runs no process: it holds nothing, so what
      // it asked for is free for replicas that can run.
      if (!a || a.state === 'failed') continue;
      replicas++;
      cpu += a.resources.cpu;
      memory += a.resources.memoryBytes;
      if (a.mode === 'gpu' && a.gpuVendor) {
        for (const i of a.gpuIndices) {
          const key = `${a.gpuVendor}:${i}`;
          reserved.set(key, (reserved.get(key) ?? 0) + a.gpuMemoryBytes);
        }
      }
    }
    return {
      id: rec.id,
      name: rec.name,
      liveness: rec.liveness,
      cordoned: rec.cordoned,
      draining: rec.draining,
      labels: rec.labels,
      cpuCores: rec.capacity.cpuCores,
      memoryBytes: rec.capacity.memoryBytes,
      cpuReserved: cpu,
      memoryReserved: memory,
      gpus: rec.gpus.map((g) => ({
        vendor: g.vendor,
        index: g.index,
        name: g.name,
        memoryTotalBytes: g.memoryTotalBytes,
        memoryUsedBytes: g.memoryUsedBytes,
        reservedBytes: reserved.get(`${g.vendor}:${g.index}`) ?? 0,
        utilizationPercent: g.utilizationPercent,
      })),
      cachedModels: rec.cachedModels,
      replicas,
    };
  }

  append(trx: AnyDb, input: EventInput): Promise<number> {
    return this.res.events.append(trx, input);
  }

  appendLiveness(trx: AnyDb, rec: WorkerRecord, from: WorkerLiveness, silenceMs: number): Promise<number> {
    return this.append(trx, {
      type: `worker.${rec.liveness}`,
      subject: { kind: 'worker', id: rec.id },
      data: { name: rec.name, from, to: rec.liveness, silenceMs },
    });
  }
}

/** What a worker shows: its liveness, or draining while it is alive and being emptied. */
export function displayState(rec: Pick<WorkerRecord, 'liveness' | 'draining'>): WorkerState {
  return rec.liveness === 'ready' && rec.draining ? 'draining' : rec.liveness;
}

/** The assignment after a placement decision: placed on a worker, or pending with the reason. */
export function withDecision(a: Assignment, decision: PlacementDecision, now: number): Assignment {
  if (decision.placed) {
    const p = decision.placement;
    return {
      ...a,
      workerId: p.workerId,
      mode: p.mode,
      gpuVendor: p.gpuVendor,
      gpuIndices: p.gpuIndices,
      gpuMemoryBytes: p.gpuMemoryBytes,
      state: 'assigned',
      explanation: null,
      placedAt: now,
      updatedAt: now,
      stateChangedAt: now,
    };
  }
  return {
    ...a,
    workerId: null,
    mode: null,
    gpuVendor: null,
    gpuIndices: [],
    gpuMemoryBytes: 0,
    state: 'pending',
    explanation: decision.explanation,
    updatedAt: now,
    stateChangedAt: a.state === 'pending' ? a.stateChangedAt : now,
  };
}

export function unschedulableEvent(a: Assignment, e: PlacementExplanation, reason: string): EventInput {
  return {
    type: 'assignment.unschedulable',
    subject: { kind: 'assignment', id: a.id },
    data: {
      owner: a.owner,
      reason,
      summary: e.summary,
      reasons: e.reasons.slice(0, MAX_EVENT_REASONS).map((r) => r.reason),
      workersChecked: e.workersChecked,
      byKind: e.byKind,
    },
  };
}

export function sameExplanation(a: PlacementExplanation | null, b: PlacementExplanation | null): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AgentAssignment, ReportedReplicaState } from '../cluster/index.js';

/** One replica as the executor runs it. */
export interface ReplicaStatus {
  assignment: AgentAssignment;
  state: ReportedReplicaState;
  message: string | null;
  /** Where it serves (http://host:port), once it does. */
  endpoint?: string | null;
  /** Identifies this start of the replica; a restart gets a new one. */
  runId: string;
  startedAt: number;
}

/**
 * What actually runs replicas on a worker. The agent hands it the full desired set whenever that
 * changes and reports what `list()` says on every heartbeat. The deployments issue replaces the
 * no-op one below with a process supervisor behind this same interface.
 */
export interface ReplicaExecutor {
  /** Makes what runs match `desired`: starts the new, stops the gone. Idempotent. */
  apply(desired: readonly AgentAssignment[]): Promise<void>;
  /** Every replica it runs or is starting, with its state. */
  list(): ReplicaStatus[];
  /** Model keys present in the local cache (for placement affinity). */
  cachedModels(): string[];
  /** Calls `listener` whenever a replica's state changes, so the agent reports it at once. */
  onChange?(listener: () => void): void;
  /** Output lines gathered since the last call, for executors that run real processes. */
  drainLogs?(): { replicaId: string; deploymentId: string; lines: string[] }[];
  /** Releases the executor's own resources; replicas keep running (a restarted agent adopts them). */
  close(): Promise<void>;
}

interface NoopState {
  replicas: ReplicaStatus[];
  models: string[];
}

/**
 * Runs nothing: a replica is `starting` when assigned and `ready` after `startDelayMs`, and is gone
 * when unassigned. It keeps its state in a file, so a restarted agent reports the same runs (as a
 * process supervisor adopting its children would) and nothing looks restarted. Models of replicas
 * it ran count as cached. For tests and demos until real runtimes exist.
 */
export class NoopExecutor implements ReplicaExecutor {
  private readonly replicas = new Map<string, ReplicaStatus>();
  private readonly models = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly opts: { stateFile?: string; startDelayMs?: number; now?: () => number } = {},
  ) {
    if (opts.stateFile && existsSync(opts.stateFile)) {
      try {
        const saved = JSON.parse(readFileSync(opts.stateFile, 'utf8')) as NoopState;
        for (const r of saved.replicas) this.replicas.set(r.assignment.id, { ...r, state: r.state === 'starting' ? 'ready' : r.state });
        for (const m of saved.models) this.models.add(m);
      } catch {
        // A torn or foreign file: start empty; the server's desired set brings the replicas back.
      }
    }
  }

  apply(desired: readonly AgentAssignment[]): Promise<void> {
    const want = new Map(desired.map((a) => [a.id, a]));
    let changed = false;
    for (const id of [...this.replicas.keys()]) {
      if (!want.has(id)) {
        this.replicas.delete(id);
        changed = true;
      }
    }
    const now = this.opts.now?.() ?? Date.now();
    for (const a of desired) {
      if (this.replicas.has(a.id)) continue;
      const status: ReplicaStatus = { assignment: a, state: 'starting', message: null, runId: randomUUID(), startedAt: now };
      this.replicas.set(a.id, status);
      if (a.modelKey) this.models.add(a.modelKey);
      changed = true;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.replicas.get(a.id) === status) {
          status.state = 'ready';
          this.save();
        }
      }, this.opts.startDelayMs ?? 50);
      timer.unref();
      this.timers.add(timer);
    }
    if (changed) this.save();
    return Promise.resolve();
  }

  list(): ReplicaStatus[] {
    return [...this.replicas.values()].map((r) => ({ ...r }));
  }

  cachedModels(): string[] {
    return [...this.models].sort();
  }

  close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.save();
    return Promise.resolve();
  }

  private save(): void {
    const file = this.opts.stateFile;
    if (!file) return;
    mkdirSync(dirname(file), { recursive: true });
    const state: NoopState = { replicas: [...this.replicas.values()], models: [...this.models] };
    // Write then rename, so a kill mid-write leaves the old file rather than half a new one.
    writeFileSync(`${file}.tmp`, JSON.stringify(state));
    renameSync(`${file}.tmp`, file);
  }
}

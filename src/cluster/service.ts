import { createHash } from 'node:crypto';
import { Counter, Gauge } from 'prom-client';
import type { z } from 'zod';
import { hashSecret } from '../auth/index.js';
import type { Config } from '../config/index.js';
import { CatapultError } from '../errors/index.js';
import type { EventInput, EventLog } from '../events/index.js';
import type { Logger, Registry } from '../observability/index.js';
import type { AnyDb, Store } from '../store/index.js';
import { tables, toJson } from '../store/index.js';
import { type Clock, newId } from '../util/index.js';
import { type LivenessPolicy, judgeSilence, onHeartbeat } from './liveness.js';
import { Mutex } from './mutex.js';
import { type HeartbeatBody, type HeartbeatResponse, type RegisterBody, type RegisterResponse, assignmentInputSchema } from './protocol.js';
import { type PlacementDecision, PlacementPlanner, type WorkerSnapshot, gpuFreeBytes, placementRequest } from './scheduler.js';
import { type AssignmentsTable, type ClusterTables, type WorkerRecord, type WorkersTable, assignmentFromRow, workerFromRow } from './tables.js';
import { AGENT_CREDENTIAL_PREFIX, type CreateJoinTokenInput, JOIN_TOKEN_PREFIX, JoinTokens, generateAgentCredential } from './tokens.js';
import type {
  AgentAssignment,
  Assignment,
  AssignmentInput,
  Gpu,
  JoinToken,
  PlacementExplanation,
  ReplicaReport,
  ReplicaState,
  Worker,
  WorkerLiveness,
  WorkerState,
} from './types.js';

/** The shared resources the cluster needs (a subset of the server's). */
export interface ClusterResources {
  config: Pick<Config, 'heartbeatIntervalMs' | 'missedHeartbeats' | 'offlineGraceMs'>;
  store: Store;
  clock: Clock;
  log: Logger;
  events: EventLog;
  metrics?: Registry;
}

export interface ClusterOptions {
  /** How often the reconciler runs; null: never on its own (tests call `reconcile()`). Default: half a heartbeat, at most 1 s. */
  reconcileEveryMs?: number | null;
  /** On-time heartbeats in a row that bring a worker back to ready (default 2). */
  recoverHeartbeats?: number;
  /** How often pending replicas are retried even when nothing seems to have changed (default 10 s). */
  pendingRetryMs?: number;
}

/** What an agent credential resolves to; matches the API's agent principal. */
export interface AgentPrincipal {
  kind: 'agent';
  agentId: string;
  name: string;
}

/** The agent id of a join token's principal starts with this; it names no worker. */
export const JOIN_PRINCIPAL_PREFIX = 'join:';

/** How an agent proves it may register: its credential, a join token, or an operator's admin key. */
export type RegisterAuth = { credential: string } | { joinToken: string } | { adminKeyId: string };

interface WorkerEntry {
  rec: WorkerRecord;
  /** Server receive time of the latest heartbeat; at least the service's start, so a restart does not count its own downtime. */
  lastSeenAt: number;
  streak: number;
  telemetryDirty: boolean;
  version: string | undefined;
}

interface ReplicaChange {
  assignment: Assignment;
  remove: boolean;
  state: ReplicaState;
  message: string | null;
  endpoint: string | null;
  runId: string | null;
}

/** Statuses in which a replica counts as running on its worker. */
const RUNNING: ReadonlySet<ReplicaState> = new Set(['starting', 'ready', 'draining']);
const MAX_EVENT_REASONS = 50;
const INSERT_CHUNK = 500;
/**
 * How often telemetry that lives only in memory is written. Liveness never reads it back (a restart
 * counts silence from the restart) and each heartbeat repeats it in full, so it only has to be good
 * enough to show after a restart until the agents report again.
 */
const TELEMETRY_FLUSH_MS = 30_000;
const FLUSH_CHUNK = 50;

/**
 * The cluster manager: worker registry, join tokens, liveness, the scheduler's bookkeeping and the
 * assignment interface later domains use to run replicas.
 *
 * The service keeps workers and assignments in memory (loaded at start) and writes every state
 * change to the store first, with its event in the same transaction. Placement decisions run one at
 * a time under a mutex, so two never hand out the same GPU memory. Heartbeats that change nothing
 * but telemetry stay in memory and are written in batches; heartbeats that change a state are
 * written before they are acknowledged. One server runs it per database (see README).
 */
export class ClusterService {
  readonly joinTokens: JoinTokens;
  private readonly workers = new Map<string, WorkerEntry>();
  private readonly byName = new Map<string, string>();
  private readonly byCredential = new Map<string, string>();
  private readonly assignments = new Map<string, Assignment>();
  private readonly byWorker = new Map<string, Set<string>>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly mutex = new Mutex();
  private readonly policy: LivenessPolicy;
  private readonly reconcileEveryMs: number | null;
  private readonly pendingRetryMs: number;
  private timer: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;
  private started = false;
  private stopped = false;
  private capacityChanged = true;
  private lastPendingTry = 0;
  private lastFlush = 0;
  private readonly heartbeats: Counter | undefined;

  constructor(
    private readonly res: ClusterResources,
    opts: ClusterOptions = {},
  ) {
    this.joinTokens = new JoinTokens(res.store, res.events, res.clock);
    const { heartbeatIntervalMs, missedHeartbeats, offlineGraceMs } = res.config;
    this.policy = { heartbeatIntervalMs, missedHeartbeats, offlineGraceMs, recoverHeartbeats: opts.recoverHeartbeats ?? 2 };
    this.reconcileEveryMs =
      opts.reconcileEveryMs === undefined ? Math.max(20, Math.min(1000, Math.floor(heartbeatIntervalMs / 2))) : opts.reconcileEveryMs;
    this.pendingRetryMs = opts.pendingRetryMs ?? 10_000;
    if (res.metrics) {
      this.heartbeats = new Counter({ name: 'catapult_cluster_heartbeats_total', help: 'Agent heartbeats received', registers: [res.metrics] });
      const workers = this.workers;
      new Gauge({
        name: 'catapult_cluster_workers',
        help: 'Workers by state',
        labelNames: ['state'] as const,
        registers: [res.metrics],
        collect() {
          const counts: Record<WorkerState, number> = { ready: 0, not_ready: 0, offline: 0, draining: 0 };
          for (const e of workers.values()) counts[displayState(e.rec)]++;
          for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
        },
      });
    }
  }

  /** Loads the registry and assignments, then starts the reconciler. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const now = this.res.clock.now();
    const db = tables<ClusterTables>(this.res.store.db);
    const workerRows = await db.selectFrom('workers').selectAll().execute();
    for (const row of workerRows) this.remember(workerFromRow(row), now);
    const rows = await db.selectFrom('assignments').selectAll().execute();
    for (const row of rows) this.rememberAssignment(assignmentFromRow(row));
    this.lastFlush = now;
    this.lastPendingTry = 0;
    this.schedule();
  }

  /** Stops the reconciler, writes pending telemetry and releases waiting long-polls. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.reconciling;
    await this.mutex.run(() => this.flushTelemetry()).catch((err: unknown) => this.res.log.warn({ err }, 'could not write worker telemetry'));
    for (const id of [...this.waiters.keys()]) this.notify(id);
  }

  // ── Join tokens ────────────────────────────────────────────────────────────

  createJoinToken(input: CreateJoinTokenInput, createdBy: string | null): Promise<{ token: JoinToken; secret: string }> {
    return this.joinTokens.create(input, createdBy);
  }

  listJoinTokens(opts: { includeRevoked?: boolean } = {}): Promise<JoinToken[]> {
    return this.joinTokens.list(opts);
  }

  revokeJoinToken(id: string): Promise<JoinToken> {
    return this.joinTokens.revoke(id);
  }

  // ── Agents ─────────────────────────────────────────────────────────────────

  /**
   * The principal for an agent credential, or undefined. Only hashes are kept, in the store and here.
   * A known join token also resolves, to a principal that names no worker (`join:<token id>`): it can
   * register and nothing else, and registering says if the token is revoked, expired or used up.
   */
  async resolveCredential(secret: string): Promise<AgentPrincipal | undefined> {
    if (secret.length > 200) return undefined;
    if (secret.startsWith(JOIN_TOKEN_PREFIX)) {
      const token = await this.joinTokens.find(secret);
      return token ? { kind: 'agent', agentId: `${JOIN_PRINCIPAL_PREFIX}${token.id}`, name: `join token ${token.name}` } : undefined;
    }
    if (!secret.startsWith(AGENT_CREDENTIAL_PREFIX)) return undefined;
    const id = this.byCredential.get(hashSecret(secret));
    const entry = id ? this.workers.get(id) : undefined;
    return entry ? { kind: 'agent', agentId: entry.rec.id, name: entry.rec.name } : undefined;
  }

  /**
   * Registers an agent. With its credential the worker keeps its id and its replicas; with a join
   * token (or an admin key) a use is spent and a new credential issued. A new agent may take over the
   * name of an offline worker (a reinstalled machine), never of a live one.
   */
  async register(body: RegisterBody, auth: RegisterAuth): Promise<RegisterResponse> {
    const principal = 'credential' in auth ? await this.resolveCredential(auth.credential) : undefined;
    return this.mutex.run(async () => {
      const now = this.res.clock.now();
      if ('credential' in auth) {
        const existing = principal ? this.workers.get(principal.agentId) : undefined;
        if (!existing) throw new CatapultError('CATAPULT_UNAUTHENTICATED', 'The agent credential is unknown (was the worker removed?); join again with a join token.');
        return this.reconnect(existing, body, now);
      }
      return this.join(body, auth, now);
    });
  }

  private async join(body: RegisterBody, auth: { joinToken: string } | { adminKeyId: string }, now: number): Promise<RegisterResponse> {
    const credential = generateAgentCredential();
    const credentialHash = hashSecret(credential);
    const takenId = this.byName.get(body.name);
    const taken = takenId ? this.workers.get(takenId) : undefined;
    if (taken && taken.rec.liveness !== 'offline') {
      throw new CatapultError('CATAPULT_WORKER_NAME_TAKEN', `Worker ${body.name} (${taken.rec.id}) is ${taken.rec.liveness}; another agent already uses this name.`, {
        workerId: taken.rec.id,
      });
    }
    const rec: WorkerRecord = {
      id: taken ? taken.rec.id : newId('wkr'),
      name: body.name,
      credentialHash,
      labels: body.labels,
      capacity: body.capacity,
      gpus: body.gpus,
      cachedModels: body.cachedModels,
      liveness: 'ready',
      cordoned: taken ? taken.rec.cordoned : false,
      draining: taken ? taken.rec.draining : false,
      agentVersion: body.agentVersion ?? null,
      hostname: body.hostname ?? null,
      joinTokenId: null,
      registeredAt: taken ? taken.rec.registeredAt : now,
      lastHeartbeatAt: now,
      stateChangedAt: now,
      clockSkewMs: null,
    };
    await this.res.store.write(async (trx) => {
      const tokenId = 'joinToken' in auth ? (await this.joinTokens.consume(trx, auth.joinToken)).id : null;
      rec.joinTokenId = tokenId;
      const row = workerToRow(rec);
      const db = tables<ClusterTables>(trx);
      if (taken) {
        await db.updateTable('workers').set(row).where('id', '=', rec.id).execute();
      } else {
        await db.insertInto('workers').values(row).execute();
      }
      await this.append(trx, {
        type: 'worker.registered',
        subject: { kind: 'worker', id: rec.id },
        data: { name: rec.name, gpus: rec.gpus.length, fake: rec.gpus.some((g) => g.fake), joinTokenId: tokenId, tookOver: !!taken },
      });
    });
    this.res.events.kick();
    if (taken) this.byCredential.delete(taken.rec.credentialHash);
    const entry = this.remember(rec, now);
    entry.streak = this.policy.recoverHeartbeats;
    this.capacityChanged = true;
    this.res.log.info({ workerId: rec.id, workerName: rec.name, gpus: rec.gpus.length }, 'worker joined');
    return { workerId: rec.id, name: rec.name, credential, state: displayState(rec), heartbeatIntervalMs: this.policy.heartbeatIntervalMs };
  }

  private async reconnect(entry: WorkerEntry, body: RegisterBody, now: number): Promise<RegisterResponse> {
    const rec = entry.rec;
    if (body.name !== rec.name) {
      const other = this.byName.get(body.name);
      if (other && other !== rec.id) {
        throw new CatapultError('CATAPULT_WORKER_NAME_TAKEN', `Worker name ${body.name} belongs to ${other}.`, { workerId: other });
      }
    }
    const facts = onHeartbeat({ liveness: rec.liveness, lastSeenAt: entry.lastSeenAt, streak: entry.streak }, now, this.policy);
    const next: WorkerRecord = {
      ...rec,
      name: body.name,
      labels: body.labels,
      capacity: body.capacity,
      gpus: body.gpus,
      cachedModels: body.cachedModels,
      liveness: facts.liveness,
      agentVersion: body.agentVersion ?? rec.agentVersion,
      hostname: body.hostname ?? rec.hostname,
      lastHeartbeatAt: now,
      stateChangedAt: facts.liveness !== rec.liveness ? now : rec.stateChangedAt,
    };
    await this.res.store.write(async (trx) => {
      await tables<ClusterTables>(trx).updateTable('workers').set(workerToRow(next)).where('id', '=', rec.id).execute();
      await this.append(trx, {
        type: 'worker.reconnected',
        subject: { kind: 'worker', id: rec.id },
        data: { name: next.name, liveness: next.liveness, silenceMs: now - entry.lastSeenAt },
      });
      if (next.liveness !== rec.liveness) await this.appendLiveness(trx, next, rec.liveness, now - entry.lastSeenAt);
    });
    this.res.events.kick();
    this.byName.delete(rec.name);
    this.byName.set(next.name, rec.id);
    entry.rec = next;
    entry.lastSeenAt = now;
    entry.streak = facts.streak;
    this.capacityChanged = true;
    return { workerId: rec.id, name: next.name, state: displayState(next), heartbeatIntervalMs: this.policy.heartbeatIntervalMs };
  }

  /**
   * Records a heartbeat, judged by the server's receive time. Telemetry alone stays in memory (written
   * in batches); a change of liveness, GPU set, cached models or replica states is written first.
   */
  async heartbeat(workerId: string, body: HeartbeatBody): Promise<HeartbeatResponse> {
    const entry = this.workerEntry(workerId);
    const now = this.res.clock.now();
    this.heartbeats?.inc();
    const rec = entry.rec;
    const facts = onHeartbeat({ liveness: rec.liveness, lastSeenAt: entry.lastSeenAt, streak: entry.streak }, now, this.policy);
    entry.lastSeenAt = now;
    entry.streak = facts.streak;
    const gpusChanged = !sameGpuSet(rec.gpus, body.gpus);
    const cachedChanged = !sameStrings(rec.cachedModels, body.cachedModels);
    rec.gpus = body.gpus;
    rec.lastHeartbeatAt = now;
    rec.clockSkewMs = body.sentAt === undefined ? null : body.sentAt - now;
    const replicasChanged = this.replicaChanges(workerId, body.replicas).length > 0;
    if (facts.liveness !== rec.liveness || gpusChanged || cachedChanged || replicasChanged) {
      await this.mutex.run(() => this.applyHeartbeat(workerId, body, facts.liveness, now, gpusChanged));
    } else {
      entry.telemetryDirty = true;
    }
    return {
      state: displayState(entry.rec),
      heartbeatIntervalMs: this.policy.heartbeatIntervalMs,
      assignmentsVersion: this.versionOf(workerId),
      serverTime: now,
    };
  }

  private async applyHeartbeat(workerId: string, body: HeartbeatBody, liveness: WorkerLiveness, now: number, gpusChanged: boolean): Promise<void> {
    const entry = this.workers.get(workerId);
    if (!entry) return;
    const prev = entry.rec;
    const next: WorkerRecord = {
      ...prev,
      liveness,
      cachedModels: body.cachedModels,
      stateChangedAt: liveness !== prev.liveness ? now : prev.stateChangedAt,
    };
    const changes = this.replicaChanges(workerId, body.replicas);
    await this.res.store.write(async (trx) => {
      const db = tables<ClusterTables>(trx);
      await db.updateTable('workers').set(workerToRow(next)).where('id', '=', workerId).execute();
      if (liveness !== prev.liveness) await this.appendLiveness(trx, next, prev.liveness, 0);
      if (gpusChanged) {
        await this.append(trx, { type: 'worker.updated', subject: { kind: 'worker', id: workerId }, data: { name: next.name, gpus: next.gpus.length } });
      }
      await this.writeReplicaChanges(trx, workerId, changes, now);
    });
    this.res.events.kick();
    entry.rec = next;
    entry.telemetryDirty = false;
    this.applyReplicaChanges(changes, now);
    if (liveness === 'ready' && prev.liveness !== 'ready') this.capacityChanged = true;
    if (gpusChanged || changes.some((c) => c.remove)) this.capacityChanged = true;
    if (changes.some((c) => c.remove)) this.notify(workerId);
  }

  /** What a report changes: states that differ, stops confirmed, and replicas the agent no longer runs. */
  private replicaChanges(workerId: string, reports: readonly ReplicaReport[]): ReplicaChange[] {
    const changes: ReplicaChange[] = [];
    const seen = new Set<string>();
    for (const r of reports) {
      seen.add(r.assignmentId);
      const a = this.assignments.get(r.assignmentId);
      if (!a || a.workerId !== workerId) continue;
      const message = r.message ?? null;
      const endpoint = r.endpoint ?? null;
      if (a.desired === 'stop' && r.state === 'stopped') {
        changes.push({ assignment: a, remove: true, state: 'stopped', message, endpoint, runId: r.runId ?? null });
      } else if (a.state !== r.state || a.message !== message || a.endpoint !== endpoint) {
        changes.push({ assignment: a, remove: false, state: r.state, message, endpoint, runId: r.runId ?? null });
      }
    }
    for (const id of this.byWorker.get(workerId) ?? []) {
      if (seen.has(id)) continue;
      const a = this.assignments.get(id);
      if (!a) continue;
      if (a.desired === 'stop') {
        changes.push({ assignment: a, remove: true, state: 'stopped', message: null, endpoint: null, runId: null });
      } else if (RUNNING.has(a.state)) {
        changes.push({ assignment: a, remove: false, state: 'assigned', message: 'no longer reported by its agent', endpoint: null, runId: null });
      }
    }
    return changes;
  }

  private async writeReplicaChanges(trx: AnyDb, workerId: string, changes: readonly ReplicaChange[], now: number): Promise<void> {
    const db = tables<ClusterTables>(trx);
    for (const c of changes) {
      const a = c.assignment;
      if (c.remove) {
        await db.deleteFrom('assignments').where('id', '=', a.id).execute();
        await this.append(trx, {
          type: 'assignment.removed',
          subject: { kind: 'assignment', id: a.id },
          data: { owner: a.owner, workerId, from: a.state },
        });
      } else {
        const stateChanged = c.state !== a.state;
        await db
          .updateTable('assignments')
          .set({ state: c.state, message: c.message, endpoint: c.endpoint, updated_at: now, state_changed_at: stateChanged ? now : a.stateChangedAt })
          .where('id', '=', a.id)
          .execute();
        await this.append(trx, {
          type: stateChanged ? 'assignment.state_changed' : 'assignment.updated',
          subject: { kind: 'assignment', id: a.id },
          data: { owner: a.owner, workerId, from: a.state, to: c.state, message: c.message, endpoint: c.endpoint, runId: c.runId },
        });
      }
    }
  }

  private applyReplicaChanges(changes: readonly ReplicaChange[], now: number): void {
    for (const c of changes) {
      if (c.remove) {
        this.forgetAssignment(c.assignment.id);
        this.capacityChanged = true;
      } else {
        const a = this.assignments.get(c.assignment.id);
        if (a && (a.state === 'failed') !== (c.state === 'failed')) this.capacityChanged = true;
        if (a) Object.assign(a, { state: c.state, message: c.message, endpoint: c.endpoint, updatedAt: now, stateChangedAt: c.state !== a.state ? now : a.stateChangedAt });
      }
    }
  }

  /**
   * The assignments an agent should run, returned at once when `version` differs from the current
   * one, else when they change or after `waitMs`.
   */
  async waitForAssignments(workerId: string, version: string | undefined, waitMs: number, signal?: AbortSignal): Promise<{ version: string; items: AgentAssignment[] }> {
    this.workerEntry(workerId);
    if (version === this.versionOf(workerId) && waitMs > 0 && !this.stopped) {
      await new Promise<void>((resolve) => {
        let set = this.waiters.get(workerId);
        if (!set) this.waiters.set(workerId, (set = new Set()));
        const waiters = set;
        const done = () => {
          clearTimeout(timer);
          waiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        waiters.add(done);
        signal?.addEventListener('abort', done);
      });
    }
    if (!this.workers.has(workerId)) throw new CatapultError('CATAPULT_WORKER_NOT_FOUND', `Worker ${workerId} was removed.`, { id: workerId });
    return { version: this.versionOf(workerId), items: this.desiredFor(workerId) };
  }

  // ── Workers ────────────────────────────────────────────────────────────────

  listWorkers(filter: { state?: WorkerState } = {}): Worker[] {
    const out: Worker[] = [];
    for (const e of this.workers.values()) {
      const w = this.toWorker(e);
      if (!filter.state || w.state === filter.state) out.push(w);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** A worker by id or name. */
  getWorker(idOrName: string): Worker {
    return this.toWorker(this.workerEntry(idOrName));
  }

  /** Stops new placements on a worker; what runs there stays. */
  cordon(idOrName: string): Promise<Worker> {
    return this.setFlags(idOrName, { cordoned: true }, 'worker.cordoned');
  }

  /** Makes a worker schedulable again, ending a drain. */
  uncordon(idOrName: string): Promise<Worker> {
    return this.setFlags(idOrName, { cordoned: false, draining: false }, 'worker.uncordoned');
  }

  /**
   * Cordons a worker and moves its replicas elsewhere. A replica that fits nowhere else stays where it
   * runs (with the reason recorded) and is retried as capacity appears: a drain never strands one.
   */
  async drain(idOrName: string): Promise<Worker> {
    const worker = await this.setFlags(idOrName, { cordoned: true, draining: true }, 'worker.draining');
    await this.mutex.run(() => this.moveOff(worker.id, 'drain'));
    return this.getWorker(worker.id);
  }

  /**
   * Forgets a worker and revokes its credential. A live worker that still runs replicas is refused
   * unless `force`, which moves them elsewhere at once.
   */
  async removeWorker(idOrName: string, opts: { force?: boolean } = {}): Promise<Worker> {
    const entry = this.workerEntry(idOrName);
    return this.mutex.run(async () => {
      const id = entry.rec.id;
      const view = this.toWorker(entry);
      const running = this.assignmentsOn(id).filter((a) => a.desired === 'run').length;
      if (entry.rec.liveness !== 'offline' && running > 0 && !opts.force) {
        throw new CatapultError(
          'CATAPULT_WORKER_BUSY',
          `Worker ${entry.rec.name} is ${displayState(entry.rec)} and runs ${running} replica${running === 1 ? '' : 's'}; drain it first or remove it with force.`,
          { id, replicas: running },
        );
      }
      await this.moveOff(id, 'removed', { removeWorker: true });
      return { ...view, replicas: { total: 0, byState: {} } };
    });
  }

  private async setFlags(idOrName: string, flags: { cordoned?: boolean; draining?: boolean }, type: string): Promise<Worker> {
    const entry = this.workerEntry(idOrName);
    return this.mutex.run(async () => {
      const next = { ...entry.rec, ...flags };
      if (next.cordoned === entry.rec.cordoned && next.draining === entry.rec.draining) return this.toWorker(entry);
      await this.res.store.write(async (trx) => {
        await tables<ClusterTables>(trx)
          .updateTable('workers')
          .set({ cordoned: next.cordoned ? 1 : 0, draining: next.draining ? 1 : 0 })
          .where('id', '=', next.id)
          .execute();
        await this.append(trx, { type, subject: { kind: 'worker', id: next.id }, data: { name: next.name } });
      });
      this.res.events.kick();
      entry.rec = next;
      if (!next.cordoned) this.capacityChanged = true;
      return this.toWorker(entry);
    });
  }

  // ── Assignments ────────────────────────────────────────────────────────────

  /**
   * Creates replicas and places each at once; one that fits nowhere stays `pending` with the reason
   * recorded and in an `assignment.unschedulable` event, and is retried as capacity changes.
   */
  async createAssignments(inputs: readonly AssignmentInput[]): Promise<Assignment[]> {
    const parsed = inputs.map((input, i) => parseInput(input, i));
    return this.mutex.run(async () => {
      const now = this.res.clock.now();
      const planner = this.planner();
      const created: Assignment[] = parsed.map((input) => {
        const request = placementRequest(input);
        const decision = planner.place(request);
        const base: Assignment = {
          id: newId('asg'),
          owner: input.owner,
          spec: input.spec ?? {},
          resources: input.resources,
          selectors: request.selectors,
          policy: request.policy,
          allowCpuFallback: request.allowCpuFallback,
          modelKey: request.modelKey,
          workerId: null,
          mode: null,
          gpuVendor: null,
          gpuIndices: [],
          gpuMemoryBytes: 0,
          desired: 'run',
          state: 'pending',
          message: null,
          endpoint: null,
          explanation: null,
          moves: 0,
          createdAt: now,
          updatedAt: now,
          placedAt: null,
          stateChangedAt: now,
        };
        return withDecision(base, decision, now);
      });
      await this.res.store.write(async (trx) => {
        const db = tables<ClusterTables>(trx);
        for (let i = 0; i < created.length; i += INSERT_CHUNK) {
          await db
            .insertInto('assignments')
            .values(created.slice(i, i + INSERT_CHUNK).map(assignmentToRow))
            .execute();
        }
        for (const a of created) {
          await this.append(trx, {
            type: 'assignment.created',
            subject: { kind: 'assignment', id: a.id },
            data: { owner: a.owner, workerId: a.workerId, state: a.state, gpuIndices: a.gpuIndices },
          });
          if (a.explanation) await this.append(trx, unschedulableEvent(a, a.explanation, 'created'));
        }
      });
      this.res.events.kick();
      const touched = new Set<string>();
      for (const a of created) {
        this.rememberAssignment(a);
        if (a.workerId) touched.add(a.workerId);
      }
      for (const w of touched) this.notify(w);
      return created.map((a) => structuredClone(a));
    });
  }

  async createAssignment(input: AssignmentInput): Promise<Assignment> {
    const [a] = await this.createAssignments([input]);
    return a!;
  }

  /**
   * Asks for a replica to stop. It is forgotten once its agent confirms (or at once when it was never
   * placed, or its worker is offline); until then it keeps its resources, so nothing is overcommitted
   * while it shuts down.
   */
  async removeAssignment(id: string): Promise<Assignment> {
    return this.mutex.run(async () => {
      const a = this.assignments.get(id);
      if (!a) throw new CatapultError('CATAPULT_ASSIGNMENT_NOT_FOUND', `No assignment with id ${id}.`, { id });
      const now = this.res.clock.now();
      const worker = a.workerId ? this.workers.get(a.workerId) : undefined;
      const immediate = !worker || worker.rec.liveness === 'offline';
      if (a.desired === 'stop' && !immediate) return structuredClone(a);
      await this.res.store.write(async (trx) => {
        const db = tables<ClusterTables>(trx);
        if (immediate) {
          await db.deleteFrom('assignments').where('id', '=', id).execute();
          await this.append(trx, { type: 'assignment.removed', subject: { kind: 'assignment', id }, data: { owner: a.owner, workerId: a.workerId, from: a.state } });
        } else {
          await db.updateTable('assignments').set({ desired: 'stop', updated_at: now }).where('id', '=', id).execute();
          await this.append(trx, { type: 'assignment.stopping', subject: { kind: 'assignment', id }, data: { owner: a.owner, workerId: a.workerId } });
        }
      });
      this.res.events.kick();
      const out = structuredClone({ ...a, desired: 'stop' as const, updatedAt: now });
      if (immediate) {
        this.forgetAssignment(id);
        this.capacityChanged = true;
        return { ...out, state: 'stopped' };
      }
      a.desired = 'stop';
      a.updatedAt = now;
      if (a.workerId) this.notify(a.workerId);
      return out;
    });
  }

  /** Removes every assignment of an owner (see removeAssignment). */
  async removeAssignments(owner: string): Promise<Assignment[]> {
    const ids = [...this.assignments.values()].filter((a) => a.owner === owner && a.desired === 'run').map((a) => a.id);
    const out: Assignment[] = [];
    for (const id of ids) out.push(await this.removeAssignment(id));
    return out;
  }

  listAssignments(filter: { owner?: string; workerId?: string; state?: ReplicaState } = {}): Assignment[] {
    const out: Assignment[] = [];
    for (const a of this.assignments.values()) {
      if (filter.owner !== undefined && a.owner !== filter.owner) continue;
      if (filter.workerId !== undefined && a.workerId !== filter.workerId) continue;
      if (filter.state !== undefined && a.state !== filter.state) continue;
      out.push(structuredClone(a));
    }
    return out.sort((x, y) => x.createdAt - y.createdAt || x.id.localeCompare(y.id));
  }

  getAssignment(id: string): Assignment {
    const a = this.assignments.get(id);
    if (!a) throw new CatapultError('CATAPULT_ASSIGNMENT_NOT_FOUND', `No assignment with id ${id}.`, { id });
    return structuredClone(a);
  }

  // ── Reconciler ─────────────────────────────────────────────────────────────

  /**
   * One pass: judges liveness from silence, moves the replicas of workers that went offline, retries
   * pending replicas and drains, and writes batched telemetry. Runs on a timer; tests call it directly.
   */
  async reconcile(): Promise<void> {
    const now = this.res.clock.now();
    const transitions: [string, WorkerLiveness][] = [];
    for (const e of this.workers.values()) {
      const next = judgeSilence({ liveness: e.rec.liveness, lastSeenAt: e.lastSeenAt, streak: e.streak }, now, this.policy);
      if (next !== e.rec.liveness) transitions.push([e.rec.id, next]);
    }
    if (transitions.length > 0) await this.mutex.run(() => this.applySilence(transitions));
    const pending = [...this.assignments.values()].some((a) => a.workerId === null && a.desired === 'run');
    const draining = [...this.workers.values()].some((e) => e.rec.draining && e.rec.liveness === 'ready' && this.assignmentsOn(e.rec.id).length > 0);
    const due = now - this.lastPendingTry >= this.pendingRetryMs;
    if ((pending || draining) && (this.capacityChanged || due)) {
      this.capacityChanged = false;
      this.lastPendingTry = now;
      await this.mutex.run(async () => {
        if (pending) await this.placePending();
        for (const e of [...this.workers.values()]) {
          if (e.rec.draining && e.rec.liveness === 'ready') await this.moveOff(e.rec.id, 'drain');
        }
      });
    }
    if (now - this.lastFlush >= Math.max(this.policy.heartbeatIntervalMs, TELEMETRY_FLUSH_MS)) {
      this.lastFlush = now;
      await this.flushTelemetry();
    }
  }

  private async applySilence(transitions: readonly [string, WorkerLiveness][]): Promise<void> {
    const now = this.res.clock.now();
    for (const [id] of transitions) {
      const e = this.workers.get(id);
      if (!e) continue;
      // Re-judge under the lock: a heartbeat may have arrived meanwhile.
      const next = judgeSilence({ liveness: e.rec.liveness, lastSeenAt: e.lastSeenAt, streak: e.streak }, now, this.policy);
      if (next === e.rec.liveness) continue;
      const prev = e.rec;
      const rec: WorkerRecord = { ...prev, liveness: next, stateChangedAt: now };
      await this.res.store.write(async (trx) => {
        await tables<ClusterTables>(trx).updateTable('workers').set({ liveness: next, state_changed_at: now }).where('id', '=', id).execute();
        await this.appendLiveness(trx, rec, prev.liveness, now - e.lastSeenAt);
      });
      this.res.events.kick();
      e.rec = rec;
      e.streak = 0;
      this.res.log.warn({ workerId: id, workerName: rec.name, from: prev.liveness, to: next, silenceMs: now - e.lastSeenAt }, 'worker liveness changed');
      if (next === 'offline') await this.moveOff(id, 'offline');
    }
  }

  /**
   * Moves the replicas off a worker. `offline` and `removed` move every replica (those that fit
   * nowhere become pending) and forget the ones asked to stop; `drain` moves only those that fit
   * elsewhere and leaves the rest running where they are.
   */
  private async moveOff(workerId: string, reason: 'offline' | 'drain' | 'removed', opts: { removeWorker?: boolean } = {}): Promise<void> {
    const now = this.res.clock.now();
    const on = this.assignmentsOn(workerId);
    const stops = reason === 'drain' ? [] : on.filter((a) => a.desired === 'stop');
    const runs = on.filter((a) => a.desired === 'run');
    const planner = this.planner(workerId);
    const moved: Assignment[] = [];
    const events: EventInput[] = [];
    for (const a of runs) {
      const decision = planner.place(placementRequest(a));
      if (!decision.placed && reason === 'drain') {
        if (!sameExplanation(a.explanation, decision.explanation)) {
          if (a.explanation?.summary !== decision.explanation.summary) events.push(unschedulableEvent(a, decision.explanation, 'drain'));
          moved.push({ ...a, explanation: decision.explanation, updatedAt: now });
        }
        continue;
      }
      const next = withDecision({ ...a, moves: a.moves + 1, message: null, endpoint: null }, decision, now);
      moved.push(next);
      events.push({
        type: 'assignment.rescheduled',
        subject: { kind: 'assignment', id: a.id },
        data: { owner: a.owner, from: workerId, to: next.workerId, reason, state: next.state, gpuIndices: next.gpuIndices },
      });
      if (next.explanation) events.push(unschedulableEvent(next, next.explanation, reason));
    }
    if (moved.length === 0 && stops.length === 0 && !opts.removeWorker) return;
    const entry = this.workers.get(workerId);
    await this.res.store.write(async (trx) => {
      const db = tables<ClusterTables>(trx);
      for (const a of stops) {
        await db.deleteFrom('assignments').where('id', '=', a.id).execute();
        await this.append(trx, { type: 'assignment.removed', subject: { kind: 'assignment', id: a.id }, data: { owner: a.owner, workerId, from: a.state, reason } });
      }
      for (const a of moved) await db.updateTable('assignments').set(assignmentToRow(a)).where('id', '=', a.id).execute();
      for (const ev of events) await this.append(trx, ev);
      if (opts.removeWorker && entry) {
        await db.deleteFrom('workers').where('id', '=', workerId).execute();
        await this.append(trx, { type: 'worker.removed', subject: { kind: 'worker', id: workerId }, data: { name: entry.rec.name, moved: moved.length } });
      }
    });
    this.res.events.kick();
    for (const a of stops) this.forgetAssignment(a.id);
    const touched = new Set<string>([workerId]);
    for (const a of moved) {
      this.forgetAssignment(a.id);
      this.rememberAssignment(a);
      if (a.workerId) touched.add(a.workerId);
    }
    if (opts.removeWorker && entry) {
      this.workers.delete(workerId);
      this.byName.delete(entry.rec.name);
      this.byCredential.delete(entry.rec.credentialHash);
    }
    for (const w of touched) this.notify(w);
    if (moved.length > 0) this.res.log.info({ workerId, reason, moved: moved.filter((a) => a.workerId !== null && a.workerId !== workerId).length }, 'replicas moved');
  }

  private async placePending(): Promise<void> {
    const pending = [...this.assignments.values()].filter((a) => a.workerId === null && a.desired === 'run').sort((x, y) => x.createdAt - y.createdAt);
    if (pending.length === 0) return;
    const now = this.res.clock.now();
    const planner = this.planner();
    const changed: Assignment[] = [];
    const events: EventInput[] = [];
    for (const a of pending) {
      const decision = planner.place(placementRequest(a));
      if (decision.placed) {
        const next = withDecision(a, decision, now);
        changed.push(next);
        events.push({
          type: 'assignment.placed',
          subject: { kind: 'assignment', id: a.id },
          data: { owner: a.owner, workerId: next.workerId, gpuIndices: next.gpuIndices, waitedMs: now - a.createdAt },
        });
      } else if (!sameExplanation(a.explanation, decision.explanation)) {
        changed.push({ ...a, explanation: decision.explanation, updatedAt: now });
        if (a.explanation?.summary !== decision.explanation.summary) events.push(unschedulableEvent(a, decision.explanation, 'retry'));
      }
    }
    if (changed.length === 0) return;
    await this.res.store.write(async (trx) => {
      const db = tables<ClusterTables>(trx);
      for (const a of changed) await db.updateTable('assignments').set(assignmentToRow(a)).where('id', '=', a.id).execute();
      for (const ev of events) await this.append(trx, ev);
    });
    this.res.events.kick();
    const touched = new Set<string>();
    for (const a of changed) {
      this.forgetAssignment(a.id);
      this.rememberAssignment(a);
      if (a.workerId) touched.add(a.workerId);
    }
    for (const w of touched) this.notify(w);
  }

  /** Writes heartbeat receive times and GPU telemetry that only live in memory so far. */
  private async flushTelemetry(): Promise<void> {
    const dirty = [...this.workers.values()].filter((e) => e.telemetryDirty);
    // Small transactions with a yield between them: SQLite runs on the event loop, and one
    // transaction over a thousand workers would hold heartbeats up for tens of milliseconds.
    for (let i = 0; i < dirty.length; i += FLUSH_CHUNK) {
      const chunk = dirty.slice(i, i + FLUSH_CHUNK);
      for (const e of chunk) e.telemetryDirty = false;
      try {
        await this.res.store.write(async (trx) => {
          const db = tables<ClusterTables>(trx);
          for (const e of chunk) {
            await db
              .updateTable('workers')
              .set({ last_heartbeat_at: e.rec.lastHeartbeatAt, gpus: toJson(e.rec.gpus), clock_skew_ms: e.rec.clockSkewMs })
              .where('id', '=', e.rec.id)
              .execute();
          }
        });
      } catch (err) {
        for (const e of dirty.slice(i)) e.telemetryDirty = true;
        throw err;
      }
      await new Promise((r) => setImmediate(r));
    }
  }

  private schedule(): void {
    if (this.reconcileEveryMs === null || this.stopped) return;
    this.timer = setTimeout(() => {
      this.reconciling = this.reconcile()
        .catch((err: unknown) => this.res.log.error({ err }, 'cluster reconcile failed'))
        .finally(() => {
          this.reconciling = undefined;
          this.schedule();
        });
    }, this.reconcileEveryMs);
    this.timer.unref();
  }

  // ── Status ─────────────────────────────────────────────────────────────────

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
    for (const e of this.workers.values()) {
      byState[displayState(e.rec)]++;
      if (e.rec.cordoned) cordoned++;
      if (e.rec.gpus.some((g) => g.fake)) fake++;
    }
    return { total: this.workers.size, byState, cordoned, withFakeGpus: fake };
  }

  private gpusStatus() {
    const items: unknown[] = [];
    let total = 0;
    let fake = 0;
    let memoryTotalBytes = 0;
    let memoryFreeBytes = 0;
    const LIMIT = 200;
    for (const e of [...this.workers.values()].sort((a, b) => a.rec.name.localeCompare(b.rec.name))) {
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
    for (const a of this.assignments.values()) {
      byState[a.state] = (byState[a.state] ?? 0) + 1;
      if (a.desired === 'stop') stopping++;
      if (a.state === 'pending' && a.explanation && unschedulable.length < 20) unschedulable.push({ id: a.id, owner: a.owner, reason: a.explanation.summary });
    }
    return { total: this.assignments.size, byState, stopping, unschedulable };
  }

  // ── Internals ──────────────────────────────────────────────────────────────

  private workerEntry(idOrName: string): WorkerEntry {
    const entry = this.workers.get(idOrName) ?? this.workers.get(this.byName.get(idOrName) ?? '');
    if (!entry) throw new CatapultError('CATAPULT_WORKER_NOT_FOUND', `No worker with id or name ${idOrName}.`, { id: idOrName });
    return entry;
  }

  private remember(rec: WorkerRecord, now: number): WorkerEntry {
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

  private rememberAssignment(a: Assignment): void {
    this.assignments.set(a.id, a);
    if (a.workerId) {
      let set = this.byWorker.get(a.workerId);
      if (!set) this.byWorker.set(a.workerId, (set = new Set()));
      set.add(a.id);
    }
  }

  private forgetAssignment(id: string): void {
    const a = this.assignments.get(id);
    if (!a) return;
    this.assignments.delete(id);
    if (a.workerId) {
      const set = this.byWorker.get(a.workerId);
      set?.delete(id);
      if (set?.size === 0) this.byWorker.delete(a.workerId);
    }
  }

  private assignmentsOn(workerId: string): Assignment[] {
    const out: Assignment[] = [];
    for (const id of this.byWorker.get(workerId) ?? []) {
      const a = this.assignments.get(id);
      if (a) out.push(a);
    }
    return out.sort((x, y) => x.createdAt - y.createdAt || x.id.localeCompare(y.id));
  }

  private desiredFor(workerId: string): AgentAssignment[] {
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
  private versionOf(workerId: string): string {
    const entry = this.workers.get(workerId);
    if (entry?.version) return entry.version;
    const digest = createHash('sha256');
    for (const a of this.desiredFor(workerId)) digest.update(`${a.id}|${a.mode}|${a.gpuVendor ?? ''}|${a.gpuIndices.join(',')}\n`);
    const version = digest.digest('hex').slice(0, 16);
    if (entry) entry.version = version;
    return version;
  }

  private notify(workerId: string): void {
    const entry = this.workers.get(workerId);
    if (entry) entry.version = undefined;
    const set = this.waiters.get(workerId);
    if (!set) return;
    this.waiters.delete(workerId);
    for (const wake of set) wake();
  }

  /** A planner over the current registry and reservations; `exclude` takes a worker out (one being removed). */
  private planner(exclude?: string): PlacementPlanner {
    const snapshots: WorkerSnapshot[] = [];
    const entries = [...this.workers.values()].sort((a, b) => a.rec.name.localeCompare(b.rec.name));
    for (const e of entries) {
      const s = this.snapshot(e);
      if (e.rec.id === exclude) s.cordoned = true;
      snapshots.push(s);
    }
    return new PlacementPlanner(snapshots);
  }

  private snapshot(e: WorkerEntry): WorkerSnapshot {
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

  private toWorker(e: WorkerEntry): Worker {
    const rec = e.rec;
    const s = this.snapshot(e);
    const byState: Partial<Record<ReplicaState, number>> = {};
    let total = 0;
    for (const a of this.assignmentsOn(rec.id)) {
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

  private append(trx: AnyDb, input: EventInput): Promise<number> {
    return this.res.events.append(trx, input);
  }

  private appendLiveness(trx: AnyDb, rec: WorkerRecord, from: WorkerLiveness, silenceMs: number): Promise<number> {
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

function parseInput(input: AssignmentInput, i: number): z.infer<typeof assignmentInputSchema> {
  const parsed = assignmentInputSchema.safeParse(input);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((issue) => ({ path: [i, ...issue.path].join('/'), message: issue.message }));
    throw new CatapultError('CATAPULT_VALIDATION_FAILED', `Invalid assignment: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
  }
  return parsed.data;
}

function withDecision(a: Assignment, decision: PlacementDecision, now: number): Assignment {
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

function unschedulableEvent(a: Assignment, e: PlacementExplanation, reason: string): EventInput {
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

function sameExplanation(a: PlacementExplanation | null, b: PlacementExplanation | null): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((x) => set.has(x));
}

/** Whether two reports name the same GPUs (usage aside). */
function sameGpuSet(a: readonly Gpu[], b: readonly Gpu[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((g, i) => {
    const h = b[i]!;
    return g.vendor === h.vendor && g.index === h.index && g.uuid === h.uuid && g.name === h.name && g.memoryTotalBytes === h.memoryTotalBytes && g.fake === h.fake;
  });
}

function workerToRow(rec: WorkerRecord): WorkersTable {
  return {
    id: rec.id,
    name: rec.name,
    credential_hash: rec.credentialHash,
    labels: toJson(rec.labels),
    capacity: toJson(rec.capacity),
    gpus: toJson(rec.gpus),
    cached_models: toJson(rec.cachedModels),
    liveness: rec.liveness,
    cordoned: rec.cordoned ? 1 : 0,
    draining: rec.draining ? 1 : 0,
    agent_version: rec.agentVersion,
    hostname: rec.hostname,
    join_token_id: rec.joinTokenId,
    registered_at: rec.registeredAt,
    last_heartbeat_at: rec.lastHeartbeatAt,
    state_changed_at: rec.stateChangedAt,
    clock_skew_ms: rec.clockSkewMs,
  };
}

function assignmentToRow(a: Assignment): AssignmentsTable {
  return {
    id: a.id,
    owner: a.owner,
    spec: toJson(a.spec),
    resources: toJson(a.resources),
    selectors: toJson(a.selectors),
    policy: a.policy,
    allow_cpu_fallback: a.allowCpuFallback ? 1 : 0,
    model_key: a.modelKey,
    worker_id: a.workerId,
    mode: a.mode,
    gpu_vendor: a.gpuVendor,
    gpu_indices: toJson(a.gpuIndices),
    gpu_memory_bytes: a.gpuMemoryBytes,
    desired: a.desired,
    state: a.state,
    message: a.message,
    endpoint: a.endpoint,
    explanation: a.explanation ? toJson(a.explanation) : null,
    moves: a.moves,
    created_at: a.createdAt,
    updated_at: a.updatedAt,
    placed_at: a.placedAt,
    state_changed_at: a.stateChangedAt,
  };
}

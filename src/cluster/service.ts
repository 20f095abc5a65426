import { Gauge } from 'prom-client';
import { tables } from '../store/index.js';
import type { HeartbeatBody, HeartbeatResponse, RegisterBody, RegisterResponse } from './protocol.js';
import type { ClusterOptions, ClusterResources } from './resources.js';
import { ClusterState, displayState } from './state.js';
import { AgentSystem, type AgentPrincipal, type RegisterAuth } from './systems/agentSystem.js';
import { AssignmentSystem } from './systems/assignmentSystem.js';
import { ReconcileSystem } from './systems/reconcileSystem.js';
import { StatusSystem } from './systems/statusSystem.js';
import { WorkerSystem } from './systems/workerSystem.js';
import { type ClusterTables, assignmentFromRow, workerFromRow } from './tables.js';
import { type CreateJoinTokenInput, JoinTokens } from './tokens.js';
import type { AgentAssignment, Assignment, AssignmentInput, JoinToken, ReplicaState, Worker, WorkerState } from './types.js';

export type { ClusterOptions, ClusterResources } from './resources.js';
export { type AgentPrincipal, JOIN_PRINCIPAL_PREFIX, type RegisterAuth } from './systems/agentSystem.js';
export { displayState } from './state.js';

/**
 * The cluster manager: worker registry, join tokens, liveness, the scheduler's bookkeeping and the
 * assignment interface later domains use to run replicas.
 *
 * The service keeps workers and assignments in memory (loaded at start) and writes every state
 * change to the store first, with its event in the same transaction. Placement decisions run one at
 * a time under a mutex, so two never hand out the same GPU memory. Heartbeats that change nothing
 * but telemetry stay in memory and are written in batches; heartbeats that change a state are
 * written before they are acknowledged. One server runs it per database (see README).
 *
 * This class is the public face; the work is done by systems over one shared state
 * (`ClusterState`): agents, assignments, the reconciler (with placement), operator actions on
 * workers, and status views.
 */
export class ClusterService {
  readonly joinTokens: JoinTokens;
  private readonly state: ClusterState;
  private readonly agents: AgentSystem;
  private readonly assignments: AssignmentSystem;
  private readonly reconciler: ReconcileSystem;
  private readonly status: StatusSystem;
  private readonly workerOps: WorkerSystem;
  private started = false;

  constructor(
    private readonly res: ClusterResources,
    opts: ClusterOptions = {},
  ) {
    this.joinTokens = new JoinTokens(res.store, res.events, res.clock);
    const { heartbeatIntervalMs, missedHeartbeats, offlineGraceMs } = res.config;
    this.state = new ClusterState(res, { heartbeatIntervalMs, missedHeartbeats, offlineGraceMs, recoverHeartbeats: opts.recoverHeartbeats ?? 2 });
    const reconcileEveryMs =
      opts.reconcileEveryMs === undefined ? Math.max(20, Math.min(1000, Math.floor(heartbeatIntervalMs / 2))) : opts.reconcileEveryMs;
    this.agents = new AgentSystem(this.state, this.joinTokens);
    this.assignments = new AssignmentSystem(this.state);
    this.reconciler = new ReconcileSystem(this.state, this.agents, reconcileEveryMs, opts.pendingRetryMs ?? 10_000);
    this.status = new StatusSystem(this.state);
    this.workerOps = new WorkerSystem(this.state, this.reconciler, this.status);
    if (res.metrics) {
      const workers = this.state.workers;
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
    for (const row of workerRows) this.state.remember(workerFromRow(row), now);
    const rows = await db.selectFrom('assignments').selectAll().execute();
    for (const row of rows) this.state.rememberAssignment(assignmentFromRow(row));
    this.state.lastFlush = now;
    this.state.lastPendingTry = 0;
    this.reconciler.start();
  }

  /** Stops the reconciler, writes pending telemetry and releases waiting long-polls. */
  async stop(): Promise<void> {
    this.state.stopped = true;
    await this.reconciler.stop();
    await this.state.mutex.run(() => this.agents.flushTelemetry()).catch((err: unknown) => this.res.log.warn({ err }, 'could not write worker telemetry'));
    for (const id of [...this.state.waiters.keys()]) this.state.notify(id);
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

  // ── Agents (AgentSystem) ───────────────────────────────────────────────────

  /** The principal for an agent credential (or a join token, which may only register), or undefined. */
  resolveCredential(secret: string): Promise<AgentPrincipal | undefined> {
    return this.agents.resolveCredential(secret);
  }

  /** Registers an agent: reconnects a known worker, or joins a new one with a join token or admin key. */
  register(body: RegisterBody, auth: RegisterAuth): Promise<RegisterResponse> {
    return this.agents.register(body, auth);
  }

  /** Records a heartbeat, judged by the server's receive time. */
  heartbeat(workerId: string, body: HeartbeatBody): Promise<HeartbeatResponse> {
    return this.agents.heartbeat(workerId, body);
  }

  /** The assignments an agent should run; waits up to `waitMs` while `version` is still current. */
  waitForAssignments(workerId: string, version: string | undefined, waitMs: number, signal?: AbortSignal): Promise<{ version: string; items: AgentAssignment[] }> {
    return this.assignments.waitForAssignments(workerId, version, waitMs, signal);
  }

  // ── Workers (StatusSystem, WorkerSystem) ───────────────────────────────────

  listWorkers(filter: { state?: WorkerState } = {}): Worker[] {
    return this.status.listWorkers(filter);
  }

  /** A worker by id or name. */
  getWorker(idOrName: string): Worker {
    return this.status.getWorker(idOrName);
  }

  /** Stops new placements on a worker; what runs there stays. */
  cordon(idOrName: string): Promise<Worker> {
    return this.workerOps.cordon(idOrName);
  }

  /** Makes a worker schedulable again, ending a drain. */
  uncordon(idOrName: string): Promise<Worker> {
    return this.workerOps.uncordon(idOrName);
  }

  /** Cordons a worker and moves its replicas elsewhere; one that fits nowhere else stays until it can. */
  drain(idOrName: string): Promise<Worker> {
    return this.workerOps.drain(idOrName);
  }

  /** Forgets a worker and revokes its credential; a live worker with replicas needs `force`. */
  removeWorker(idOrName: string, opts: { force?: boolean } = {}): Promise<Worker> {
    return this.workerOps.removeWorker(idOrName, opts);
  }

  // ── Assignments (AssignmentSystem) ─────────────────────────────────────────

  /** Creates replicas and places each at once; one that fits nowhere stays `pending` with the reason. */
  createAssignments(inputs: readonly AssignmentInput[]): Promise<Assignment[]> {
    return this.assignments.createAssignments(inputs);
  }

  createAssignment(input: AssignmentInput): Promise<Assignment> {
    return this.assignments.createAssignment(input);
  }

  /** Asks a replica to stop; it keeps its resources until its agent confirms. */
  removeAssignment(id: string): Promise<Assignment> {
    return this.assignments.removeAssignment(id);
  }

  /** Removes every assignment of an owner. */
  removeAssignments(owner: string): Promise<Assignment[]> {
    return this.assignments.removeAssignments(owner);
  }

  listAssignments(filter: { owner?: string; workerId?: string; state?: ReplicaState } = {}): Assignment[] {
    return this.assignments.listAssignments(filter);
  }

  getAssignment(id: string): Assignment {
    return this.assignments.getAssignment(id);
  }

  // ── Reconciler (ReconcileSystem) and status (StatusSystem) ─────────────────

  /** One reconcile pass (liveness, moves, pending placements, telemetry); runs on a timer, tests call it. */
  reconcile(): Promise<void> {
    return this.reconciler.reconcile();
  }

  /** Sections for /api/v1/cluster/status: workers by state, GPUs and their free memory, replicas by state. */
  statusSections(): Record<string, () => Promise<unknown>> {
    return this.status.statusSections();
  }
}

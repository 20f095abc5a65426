import type { EventInput } from '../../events/index.js';
import { tables } from '../../store/index.js';
import { judgeSilence } from '../liveness.js';
import { placementRequest } from '../scheduler.js';
import { type ClusterState, sameExplanation, unschedulableEvent, withDecision } from '../state.js';
import { type ClusterTables, type WorkerRecord, assignmentToRow } from '../tables.js';
import type { Assignment, WorkerLiveness } from '../types.js';
import type { AgentSystem } from './agentSystem.js';

/**
 * How often telemetry that lives only in memory is written. Liveness never reads it back (a restart
 * counts silence from the restart) and each heartbeat repeats it in full, so it only has to be good
 * enough to show after a restart until the agents report again.
 */
const TELEMETRY_FLUSH_MS = 30_000;

/**
 * The reconciler and placement: judges liveness from silence, moves replicas off workers that went
 * offline (or are drained or removed), places pending replicas as capacity appears, and has
 * telemetry written in batches. Runs on a timer; tests call `reconcile()` directly.
 */
export class ReconcileSystem {
  private timer: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;

  constructor(
    private readonly s: ClusterState,
    private readonly agents: AgentSystem,
    private readonly reconcileEveryMs: number | null,
    private readonly pendingRetryMs: number,
  ) {}

  /** Starts the timer. */
  start(): void {
    this.schedule();
  }

  /** Stops the timer and waits for a pass under way. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.reconciling;
  }


  /**
   * One pass: judges liveness from silence, moves the replicas of workers that went offline, retries
   * pending replicas and drains, and writes batched telemetry. Runs on a timer; tests call it directly.
   */
  async reconcile(): Promise<void> {
    const now = this.s.res.clock.now();
    const transitions: [string, WorkerLiveness][] = [];
    for (const e of this.s.workers.values()) {
      const next = judgeSilence({ liveness: e.rec.liveness, lastSeenAt: e.lastSeenAt, streak: e.streak }, now, this.s.policy);
      if (next !== e.rec.liveness) transitions.push([e.rec.id, next]);
    }
    if (transitions.length > 0) await this.s.mutex.run(() => this.applySilence(transitions));
    const pending = [...this.s.assignments.values()].some((a) => a.workerId === null && a.desired === 'run');
    const draining = [...this.s.workers.values()].some((e) => e.rec.draining && e.rec.liveness === 'ready' && this.s.assignmentsOn(e.rec.id).length > 0);
    const due = now - this.s.lastPendingTry >= this.pendingRetryMs;
    if ((pending || draining) && (this.s.capacityChanged || due)) {
      this.s.capacityChanged = false;
      this.s.lastPendingTry = now;
      await this.s.mutex.run(async () => {
        if (pending) await this.placePending();
        for (const e of [...this.s.workers.values()]) {
          if (e.rec.draining && e.rec.liveness === 'ready') await this.moveOff(e.rec.id, 'drain');
        }
      });
    }
    if (now - this.s.lastFlush >= Math.max(this.s.policy.heartbeatIntervalMs, TELEMETRY_FLUSH_MS)) {
      this.s.lastFlush = now;
      await this.agents.flushTelemetry();
    }
  }

  private async applySilence(transitions: readonly [string, WorkerLiveness][]): Promise<void> {
    const now = this.s.res.clock.now();
    for (const [id] of transitions) {
      const e = this.s.workers.get(id);
      if (!e) continue;
      // Re-judge under the lock: a heartbeat may have arrived meanwhile.
      const next = judgeSilence({ liveness: e.rec.liveness, lastSeenAt: e.lastSeenAt, streak: e.streak }, now, this.s.policy);
      if (next === e.rec.liveness) continue;
      const prev = e.rec;
      const rec: WorkerRecord = { ...prev, liveness: next, stateChangedAt: now };
      await this.s.res.store.write(async (trx) => {
        await tables<ClusterTables>(trx).updateTable('workers').set({ liveness: next, state_changed_at: now }).where('id', '=', id).execute();
        await this.s.appendLiveness(trx, rec, prev.liveness, now - e.lastSeenAt);
      });
      this.s.res.events.kick();
      e.rec = rec;
      e.streak = 0;
      this.s.res.log.warn({ workerId: id, workerName: rec.name, from: prev.liveness, to: next, silenceMs: now - e.lastSeenAt }, 'worker liveness changed');
      if (next === 'offline') await this.moveOff(id, 'offline');
    }
  }

  /**
   * Moves the replicas off a worker. `offline` and `removed` move every replica (those that fit
   * nowhere become pending) and forget the ones asked to stop; `drain` moves only those that fit
   * elsewhere and leaves the rest running where they are.
   */
  async moveOff(workerId: string, reason: 'offline' | 'drain' | 'removed', opts: { removeWorker?: boolean } = {}): Promise<void> {
    const now = this.s.res.clock.now();
    const on = this.s.assignmentsOn(workerId);
    const stops = reason === 'drain' ? [] : on.filter((a) => a.desired === 'stop');
    const runs = on.filter((a) => a.desired === 'run');
    const planner = this.s.planner(workerId);
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
    const entry = this.s.workers.get(workerId);
    await this.s.res.store.write(async (trx) => {
      const db = tables<ClusterTables>(trx);
      for (const a of stops) {
        await db.deleteFrom('assignments').where('id', '=', a.id).execute();
        await this.s.append(trx, { type: 'assignment.removed', subject: { kind: 'assignment', id: a.id }, data: { owner: a.owner, workerId, from: a.state, reason } });
      }
      for (const a of moved) await db.updateTable('assignments').set(assignmentToRow(a)).where('id', '=', a.id).execute();
      for (const ev of events) await this.s.append(trx, ev);
      if (opts.removeWorker && entry) {
        await db.deleteFrom('workers').where('id', '=', workerId).execute();
        await this.s.append(trx, { type: 'worker.removed', subject: { kind: 'worker', id: workerId }, data: { name: entry.rec.name, moved: moved.length } });
      }
    });
    this.s.res.events.kick();
    for (const a of stops) this.s.forgetAssignment(a.id);
    const touched = new Set<string>([workerId]);
    for (const a of moved) {
      this.s.forgetAssignment(a.id);
      this.s.rememberAssignment(a);
      if (a.workerId) touched.add(a.workerId);
    }
    if (opts.removeWorker && entry) {
      this.s.workers.delete(workerId);
      this.s.byName.delete(entry.rec.name);
      this.s.byCredential.delete(entry.rec.credentialHash);
    }
    for (const w of touched) this.s.notify(w);
    if (moved.length > 0) this.s.res.log.info({ workerId, reason, moved: moved.filter((a) => a.workerId !== null && a.workerId !== workerId).length }, 'replicas moved');
  }

  private async placePending(): Promise<void> {
    const pending = [...this.s.assignments.values()].filter((a) => a.workerId === null && a.desired === 'run').sort((x, y) => x.createdAt - y.createdAt);
    if (pending.length === 0) return;
    const now = this.s.res.clock.now();
    const planner = this.s.planner();
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
    await this.s.res.store.write(async (trx) => {
      const db = tables<ClusterTables>(trx);
      for (const a of changed) await db.updateTable('assignments').set(assignmentToRow(a)).where('id', '=', a.id).execute();
      for (const ev of events) await this.s.append(trx, ev);
    });
    this.s.res.events.kick();
    const touched = new Set<string>();
    for (const a of changed) {
      this.s.forgetAssignment(a.id);
      this.s.rememberAssignment(a);
      if (a.workerId) touched.add(a.workerId);
    }
    for (const w of touched) this.s.notify(w);
  }

  private schedule(): void {
    if (this.reconcileEveryMs === null || this.s.stopped) return;
    this.timer = setTimeout(() => {
      this.reconciling = this.reconcile()
        .catch((err: unknown) => this.s.res.log.error({ err }, 'cluster reconcile failed'))
        .finally(() => {
          this.reconciling = undefined;
          this.schedule();
        });
    }, this.reconcileEveryMs);
    this.timer.unref();
  }

}

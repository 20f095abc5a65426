import type { z } from 'zod';
import { CatapultError } from '../../errors/index.js';
import { tables } from '../../store/index.js';
import { newId } from '../../util/index.js';
import { assignmentInputSchema } from '../protocol.js';
import { placementRequest } from '../scheduler.js';
import { type ClusterState, unschedulableEvent, withDecision } from '../state.js';
import { type ClusterTables, assignmentToRow } from '../tables.js';
import type { AgentAssignment, Assignment, AssignmentInput, ReplicaState } from '../types.js';

const INSERT_CHUNK = 500;

/**
 * Assignments (replica slots): created and placed at once, asked to stop, listed; and the agents'
 * long-poll for the set they should run, woken when that set changes.
 */
export class AssignmentSystem {
  constructor(private readonly s: ClusterState) {}


  /**
   * Creates replicas and places each at once; one that fits nowhere stays `pending` with the reason
   * recorded and in an `assignment.unschedulable` event, and is retried as capacity changes.
   */
  async createAssignments(inputs: readonly AssignmentInput[]): Promise<Assignment[]> {
    const parsed = inputs.map((input, i) => parseInput(input, i));
    return this.s.mutex.run(async () => {
      const now = this.s.res.clock.now();
      const planner = this.s.planner();
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
      await this.s.res.store.write(async (trx) => {
        const db = tables<ClusterTables>(trx);
        for (let i = 0; i < created.length; i += INSERT_CHUNK) {
          await db
            .insertInto('assignments')
            .values(created.slice(i, i + INSERT_CHUNK).map(assignmentToRow))
            .execute();
        }
        for (const a of created) {
          await this.s.append(trx, {
            type: 'assignment.created',
            subject: { kind: 'assignment', id: a.id },
            data: { owner: a.owner, workerId: a.workerId, state: a.state, gpuIndices: a.gpuIndices },
          });
          if (a.explanation) await this.s.append(trx, unschedulableEvent(a, a.explanation, 'created'));
        }
      });
      this.s.res.events.kick();
      const touched = new Set<string>();
      for (const a of created) {
        this.s.rememberAssignment(a);
        if (a.workerId) touched.add(a.workerId);
      }
      for (const w of touched) this.s.notify(w);
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
    return this.s.mutex.run(async () => {
      const a = this.s.assignments.get(id);
      if (!a) throw new CatapultError('CATAPULT_ASSIGNMENT_NOT_FOUND', `No assignment with id ${id}.`, { id });
      const now = this.s.res.clock.now();
      const worker = a.workerId ? this.s.workers.get(a.workerId) : undefined;
      const immediate = !worker || worker.rec.liveness === 'offline';
      if (a.desired === 'stop' && !immediate) return structuredClone(a);
      await this.s.res.store.write(async (trx) => {
        const db = tables<ClusterTables>(trx);
        if (immediate) {
          await db.deleteFrom('assignments').where('id', '=', id).execute();
          await this.s.append(trx, { type: 'assignment.removed', subject: { kind: 'assignment', id }, data: { owner: a.owner, workerId: a.workerId, from: a.state } });
        } else {
          await db.updateTable('assignments').set({ desired: 'stop', updated_at: now }).where('id', '=', id).execute();
          await this.s.append(trx, { type: 'assignment.stopping', subject: { kind: 'assignment', id }, data: { owner: a.owner, workerId: a.workerId } });
        }
      });
      this.s.res.events.kick();
      const out = structuredClone({ ...a, desired: 'stop' as const, updatedAt: now });
      if (immediate) {
        this.s.forgetAssignment(id);
        this.s.capacityChanged = true;
        return { ...out, state: 'stopped' };
      }
      a.desired = 'stop';
      a.updatedAt = now;
      if (a.workerId) this.s.notify(a.workerId);
      return out;
    });
  }

  /** Removes every assignment of an owner (see removeAssignment). */
  async removeAssignments(owner: string): Promise<Assignment[]> {
    const ids = [...this.s.assignments.values()].filter((a) => a.owner === owner && a.desired === 'run').map((a) => a.id);
    const out: Assignment[] = [];
    for (const id of ids) out.push(await this.removeAssignment(id));
    return out;
  }

  listAssignments(filter: { owner?: string; workerId?: string; state?: ReplicaState } = {}): Assignment[] {
    const out: Assignment[] = [];
    for (const a of this.s.assignments.values()) {
      if (filter.owner !== undefined && a.owner !== filter.owner) continue;
      if (filter.workerId !== undefined && a.workerId !== filter.workerId) continue;
      if (filter.state !== undefined && a.state !== filter.state) continue;
      out.push(structuredClone(a));
    }
    return out.sort((x, y) => x.createdAt - y.createdAt || x.id.localeCompare(y.id));
  }

  getAssignment(id: string): Assignment {
    const a = this.s.assignments.get(id);
    if (!a) throw new CatapultError('CATAPULT_ASSIGNMENT_NOT_FOUND', `No assignment with id ${id}.`, { id });
    return structuredClone(a);
  }

  /**
   * The assignments an agent should run, returned at once when `version` differs from the current
   * one, else when they change or after `waitMs`.
   */
  async waitForAssignments(workerId: string, version: string | undefined, waitMs: number, signal?: AbortSignal): Promise<{ version: string; items: AgentAssignment[] }> {
    this.s.workerEntry(workerId);
    if (version === this.s.versionOf(workerId) && waitMs > 0 && !this.s.stopped) {
      await new Promise<void>((resolve) => {
        let set = this.s.waiters.get(workerId);
        if (!set) this.s.waiters.set(workerId, (set = new Set()));
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
    if (!this.s.workers.has(workerId)) throw new CatapultError('CATAPULT_WORKER_NOT_FOUND', `Worker ${workerId} was removed.`, { id: workerId });
    return { version: this.s.versionOf(workerId), items: this.s.desiredFor(workerId) };
  }

}

function parseInput(input: AssignmentInput, i: number): z.infer<typeof assignmentInputSchema> {
  const parsed = assignmentInputSchema.safeParse(input);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((issue) => ({ path: [i, ...issue.path].join('/'), message: issue.message }));
    throw new CatapultError('CATAPULT_VALIDATION_FAILED', `Invalid assignment: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
  }
  return parsed.data;
}


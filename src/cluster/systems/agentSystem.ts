import { Counter } from 'prom-client';
import { hashSecret } from '../../auth/index.js';
import { CatapultError } from '../../errors/index.js';
import type { AnyDb } from '../../store/index.js';
import { tables, toJson } from '../../store/index.js';
import { newId } from '../../util/index.js';
import { onHeartbeat } from '../liveness.js';
import type { HeartbeatBody, HeartbeatResponse, RegisterBody, RegisterResponse } from '../protocol.js';
import { type ClusterState, type WorkerEntry, displayState } from '../state.js';
import { type ClusterTables, type WorkerRecord, workerToRow } from '../tables.js';
import { AGENT_CREDENTIAL_PREFIX, JOIN_TOKEN_PREFIX, type JoinTokens, generateAgentCredential } from '../tokens.js';
import type { Assignment, Gpu, ReplicaReport, ReplicaState, WorkerLiveness } from '../types.js';

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
const FLUSH_CHUNK = 50;

/**
 * Agents: credentials, registration (join and reconnect), heartbeats with the replica states they
 * report, and the batched writes of telemetry that only lives in memory.
 */
export class AgentSystem {
  private readonly heartbeats: Counter | undefined;

  constructor(
    private readonly s: ClusterState,
    private readonly joinTokens: JoinTokens,
  ) {
    if (s.res.metrics) this.heartbeats = new Counter({ name: 'catapult_cluster_heartbeats_total', help: 'Agent heartbeats received', registers: [s.res.metrics] });
  }

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
    const id = this.s.byCredential.get(hashSecret(secret));
    const entry = id ? this.s.workers.get(id) : undefined;
    return entry ? { kind: 'agent', agentId: entry.rec.id, name: entry.rec.name } : undefined;
  }

  /**
   * Registers an agent. With its credential the worker keeps its id and its replicas; with a join
   * token (or an admin key) a use is spent and a new credential issued. A new agent may take over the
   * name of an offline worker (a reinstalled machine), never of a live one.
   */
  async register(body: RegisterBody, auth: RegisterAuth): Promise<RegisterResponse> {
    const principal = 'credential' in auth ? await this.resolveCredential(auth.credential) : undefined;
    return this.s.mutex.run(async () => {
      const now = this.s.res.clock.now();
      if ('credential' in auth) {
        const existing = principal ? this.s.workers.get(principal.agentId) : undefined;
        if (!existing) throw new CatapultError('CATAPULT_UNAUTHENTICATED', 'The agent credential is unknown (was the worker removed?); join again with a join token.');
        return this.reconnect(existing, body, now);
      }
      return this.join(body, auth, now);
    });
  }

  private async join(body: RegisterBody, auth: { joinToken: string } | { adminKeyId: string }, now: number): Promise<RegisterResponse> {
    const credential = generateAgentCredential();
    const credentialHash = hashSecret(credential);
    const takenId = this.s.byName.get(body.name);
    const taken = takenId ? this.s.workers.get(takenId) : undefined;
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
    await this.s.res.store.write(async (trx) => {
      const tokenId = 'joinToken' in auth ? (await this.joinTokens.consume(trx, auth.joinToken)).id : null;
      rec.joinTokenId = tokenId;
      const row = workerToRow(rec);
      const db = tables<ClusterTables>(trx);
      if (taken) {
        await db.updateTable('workers').set(row).where('id', '=', rec.id).execute();
      } else {
        await db.insertInto('workers').values(row).execute();
      }
      await this.s.append(trx, {
        type: 'worker.registered',
        subject: { kind: 'worker', id: rec.id },
        data: { name: rec.name, gpus: rec.gpus.length, fake: rec.gpus.some((g) => g.fake), joinTokenId: tokenId, tookOver: !!taken },
      });
    });
    this.s.res.events.kick();
    if (taken) this.s.byCredential.delete(taken.rec.credentialHash);
    const entry = this.s.remember(rec, now);
    entry.streak = this.s.policy.recoverHeartbeats;
    this.s.capacityChanged = true;
    this.s.res.log.info({ workerId: rec.id, workerName: rec.name, gpus: rec.gpus.length }, 'worker joined');
    return { workerId: rec.id, name: rec.name, credential, state: displayState(rec), heartbeatIntervalMs: this.s.policy.heartbeatIntervalMs };
  }

  private async reconnect(entry: WorkerEntry, body: RegisterBody, now: number): Promise<RegisterResponse> {
    const rec = entry.rec;
    if (body.name !== rec.name) {
      const other = this.s.byName.get(body.name);
      if (other && other !== rec.id) {
        throw new CatapultError('CATAPULT_WORKER_NAME_TAKEN', `Worker name ${body.name} belongs to ${other}.`, { workerId: other });
      }
    }
    const facts = onHeartbeat({ liveness: rec.liveness, lastSeenAt: entry.lastSeenAt, streak: entry.streak }, now, this.s.policy);
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
    await this.s.res.store.write(async (trx) => {
      await tables<ClusterTables>(trx).updateTable('workers').set(workerToRow(next)).where('id', '=', rec.id).execute();
      await this.s.append(trx, {
        type: 'worker.reconnected',
        subject: { kind: 'worker', id: rec.id },
        data: { name: next.name, liveness: next.liveness, silenceMs: now - entry.lastSeenAt },
      });
      if (next.liveness !== rec.liveness) await this.s.appendLiveness(trx, next, rec.liveness, now - entry.lastSeenAt);
    });
    this.s.res.events.kick();
    this.s.byName.delete(rec.name);
    this.s.byName.set(next.name, rec.id);
    entry.rec = next;
    entry.lastSeenAt = now;
    entry.streak = facts.streak;
    this.s.capacityChanged = true;
    return { workerId: rec.id, name: next.name, state: displayState(next), heartbeatIntervalMs: this.s.policy.heartbeatIntervalMs };
  }

  /**
   * Records a heartbeat, judged by the server's receive time. Telemetry alone stays in memory (written
   * in batches); a change of liveness, GPU set, cached models or replica states is written first.
   */
  async heartbeat(workerId: string, body: HeartbeatBody): Promise<HeartbeatResponse> {
    const entry = this.s.workerEntry(workerId);
    const now = this.s.res.clock.now();
    this.heartbeats?.inc();
    const rec = entry.rec;
    const facts = onHeartbeat({ liveness: rec.liveness, lastSeenAt: entry.lastSeenAt, streak: entry.streak }, now, this.s.policy);
    entry.lastSeenAt = now;
    entry.streak = facts.streak;
    const gpusChanged = !sameGpuSet(rec.gpus, body.gpus);
    const cachedChanged = !sameStrings(rec.cachedModels, body.cachedModels);
    rec.gpus = body.gpus;
    rec.lastHeartbeatAt = now;
    rec.clockSkewMs = body.sentAt === undefined ? null : body.sentAt - now;
    const replicasChanged = this.replicaChanges(workerId, body.replicas).length > 0;
    if (facts.liveness !== rec.liveness || gpusChanged || cachedChanged || replicasChanged) {
      await this.s.mutex.run(() => this.applyHeartbeat(workerId, body, facts.liveness, now, gpusChanged));
    } else {
      entry.telemetryDirty = true;
    }
    return {
      state: displayState(entry.rec),
      heartbeatIntervalMs: this.s.policy.heartbeatIntervalMs,
      assignmentsVersion: this.s.versionOf(workerId),
      serverTime: now,
    };
  }

  private async applyHeartbeat(workerId: string, body: HeartbeatBody, liveness: WorkerLiveness, now: number, gpusChanged: boolean): Promise<void> {
    const entry = this.s.workers.get(workerId);
    if (!entry) return;
    const prev = entry.rec;
    const next: WorkerRecord = {
      ...prev,
      liveness,
      cachedModels: body.cachedModels,
      stateChangedAt: liveness !== prev.liveness ? now : prev.stateChangedAt,
    };
    const changes = this.replicaChanges(workerId, body.replicas);
    await this.s.res.store.write(async (trx) => {
      const db = tables<ClusterTables>(trx);
      await db.updateTable('workers').set(workerToRow(next)).where('id', '=', workerId).execute();
      if (liveness !== prev.liveness) await this.s.appendLiveness(trx, next, prev.liveness, 0);
      if (gpusChanged) {
        await this.s.append(trx, { type: 'worker.updated', subject: { kind: 'worker', id: workerId }, data: { name: next.name, gpus: next.gpus.length } });
      }
      await this.writeReplicaChanges(trx, workerId, changes, now);
    });
    this.s.res.events.kick();
    entry.rec = next;
    entry.telemetryDirty = false;
    this.applyReplicaChanges(changes, now);
    if (liveness === 'ready' && prev.liveness !== 'ready') this.s.capacityChanged = true;
    if (gpusChanged || changes.some((c) => c.remove)) this.s.capacityChanged = true;
    if (changes.some((c) => c.remove)) this.s.notify(workerId);
  }

  /** What a report changes: states that differ, stops confirmed, and replicas the agent no longer runs. */
  private replicaChanges(workerId: string, reports: readonly ReplicaReport[]): ReplicaChange[] {
    const changes: ReplicaChange[] = [];
    const seen = new Set<string>();
    for (const r of reports) {
      seen.add(r.assignmentId);
      const a = this.s.assignments.get(r.assignmentId);
      if (!a || a.workerId !== workerId) continue;
      const message = r.message ?? null;
      const endpoint = r.endpoint ?? null;
      if (a.desired === 'stop' && r.state === 'stopped') {
        changes.push({ assignment: a, remove: true, state: 'stopped', message, endpoint, runId: r.runId ?? null });
      } else if (a.state !== r.state || a.message !== message || a.endpoint !== endpoint) {
        changes.push({ assignment: a, remove: false, state: r.state, message, endpoint, runId: r.runId ?? null });
      }
    }
    for (const id of this.s.byWorker.get(workerId) ?? []) {
      if (seen.has(id)) continue;
      const a = this.s.assignments.get(id);
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
        await this.s.append(trx, {
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
        await this.s.append(trx, {
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
        this.s.forgetAssignment(c.assignment.id);
        this.s.capacityChanged = true;
      } else {
        const a = this.s.assignments.get(c.assignment.id);
        if (a && (a.state === 'failed') !== (c.state === 'failed')) this.s.capacityChanged = true;
        if (a) Object.assign(a, { state: c.state, message: c.message, endpoint: c.endpoint, updatedAt: now, stateChangedAt: c.state !== a.state ? now : a.stateChangedAt });
      }
    }
  }

  /** Writes heartbeat receive times and GPU telemetry that only live in memory so far. */
  async flushTelemetry(): Promise<void> {
    const dirty = [...this.s.workers.values()].filter((e) => e.telemetryDirty);
    // Small transactions with a yield between them: SQLite runs on the event loop, and one
    // transaction over a thousand workers would hold heartbeats up for tens of milliseconds.
    for (let i = 0; i < dirty.length; i += FLUSH_CHUNK) {
      const chunk = dirty.slice(i, i + FLUSH_CHUNK);
      for (const e of chunk) e.telemetryDirty = false;
      try {
        await this.s.res.store.write(async (trx) => {
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


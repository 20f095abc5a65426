import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { CatapultError } from '../errors/index.js';
import type { AssignmentView, ReplicaPlacer, ReplicaSpec } from '../deployments/index.js';
import type { Logger } from '../observability/index.js';
import { defaultCatapultCommand, getRuntime } from '../runtimes/index.js';
import type { CatapultMigration, Store } from '../store/index.js';
import { fromJson, tables, toJson } from '../store/index.js';
import { type Clock, newId } from '../util/index.js';
import type { SlurmCluster, SlurmClusterService } from './clusters.js';
import { type SshCommunicator, shellQuote } from './communicator.js';
import { type ContainerSpec, PORT_PLACEHOLDER, replicaScript, sbatchHeader } from './scripts.js';
import { SQUEUE_ALL, type SlurmJob, TERMINAL_STATES, parseSqueue, scancel } from './slurm.js';

type CreateInput = Parameters<ReplicaPlacer['createAssignment']>[0];

/** Where a deployment's replicas run: on agents (default) or as jobs on a Slurm cluster. */
export interface SlurmPlacement {
  backend: 'agents' | 'slurm';
  cluster?: string | null;
  partition?: string | null;
  account?: string | null;
  qos?: string | null;
  timeLimit?: string | null;
  container?: ContainerSpec | null;
}

/** One replica placed as a Slurm job; persisted so a restarted control plane adopts its jobs. */
export interface SlurmReplica {
  id: string;
  owner: string;
  cluster: string;
  spec: ReplicaSpec;
  cpu: number;
  memoryBytes: number;
  gpus: number;
  placement: SlurmPlacement;
  desired: 'run' | 'stop';
  /** pending (queued or waiting to be submitted) → starting (job running) → ready (health answers) | failed. */
  state: 'pending' | 'starting' | 'ready' | 'failed' | 'stopping';
  message: string | null;
  explanation: { summary: string; slurm?: { jobId: string | null; state: string; reason: string } } | null;
  workerId: string | null;
  endpoint: string | null;
  jobId: string | null;
  jobState: string | null;
  node: string | null;
  restarts: number;
  nextStartAt: number;
  submittedAt: number | null;
  startedAt: number | null;
  readyAt: number | null;
  logOffset: number;
  healthFailures: number;
  createdAt: number;
  /** Jobs of this replica that were cancelled and may still show in squeue. */
  cancelled: string[];
}

interface SlurmReplicasTable {
  id: string;
  owner: string;
  cluster: string;
  data: string;
  created_at: number;
}
interface Tables {
  slurm_replicas: SlurmReplicasTable;
}

export const slurmReplicaMigrations: Record<string, CatapultMigration> = {
  '0710_slurm_replicas': {
    async up({ db, t }) {
      await db.schema
        .createTable('slurm_replicas')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('cluster', 'text', (c) => c.notNull())
        .addColumn('data', t.json, (c) => c.notNull())
        .addColumn('created_at', t.ms, (c) => c.notNull())
        .execute();
    },
  },
};

export const JOB_PREFIX = 'catapult-';
const MAX_LOG_CHUNK = 65_536;
const MAX_BACKOFF_MS = 60_000;

export interface SlurmPlacerDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  clusters: SlurmClusterService;
  /** Where job output lines go (the deployments' replica logs). */
  logs?: { append(batches: { replicaId: string; deploymentId: string; lines: string[] }[]): Promise<unknown> };
  /** Called after replicas change state, so the deployments reconcile at once. */
  onChange?: () => void;
}

/**
 * Places replicas as Slurm jobs (one job each) and follows them with one command per poll interval
 * per cluster: `squeue` for every job of the cluster, plus the endpoint files and new output of the
 * running ones, in the same SSH exec.
 */
export class SlurmPlacer {
  private readonly replicas = new Map<string, SlurmReplica>();
  private readonly polling = new Map<string, Promise<void>>();
  private readonly lastPoll = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  /** SSH commands issued by polls, per cluster (for the benchmark). */
  readonly pollCommands = new Map<string, number>();

  constructor(private readonly d: SlurmPlacerDeps) {}

  async start(tickMs = 100): Promise<void> {
    const rows = await tables<Tables>(this.d.store.db).selectFrom('slurm_replicas').selectAll().execute();
    for (const r of rows) this.replicas.set(r.id, fromJson<SlurmReplica>(r.data, {} as SlurmReplica));
    this.timer = setInterval(() => this.tick(), tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all(this.polling.values());
  }

  /** Whether a placement input asks for Slurm. */
  static wants(input: { placement?: unknown }): boolean {
    return (input.placement as SlurmPlacement | undefined)?.backend === 'slurm';
  }

  /** Refuses, before anything is stored, what the cluster would refuse (unknown partition, too many GPUs, time). */
  async check(input: { placement: SlurmPlacement; cpu: number; memoryBytes: number; gpus: number }): Promise<void> {
    const p = input.placement;
    if (!p.cluster) {
      throw new CatapultError('CATAPULT_VALIDATION_FAILED', 'placement.backend slurm needs placement.cluster: the name of a Slurm cluster.', {
        errors: [{ path: 'body/placement/cluster', message: 'required with backend slurm' }],
      });
    }
    const cluster = await this.d.clusters.get(p.cluster);
    const comm = await this.d.clusters.session(cluster.name);
    const header = sbatchHeader({ ...this.jobResources(cluster, p, input), jobName: `${JOB_PREFIX}check`, output: '/dev/null' });
    const res = await comm.exec('sbatch --test-only', { stdin: `#!/bin/bash\n${header.join('\n')}\ntrue\n`, timeoutMs: 30_000 });
    const text = `${res.stderr}\n${res.stdout}`.trim();
    if (res.code !== 0 || /error/i.test(text)) {
      throw new CatapultError('CATAPULT_SLURM_SUBMIT_REFUSED', `Slurm cluster ${cluster.name} would refuse this deployment's jobs: ${text.replace(/^sbatch: error: /gm, '').slice(0, 500)}`, {
        cluster: cluster.name,
        stderr: text.slice(0, 2000),
      });
    }
  }

  async createAssignment(input: CreateInput & { placement?: unknown }): Promise<AssignmentView> {
    const p = input.placement as unknown as SlurmPlacement;
    const now = this.d.clock.now();
    const gpus = input.resources.gpus ? (input.resources.gpus.count ?? 1) : 0;
    const rep: SlurmReplica = {
      id: newId('slr'),
      owner: input.owner,
      cluster: p.cluster ?? '',
      spec: input.spec,
      cpu: input.resources.cpu,
      memoryBytes: input.resources.memoryBytes,
      gpus,
      placement: p,
      desired: 'run',
      state: 'pending',
      message: null,
      explanation: { summary: `waiting to be submitted to Slurm cluster ${p.cluster}` },
      workerId: null,
      endpoint: null,
      jobId: null,
      jobState: null,
      node: null,
      restarts: 0,
      nextStartAt: now,
      submittedAt: null,
      startedAt: null,
      readyAt: null,
      logOffset: 0,
      healthFailures: 0,
      createdAt: now,
      cancelled: [],
    };
    await this.d.store.write(async (trx) => {
      await tables<Tables>(trx).insertInto('slurm_replicas').values({ id: rep.id, owner: rep.owner, cluster: rep.cluster, data: toJson(rep), created_at: now }).execute();
    });
    this.replicas.set(rep.id, rep);
    this.lastPoll.set(rep.cluster, 0);
    return this.viewOf(rep);
  }

  async removeAssignment(id: string): Promise<unknown> {
    const rep = this.replicas.get(id);
    if (!rep || rep.desired === 'stop') return undefined;
    rep.desired = 'stop';
    rep.state = 'stopping';
    await this.save(rep);
    this.lastPoll.set(rep.cluster, 0);
    return this.viewOf(rep);
  }

  owns(id: string): boolean {
    return this.replicas.has(id);
  }

  listAssignments(filter: { owner?: string }): AssignmentView[] {
    return [...this.replicas.values()].filter((r) => !filter.owner || r.owner === filter.owner).map((r) => this.viewOf(r));
  }

  /** Every replica, with its job (tests, the benchmark, the console). */
  list(): SlurmReplica[] {
    return [...this.replicas.values()];
  }

  /** Deployments with replicas on a cluster (blocks the cluster's deletion). */
  ownersOn(cluster: string): string[] {
    return [...new Set([...this.replicas.values()].filter((r) => r.cluster === cluster).map((r) => r.spec.deploymentName ?? r.owner))];
  }

  /** Polls one cluster now and waits for it (tests). */
  async pollNow(cluster: string): Promise<void> {
    await this.polling.get(cluster);
    await this.poll(cluster);
  }

  private readonly probing = new Set<string>();
  /** Models known to be on a cluster already (cluster|dir). */
  private readonly staged = new Set<string>();

  /**
   * Between polls, replicas that are starting and whose endpoint is known are probed over HTTP every
   * tick (no SSH command), so a replica is ready as soon as it answers rather than at the next poll.
   */
  private probeStarting(): void {
    for (const r of this.replicas.values()) {
      if (r.state !== 'starting' || !r.endpoint || r.desired !== 'run' || this.probing.has(r.id) || this.polling.has(r.cluster)) continue;
      this.probing.add(r.id);
      void (async () => {
        try {
          const before = r.state;
          await this.probe(r, this.d.clock.now(), []);
          if (r.state !== before && this.replicas.has(r.id)) {
            await this.save(r);
            this.d.onChange?.();
          }
        } catch (err) {
          this.d.log.warn({ err, replica: r.id }, 'Slurm replica probe failed');
        } finally {
          this.probing.delete(r.id);
        }
      })();
    }
  }

  private tick(): void {
    this.probeStarting();
    const now = Date.now();
    const clusters = new Set([...this.replicas.values()].map((r) => r.cluster));
    for (const c of clusters) {
      if (this.polling.has(c)) continue;
      const interval = this.intervals.get(c) ?? 2000;
      if (now - (this.lastPoll.get(c) ?? 0) < interval) continue;
      this.lastPoll.set(c, now);
      const p = this.poll(c)
        .catch((err) => this.d.log.warn({ err, cluster: c }, 'Slurm poll failed'))
        .finally(() => this.polling.delete(c));
      this.polling.set(c, p);
    }
  }

  private readonly intervals = new Map<string, number>();

  private viewOf(r: SlurmReplica): AssignmentView {
    return {
      id: r.id,
      owner: r.owner,
      spec: r.spec,
      workerId: r.workerId,
      gpuIndices: Array.from({ length: r.gpus }, (_, i) => i),
      desired: r.desired,
      state: r.state,
      message: r.message,
      explanation: r.explanation,
      endpoint: r.endpoint,
      createdAt: r.createdAt,
    };
  }

  private async save(r: SlurmReplica): Promise<void> {
    await this.d.store.write(async (trx) => {
      await tables<Tables>(trx).updateTable('slurm_replicas').set({ data: toJson(r) }).where('id', '=', r.id).execute();
    });
  }

  private async forget(r: SlurmReplica): Promise<void> {
    await this.d.store.write(async (trx) => {
      await tables<Tables>(trx).deleteFrom('slurm_replicas').where('id', '=', r.id).execute();
    });
    this.replicas.delete(r.id);
  }

  private jobResources(cluster: SlurmCluster, p: SlurmPlacement, r: { cpu: number; memoryBytes: number; gpus: number }) {
    return {
      partition: p.partition ?? cluster.partition,
      account: p.account ?? cluster.account,
      qos: p.qos ?? cluster.qos,
      time: p.timeLimit ?? cluster.timeLimit,
      cpusPerTask: r.cpu,
      memoryBytes: r.memoryBytes,
      gpus: r.gpus,
    };
  }

  private dirOf(cluster: SlurmCluster, r: SlurmReplica): string {
    return `${cluster.workDir.replace(/\/$/, '')}/replicas/${r.id}`;
  }

  /** One poll of a cluster: submit what needs a job, read every job's state in one command, act on it. */
  private async poll(clusterName: string): Promise<void> {
    const reps = [...this.replicas.values()].filter((r) => r.cluster === clusterName);
    if (reps.length === 0) return;
    let cluster: SlurmCluster;
    let comm: SshCommunicator;
    try {
      cluster = await this.d.clusters.get(clusterName);
      comm = await this.d.clusters.session(clusterName);
    } catch (err) {
      for (const r of reps) {
        if (r.desired === 'stop') await this.forget(r);
        else await this.setPending(r, `Slurm cluster ${clusterName}: ${(err as Error).message}`);
      }
      this.d.onChange?.();
      return;
    }
    this.intervals.set(clusterName, cluster.pollIntervalMs);

    // One command: every job of the cluster, then the endpoint file and new output of each replica with a job.
    const withJob = reps.filter((r) => r.jobId);
    const parts = [`{ ${SQUEUE_ALL}; echo "@@squeue $?"; }`];
    for (const r of withJob) {
      const dir = this.dirOf(cluster, r);
      parts.push(
        `printf '@@rep %s\\n' ${r.id}; cat ${shellQuote(`${dir}/endpoint`)} 2>/dev/null; printf '@@log\\n'; tail -c +${r.logOffset + 1} ${shellQuote(`${dir}/output.log`)} 2>/dev/null | head -c ${MAX_LOG_CHUNK}; printf '\\n@@end\\n'`,
      );
    }
    let text: string;
    try {
      const res = await comm.exec(parts.join('; '), { timeoutMs: 30_000 });
      this.pollCommands.set(clusterName, (this.pollCommands.get(clusterName) ?? 0) + 1);
      text = res.stdout;
    } catch (err) {
      // The cluster is unreachable: keep jobs as they are (they run on without us) and say why.
      for (const r of reps) if (r.state !== 'ready') await this.setPending(r, `cannot reach Slurm cluster ${clusterName}: ${(err as Error).message}`, true);
      this.d.onChange?.();
      return;
    }
    const sq = /@@squeue (\d+)\n/.exec(text);
    if (!sq || sq[1] !== '0') {
      this.d.log.warn({ cluster: clusterName, output: text.slice(0, 500) }, 'squeue failed');
      return;
    }
    const jobs = parseSqueue(text.slice(0, sq.index));
    const byId = new Map(jobs.map((j) => [j.id, j]));
    const byName = new Map<string, SlurmJob>();
    for (const j of jobs) if (j.name.startsWith(JOB_PREFIX) && !TERMINAL_STATES.has(j.state)) byName.set(j.name, j);
    const files = new Map<string, { endpoint: string; log: string }>();
    for (const m of text.matchAll(/@@rep (\S+)\n([\s\S]*?)@@log\n([\s\S]*?)\n@@end\n/g)) files.set(m[1]!, { endpoint: m[2]!, log: m[3]! });

    const toCancel: string[] = [];
    const logBatches: { replicaId: string; deploymentId: string; lines: string[] }[] = [];
    let changed = false;
    const now = this.d.clock.now();
    for (const r of reps) {
      const before = JSON.stringify(r);
      const f = files.get(r.id);
      if (f && f.log.length > 0) {
        r.logOffset += Buffer.byteLength(f.log);
        const lines = f.log.split('\n').filter((l) => l.length > 0);
        if (lines.length) logBatches.push({ replicaId: r.id, deploymentId: r.owner, lines });
      }
      // Jobs cancelled earlier that Slurm still lists as running: cancel again.
      for (const id of r.cancelled) {
        const j = byId.get(id);
        if (j && !TERMINAL_STATES.has(j.state)) toCancel.push(id);
      }
      r.cancelled = r.cancelled.filter((id) => byId.has(id) && !TERMINAL_STATES.has(byId.get(id)!.state));

      if (r.desired === 'stop') {
        const j = r.jobId ? byId.get(r.jobId) : byName.get(JOB_PREFIX + r.id);
        if (j && !TERMINAL_STATES.has(j.state)) {
          toCancel.push(j.id);
          continue;
        }
        await this.forget(r);
        changed = true;
        continue;
      }
      let submittedNow = false;
      if (!r.jobId) {
        // Idempotent submission: a job already carrying this replica's name is adopted, not doubled.
        const existing = byName.get(JOB_PREFIX + r.id);
        if (existing) {
          r.jobId = existing.id;
          r.submittedAt ??= now;
        } else if (now >= r.nextStartAt) {
          await this.submit(cluster, comm, r);
          submittedNow = r.jobId !== null;
        }
      }
      // A job submitted in this pass is not in this pass's squeue: its state comes with the next poll.
      if (r.jobId && !submittedNow) {
        const j = byId.get(r.jobId);
        if (!j || TERMINAL_STATES.has(j.state) || j.state === 'COMPLETING') {
          // A job that ended: always a failure for a server, whoever ended it.
          if (j?.state !== 'COMPLETING') this.jobEnded(r, j, f?.log ?? '');
        } else if (j.state === 'PENDING') {
          r.state = 'pending';
          r.workerId = null;
          r.jobState = j.state;
          r.explanation = { summary: `Slurm job ${j.id} is pending: ${j.reason}`, slurm: { jobId: j.id, state: j.state, reason: j.reason } };
        } else {
          r.jobState = j.state;
          r.node = j.nodes;
          r.workerId = `slurm:${cluster.name}/${j.nodes}`;
          r.explanation = null;
          r.startedAt ??= now;
          const ep = /^(\S+) (\d+) (\d+)/.exec(f?.endpoint.trim() ?? '');
          if (ep && ep[3] === r.jobId) r.endpoint = `http://${ep[1]}:${ep[2]}`;
          if (r.endpoint) await this.probe(r, now, toCancel);
          if (r.state === 'pending' || r.state === 'failed') r.state = 'starting';
          if (r.state === 'starting') {
            r.message = `Slurm job ${j.id} running on ${j.nodes}${r.endpoint ? `, serving at ${r.endpoint}` : ''}; waiting for its health check`;
            const timeout = r.spec.readinessTimeoutMs ?? getRuntime(r.spec.runtime).readinessTimeoutMs;
            if (now - (r.startedAt ?? now) > timeout) {
              toCancel.push(r.jobId);
              r.cancelled.push(r.jobId);
              this.jobEnded(r, undefined, f?.log ?? '', `did not answer its health check within ${Math.round(timeout / 1000)} s`);
            }
          }
        }
      }
      if (JSON.stringify(r) !== before) {
        changed = true;
        if (this.replicas.has(r.id)) await this.save(r);
      }
    }
    if (toCancel.length) await scancel(comm, [...new Set(toCancel)]).catch((err) => this.d.log.warn({ err }, 'scancel failed'));
    if (logBatches.length && this.d.logs) await this.d.logs.append(logBatches).catch((err) => this.d.log.warn({ err }, 'replica logs append failed'));
    if (changed) this.d.onChange?.();
  }

  private async probe(r: SlurmReplica, now: number, toCancel: string[]): Promise<void> {
    const path = getRuntime(r.spec.runtime).healthPath;
    let ok = false;
    try {
      const res = await fetch(`${r.endpoint}${path}`, { signal: AbortSignal.timeout(2000) });
      ok = res.ok;
      await res.arrayBuffer().catch(() => undefined);
    } catch {
      ok = false;
    }
    if (ok) {
      if (r.state !== 'ready') {
        r.state = 'ready';
        r.readyAt = now;
        r.message = `Slurm job ${r.jobId} on ${r.node} serving at ${r.endpoint}`;
      }
      r.healthFailures = 0;
    } else if (r.state === 'ready') {
      r.healthFailures++;
      if (r.healthFailures >= 3 && r.jobId) {
        toCancel.push(r.jobId);
        r.cancelled.push(r.jobId);
        this.jobEnded(r, undefined, '', `stopped answering its health check at ${r.endpoint}`);
      }
    }
  }

  private jobEnded(r: SlurmReplica, j: SlurmJob | undefined, log: string, why?: string): void {
    const now = this.d.clock.now();
    const lastLines = log.split('\n').filter(Boolean).slice(-10).join('\n');
    const how = why ?? (j ? `ended: ${j.state}${j.reason && j.reason !== 'None' ? ` (${j.reason})` : ''}` : 'is gone from Slurm');
    r.restarts++;
    const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(10, r.restarts - 1));
    r.state = 'failed';
    r.message = `Slurm job ${r.jobId} ${how}; a new job follows in ${Math.round(backoff / 1000)} s (restart ${r.restarts})${lastLines ? `\n${lastLines}` : ''}`;
    r.explanation = null;
    r.jobId = null;
    r.jobState = j?.state ?? null;
    r.endpoint = null;
    r.workerId = null;
    r.startedAt = null;
    r.readyAt = null;
    r.logOffset = 0;
    r.healthFailures = 0;
    r.nextStartAt = now + backoff;
  }

  private async setPending(r: SlurmReplica, summary: string, keepJob = false): Promise<void> {
    if (!keepJob) r.state = 'pending';
    r.explanation = { summary };
    await this.save(r);
  }

  /** Stages the model, writes the script and submits it. */
  private async submit(cluster: SlurmCluster, comm: SshCommunicator, r: SlurmReplica): Promise<void> {
    const dir = this.dirOf(cluster, r);
    const now = this.d.clock.now();
    try {
      const modelPath = r.spec.modelPath ? await this.stageModel(cluster, comm, r.spec.modelPath) : '';
      const runtime = getRuntime(r.spec.runtime);
      const launch = runtime.buildCommand({
        modelPath,
        modelName: r.spec.modelName,
        port: PORT_PLACEHOLDER,
        host: '0.0.0.0',
        gpus: Array.from({ length: r.gpus }, (_, i) => i),
        args: r.spec.args,
        options: r.spec.options,
        catapultCommand: cluster.catapultCommand ?? defaultCatapultCommand(),
      });
      const env: Record<string, string> = { ...r.spec.env, ...launch.env };
      // Slurm sets the visible GPUs of a job with GRES; a CPU job sees none.
      if (r.gpus > 0) {
        delete env.CUDA_VISIBLE_DEVICES;
        delete env.HIP_VISIBLE_DEVICES;
      } else env.CUDA_VISIBLE_DEVICES = '';
      const script = replicaScript({
        resources: { ...this.jobResources(cluster, r.placement, r), jobName: JOB_PREFIX + r.id, output: `${dir}/output.log` },
        dir,
        endpointFile: `${dir}/endpoint`,
        argv: launch.argv,
        env,
        ...(r.placement.container ? { container: r.placement.container } : {}),
        binds: modelPath ? [modelPath] : [],
      });
      r.logOffset = 0;
      // One command: make the directory, clear the last job's files, write the script from stdin, submit it.
      const q = (f: string) => shellQuote(`${dir}/${f}`);
      const res = await comm.exec(`mkdir -p ${shellQuote(dir)} && rm -f ${q('endpoint')} ${q('output.log')} && cat > ${q('job.sbatch')} && cd ${shellQuote(dir)} && sbatch --parsable ${q('job.sbatch')}`, {
        stdin: script,
        timeoutMs: 30_000,
      });
      const id = res.stdout.trim().split(';')[0] ?? '';
      if (res.code !== 0 || !/^\d+$/.test(id)) {
        const msg = (res.stderr || res.stdout).trim();
        throw new CatapultError('CATAPULT_SLURM_SUBMIT_REFUSED', `Slurm refused the job: ${msg.slice(0, 500) || `exit ${res.code}`}`, { stderr: msg.slice(0, 2000) });
      }
      r.jobId = id;
      r.submittedAt = now;
      r.state = 'pending';
      r.explanation = { summary: `Slurm job ${r.jobId} submitted`, slurm: { jobId: r.jobId, state: 'PENDING', reason: 'submitted' } };
    } catch (err) {
      const e = err as CatapultError;
      r.restarts++;
      r.nextStartAt = now + Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(10, r.restarts - 1));
      if (e.code === 'CATAPULT_SLURM_SUBMIT_REFUSED' || e.code === 'CATAPULT_RUNTIME_OPTIONS_INVALID') {
        r.state = 'failed';
        r.message = e.message;
      } else {
        r.state = 'pending';
        r.explanation = { summary: `cannot submit to Slurm cluster ${cluster.name}: ${e.message}` };
      }
    }
  }

  /** Copies the model to the cluster once (by content key); returns its path there. */
  private async stageModel(cluster: SlurmCluster, comm: SshCommunicator, local: string): Promise<string> {
    const st = statSync(local);
    const key = createHash('sha256').update(`${local}|${st.size}|${st.mtimeMs}`).digest('hex').slice(0, 16);
    const root = `${cluster.workDir.replace(/\/$/, '')}/models/${key}`;
    const remote = `${root}/${basename(local)}`;
    const files: { local: string; remote: string }[] = [];
    const walk = (l: string, r: string) => {
      if (statSync(l).isDirectory()) {
        for (const n of readdirSync(l)) walk(join(l, n), `${r}/${n}`);
      } else files.push({ local: l, remote: r });
    };
    walk(local, remote);
    if (this.staged.has(`${cluster.name}|${root}`)) return remote;
    const done = await comm.exec(`test -f ${shellQuote(`${root}/.complete`)}`);
    if (done.code === 0) {
      this.staged.add(`${cluster.name}|${root}`);
      return remote;
    }
    const dirs = [...new Set(files.map((f) => f.remote.slice(0, f.remote.lastIndexOf('/'))))];
    await comm.exec(`mkdir -p ${dirs.map(shellQuote).join(' ')}`);
    for (const f of files) await comm.upload(f.local, f.remote);
    await comm.exec(`touch ${shellQuote(`${root}/.complete`)}`);
    this.staged.add(`${cluster.name}|${root}`);
    return remote;
  }
}

/**
 * The placer deployments use: replicas whose placement names Slurm go to the Slurm placer, the rest
 * to the agents' cluster manager.
 */
export class BackendPlacer implements ReplicaPlacer {
  constructor(
    private readonly agents: ReplicaPlacer,
    private readonly slurm: SlurmPlacer,
  ) {}

  async checkPlacement(input: { placement?: unknown; cpu: number; memoryBytes: number; gpus: number }): Promise<void> {
    if (SlurmPlacer.wants(input)) await this.slurm.check({ ...input, placement: input.placement as SlurmPlacement });
  }

  createAssignment(input: CreateInput): Promise<AssignmentView> {
    return SlurmPlacer.wants(input) ? this.slurm.createAssignment(input) : this.agents.createAssignment(input);
  }

  removeAssignment(id: string): Promise<unknown> {
    return this.slurm.owns(id) ? this.slurm.removeAssignment(id) : this.agents.removeAssignment(id);
  }

  listAssignments(filter: { owner?: string }): AssignmentView[] {
    return [...this.agents.listAssignments(filter), ...this.slurm.listAssignments(filter)];
  }
}

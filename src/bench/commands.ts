import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Deployment } from '../deployments/index.js';
import { tables, toJson } from '../store/index.js';
import type { Recipe } from './recipe.js';
import type { BenchRows } from './rows.js';
import type { BenchTables, BenchmarkState } from './schema.js';
import { PreflightError, deployService } from './target.js';

/**
 * Seed 004's command clients: after the target service is active, N clients run a user's command as
 * Slurm jobs with SERVICE_* in their environment; the run follows their jobs and keeps what they wrote.
 * The Slurm side is injected (`BenchmarkServiceDeps.slurm`): this domain does not reach Slurm itself.
 */

/** One command client as its Slurm job ran it (seed 004's Client record). */
export interface CommandClientRecord {
  name: string;
  serviceName: string;
  benchmarkCommand: string;
  jobName: string;
  jobId: string;
  /** Slurm's job state (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ...). */
  state: string;
  hostname: string | null;
  submitTime: string | null;
  startTime: string | null;
  endTime: string | null;
  workingDir: string;
  logFile: string;
  metricsFile: string;
  /** The copies collected into the benchmark's data dir; null when the job wrote none. */
  collected: { log: string | null; metrics: string | null };
  metadata: Record<string, unknown>;
}

/** One Slurm job serving the benchmark's service (seed 004's Service record). */
export interface ServiceJobRecord {
  replica: string;
  cluster: string;
  jobId: string | null;
  /** The replica's state (pending, starting, ready, failed, stopping). */
  state: string;
  jobState: string | null;
  hostname: string | null;
  url: string | null;
  submittedAt: number | null;
  startedAt: number | null;
  readyAt: number | null;
}

export interface CommandClientsRequest {
  benchmarkId: string;
  cluster: string;
  service: { name: string; hostname: string; port: number; url: string };
  clients: { name: string; command: string; env: Record<string, string>; cpus: number; timeLimit?: string }[];
  /** Where the clients' log and metrics files are copied, one folder per client. */
  collectDir: string;
  signal: AbortSignal;
  onProgress: (records: CommandClientRecord[]) => void;
}

/** What the composition root gives the benchmarks for Slurm (implemented with src/slurm). */
export interface SlurmBenchHooks {
  /** The Slurm jobs behind a deployment's replicas (empty when it runs elsewhere). */
  serviceJobs(deploymentId: string): ServiceJobRecord[];
  /** Runs the command clients as Slurm jobs until they all ended (cancelling them on abort) and collects their files. */
  runClients(req: CommandClientsRequest): Promise<CommandClientRecord[]>;
}

/** What a run on Slurm keeps on its row and shows. */
export interface SlurmRunView {
  cluster: string;
  service: { name: string; url: string; deploymentId: string | null; jobs: ServiceJobRecord[] } | null;
  clients: CommandClientRecord[];
}

const OK_STATES = new Set(['COMPLETED']);

function lastLines(file: string | null, n = 10): string {
  if (!file) return '';
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).slice(-n).join('\n');
  } catch {
    return '';
  }
}

async function saveSlurm(rows: BenchRows, id: string, view: SlurmRunView): Promise<void> {
  const now = rows.d.clock.now();
  await rows.d.store.write(async (trx) => {
    await tables<BenchTables>(trx).updateTable('benchmarks').set({ slurm: toJson(view), heartbeat_at: now, updated_at: now }).where('id', '=', id).execute();
  });
}

/** The service's address as the clients see it: a ready replica's own URL (not the gateway). */
async function serviceOf(rows: BenchRows, id: string, recipe: Recipe, signal: AbortSignal): Promise<{ name: string; url: string; deployment: Deployment | null }> {
  const t = recipe.target;
  if (t.url) return { name: t.url, url: t.url.replace(/\/+$/, ''), deployment: null };
  if (t.endpoint) {
    const ep = await rows.d.endpoints.upstream(t.endpoint);
    return { name: ep.name, url: ep.url.replace(/\/+$/, ''), deployment: null };
  }
  const d = t.service ? await deployService(rows, id, recipe, signal) : await rows.d.deployments.get(t.deployment!);
  const replica = d.replicas.items.find((r) => r.state === 'ready' && r.desired === 'run' && r.url);
  if (!replica?.url) throw new PreflightError(`deployment ${d.name} has no ready replica with a URL (${d.state}${d.reason ? `: ${d.reason}` : ''})`);
  return { name: d.name, url: replica.url.replace(/\/+$/, ''), deployment: d };
}

/**
 * Runs a recipe whose clients are commands on Slurm: resolve (or deploy) the service, start the
 * client jobs, follow them, collect their files, and end `completed` when every job completed,
 * `failed` (with the failed client's last log lines) otherwise.
 */
export async function runCommandClients(rows: BenchRows, id: string, recipe: Recipe, signal: AbortSignal): Promise<BenchmarkState> {
  const hooks = rows.d.slurm;
  const cluster = recipe.clients.cluster!;
  if (!hooks) throw new PreflightError('this control plane runs no Slurm clusters; clients.where: slurm is not available here');
  const svc = await serviceOf(rows, id, recipe, signal);
  const u = new URL(svc.url);
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  const view: SlurmRunView = {
    cluster,
    service: { name: svc.name, url: svc.url, deploymentId: svc.deployment?.id ?? null, jobs: svc.deployment ? hooks.serviceJobs(svc.deployment.id) : [] },
    clients: [],
  };
  const count = recipe.clients.count;
  const now = rows.d.clock.now();
  await rows.d.store.write(async (trx) => {
    await tables<BenchTables>(trx)
      .updateTable('benchmarks')
      .set({
        state: 'running',
        reason: `${count} command client(s) on Slurm cluster ${cluster} against ${svc.url}`,
        target_url: svc.url,
        slurm: toJson(view),
        started_at: now,
        heartbeat_at: now,
        updated_at: now,
      })
      .where('id', '=', id)
      .execute();
    await rows.d.events.append(trx, { type: 'benchmark.updated', subject: { kind: 'benchmark', id }, data: { name: recipe.name, state: 'running', clients: count } });
  });
  rows.d.events.kick();
  let lastSave = 0;
  const records = await hooks.runClients({
    benchmarkId: id,
    cluster,
    service: { name: svc.name, hostname: u.hostname, port, url: svc.url },
    clients: Array.from({ length: count }, (_, i) => ({
      name: `client-${i}`,
      command: recipe.clients.command!,
      env: recipe.clients.env ?? {},
      cpus: recipe.clients.cpus ?? 1,
      ...(recipe.clients.timeLimit ? { timeLimit: recipe.clients.timeLimit } : {}),
    })),
    collectDir: join(rows.dir(id), 'clients'),
    signal,
    onProgress: (recs) => {
      view.clients = recs.map((r) => ({ ...r }));
      if (svc.deployment) view.service!.jobs = hooks.serviceJobs(svc.deployment.id);
      if (rows.d.clock.now() - lastSave < 1000) return;
      lastSave = rows.d.clock.now();
      void saveSlurm(rows, id, view).catch(() => undefined);
    },
  });
  view.clients = records;
  if (svc.deployment) view.service!.jobs = hooks.serviceJobs(svc.deployment.id);
  const bad = records.filter((r) => !OK_STATES.has(r.state));
  let state: BenchmarkState = 'completed';
  let reason = `${records.length} command client(s) completed on Slurm cluster ${cluster}`;
  if (signal.aborted && String((signal.reason as Error | undefined)?.message) === 'cancelled') {
    state = 'cancelled';
    reason = 'cancelled during the run; the client jobs were cancelled';
  } else if (bad.length > 0) {
    state = 'failed';
    const first = bad[0]!;
    const tail = lastLines(first.collected.log);
    reason = `${bad.length} of ${records.length} client job(s) did not complete: ${bad.map((b) => `${b.name} (job ${b.jobId}) ${b.state}`).join(', ')}${tail ? `; last lines of ${first.name}:\n${tail}` : ''}`;
  }
  const end = rows.d.clock.now();
  await rows.d.store.write(async (trx) => {
    await tables<BenchTables>(trx)
      .updateTable('benchmarks')
      .set({ state, reason, slurm: toJson(view), finished_at: end, heartbeat_at: end, updated_at: end, target_headers: null })
      .where('id', '=', id)
      .execute();
    await rows.d.events.append(trx, { type: 'benchmark.updated', subject: { kind: 'benchmark', id }, data: { name: recipe.name, state, reason } });
  });
  rows.d.events.kick();
  return state;
}

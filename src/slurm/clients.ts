import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SlurmCluster } from './clusters.js';
import { type SshCommunicator, shellQuote } from './communicator.js';
import { type ContainerSpec, type ServiceEndpoint, clientScript } from './scripts.js';
import { SQUEUE_ALL, type SlurmJob, TERMINAL_STATES, parseSqueue, sbatch, scancel } from './slurm.js';
import type { CommandClientRecord } from '../bench/index.js';

/** One command client of a benchmark (seed 004's client: a `benchmark_command` run as a Slurm job). */
export interface CommandClientSpec {
  name: string;
  command: string;
  env?: Record<string, string>;
  container?: ContainerSpec;
  cpus?: number;
  memoryBytes?: number;
  gpus?: number;
  timeLimit?: string;
}

/** What is kept about a client job (seed 004's Client record): the bench domain's record, which this fills. */
export type ClientRecord = CommandClientRecord;

function time(v: string | undefined): string | null {
  return v && v !== 'N/A' && v !== 'Unknown' && v !== 'None' ? v : null;
}

/**
 * Runs N command clients of one benchmark as Slurm jobs against a service that is already healthy,
 * follows them with one squeue per poll, and collects each one's log and metrics file (SFTP) into
 * `collectDir/<client>/`. Submission is idempotent: a live job with the client's name is adopted.
 */
export async function runCommandClients(input: {
  comm: SshCommunicator;
  cluster: SlurmCluster;
  benchmarkId: string;
  service: ServiceEndpoint;
  clients: CommandClientSpec[];
  collectDir: string;
  pollMs?: number;
  /** Gives up (cancelling the jobs) after this long. */
  timeoutMs?: number;
  onProgress?: (records: ClientRecord[]) => void;
  /** Cancels the client jobs still queued or running (they end CANCELLED) and collects what they wrote. */
  signal?: AbortSignal;
}): Promise<ClientRecord[]> {
  const { comm, cluster } = input;
  const base = `${cluster.workDir.replace(/\/$/, '')}/benchmarks/${input.benchmarkId}`;
  const records: ClientRecord[] = [];
  const existing = await jobsByName(comm);
  for (const c of input.clients) {
    const dir = `${base}/clients/${c.name}`;
    const jobName = `catapult-bc-${input.benchmarkId}-${c.name}`;
    const rec: ClientRecord = {
      name: c.name,
      serviceName: input.service.name,
      benchmarkCommand: c.command,
      jobName,
      jobId: '',
      state: 'PENDING',
      hostname: null,
      submitTime: null,
      startTime: null,
      endTime: null,
      workingDir: dir,
      logFile: `${dir}/output.log`,
      metricsFile: `${dir}/metrics`,
      collected: { log: null, metrics: null },
      metadata: { service: input.service, cluster: cluster.name },
    };
    const live = existing.get(jobName);
    if (live) {
      rec.jobId = live.id;
    } else {
      const mk = await comm.exec(`mkdir -p ${shellQuote(dir)}`);
      if (mk.code !== 0) throw new Error(`cannot create ${dir} on ${cluster.name}: ${mk.stderr.trim()}`);
      const script = clientScript({
        resources: {
          jobName,
          output: rec.logFile,
          partition: cluster.partition,
          account: cluster.account,
          qos: cluster.qos,
          time: c.timeLimit ?? cluster.timeLimit,
          cpusPerTask: c.cpus ?? 1,
          memoryBytes: c.memoryBytes ?? 256 * 2 ** 20,
          gpus: c.gpus ?? 0,
        },
        dir,
        command: c.command,
        service: input.service,
        metricsFile: rec.metricsFile,
        ...(c.env ? { env: c.env } : {}),
        ...(c.container ? { container: c.container } : {}),
      });
      await comm.writeFile(`${dir}/job.sbatch`, script, 0o755);
      rec.jobId = await sbatch(comm, `${dir}/job.sbatch`, dir);
    }
    records.push(rec);
  }

  const deadline = Date.now() + (input.timeoutMs ?? 3_600_000);
  for (;;) {
    const res = await comm.exec(SQUEUE_ALL, { timeoutMs: 30_000 });
    const byId = new Map(parseSqueue(res.stdout).map((j) => [j.id, j]));
    let open = 0;
    for (const r of records) {
      const j = byId.get(r.jobId);
      if (!j) {
        // Forgotten by Slurm: it ended longer ago than MinJobAge.
        if (!TERMINAL_STATES.has(r.state)) r.state = 'COMPLETED';
        continue;
      }
      r.state = j.state;
      r.hostname = j.nodes || r.hostname;
      r.submitTime = time(j.submitTime) ?? r.submitTime;
      r.startTime = time(j.startTime) ?? r.startTime;
      if (TERMINAL_STATES.has(j.state)) r.endTime = time(j.endTime) ?? r.endTime;
      else open++;
    }
    input.onProgress?.(records);
    if (open === 0) break;
    if (Date.now() > deadline || input.signal?.aborted) {
      await scancel(
        comm,
        records.filter((r) => !TERMINAL_STATES.has(r.state)).map((r) => r.jobId),
      );
      for (const r of records) if (!TERMINAL_STATES.has(r.state)) r.state = 'CANCELLED';
      break;
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        input.signal?.removeEventListener('abort', done);
        resolve();
      }, input.pollMs ?? cluster.pollIntervalMs);
      input.signal?.addEventListener('abort', done, { once: true });
    });
  }

  for (const r of records) {
    const local = join(input.collectDir, r.name);
    mkdirSync(local, { recursive: true });
    if ((await comm.size(r.logFile)) !== undefined) {
      await comm.download(r.logFile, join(local, 'output.log'));
      r.collected.log = join(local, 'output.log');
    }
    if ((await comm.size(r.metricsFile)) !== undefined) {
      await comm.download(r.metricsFile, join(local, 'metrics'));
      r.collected.metrics = join(local, 'metrics');
    }
  }
  return records;
}

async function jobsByName(comm: SshCommunicator): Promise<Map<string, SlurmJob>> {
  const res = await comm.exec(SQUEUE_ALL, { timeoutMs: 30_000 });
  const m = new Map<string, SlurmJob>();
  for (const j of parseSqueue(res.stdout)) if (!TERMINAL_STATES.has(j.state)) m.set(j.name, j);
  return m;
}

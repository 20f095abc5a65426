import { CatapultError } from '../errors/index.js';
import { type ExecResult, shellQuote } from './communicator.js';

/** What issues commands on a cluster (the SSH communicator, or anything with the same exec). */
export interface CommandRunner {
  exec(command: string, opts?: { cwd?: string; timeoutMs?: number }): Promise<ExecResult>;
}

/** One job as `squeue` reports it. */
export interface SlurmJob {
  id: string;
  name: string;
  /** PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL, PREEMPTED, OUT_OF_MEMORY, … */
  state: string;
  /** Why it is pending (Resources, Priority, ReqNodeNotAvail, …), or None. */
  reason: string;
  nodes: string;
  submitTime: string;
  startTime: string;
  /** When it ended (or is expected to, for a running job with a time limit); N/A or Unknown otherwise. */
  endTime: string;
}

/** Job states after which the job runs no more. */
export const TERMINAL_STATES = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE', 'SPECIAL_EXIT', 'REVOKED']);

const SQUEUE_FORMAT = '%i|%j|%T|%r|%N|%V|%S|%e';

/** The one command that lists every job of the cluster (all users, all partitions, recently ended ones too). */
export const SQUEUE_ALL = `squeue -h -a -t all -o ${shellQuote(SQUEUE_FORMAT)}`;

export function parseSqueue(text: string): SlurmJob[] {
  const jobs: SlurmJob[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split('|');
    if (f.length < 7 || !f[0]) continue;
    jobs.push({ id: f[0], name: f[1]!, state: f[2]!, reason: f[3]!, nodes: f[4]!, submitTime: f[5]!, startTime: f[6]!, endTime: f[7] ?? '' });
  }
  return jobs;
}

/** Parses `key=value` pairs of one `scontrol show … -o` line (values may contain spaces only in known trailing keys). */
export function parseScontrolLine(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /(\S+?)=(.*?)(?=\s+\S+?=|$)/g;
  for (const m of line.trim().matchAll(re)) out[m[1]!] = m[2]!.trim();
  return out;
}

export interface SlurmNode {
  name: string;
  address: string;
  state: string;
  cpus: number;
  memoryMb: number;
  partitions: string[];
  /** GPUs per node from its GRES (`gpu:fake:2` → 2). */
  gpus: number;
  gres: string;
  reason: string | null;
}

export interface SlurmPartition {
  name: string;
  available: string;
  timeLimit: string;
  nodes: number;
  isDefault: boolean;
}

export interface ClusterReport {
  version: string;
  nodes: SlurmNode[];
  partitions: SlurmPartition[];
}

export function gpusInGres(gres: string): number {
  let n = 0;
  for (const part of gres.split(',')) {
    const m = /^gpu(?::[^:(]+)?:(\d+)/.exec(part.trim());
    if (m) n += Number(m[1]);
  }
  return n;
}

/** Checks that Slurm answers and what it has: one command. */
export async function describeCluster(r: CommandRunner): Promise<ClusterReport> {
  const sep = '----catapult----';
  const res = await r.exec(`sinfo --version && echo ${sep} && scontrol show node -o && echo ${sep} && sinfo -h -o '%P|%a|%l|%D'`, { timeoutMs: 20_000 });
  if (res.code !== 0) {
    throw new CatapultError('CATAPULT_SLURM_COMMAND_FAILED', `Slurm did not answer on the cluster (exit ${res.code}): ${(res.stderr || res.stdout).trim().slice(0, 500)}`);
  }
  const [v, nodesText, partsText] = res.stdout.split(`${sep}\n`);
  const nodes: SlurmNode[] = [];
  for (const line of (nodesText ?? '').split('\n')) {
    if (!line.includes('NodeName=')) continue;
    const kv = parseScontrolLine(line);
    const gres = kv.Gres && kv.Gres !== '(null)' ? kv.Gres : '';
    nodes.push({
      name: kv.NodeName!,
      address: kv.NodeAddr ?? kv.NodeName!,
      state: kv.State ?? 'UNKNOWN',
      cpus: Number(kv.CPUTot ?? 0),
      memoryMb: Number(kv.RealMemory ?? 0),
      partitions: (kv.Partitions ?? '').split(',').filter(Boolean),
      gpus: gpusInGres(gres),
      gres,
      reason: kv.Reason && kv.Reason !== '(null)' ? kv.Reason : null,
    });
  }
  const partitions: SlurmPartition[] = [];
  for (const line of (partsText ?? '').split('\n')) {
    const f = line.trim().split('|');
    if (f.length < 4) continue;
    partitions.push({ name: f[0]!.replace(/\*$/, ''), available: f[1]!, timeLimit: f[2]!, nodes: Number(f[3]), isDefault: f[0]!.endsWith('*') });
  }
  const versionText = (v ?? '').trim();
  return { version: /\d+\.\d+(\.\d+)?/.exec(versionText)?.[0] ?? versionText, nodes, partitions };
}

/** Submits a script already on the cluster; returns the job id. */
export async function sbatch(r: CommandRunner, scriptPath: string, cwd: string): Promise<string> {
  const res = await r.exec(`sbatch --parsable ${shellQuote(scriptPath)}`, { cwd, timeoutMs: 30_000 });
  const id = res.stdout.trim().split(';')[0] ?? '';
  if (res.code !== 0 || !/^\d+$/.test(id)) {
    const msg = (res.stderr || res.stdout).trim();
    throw new CatapultError('CATAPULT_SLURM_SUBMIT_REFUSED', `Slurm refused the job: ${msg.slice(0, 500) || `sbatch exited ${res.code}`}`, { stderr: msg.slice(0, 2000) });
  }
  return id;
}

/** Asks Slurm whether a script would be accepted, without submitting it (`sbatch --test-only`). */
export async function sbatchTestOnly(r: CommandRunner, scriptPath: string, cwd: string): Promise<void> {
  const res = await r.exec(`sbatch --test-only ${shellQuote(scriptPath)}`, { cwd, timeoutMs: 30_000 });
  const text = `${res.stderr}\n${res.stdout}`.trim();
  if (res.code !== 0 || /error/i.test(text)) {
    throw new CatapultError('CATAPULT_SLURM_SUBMIT_REFUSED', `Slurm would refuse the job: ${text.slice(0, 500)}`, { stderr: text.slice(0, 2000) });
  }
}

export async function squeueAll(r: CommandRunner): Promise<SlurmJob[]> {
  const res = await r.exec(SQUEUE_ALL, { timeoutMs: 20_000 });
  if (res.code !== 0) throw new CatapultError('CATAPULT_SLURM_COMMAND_FAILED', `squeue failed (exit ${res.code}): ${res.stderr.trim().slice(0, 300)}`);
  return parseSqueue(res.stdout);
}

/** Cancels jobs by id (one command for all). Jobs already gone are not an error. */
export async function scancel(r: CommandRunner, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await r.exec(`scancel ${ids.map(shellQuote).join(' ')}`, { timeoutMs: 20_000 });
}

/** `scontrol show job N -o` as key/values; undefined once Slurm has forgotten the job. */
export async function showJob(r: CommandRunner, id: string): Promise<Record<string, string> | undefined> {
  const res = await r.exec(`scontrol show job -o ${shellQuote(id)}`, { timeoutMs: 20_000 });
  if (res.code !== 0 || !res.stdout.includes('JobId=')) return undefined;
  return parseScontrolLine(res.stdout.split('\n')[0]!);
}

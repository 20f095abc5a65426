import { shellQuote } from './communicator.js';

/**
 * The port a runtime's command is built with before the job has picked its real one; every
 * occurrence in argv and env becomes `$PORT` in the script. (Runtimes take the port as a number, and
 * only the job knows which port is free on its node.)
 */
export const PORT_PLACEHOLDER = 65111;

/** What `#SBATCH` lines ask for. */
export interface JobResources {
  jobName: string;
  /** Output (stdout+stderr) file, absolute on the cluster. */
  output: string;
  partition?: string | null;
  account?: string | null;
  qos?: string | null;
  /** Slurm time limit (`30`, `1:00:00`, `2-00:00:00`). */
  time?: string | null;
  cpusPerTask?: number | null;
  memoryBytes?: number | null;
  gpus?: number | null;
}

export interface ContainerSpec {
  image: string;
  /** Extra bind mounts (`src[:dst[:opts]]`). */
  binds?: string[];
  /** GPU support flag for Apptainer: nvidia → --nv, amd → --rocm. */
  gpuVendor?: 'nvidia' | 'amd';
}

/** One word for the shell, with the port placeholder turned into `$PORT`. */
export function portWord(s: string): string {
  const parts = s.split(String(PORT_PLACEHOLDER));
  if (parts.length === 1) return shellQuote(s);
  return parts.map((p) => (p === '' ? '' : shellQuote(p))).join('"$PORT"') || '"$PORT"';
}

export function sbatchHeader(r: JobResources): string[] {
  const lines = [`#SBATCH --job-name=${r.jobName}`, `#SBATCH --output=${r.output}`, `#SBATCH --open-mode=append`];
  if (r.partition) lines.push(`#SBATCH --partition=${r.partition}`);
  if (r.account) lines.push(`#SBATCH --account=${r.account}`);
  if (r.qos) lines.push(`#SBATCH --qos=${r.qos}`);
  if (r.time) lines.push(`#SBATCH --time=${r.time}`);
  if (r.cpusPerTask) lines.push(`#SBATCH --cpus-per-task=${Math.max(1, Math.ceil(r.cpusPerTask))}`);
  if (r.memoryBytes) lines.push(`#SBATCH --mem=${Math.max(1, Math.ceil(r.memoryBytes / 2 ** 20))}M`);
  if (r.gpus) lines.push(`#SBATCH --gres=gpu:${r.gpus}`);
  return lines;
}

/** Picks a free TCP port on the node into $PORT (no Python or netcat needed). */
export const PICK_PORT = [
  'PORT=""',
  'for p in $(shuf -i 20000-60000 -n 64); do',
  '  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then PORT=$p; break; fi',
  'done',
  '[ -n "$PORT" ] || { echo "catapult: no free port found on $(hostname)" >&2; exit 1; }',
];

function execLine(argv: string[], container: ContainerSpec | undefined, binds: string[]): string {
  const cmd = argv.map(portWord).join(' ');
  if (!container) return `exec ${cmd}`;
  const flag = container.gpuVendor === 'amd' ? '--rocm' : '--nv';
  const b = [...binds, ...(container.binds ?? [])].map((x) => `--bind ${shellQuote(x)}`).join(' ');
  return `exec apptainer exec ${flag}${b ? ` ${b}` : ''} ${shellQuote(container.image)} ${cmd}`;
}

/**
 * The sbatch script of one replica: picks a port, writes where it serves (`HOST PORT JOBID`) to
 * `endpointFile`, then replaces itself with the runtime's process (or `apptainer exec` of it).
 */
export function replicaScript(input: {
  resources: JobResources;
  dir: string;
  endpointFile: string;
  argv: string[];
  env: Record<string, string>;
  container?: ContainerSpec;
  /** Paths the container must see (the model). */
  binds?: string[];
}): string {
  const lines = ['#!/bin/bash', ...sbatchHeader(input.resources), 'set -euo pipefail', `cd ${shellQuote(input.dir)}`, ...PICK_PORT];
  for (const [k, v] of Object.entries(input.env)) lines.push(`export ${k}=${portWord(v)}`);
  lines.push(`echo "catapult: job $SLURM_JOB_ID serving on $(hostname):$PORT"`);
  lines.push(`echo "$(hostname) $PORT $SLURM_JOB_ID" > ${shellQuote(`${input.endpointFile}.tmp`)} && mv ${shellQuote(`${input.endpointFile}.tmp`)} ${shellQuote(input.endpointFile)}`);
  lines.push(execLine(input.argv, input.container, input.binds ?? []));
  return `${lines.join('\n')}\n`;
}

/** Where a benchmark client finds the service it measures (seed 004's variables). */
export interface ServiceEndpoint {
  name: string;
  hostname: string;
  port: number;
  /** Default `http://hostname:port`. */
  url?: string;
}

export function serviceEnv(s: ServiceEndpoint): Record<string, string> {
  return { SERVICE_NAME: s.name, SERVICE_HOSTNAME: s.hostname, SERVICE_PORT: String(s.port), SERVICE_URL: s.url ?? `http://${s.hostname}:${s.port}` };
}

/**
 * The sbatch script of one benchmark client running a user's command (seed 004's `benchmark_command`)
 * through `bash -c`, with SERVICE_NAME/HOSTNAME/PORT/URL and METRICS_FILE in its environment. Its
 * output goes to the job's output file; what it writes to $METRICS_FILE is collected afterwards.
 */
export function clientScript(input: {
  resources: JobResources;
  dir: string;
  command: string;
  service: ServiceEndpoint;
  metricsFile: string;
  env?: Record<string, string>;
  container?: ContainerSpec;
}): string {
  const env = { ...(input.env ?? {}), ...serviceEnv(input.service), METRICS_FILE: input.metricsFile };
  const lines = ['#!/bin/bash', ...sbatchHeader(input.resources), 'set -uo pipefail', `cd ${shellQuote(input.dir)}`];
  for (const [k, v] of Object.entries(env)) lines.push(`export ${k}=${shellQuote(v)}`);
  lines.push(`echo "catapult: client job $SLURM_JOB_ID on $(hostname) -> $SERVICE_URL"`);
  lines.push(execLine(['bash', '-c', input.command], input.container, []));
  return `${lines.join('\n')}\n`;
}

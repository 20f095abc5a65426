import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AgentAssignment, type ReplicaSpec, type ReportedReplicaState, replicaSpecSchema } from '../cluster/index.js';
import { getRuntime } from '../runtimes/index.js';
import { DEFAULT_RESTART, type ProcessStatus, Supervisor } from '../supervisor/index.js';
import { type PortRange, freePort, freePortInRange } from '../util/index.js';
import type { ReplicaExecutor, ReplicaStatus } from './executor.js';

export interface ProcessExecutorOptions {
  /** Where replica directories (state, output) live, e.g. `<agent data dir>/replicas`. */
  dir: string;
  /** Address replicas bind to. */
  bindHost: string;
  /** Address others (the gateway) use to reach replicas on this machine. */
  advertiseHost: string;
  /** Restart policy for crashed replicas. */
  restart?: typeof DEFAULT_RESTART;
  /** Lines of output kept per replica between shipments to the server. */
  maxBufferedLines?: number;
  /** Environment every replica starts from (PATH, HOME, driver variables). */
  baseEnv: Record<string, string>;
  /** Ports replicas may listen on (`--port-range`), so operators can open firewalls; default: any free port. */
  portRange?: PortRange;
  /** Replicas end with this process (`catapult up`); see the supervisor's lifeline. */
  lifeline?: boolean;
}

/** A replica's status with where it serves. */
export interface ProcessReplicaStatus extends ReplicaStatus {
  endpoint: string | null;
}

/** Output lines waiting to be shipped to the server. */
export interface LogBatch {
  replicaId: string;
  deploymentId: string;
  lines: string[];
}

/** The replica spec of an assignment, parsed; a spec that breaks the contract is a clear error, not a crash later. */
function replicaSpecOf(a: AgentAssignment): ReplicaSpec {
  const parsed = replicaSpecSchema.safeParse(a.spec);
  if (!parsed.success) throw new Error(`assignment ${a.id} has no valid replica spec: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'spec'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/**
 * Runs each assigned replica as a real process through the supervisor: builds its command from its
 * runtime, gives it a port and its GPUs (CUDA_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES), and reports its
 * state and endpoint. Replicas survive an agent restart; a new executor adopts them.
 */
export class ProcessExecutor implements ReplicaExecutor {
  private readonly supervisor: Supervisor;
  private readonly assignments = new Map<string, { assignment: AgentAssignment; port: number; startedAt: number }>();
  private readonly models = new Set<string>();
  private readonly logs = new Map<string, string[]>();
  private readonly unfollow = new Map<string, () => void>();
  private readonly stopping = new Map<string, Promise<void>>();
  private readonly failedToStart = new Map<string, { assignment: AgentAssignment; message: string; at: number }>();

  private readonly listeners: (() => void)[] = [];

  constructor(private readonly opts: ProcessExecutorOptions) {
    mkdirSync(opts.dir, { recursive: true });
    this.supervisor = new Supervisor({ dir: opts.dir, lifeline: opts.lifeline ?? false });
    this.supervisor.on('status', () => {
      for (const l of this.listeners) l();
    });
    const { adopted, gone } = this.supervisor.adopt();
    for (const s of adopted) {
      const meta = this.readMeta(s.id);
      if (meta) {
        this.assignments.set(s.id, meta);
        if (meta.assignment.modelKey) this.models.add(meta.assignment.modelKey);
        this.followLogs(s.id);
      }
    }
    // Replicas that died while the agent was away start again when the server still wants them.
    for (const spec of gone) this.forget(spec.id);
  }

  async apply(desired: readonly AgentAssignment[]): Promise<void> {
    const want = new Map(desired.map((a) => [a.id, a]));
    for (const id of [...this.assignments.keys()]) {
      if (!want.has(id)) this.stopReplica(id);
    }
    for (const a of desired) {
      if (this.assignments.has(a.id) || this.stopping.has(a.id) || this.failedToStart.has(a.id)) continue;
      await this.startReplica(a);
    }
    for (const id of [...this.failedToStart.keys()]) if (!want.has(id)) this.failedToStart.delete(id);
  }

  list(): ProcessReplicaStatus[] {
    const out: ProcessReplicaStatus[] = [];
    for (const [id, meta] of this.assignments) {
      const s = this.supervisor.status(id);
      if (!s) continue;
      const stopping = this.stopping.has(id);
      out.push({
        assignment: meta.assignment,
        state: stopping ? 'draining' : mapPhase(s),
        message: describe(s),
        runId: `${id}:${s.restarts}`,
        startedAt: meta.startedAt,
        endpoint: `http://${this.opts.advertiseHost}:${meta.port}`,
      });
    }
    for (const [id, f] of this.failedToStart) {
      out.push({ assignment: f.assignment, state: 'failed', message: f.message, runId: `${id}:0`, startedAt: f.at, endpoint: null });
    }
    return out;
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  cachedModels(): string[] {
    return [...this.models];
  }

  /** Takes the output lines gathered since the last call. */
  drainLogs(): LogBatch[] {
    const out: LogBatch[] = [];
    for (const [id, lines] of this.logs) {
      if (lines.length === 0) continue;
      const meta = this.assignments.get(id);
      out.push({ replicaId: id, deploymentId: meta ? (replicaSpecSchema.safeParse(meta.assignment.spec).data?.deploymentId ?? meta.assignment.owner) : id, lines: lines.splice(0) });
    }
    return out;
  }

  async close(opts: { stopReplicas?: boolean } = {}): Promise<void> {
    for (const u of this.unfollow.values()) u();
    this.unfollow.clear();
    await Promise.all(this.stopping.values());
    await this.supervisor.close({ stopReplicas: opts.stopReplicas ?? false });
  }

  /** A port for a replica: inside the configured range (skipping ports other replicas hold), or any free one. */
  private pickPort(also: ReadonlySet<number> = new Set()): Promise<number> {
    if (!this.opts.portRange) return freePort(this.opts.bindHost);
    const taken = new Set(also);
    for (const meta of this.assignments.values()) taken.add(meta.port);
    return freePortInRange(this.opts.bindHost, this.opts.portRange, taken);
  }

  private async startReplica(a: AgentAssignment): Promise<void> {
    const spec = replicaSpecOf(a);
    const now = Date.now();
    try {
      const runtime = getRuntime(spec.runtime);
      const port = await this.pickPort();
      const ports: Record<string, number> = {};
      for (const name of runtime.extraPorts) ports[name] = await this.pickPort(new Set([port, ...Object.values(ports)]));
      const launch = runtime.buildCommand({
        modelPath: spec.modelPath,
        modelName: spec.modelName,
        port,
        host: this.opts.bindHost,
        gpus: a.gpuIndices,
        ...(a.gpuVendor ? { gpuVendor: a.gpuVendor } : {}),
        ports,
        args: spec.args,
        options: spec.options,
      });
      // The runtime's own variables (GPU visibility above all) win over the deployment's.
      const env: Record<string, string> = { ...this.opts.baseEnv, ...spec.env, ...launch.env };
      if (a.gpuIndices.length === 0 && !('CUDA_VISIBLE_DEVICES' in env)) env.CUDA_VISIBLE_DEVICES = '';
      const meta = { assignment: a, port, startedAt: now };
      this.assignments.set(a.id, meta);
      this.writeMeta(a.id, meta);
      if (a.modelKey) this.models.add(a.modelKey);
      // A memory limit caps the process's data segment (heap and private mappings; RLIMIT_DATA): no
      // cgroup controllers here, and an address-space limit would stop runtimes that reserve
      // address space up front. prlimit (util-linux) sets it and execs the command, same pid.
      const memoryLimit = spec.limits?.memoryBytes;
      const argv = memoryLimit ? ['prlimit', `--data=${memoryLimit}`, '--', ...launch.argv] : launch.argv;
      this.supervisor.start({
        id: a.id,
        argv,
        env,
        host: this.opts.bindHost === '0.0.0.0' ? '127.0.0.1' : this.opts.bindHost,
        port,
        readiness: { path: launch.healthPath, timeoutMs: spec.readinessTimeoutMs ?? launch.readinessTimeoutMs, periodMs: 100 },
        liveness: { path: launch.healthPath, periodMs: 5000, failureThreshold: 3, timeoutMs: 5000 },
        stopGraceMs: 10_000,
        restart: this.opts.restart ?? DEFAULT_RESTART,
      });
      this.followLogs(a.id);
    } catch (err) {
      this.assignments.delete(a.id);
      this.failedToStart.set(a.id, { assignment: a, message: `could not start: ${(err as Error).message}`, at: now });
    }
  }

  private stopReplica(id: string): void {
    if (this.stopping.has(id)) return;
    const p = (async () => {
      await this.supervisor.stop(id);
      // Ship what it printed while stopping before its directory goes.
      this.unfollow.get(id)?.();
      this.unfollow.delete(id);
      this.forget(id);
    })().finally(() => {
      this.stopping.delete(id);
      // Gone from list(): the agent's next report confirms the stop.
      for (const l of this.listeners) l();
    });
    this.stopping.set(id, p);
  }

  private forget(id: string): void {
    this.assignments.delete(id);
    try {
      this.supervisor.remove(id);
    } catch {
      // still running; removed once stopped
    }
  }

  private followLogs(id: string): void {
    if (this.unfollow.has(id)) return;
    const max = this.opts.maxBufferedLines ?? 5000;
    const buf = this.logs.get(id) ?? [];
    this.logs.set(id, buf);
    this.unfollow.set(
      id,
      this.supervisor.follow(
        id,
        (lines) => {
          buf.push(...lines);
          if (buf.length > max) buf.splice(0, buf.length - max);
        },
        false,
        250,
      ),
    );
  }

  private metaFile(id: string): string {
    return join(this.opts.dir, id.replace(/[^A-Za-z0-9_.-]/g, '_'), 'assignment.json');
  }

  private writeMeta(id: string, meta: { assignment: AgentAssignment; port: number; startedAt: number }): void {
    const file = this.metaFile(id);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, JSON.stringify(meta));
  }

  private readMeta(id: string): { assignment: AgentAssignment; port: number; startedAt: number } | undefined {
    const file = this.metaFile(id);
    if (!existsSync(file)) return undefined;
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as { assignment: AgentAssignment; port: number; startedAt: number };
    } catch {
      return undefined;
    }
  }
}

function mapPhase(s: ProcessStatus): ReportedReplicaState {
  switch (s.phase) {
    case 'ready':
      return 'ready';
    case 'starting':
    case 'backoff':
      return 'starting';
    case 'stopping':
      return 'draining';
    case 'stopped':
      return 'stopped';
    case 'failed':
      return 'failed';
  }
}

function describe(s: ProcessStatus): string | null {
  if (!s.reason) return null;
  if (s.phase === 'failed' && s.lastLogLines.length > 0) return `${s.reason}\n--- last output ---\n${s.lastLogLines.join('\n')}`;
  return s.reason;
}

import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism, hostname, totalmem } from 'node:os';
import { join } from 'node:path';
import type { AgentAssignment, Gpu, HeartbeatBody, RegisterBody, RegisterResponse, WorkerCapacity } from '../cluster/index.js';
import type { Logger } from '../observability/index.js';
import { type Clock, packageInfo, systemClock } from '../util/index.js';
import { BenchWorker } from './bench.js';
import { AgentClient, ServerError } from './client.js';
import { NoopExecutor, type ReplicaExecutor } from './executor.js';
import { FakeGpuProbe, type FakeGpuSpec, type GpuProbe, SystemGpuProbe } from './gpus.js';

export interface AgentOptions {
  /** The control plane's base URL (http://host:port). */
  server: string;
  /** Needed on first start; afterwards the credential in the data dir is used. */
  joinToken?: string;
  name: string;
  labels?: Record<string, string>;
  /** Where the agent keeps its credential (agent.json, mode 0600) and executor state. */
  dataDir: string;
  /** Declared GPUs (tests, demos); otherwise nvidia-smi and rocm-smi are asked. */
  fakeGpus?: FakeGpuSpec[];
  /** How GPUs are found; overrides fakeGpus and the system probe (tests). */
  gpuProbe?: GpuProbe;
  /** Runs the replicas; the no-op executor by default. */
  executor?: ReplicaExecutor;
  /** Overrides of what the machine reports (demos and tests). */
  capacity?: Partial<WorkerCapacity>;
  /** Only for the `sentAt` the agent reports; the server never judges liveness by it. */
  clock?: Clock;
  log: Logger;
  fetch?: typeof fetch;
  /** How long one assignment long-poll waits (seconds). */
  longPollSeconds?: number;
  /**
   * Offer the saved credential even when the server URL changed. The embedded agent of `catapult up`
   * sets it (its server's port may differ between starts); a standalone agent sends its credential
   * only to the server that issued it.
   */
  anyServer?: boolean;
  /** Also run benchmark shards (clients of benchmarks with `clients.where: agents`). */
  bench?: boolean;
}

interface SavedState {
  server: string;
  workerId: string;
  name: string;
  credential: string;
}

/** The credential file in an agent data dir. */
export function agentStateFile(dataDir: string): string {
  return join(dataDir, 'agent.json');
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });

/**
 * A signal that fires when `parent` does or after `timeoutMs`; call `done()` when the request ends.
 * (AbortSignal.any on a signal that lives as long as the agent keeps every derived signal reachable
 * in Node 20, which over weeks of heartbeats is a leak.)
 */
function linkedSignal(parent: AbortSignal, timeoutMs: number): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  parent.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  return {
    signal: controller.signal,
    done: () => {
      clearTimeout(timer);
      parent.removeEventListener('abort', onAbort);
    },
  };
}

/**
 * `catapult agent`: joins a control plane, reports this machine's capacity and GPUs, heartbeats,
 * long-polls for the replicas it should run and hands them to its executor.
 *
 * While the control plane is away the agent keeps running what it runs and keeps retrying; when it
 * returns, the next heartbeat restores the server's view. Only a rejected credential (the worker was
 * removed) stops it.
 */
export class Agent {
  private readonly client: AgentClient;
  private readonly executor: ReplicaExecutor;
  private readonly gpus: GpuProbe;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly stopping = new AbortController();
  private pollAbort = new AbortController();
  private wakeHeartbeat: (() => void) | undefined;
  private lastHeartbeatAt = 0;
  private loops: Promise<void>[] = [];
  private benchWorker: BenchWorker | undefined;
  private intervalMs = 5000;
  private version: string | undefined;
  private failure: Error | undefined;
  private resolveDone!: () => void;
  private readonly warnedAt = new Map<string, number>();
  private workerIdValue: string | undefined;
  private nameValue: string;
  /** Resolves when the agent has stopped, by `stop()` or because its credential was rejected (see `error`). */
  readonly done: Promise<void>;

  constructor(private readonly opts: AgentOptions) {
    this.client = new AgentClient(opts.server.replace(/\/+$/, ''), opts.fetch);
    this.executor = opts.executor ?? new NoopExecutor({ stateFile: join(opts.dataDir, 'noop-replicas.json') });
    // A replica becoming ready (or failing, or stopping) is reported now, not at the next interval.
    this.executor.onChange?.(() => this.reportSoon());
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log;
    this.nameValue = opts.name;
    if (opts.gpuProbe) {
      this.gpus = opts.gpuProbe;
    } else if (opts.fakeGpus) {
      const probe = new FakeGpuProbe(opts.fakeGpus);
      probe.setUsage((vendor, index) => {
        let memoryBytes = 0;
        let replicas = 0;
        for (const r of this.executor.list()) {
          const a = r.assignment;
          if (a.mode === 'gpu' && a.gpuVendor === vendor && a.gpuIndices.includes(index)) {
            memoryBytes += a.gpuMemoryBytes;
            replicas++;
          }
        }
        return { memoryBytes, replicas };
      });
      this.gpus = probe;
    } else {
      this.gpus = new SystemGpuProbe(undefined, (tool, err) => this.log.warn({ tool, err: (err as Error).message }, 'GPU query failed; reporting the last answer'));
    }
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  get workerId(): string | undefined {
    return this.workerIdValue;
  }

  get name(): string {
    return this.nameValue;
  }

  /** Why the agent stopped on its own, if it did. */
  get error(): Error | undefined {
    return this.failure;
  }

  /** Registers (retrying while the server is unreachable), then starts heartbeats and the assignment loop. */
  async start(): Promise<{ workerId: string; name: string; joined: boolean }> {
    mkdirSync(this.opts.dataDir, { recursive: true, mode: 0o700 });
    const registered = await this.registerWithRetry();
    this.workerIdValue = registered.workerId;
    this.nameValue = registered.name;
    this.intervalMs = registered.heartbeatIntervalMs;
    this.lastHeartbeatAt = performance.now();
    const signal = this.stopping.signal;
    this.loops = [this.heartbeatLoop(signal), this.assignmentLoop(signal)];
    if (this.opts.bench) {
      this.benchWorker = new BenchWorker({ client: this.client, dir: join(this.opts.dataDir, 'bench'), log: this.log });
      this.benchWorker.start();
    }
    return { workerId: registered.workerId, name: registered.name, joined: registered.credential !== undefined };
  }

  /** Stops heartbeats and polling; replicas are left running (a restarted agent adopts them). */
  async stop(): Promise<void> {
    if (!this.stopping.signal.aborted) this.stopping.abort();
    this.pollAbort.abort();
    await this.benchWorker?.stop();
    await Promise.all(this.loops);
    await this.executor.close();
    this.resolveDone();
  }

  private async registerWithRetry(): Promise<RegisterResponse> {
    let delay = 500;
    for (;;) {
      try {
        return await this.register();
      } catch (err) {
        if (!(err instanceof ServerError) || !err.transient || this.stopping.signal.aborted) throw err;
        this.warn('register', `cannot register with ${this.client.baseUrl} yet: ${err.message}; retrying`);
        await sleep(delay, this.stopping.signal);
        if (this.stopping.signal.aborted) throw err;
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  /**
   * Re-registers with the saved credential when there is one for this server; a rejected credential
   * falls back to the join token given on this start (an operator asking to join again).
   */
  private async register(): Promise<RegisterResponse> {
    const file = agentStateFile(this.opts.dataDir);
    const saved = readState(file);
    const body = await this.registerBody();
    if (saved && (saved.server === this.client.baseUrl || this.opts.anyServer)) {
      this.client.bearer = saved.credential;
      try {
        const res = await this.client.register(body);
        this.log.info({ workerId: res.workerId, state: res.state }, 'agent reconnected');
        return res;
      } catch (err) {
        if (!(err instanceof ServerError) || err.status !== 401 || !this.opts.joinToken) throw err;
        this.log.warn('saved agent credential was rejected; joining again with the join token');
      }
    }
    if (!this.opts.joinToken) {
      throw new Error(`No join token: pass --token (create one with \`catapult join-token create\`). No saved credential for ${this.client.baseUrl} in ${file}.`);
    }
    this.client.bearer = this.opts.joinToken;
    let res: RegisterResponse;
    try {
      res = await this.client.register(body);
    } catch (err) {
      if (err instanceof ServerError && err.status === 401) {
        throw new Error(`The join token was rejected: it is unknown, revoked, expired or used up. Create a new one with \`catapult join-token create\`.`);
      }
      throw err;
    }
    if (!res.credential) throw new Error('the server did not issue an agent credential');
    this.client.bearer = res.credential;
    writeState(file, { server: this.client.baseUrl, workerId: res.workerId, name: res.name, credential: res.credential });
    this.log.info({ workerId: res.workerId, workerName: res.name }, 'agent joined');
    return res;
  }

  private async registerBody(): Promise<RegisterBody> {
    const gpus = await this.gpus.detect();
    return {
      name: this.nameValue,
      labels: this.opts.labels ?? {},
      capacity: {
        cpuCores: this.opts.capacity?.cpuCores ?? availableParallelism(),
        memoryBytes: this.opts.capacity?.memoryBytes ?? totalmem(),
      },
      gpus,
      cachedModels: this.executor.cachedModels(),
      agentVersion: packageInfo().version,
      hostname: hostname(),
    };
  }

  private async heartbeatBody(): Promise<HeartbeatBody> {
    let gpus: Gpu[];
    try {
      gpus = await this.gpus.detect();
    } catch (err) {
      this.warn('gpus', `GPU discovery failed: ${(err as Error).message}`);
      gpus = [];
    }
    return {
      sentAt: Math.round(this.clock.now()),
      gpus,
      replicas: this.executor.list().map((r) => ({
        assignmentId: r.assignment.id,
        state: r.state,
        message: r.message,
        endpoint: r.endpoint ?? null,
        runId: r.runId,
        startedAt: r.startedAt,
      })),
      cachedModels: this.executor.cachedModels(),
    };
  }

  private async heartbeatLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const wait = Math.max(0, this.lastHeartbeatAt + this.intervalMs - performance.now());
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, wait);
        function done() {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          resolve();
        }
        this.wakeHeartbeat = done;
        signal.addEventListener('abort', done);
      });
      this.wakeHeartbeat = undefined;
      if (signal.aborted) return;
      this.lastHeartbeatAt = performance.now();
      try {
        const body = await this.heartbeatBody();
        const linked = linkedSignal(signal, Math.max(5000, this.intervalMs * 2));
        let res: Awaited<ReturnType<AgentClient['heartbeat']>>;
        try {
          res = await this.client.heartbeat(this.workerIdValue!, body, linked.signal);
        } finally {
          linked.done();
        }
        this.intervalMs = res.heartbeatIntervalMs;
        // A long-poll that died silently would miss changes; the heartbeat's version catches that.
        if (res.assignmentsVersion !== this.version) this.pollAbort.abort();
        await this.shipLogs(signal);
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ServerError && (err.status === 401 || err.status === 404)) {
          this.fail(new Error(`The control plane rejected this agent's credential (${err.code}): the worker was removed. Join again with a new token.`));
          return;
        }
        this.warn('heartbeat', `heartbeat failed: ${(err as Error).message}`);
      }
    }
  }

  /** Sends replicas' output gathered since the last heartbeat; lines are dropped, not queued, if the server is away. */
  private async shipLogs(signal: AbortSignal): Promise<void> {
    const batches = this.executor.drainLogs?.() ?? [];
    if (batches.length === 0) return;
    const linked = linkedSignal(signal, 10_000);
    try {
      await this.client.logs(this.workerIdValue!, batches, linked.signal);
    } catch (err) {
      this.warn('logs', `could not ship replica output: ${(err as Error).message}`);
    } finally {
      linked.done();
    }
  }

  private async assignmentLoop(signal: AbortSignal): Promise<void> {
    let delay = 250;
    while (!signal.aborted) {
      this.pollAbort = new AbortController();
      const poll = this.pollAbort.signal;
      const onStop = () => this.pollAbort.abort();
      signal.addEventListener('abort', onStop);
      try {
        const waitSeconds = this.opts.longPollSeconds ?? 30;
        const linked = linkedSignal(poll, (waitSeconds + 15) * 1000);
        let res: Awaited<ReturnType<AgentClient['assignments']>>;
        try {
          res = await this.client.assignments(this.workerIdValue!, this.version, waitSeconds, linked.signal);
        } finally {
          linked.done();
        }
        delay = 250;
        if (res.version !== this.version) await this.apply(res.items, res.version);
      } catch (err) {
        if (signal.aborted) return;
        // Aborted on purpose (the heartbeat saw a newer version): ask again at once.
        if (poll.aborted) continue;
        if (err instanceof ServerError && (err.status === 401 || err.status === 404)) {
          // The heartbeat loop decides whether the credential is gone for good.
          await sleep(this.intervalMs, signal);
          continue;
        }
        this.warn('assignments', `assignment poll failed: ${(err as Error).message}`);
        await sleep(delay, signal);
        delay = Math.min(delay * 2, 5000);
      } finally {
        signal.removeEventListener('abort', onStop);
      }
    }
  }

  private async apply(items: AgentAssignment[], version: string): Promise<void> {
    await this.executor.apply(items);
    this.version = version;
    this.log.info({ replicas: items.length, version }, 'assignments applied');
    this.reportSoon();
  }

  /** Brings the next heartbeat forward (to at most 50 ms from now), coalescing bursts of changes. */
  private reportSoon(): void {
    const soon = Math.min(50, this.intervalMs / 2);
    this.lastHeartbeatAt = Math.min(this.lastHeartbeatAt, performance.now() - this.intervalMs + soon);
    this.wakeHeartbeat?.();
  }

  private fail(err: Error): void {
    this.failure = err;
    this.log.error(err.message);
    void this.stop();
  }

  /** Logs a recurring problem at most every 30 s, so an unreachable server does not flood the log. */
  private warn(kind: string, message: string): void {
    const now = performance.now();
    if (now - (this.warnedAt.get(kind) ?? -Infinity) < 30_000) return;
    this.warnedAt.set(kind, now);
    this.log.warn(message);
  }
}

function readState(file: string): SavedState | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as Partial<SavedState>;
    if (typeof s.server === 'string' && typeof s.credential === 'string' && typeof s.workerId === 'string') return s as SavedState;
  } catch {
    // Unreadable: treat as absent; the join token (if given) registers anew.
  }
  return undefined;
}

function writeState(file: string, state: SavedState): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

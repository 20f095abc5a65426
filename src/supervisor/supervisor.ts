import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Clock, systemClock } from '../util/index.js';
import { startLifeline } from './lifeline.js';
import { readFrom, tailFile } from './logs.js';
import { groupMembers, isAlive, processStartTime, signalGroup } from './proc.js';

/** Everything needed to run one replica's process on this machine. */
export interface ProcessSpec {
  /** The replica id; also the name of its state directory. */
  id: string;
  /** Program and arguments, run without a shell. */
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
  /** Where its HTTP server listens, for the probes. */
  host: string;
  port: number;
  readiness: { path: string; timeoutMs: number; periodMs: number };
  liveness?: { path: string; periodMs: number; failureThreshold: number; timeoutMs: number };
  /** SIGTERM, then SIGKILL after this long. */
  stopGraceMs: number;
  restart: RestartPolicy;
}

export interface RestartPolicy {
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** A crash loop: this many failures within `crashLoopWindowMs` stop the restarts. */
  crashLoopCount: number;
  crashLoopWindowMs: number;
}

export const DEFAULT_RESTART: RestartPolicy = { backoffBaseMs: 1000, backoffMaxMs: 60_000, crashLoopCount: 5, crashLoopWindowMs: 600_000 };

/**
 * A replica process's phase on this machine:
 * `starting → ready`; a crash or failed liveness → `backoff → starting` (exponential backoff);
 * a crash loop or a readiness timeout → `failed`; `stop()` → `stopping → stopped`.
 */
export type ProcessPhase = 'starting' | 'ready' | 'backoff' | 'stopping' | 'stopped' | 'failed';

export interface ProcessStatus {
  id: string;
  phase: ProcessPhase;
  pid: number | null;
  restarts: number;
  /** Why it is in this phase, when that needs saying (crash loop, readiness timeout, exit code). */
  reason: string | null;
  lastExit: { code: number | null; signal: string | null; at: number } | null;
  readySince: number | null;
  /** The end of its output when it failed or exited. */
  lastLogLines: string[];
  /** Whether this supervisor adopted it from a previous run rather than starting it. */
  adopted: boolean;
}

interface StateFile {
  spec: ProcessSpec;
  pid: number;
  startTime: number;
}

interface Entry {
  spec: ProcessSpec;
  status: ProcessStatus;
  failures: number[];
  timers: Set<NodeJS.Timeout>;
  probeAbort?: AbortController;
  stopping?: Promise<void>;
  /** Set when the current process has exited (for the child we spawned) or vanished (adopted). */
  exitWaiters: (() => void)[];
}

export interface SupervisorOptions {
  /** Holds one directory per replica: `state.json` and `output.log`. */
  dir: string;
  clock?: Clock;
  /**
   * Replicas end with this process, however it ends (`kill -9` included): a watcher process stops
   * them when this one is gone (see lifeline.ts). Off for a standalone agent, whose replicas outlive
   * its restarts and are adopted.
   */
  lifeline?: boolean;
}

const LOG_LINES_ON_FAILURE = 30;

/**
 * Runs replica processes on this machine and keeps them running. Each replica is its own process
 * group (so stopping it leaves nothing behind) and writes its output straight to a file (so it keeps
 * running, and logging, when the agent restarts). On start, `adopt()` finds replicas a previous agent
 * left running and takes them back instead of restarting them.
 */
export class Supervisor extends EventEmitter<{ status: [ProcessStatus] }> {
  private readonly entries = new Map<string, Entry>();
  private readonly clock: Clock;
  private closed = false;

  constructor(private readonly opts: SupervisorOptions) {
    super();
    this.clock = opts.clock ?? systemClock;
    mkdirSync(opts.dir, { recursive: true });
    if (opts.lifeline) startLifeline(opts.dir);
  }

  logFile(id: string): string {
    return join(this.opts.dir, safeName(id), 'output.log');
  }

  /** Starts a replica; a no-op when one with this id is already supervised. */
  start(spec: ProcessSpec): ProcessStatus {
    const existing = this.entries.get(spec.id);
    if (existing && existing.status.phase !== 'stopped') return existing.status;
    const entry: Entry = {
      spec,
      status: { id: spec.id, phase: 'starting', pid: null, restarts: 0, reason: null, lastExit: null, readySince: null, lastLogLines: [], adopted: false },
      failures: [],
      timers: new Set(),
      exitWaiters: [],
    };
    this.entries.set(spec.id, entry);
    this.launch(entry);
    return entry.status;
  }

  /**
   * Takes back replicas that a previous run left running: a state file whose pid is alive with the
   * same kernel start time. Returns their statuses; state files of dead replicas are removed and
   * their ids returned in `gone`, for the caller to restart or report.
   */
  adopt(): { adopted: ProcessStatus[]; gone: ProcessSpec[] } {
    const adopted: ProcessStatus[] = [];
    const gone: ProcessSpec[] = [];
    for (const name of existsSync(this.opts.dir) ? readdirSync(this.opts.dir) : []) {
      const file = join(this.opts.dir, name, 'state.json');
      if (!existsSync(file)) continue;
      let state: StateFile;
      try {
        state = JSON.parse(readFileSync(file, 'utf8')) as StateFile;
      } catch {
        continue;
      }
      if (this.entries.has(state.spec.id)) continue;
      if (isAlive(state.pid) && processStartTime(state.pid) === state.startTime) {
        const entry: Entry = {
          spec: state.spec,
          status: {
            id: state.spec.id,
            phase: 'starting',
            pid: state.pid,
            restarts: 0,
            reason: null,
            lastExit: null,
            readySince: null,
            lastLogLines: [],
            adopted: true,
          },
          failures: [],
          timers: new Set(),
          exitWaiters: [],
        };
        this.entries.set(state.spec.id, entry);
        this.watchAdopted(entry, state.pid);
        this.probeReadiness(entry);
        adopted.push(entry.status);
      } else {
        rmSync(file, { force: true });
        gone.push(state.spec);
      }
    }
    return { adopted, gone };
  }

  /** Stops a replica's whole process group: SIGTERM, then SIGKILL after its grace period. */
  stop(id: string): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry) return Promise.resolve();
    if (entry.stopping) return entry.stopping;
    entry.stopping = (async () => {
      this.clearTimers(entry);
      entry.probeAbort?.abort();
      const pid = entry.status.pid;
      this.setPhase(entry, 'stopping', null);
      if (pid !== null) await this.killGroup(pid, entry.spec.stopGraceMs, entry);
      entry.status.pid = null;
      rmSync(join(this.opts.dir, safeName(id), 'state.json'), { force: true });
      this.setPhase(entry, 'stopped', null);
    })();
    return entry.stopping;
  }

  /** Forgets a stopped replica and removes its directory (logs included). */
  remove(id: string): void {
    const entry = this.entries.get(id);
    if (entry && entry.status.phase !== 'stopped' && entry.status.phase !== 'failed') {
      throw new Error(`replica ${id} is ${entry.status.phase}; stop it first`);
    }
    this.entries.delete(id);
    rmSync(join(this.opts.dir, safeName(id)), { recursive: true, force: true });
  }

  status(id: string): ProcessStatus | undefined {
    return this.entries.get(id)?.status;
  }

  list(): ProcessStatus[] {
    return [...this.entries.values()].map((e) => e.status);
  }

  /** The last `n` lines a replica printed. */
  tail(id: string, n = 100): string[] {
    return tailFile(this.logFile(id), n);
  }

  /** Calls `onLines` with each batch of new lines a replica prints; returns a function that stops following. */
  follow(id: string, onLines: (lines: string[]) => void, fromEnd = true, pollMs = 200): () => void {
    const file = this.logFile(id);
    let offset = 0;
    if (fromEnd) offset = readFrom(file, 0, Number.MAX_SAFE_INTEGER).next;
    const timer = setInterval(() => {
      const { text, next } = readFrom(file, offset);
      offset = next;
      if (text) onLines(text.replace(/\n$/, '').split('\n'));
    }, pollMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * Stops supervising. With `stopReplicas` false (an agent restarting), replicas keep running and a
   * later supervisor adopts them; with true (a clean shutdown), every process group is stopped.
   */
  async close(opts: { stopReplicas: boolean }): Promise<void> {
    this.closed = true;
    if (opts.stopReplicas) {
      await Promise.all([...this.entries.keys()].map((id) => this.stop(id)));
    }
    for (const entry of this.entries.values()) {
      this.clearTimers(entry);
      entry.probeAbort?.abort();
    }
  }

  private launch(entry: Entry): void {
    if (this.closed) return;
    const { spec } = entry;
    const dir = join(this.opts.dir, safeName(spec.id));
    mkdirSync(dir, { recursive: true });
    const logPath = join(dir, 'output.log');
    const fd = openSync(logPath, 'a');
    let child;
    try {
      const [cmd, ...args] = spec.argv;
      if (!cmd) throw new Error('empty argv');
      child = spawn(cmd, args, {
        cwd: spec.cwd ?? dir,
        env: spec.env,
        // Its own process group, no pipes to us: it outlives an agent restart and can be stopped as a group.
        detached: true,
        stdio: ['ignore', fd, fd],
      });
    } catch (err) {
      closeSync(fd);
      this.onExit(entry, null, null, `could not start ${spec.argv[0] ?? ''}: ${(err as Error).message}`);
      return;
    } finally {
      // The child holds its own copy of the descriptor.
    }
    closeSync(fd);
    child.unref();
    const pid = child.pid;
    child.once('error', (err) => this.onExit(entry, null, null, `could not start ${spec.argv[0] ?? ''}: ${err.message}`));
    if (pid === undefined) return;
    entry.status.pid = pid;
    this.writeState(entry, pid);
    this.setPhase(entry, 'starting', null);
    child.once('exit', (code, signal) => {
      if (entry.status.pid === pid) this.onExit(entry, code, signal, null);
      for (const w of entry.exitWaiters.splice(0)) w();
    });
    this.probeReadiness(entry);
  }

  private watchAdopted(entry: Entry, pid: number): void {
    const timer = setInterval(() => {
      if (isAlive(pid)) return;
      clearInterval(timer);
      entry.timers.delete(timer);
      for (const w of entry.exitWaiters.splice(0)) w();
      if (entry.status.pid === pid) this.onExit(entry, null, null, null);
    }, 250);
    timer.unref();
    entry.timers.add(timer);
  }

  private writeState(entry: Entry, pid: number): void {
    const dir = join(this.opts.dir, safeName(entry.spec.id));
    const state: StateFile = { spec: entry.spec, pid, startTime: processStartTime(pid) ?? 0 };
    const tmp = join(dir, 'state.json.tmp');
    writeFileSync(tmp, JSON.stringify(state));
    renameSync(tmp, join(dir, 'state.json'));
  }

  private onExit(entry: Entry, code: number | null, signal: string | null, startError: string | null): void {
    if (entry.stopping || this.closed) return;
    entry.probeAbort?.abort();
    const now = this.clock.now();
    entry.status.pid = null;
    entry.status.readySince = null;
    entry.status.lastExit = { code, signal, at: now };
    entry.status.lastLogLines = this.tail(entry.spec.id, LOG_LINES_ON_FAILURE);
    entry.failures = entry.failures.filter((t) => now - t < entry.spec.restart.crashLoopWindowMs);
    entry.failures.push(now);
    const how = startError ?? (signal ? `killed by ${signal}` : `exited with code ${code ?? '?'}`);
    if (entry.failures.length >= entry.spec.restart.crashLoopCount) {
      this.setPhase(
        entry,
        'failed',
        `crash loop: ${entry.failures.length} failures within ${Math.round(entry.spec.restart.crashLoopWindowMs / 1000)} s; last: ${how}`,
      );
      return;
    }
    const { backoffBaseMs, backoffMaxMs } = entry.spec.restart;
    const exp = Math.min(backoffMaxMs, backoffBaseMs * 2 ** (entry.failures.length - 1));
    // Jitter spreads restarts of many replicas that failed together.
    const delay = Math.round(exp * (0.8 + Math.random() * 0.4));
    this.setPhase(entry, 'backoff', `${how}; restarting in ${(delay / 1000).toFixed(1)} s`);
    const timer = setTimeout(() => {
      entry.timers.delete(timer);
      entry.status.restarts++;
      this.launch(entry);
    }, delay);
    timer.unref();
    entry.timers.add(timer);
  }

  private probeReadiness(entry: Entry): void {
    const { spec } = entry;
    const abort = new AbortController();
    entry.probeAbort = abort;
    const pid = entry.status.pid;
    const deadline = Date.now() + spec.readiness.timeoutMs;
    const attempt = async (): Promise<void> => {
      if (abort.signal.aborted || entry.status.pid !== pid) return;
      if (await httpOk(spec.host, spec.port, spec.readiness.path, Math.min(2000, spec.readiness.periodMs * 4), abort.signal)) {
        if (abort.signal.aborted || entry.status.pid !== pid) return;
        entry.status.readySince = this.clock.now();
        this.setPhase(entry, 'ready', null);
        this.probeLiveness(entry, abort);
        return;
      }
      if (Date.now() >= deadline) {
        if (abort.signal.aborted || entry.status.pid !== pid) return;
        // A runtime that never becomes ready is failed, not restarted: restarting would only hide why.
        abort.abort();
        entry.status.lastLogLines = this.tail(spec.id, LOG_LINES_ON_FAILURE);
        const reason = `not ready after ${(spec.readiness.timeoutMs / 1000).toFixed(0)} s (GET ${spec.readiness.path} on port ${spec.port})`;
        entry.stopping = (async () => {
          if (pid !== null) await this.killGroup(pid, spec.stopGraceMs, entry);
          entry.status.pid = null;
          rmSync(join(this.opts.dir, safeName(spec.id), 'state.json'), { force: true });
          this.setPhase(entry, 'failed', reason);
        })();
        return;
      }
      const timer = setTimeout(() => {
        entry.timers.delete(timer);
        void attempt();
      }, spec.readiness.periodMs);
      timer.unref();
      entry.timers.add(timer);
    };
    void attempt();
  }

  private probeLiveness(entry: Entry, abort: AbortController): void {
    const live = entry.spec.liveness;
    if (!live) return;
    let failures = 0;
    const pid = entry.status.pid;
    const timer = setInterval(() => {
      void (async () => {
        if (abort.signal.aborted || entry.status.pid !== pid) return;
        const ok = await httpOk(entry.spec.host, entry.spec.port, live.path, live.timeoutMs, abort.signal);
        if (abort.signal.aborted || entry.status.pid !== pid) return;
        failures = ok ? 0 : failures + 1;
        if (failures >= live.failureThreshold && pid !== null) {
          clearInterval(timer);
          entry.timers.delete(timer);
          // Kill it; the exit handler counts the failure and restarts with backoff.
          signalGroup(pid, 'SIGKILL');
        }
      })();
    }, live.periodMs);
    timer.unref();
    entry.timers.add(timer);
  }

  private async killGroup(pid: number, graceMs: number, entry: Entry): Promise<void> {
    const exited = new Promise<void>((resolve) => entry.exitWaiters.push(resolve));
    if (!signalGroup(pid, 'SIGTERM')) return;
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      if (groupMembers(pid).length === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (groupMembers(pid).length > 0) signalGroup(pid, 'SIGKILL');
    // Wait until the kernel has reaped every member, so "stopped" means gone from the process table.
    const reapDeadline = Date.now() + 5000;
    while (groupMembers(pid).length > 0 && Date.now() < reapDeadline) await new Promise((r) => setTimeout(r, 20));
    await Promise.race([exited, new Promise((r) => setTimeout(r, 1000))]);
  }

  private clearTimers(entry: Entry): void {
    for (const t of entry.timers) {
      clearTimeout(t);
      clearInterval(t);
    }
    entry.timers.clear();
  }

  private setPhase(entry: Entry, phase: ProcessPhase, reason: string | null): void {
    entry.status.phase = phase;
    entry.status.reason = reason;
    this.emit('status', { ...entry.status });
  }
}

function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** GET host:port/path answers 2xx within the timeout. */
async function httpOk(host: string, port: number, path: string, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  try {
    const res = await fetch(`http://${host}:${port}${path}`, { signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

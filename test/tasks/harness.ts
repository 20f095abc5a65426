import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { eventMigrations } from '../../src/events/index.js';
import { EventLog } from '../../src/events/index.js';
import { type Registry, createMetricsRegistry, silentLogger } from '../../src/observability/index.js';
import { type CatapultMigration, Store } from '../../src/store/index.js';
import { TaskEngine, type TaskEngineOptions, taskMigrations } from '../../src/tasks/index.js';
import { type Clock, ManualClock } from '../../src/util/index.js';
import { type Backend, type TestDatabase, createTestDatabase } from '../helpers/services.js';
import type { FixtureArgs } from './fixtures/tables.js';

/** A task engine over a fresh database, with a manual clock unless told otherwise. */
export interface TaskHarness {
  db: TestDatabase;
  store: Store;
  events: EventLog;
  metrics: Registry;
  clock: ManualClock;
  engine: TaskEngine;
  /** Another engine on the same database (as a second server would have), sharing the clock. */
  secondEngine(options?: TaskEngineOptions): { engine: TaskEngine; store: Store };
  close(): Promise<void>;
}

export async function startTaskHarness(
  backend: Backend,
  opts: { options?: TaskEngineOptions; migrations?: Record<string, CatapultMigration>; clock?: Clock; poolSize?: number } = {},
): Promise<TaskHarness> {
  const db = await createTestDatabase(backend, 'tasks');
  const migrations = { ...eventMigrations, ...taskMigrations, ...opts.migrations };
  const open = () => new Store({ databaseUrl: db.databaseUrl, sqliteFile: db.sqliteFile, migrations, poolSize: opts.poolSize ?? 10 });
  const store = open();
  await store.migrate();
  const clock = new ManualClock();
  const log = silentLogger();
  const events = new EventLog(store, opts.clock ?? clock, 100);
  const metrics = createMetricsRegistry();
  const engine = new TaskEngine({ store, clock: opts.clock ?? clock, events, metrics, log }, { random: () => 0.5, ...opts.options });
  const extra: Store[] = [];
  return {
    db,
    store,
    events,
    metrics,
    clock,
    engine,
    secondEngine(options) {
      const s = open();
      extra.push(s);
      const e = new TaskEngine(
        { store: s, clock: opts.clock ?? clock, events: new EventLog(s, opts.clock ?? clock, 100), metrics: createMetricsRegistry(), log },
        { random: () => 0.5, ...options },
      );
      return { engine: e, store: s };
    },
    async close() {
      events.close();
      for (const s of extra) await s.close();
      await store.close();
      await db.cleanup();
    },
  };
}

/**
 * Polls `check` until it returns something other than undefined/false. Waits on a condition, never
 * asserts how long it took; `timeoutMs` only bounds a hung test.
 */
export async function waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A promise with its resolver, for handlers that wait on the test. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves once the pool has started. */
  ready: Promise<void>;
  /** Resolves with the exit code, or the signal's name when killed. */
  exited: Promise<number | string>;
  output(): string;
}

const FIXTURE = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

/** Starts test/tasks/fixtures/worker.ts as a real process. */
export function spawnWorker(args: FixtureArgs): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, JSON.stringify(args)], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  const collect = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.includes('ready\n')) onReady();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  return {
    child,
    ready: Promise.race([ready, exited.then((code) => Promise.reject(new Error(`worker exited (${code}) before it was ready:\n${out}`)))]),
    exited,
    output: () => out,
  };
}

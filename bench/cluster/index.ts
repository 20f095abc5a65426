/**
 * Cluster: (1) 1,000 simulated agents (the real Agent class with fake GPUs, each heartbeating every
 * 5 s and holding an assignment long-poll) against one `catapult server` process: the server's CPU
 * share and the heartbeat latency seen by the agents. Anchor: a bare node:http server that parses
 * the same heartbeat bodies from the same number of clients, measured in the same run.
 * (2) Placing 10,000 replicas over 1,000 workers with the scheduler (goal) and through ClusterService
 * on SQLite (reported). Anchor: a first-fit scan over the same snapshot without scoring.
 *
 * Usage: npm run bench -- cluster [--agents N] [--window SECONDS]
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { Agent, fakeGpus, parseFakeGpus } from '../../src/agent/index.js';
import {
  ClusterService,
  type PlacementRequest,
  type WorkerSnapshot,
  clusterMigrations,
  gpuFreeBytes,
  placementRequest,
  planPlacements,
} from '../../src/cluster/index.js';
import { EventLog, eventMigrations } from '../../src/events/index.js';
import { silentLogger } from '../../src/observability/index.js';
import { Store } from '../../src/store/index.js';
import { systemClock } from '../../src/util/index.js';
import { BIN, cpuSeconds, goal, median, percentile, report, sleep, spawnNode } from '../common.js';

const GiB = 2 ** 30;
const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
};
const AGENTS = arg('agents', 1000);
const WINDOW_S = arg('window', 40);
const INTERVAL_MS = 5000;
const WARMUP_MS = 8000;
const GPU_MIX = ['8xH100:80GiB', '4xA100-40GB:40GiB', '2xMI300X:192GiB', '8xL4:24GiB'];

const log = (line: string) => process.stdout.write(`${line}\n`);

function startServer(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawnNode([BIN, 'server', '--data-dir', dir, '--api-port', '0', '--log-level', 'warn'], {
    CATAPULT_HEARTBEAT_INTERVAL_MS: String(INTERVAL_MS),
  });
  child.stderr?.resume();
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /API\s+(http:\/\/\S+)\/api\/v1/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${out}`)));
  });
}

/** Cumulative counts of the server's own request-duration histogram for the heartbeat route, by bucket. */
async function heartbeatBuckets(url: string): Promise<Map<number, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<number, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('catapult_http_request_duration_seconds_bucket') || !line.includes('route="/api/v1/agents/:id/heartbeat"')) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    out.set(bound, (out.get(bound) ?? 0) + value);
  }
  return out;
}

/** The upper bound of the bucket holding the p99 of what happened between two histogram readings. */
function p99UpperBoundMs(before: Map<number, number>, after: Map<number, number>): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  for (const b of bounds) {
    if ((after.get(b) ?? 0) - (before.get(b) ?? 0) >= 0.99 * total) return b * 1000;
  }
  return Infinity;
}

interface HeartbeatStats {
  cpuShare: number;
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
}

/** Phase 1: the real server, the real agent code, many agents. */
async function heartbeatLoad(): Promise<
  HeartbeatStats & { workersReady: number; registerSeconds: number; serverP99UpperBoundMs: number; loopLag: { p99Ms: number; maxMs: number } }
> {
  const dir = mkdtempSync(join(tmpdir(), 'catapult-bench-cluster-'));
  const { child, url } = await startServer(dir);
  const agents: Agent[] = [];
  try {
    const admin = readFileSync(join(dir, 'admin.key'), 'utf8').trim();
    const res = await fetch(`${url}/api/v1/join-tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench', maxUses: AGENTS }),
    });
    const { secret } = (await res.json()) as { secret: string };

    let measuring = false;
    const latencies: number[] = [];
    let errors = 0;
    const timedFetch: typeof fetch = async (input, init) => {
      const isHeartbeat = typeof input === 'string' && input.endsWith('/heartbeat');
      const t0 = performance.now();
      try {
        const r = await fetch(input, init);
        if (isHeartbeat && measuring) {
          if (r.ok) latencies.push(performance.now() - t0);
          else errors++;
        }
        return r;
      } catch (err) {
        if (isHeartbeat && measuring) errors++;
        throw err;
      }
    };

    // Stagger joins over one interval so heartbeats spread as they would in a real fleet.
    const t0 = performance.now();
    const starts: Promise<unknown>[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const agent = new Agent({
        server: url,
        joinToken: secret,
        name: `sim-${String(i).padStart(4, '0')}`,
        labels: { zone: i % 2 ? 'eu' : 'us' },
        dataDir: join(dir, 'agents', String(i)),
        fakeGpus: parseFakeGpus(GPU_MIX[i % GPU_MIX.length]!),
        capacity: { cpuCores: 64, memoryBytes: 512 * GiB },
        log: silentLogger(),
        fetch: timedFetch,
      });
      agents.push(agent);
      starts.push(agent.start());
      await sleep(INTERVAL_MS / AGENTS);
    }
    await Promise.all(starts);
    const registerSeconds = (performance.now() - t0) / 1000;
    log(`${AGENTS} agents joined in ${registerSeconds.toFixed(1)} s; warming up ${WARMUP_MS / 1000} s`);
    await sleep(WARMUP_MS);

    const buckets0 = await heartbeatBuckets(url);
    // The agents' own event loop: a stall here delays their heartbeats and inflates what they measure.
    const clientLoop = monitorEventLoopDelay({ resolution: 10 });
    clientLoop.enable();
    measuring = true;
    const cpu0 = cpuSeconds(child.pid!);
    const wall0 = performance.now();
    await sleep(WINDOW_S * 1000);
    const cpu1 = cpuSeconds(child.pid!);
    const wall1 = performance.now();
    measuring = false;
    clientLoop.disable();
    const buckets1 = await heartbeatBuckets(url);
    const loopLag = { p99Ms: clientLoop.percentile(99) / 1e6, maxMs: clientLoop.max / 1e6 };

    const status = (await (await fetch(`${url}/api/v1/cluster/status`, { headers: { authorization: `Bearer ${admin}` } })).json()) as {
      workers: { byState: Record<string, number> };
    };
    const sorted = latencies.sort((a, b) => a - b);
    return {
      cpuShare: (cpu1 - cpu0) / ((wall1 - wall0) / 1000),
      count: sorted.length,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted.at(-1) ?? NaN,
      errors,
      workersReady: status.workers.byState.ready ?? 0,
      registerSeconds,
      serverP99UpperBoundMs: p99UpperBoundMs(buckets0, buckets1),
      loopLag,
    };
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The anchor: a bare HTTP server that parses the same heartbeat bodies, in a child process, from as many clients. */
async function anchorLoad(): Promise<HeartbeatStats> {
  const child = spawnNode([
    '-e',
    `require('node:http').createServer((q,s)=>{let b='';q.on('data',d=>b+=d);q.on('end',()=>{JSON.parse(b||'{}');s.setHeader('content-type','application/json');s.end('{"state":"ready","heartbeatIntervalMs":5000,"assignmentsVersion":"x","serverTime":0}')})}).listen(0,'127.0.0.1',function(){console.log('PORT '+this.address().port)})`,
  ]);
  child.stderr?.resume();
  const port = await new Promise<number>((resolve) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  const bodies = Array.from({ length: AGENTS }, (_, i) =>
    JSON.stringify({ sentAt: Date.now(), gpus: fakeGpus(parseFakeGpus(GPU_MIX[i % GPU_MIX.length]!)), replicas: [], cachedModels: [] }),
  );
  let stop = false;
  let measuring = false;
  const latencies: number[] = [];
  let errors = 0;
  const clients = bodies.map(async (body, i) => {
    await sleep((i * INTERVAL_MS) / AGENTS);
    while (!stop) {
      const t0 = performance.now();
      try {
        const r = await fetch(`http://127.0.0.1:${port}/api/v1/agents/x/heartbeat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        await r.text();
        if (measuring) latencies.push(performance.now() - t0);
      } catch {
        if (measuring) errors++;
      }
      await sleep(Math.max(0, INTERVAL_MS - (performance.now() - t0)));
    }
  });
  await sleep(INTERVAL_MS + 2000);
  measuring = true;
  const cpu0 = cpuSeconds(child.pid!);
  const wall0 = performance.now();
  const window = Math.min(WINDOW_S, 20);
  await sleep(window * 1000);
  const cpu1 = cpuSeconds(child.pid!);
  const wall1 = performance.now();
  measuring = false;
  stop = true;
  await Promise.all(clients);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  const sorted = latencies.sort((a, b) => a - b);
  return {
    cpuShare: (cpu1 - cpu0) / ((wall1 - wall0) / 1000),
    count: sorted.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1) ?? NaN,
    errors,
  };
}

/** 1,000 workers of four shapes, and 10,000 replicas of mixed sizes, policies and affinities. */
function placementWorkload(): { workers: WorkerSnapshot[]; requests: PlacementRequest[] } {
  const shapes = [
    { n: 8, name: 'NVIDIA H100 80GB HBM3', vendor: 'nvidia' as const, gib: 80 },
    { n: 4, name: 'NVIDIA A100-SXM4-40GB', vendor: 'nvidia' as const, gib: 40 },
    { n: 2, name: 'AMD Instinct MI300X', vendor: 'amd' as const, gib: 192 },
    { n: 0, name: '', vendor: 'nvidia' as const, gib: 0 },
  ];
  const workers: WorkerSnapshot[] = Array.from({ length: 1000 }, (_, i) => {
    const s = shapes[i % shapes.length]!;
    return {
      id: `w${i}`,
      name: `worker-${String(i).padStart(4, '0')}`,
      liveness: 'ready',
      cordoned: false,
      draining: false,
      labels: { zone: i % 2 ? 'eu' : 'us' },
      cpuCores: 128,
      memoryBytes: 1024 * GiB,
      cpuReserved: 0,
      memoryReserved: 0,
      gpus: Array.from({ length: s.n }, (_, g) => ({
        vendor: s.vendor,
        index: g,
        name: s.name,
        memoryTotalBytes: s.gib * GiB,
        memoryUsedBytes: 0,
        reservedBytes: 0,
        utilizationPercent: (i * 7 + g * 13) % 100,
      })),
      cachedModels: i % 10 === 0 ? ['llama-3-8b'] : [],
      replicas: 0,
    };
  });
  const requests = Array.from({ length: 10_000 }, (_, i) =>
    placementRequest({
      resources: {
        cpu: 1 + (i % 4),
        memoryBytes: (4 + (i % 8)) * GiB,
        gpus: i % 5 === 4 ? null : i % 11 === 0 ? { memoryBytes: 90 * GiB } : { count: i % 7 === 0 ? 2 : 1, memoryBytes: (8 + (i % 4) * 4) * GiB, ...(i % 13 === 0 ? { type: 'H100' } : {}) },
      },
      policy: i % 2 ? 'spread' : 'binpack',
      modelKey: i % 3 === 0 ? 'llama-3-8b' : null,
      ...(i % 17 === 0 ? { selectors: { zone: 'eu' } } : {}),
    }),
  );
  return { workers, requests };
}

/** First fit: the first worker with room, no scoring or explanations (the anchor). */
function firstFit(workers: WorkerSnapshot[], requests: PlacementRequest[]): number {
  const free = workers.map((w) => ({ cpu: w.cpuCores - w.cpuReserved, mem: w.memoryBytes - w.memoryReserved, gpus: w.gpus.map((g) => gpuFreeBytes(g)) }));
  let placed = 0;
  for (const r of requests) {
    const per = r.resources.gpus?.memoryBytes ?? 0;
    const count = r.resources.gpus ? (r.resources.gpus.count ?? 1) : 0;
    for (const f of free) {
      if (f.cpu < r.resources.cpu || f.mem < r.resources.memoryBytes) continue;
      const fit = f.gpus.map((g, i) => (g >= per ? i : -1)).filter((i) => i >= 0);
      if (fit.length < count) continue;
      for (const i of fit.slice(0, count)) f.gpus[i]! -= per;
      f.cpu -= r.resources.cpu;
      f.mem -= r.resources.memoryBytes;
      placed++;
      break;
    }
  }
  return placed;
}

async function placement() {
  const { workers, requests } = placementWorkload();
  const runs: number[] = [];
  const cpuRuns: number[] = [];
  let placed = 0;
  let unplaced = 0;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const decisions = planPlacements(workers, requests);
    const c1 = process.cpuUsage(c0);
    runs.push((performance.now() - t0) / 1000);
    cpuRuns.push((c1.user + c1.system) / 1e6);
    placed = decisions.filter((d) => d.placed).length;
    unplaced = decisions.length - placed;
  }
  const t1 = performance.now();
  firstFit(workers, requests);
  const anchorSeconds = (performance.now() - t1) / 1000;
  log(`scheduler: 10,000 replicas over 1,000 workers in ${runs.map((s) => `${(s * 1000).toFixed(0)} ms`).join(', ')} (${placed} placed, ${unplaced} explained)`);

  // The same through ClusterService: one transaction, one event per replica, on SQLite.
  const dir = mkdtempSync(join(tmpdir(), 'catapult-bench-place-'));
  const store = new Store({ databaseUrl: '', sqliteFile: join(dir, 'catapult.db'), migrations: { ...eventMigrations, ...clusterMigrations } });
  await store.migrate();
  const events = new EventLog(store, systemClock, 1000);
  const svc = new ClusterService(
    { config: { heartbeatIntervalMs: INTERVAL_MS, missedHeartbeats: 3, offlineGraceMs: 60_000 }, store, clock: systemClock, log: silentLogger(), events },
    { reconcileEveryMs: null },
  );
  await svc.start();
  for (const w of workers) {
    await svc.register(
      {
        name: w.name,
        labels: w.labels,
        capacity: { cpuCores: w.cpuCores, memoryBytes: w.memoryBytes },
        gpus: w.gpus.map((g) => ({ ...g, uuid: `${w.id}-${g.index}`, temperatureC: 40, fake: true })),
        cachedModels: [...w.cachedModels],
      },
      { adminKeyId: 'bench' },
    );
  }
  const inputs = requests.map((r, i) => ({ owner: `dep_${i % 100}`, resources: r.resources, selectors: r.selectors, policy: r.policy, modelKey: r.modelKey }));
  const t2 = performance.now();
  const created = await svc.createAssignments(inputs);
  const serviceSeconds = (performance.now() - t2) / 1000;
  log(`ClusterService: 10,000 replicas placed and stored in ${(serviceSeconds * 1000).toFixed(0)} ms (${created.filter((a) => a.workerId).length} placed)`);
  await svc.stop();
  events.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return { runs, cpuRuns, median: median(runs), worst: Math.max(...runs), placed, unplaced, anchorSeconds, serviceSeconds };
}

async function main(): Promise<void> {
  const place = await placement();
  log(`heartbeats: ${AGENTS} agents every ${INTERVAL_MS / 1000} s, ${WINDOW_S} s window`);
  const hb = await heartbeatLoad();
  log(
    `server CPU ${(hb.cpuShare * 100).toFixed(1)}% of one core; heartbeat p50 ${hb.p50Ms.toFixed(1)} ms, p99 ${hb.p99Ms.toFixed(1)} ms as the agents saw it ` +
      `(server-side p99 <= ${hb.serverP99UpperBoundMs} ms; ${hb.count} heartbeats, ${hb.errors} errors)`,
  );
  const anchor = await anchorLoad();
  log(`anchor (bare node:http parsing the same bodies): CPU ${(anchor.cpuShare * 100).toFixed(1)}%, p99 ${anchor.p99Ms.toFixed(1)} ms`);
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  report({
    bench: 'cluster',
    anchor: 'heartbeats: a bare node:http server parsing the same bodies from as many clients; placement: first-fit without scoring',
    machine: { cores: (await import('node:os')).availableParallelism(), note: 'agents, server and anchor share this machine' },
    heartbeat: {
      agents: AGENTS,
      intervalMs: INTERVAL_MS,
      windowSeconds: WINDOW_S,
      heartbeats: hb.count,
      errors: hb.errors,
      serverCpuShare: r3(hb.cpuShare),
      p50Ms: r3(hb.p50Ms),
      p99Ms: r3(hb.p99Ms),
      maxMs: r3(hb.maxMs),
      serverSideP99AtMostMs: hb.serverP99UpperBoundMs,
      agentsEventLoopDelayP99Ms: r3(hb.loopLag.p99Ms),
      agentsEventLoopDelayMaxMs: r3(hb.loopLag.maxMs),
      workersReadyAtEnd: hb.workersReady,
      joinSeconds: r3(hb.registerSeconds),
      anchorCpuShare: r3(anchor.cpuShare),
      anchorP99Ms: r3(anchor.p99Ms),
    },
    placement: {
      replicas: 10_000,
      workers: 1000,
      schedulerRunsSeconds: place.runs.map(r3),
      schedulerRunsCpuSeconds: place.cpuRuns.map(r3),
      worstRunSeconds: r3(place.worst),
      placed: place.placed,
      explained: place.unplaced,
      firstFitAnchorSeconds: r3(place.anchorSeconds),
      throughServiceSeconds: r3(place.serviceSeconds),
    },
    goals: {
      heartbeat_cpu_share: goal(hb.cpuShare, 0.15, 'max', 'share of one core'),
      // The median of five runs: a shared machine's neighbours can stall any single one.
      place_10k_seconds: goal(place.median, 1, 'max', 's'),
    },
  });
}

await main();

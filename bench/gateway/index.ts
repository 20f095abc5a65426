/**
 * Gateway: what the data plane costs and what its balancing buys, each against an anchor measured in
 * the same run on the same machine.
 *
 * 1. Overhead. A fast upstream (a bare node:http server) is loaded directly, through the gateway and
 *    through nginx `proxy_pass` with upstream keepalive; the gateway and nginx each run one worker
 *    process, both without access logs. wrk (one thread, 64 connections) finds saturation throughput;
 *    an open-loop client at a fixed rate (latency from each request's intended send time, HDR
 *    histograms) gives the latency each proxy adds at p50 and p99.
 * 2. Routing quality. Four simulator replicas (max 4 sequences each, like vLLM's max_num_seqs), one of
 *    them 3x slower, under Poisson arrivals: p99 through the gateway against nginx's round robin over
 *    the same replicas.
 * 3. Streaming. 2,000 concurrent streamed chat completions through the gateway against the same load
 *    sent straight to the simulator: inter-token latency at the client.
 *
 * All traffic stays on 127.0.0.1, bounded in count and time. Needs `wrk` and `nginx` (Debian packages).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { type Histogram, arrivalOffsets, mergeHistograms, newHistogram, percentilesMs, recordMs } from '../../src/bench/index.js';
import { loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/observability/index.js';
import { type ControlPlane, startControlPlane } from '../../src/server/index.js';
import { BIN, NGINX, cpuSeconds, goal, median, report, sleep, startNginx, which } from '../common.js';
import { freePort } from '../../src/util/index.js';

const QUICK = process.argv.includes('--quick');
const S = (seconds: number) => (QUICK ? Math.max(1, Math.round(seconds / 3)) : seconds);

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}



// ── processes ──────────────────────────────────────────────────────────────

const children: ChildProcess[] = [];

function track(child: ChildProcess): ChildProcess {
  children.push(child);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

/** Spawns a process and resolves with the first match of `re` on its stdout. */
function spawnUntil(cmd: string, args: string[], re: RegExp, env: Record<string, string> = {}): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = track(spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} ${args.join(' ')} did not start:\n${out}\n${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited (${code}) before it was ready:\n${out}\n${err}`));
    });
  });
}

const FAST_UPSTREAM = `
const http = require('node:http');
const body = JSON.stringify({ id: 'chatcmpl-fast', object: 'chat.completion', created: 1, model: 'fast',
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 } });
const server = http.createServer({ keepAliveTimeout: 65000, noDelay: true }, (req, res) => {
  req.on('data', () => {});
  req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body); });
});
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
`;

async function startFastUpstream(): Promise<{ child: ChildProcess; url: string }> {
  const { child, match } = await spawnUntil(process.execPath, ['-e', FAST_UPSTREAM], /listening (\d+)/);
  return { child, url: `http://127.0.0.1:${match[1]}` };
}

async function startSimulator(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const { child, match } = await spawnUntil(
    process.execPath,
    [BIN, 'runtime', 'simulator', '--port', '0', '--log-level', 'warn', '--timer-spin-ms', '0', ...args],
    /at (http:\/\/\S+)\/v1/,
  );
  return { child, url: match[1]! };
}

async function startGatewayProcess(cpUrl: string, key: string, logLevel: string): Promise<{ child: ChildProcess; url: string }> {
  const { child, match } = await spawnUntil(
    process.execPath,
    [BIN, 'gateway', '--server', cpUrl, '--key', key, '--port', '0', '--log-level', logLevel],
    /Gateway\s+(http:\/\/\S+)/,
  );
  child.stderr!.resume();
  return { child, url: match[1]! };
}

/** nginx `proxy_pass` to `upstreams` with upstream keepalive (one worker, no access log). */
async function startNginxProxy(dir: string, upstreams: string[], port: number): Promise<ChildProcess> {
  const servers = upstreams.map((u) => `    server ${new URL(u).host};`).join('\n');
  return track(
    await startNginx(
      dir,
      port,
      `  keepalive_requests 1000000;
  upstream backend {
${servers}
    keepalive 256;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      add_header X-Upstream $upstream_addr;
    }
  }`,
    ),
  );
}

// ── load generators ────────────────────────────────────────────────────────

function wrk(url: string, script: string, seconds: number, connections = 64): { rps: number; requests: number; latency: string } {
  const out = execFileSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '-s', script, url], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const latency = /Latency\s+(\S+)/.exec(out)?.[1] ?? '?';
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
  if (errors) throw new Error(`wrk saw ${errors} error responses from ${url}:\n${out}`);
  return { rps, requests, latency };
}

/** CPU seconds (user + system) of processes, from /proc: the proxies' cost per request, whatever else the machine runs. */
function cpuOf(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

/** The worker processes of an nginx master. */
function nginxWorkers(master: ChildProcess): number[] {
  const out = spawnSync('pgrep', ['-P', String(master.pid)], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter(Boolean).map(Number);
}

interface OpenLoopResult {
  hist: Histogram;
  sent: number;
  ok: number;
  failed: number;
  latency: ReturnType<typeof percentilesMs>;
  /** Share of answers per upstream (from x-catapult-replica or nginx's X-Upstream). */
  byUpstream: Record<string, number>;
}

/**
 * Open loop: the arrival schedule is fixed before the first request; each latency is measured from
 * the request's intended send time, so a slow target shows up as latency, not as fewer requests.
 */
async function openLoop(url: string, path: string, body: string, headers: Record<string, string>, schedule: Float64Array, upstreamHeader?: string): Promise<OpenLoopResult> {
  const origin = new URL(url).origin;
  const pool = new Pool(origin, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });
  const h = newHistogram();
  const byUpstream: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  const inflight: Promise<void>[] = [];
  const start = performance.now() + 20;
  let next = 0;
  const fire = (intended: number): Promise<void> =>
    pool
      .request({ path, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body })
      .then(async (res) => {
        await res.body.dump();
        const done = performance.now();
        if (res.statusCode === 200) {
          ok++;
          recordMs(h, done - intended);
          if (upstreamHeader) {
            const u = String(res.headers[upstreamHeader] ?? '?');
            byUpstream[u] = (byUpstream[u] ?? 0) + 1;
          }
        } else failed++;
      })
      .catch(() => {
        failed++;
      });
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (next < schedule.length && start + schedule[next]! <= now) {
        inflight.push(fire(start + schedule[next]!));
        next++;
      }
      if (next >= schedule.length) return resolve();
      const wait = start + schedule[next]! - performance.now();
      if (wait > 2) setTimeout(tick, wait - 1);
      else setImmediate(tick);
    };
    tick();
  });
  await Promise.all(inflight);
  await pool.close();
  return { hist: h, sent: schedule.length, ok, failed, latency: percentilesMs(h), byUpstream };
}

interface StreamingResult {
  streams: number;
  completed: number;
  failed: number;
  tokens: number;
  ttft: ReturnType<typeof percentilesMs>;
  itl: ReturnType<typeof percentilesMs>;
  /** Mean over all gaps between successive tokens, in ms. */
  itlMean: number;
}

/** `n` concurrent streamed chat completions, started over `rampMs`; token arrival times at the client. */
async function streaming(url: string, headers: Record<string, string>, model: string, n: number, tokens: number, rampMs: number): Promise<StreamingResult> {
  const pool = new Pool(new URL(url).origin, { connections: n + 16, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 120_000, bodyTimeout: 120_000 });
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: tokens, stream: true });
  const ttft = newHistogram();
  const itl = newHistogram();
  let gapSum = 0;
  let gapCount = 0;
  let completed = 0;
  let failed = 0;
  let tokenCount = 0;
  const one = async (delay: number): Promise<void> => {
    await sleep(delay);
    const started = performance.now();
    try {
      const res = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      if (res.statusCode !== 200) {
        await res.body.dump();
        failed++;
        return;
      }
      let last = 0;
      let seen = 0;
      let carry = '';
      for await (const chunk of res.body) {
        const now = performance.now();
        const text = carry + (chunk as Buffer).toString('utf8');
        const cut = text.lastIndexOf('\n\n');
        carry = cut >= 0 ? text.slice(cut + 2) : text;
        const complete = cut >= 0 ? text.slice(0, cut) : '';
        // Each `"content":"…"` delta with text is one token (the first chunk also carries the role).
        for (const m of complete.matchAll(/"delta":\{(?:"role":"assistant",)?"content":"(?:[^"\\]|\\.)+"/g)) {
          void m;
          if (seen === 0) recordMs(ttft, now - started);
          else {
            const gap = now - last;
            recordMs(itl, gap);
            gapSum += gap;
            gapCount++;
          }
          last = now;
          seen++;
        }
      }
      tokenCount += seen;
      completed++;
    } catch {
      failed++;
    }
  };
  await Promise.all(Array.from({ length: n }, (_, i) => one((i / n) * rampMs)));
  await pool.close();
  return { streams: n, completed, failed, tokens: tokenCount, ttft: percentilesMs(ttft), itl: percentilesMs(itl), itlMean: gapCount > 0 ? gapSum / gapCount : NaN };
}

// ── helpers ────────────────────────────────────────────────────────────────

async function waitForModel(gatewayUrl: string, key: string, model: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const res = await fetch(`${gatewayUrl}/v1/models/${model}`, { headers: { authorization: `Bearer ${key}` } });
    await res.arrayBuffer();
    if (res.status === 200) return;
    if (Date.now() > deadline) throw new Error(`the gateway did not learn about ${model}`);
    await sleep(50);
  }
}

const round = (v: number, d = 3) => Math.round(v * 10 ** d) / 10 ** d;

function summary(p: ReturnType<typeof percentilesMs>) {
  return { p50: round(p.p50), p90: round(p.p90), p99: round(p.p99), max: round(p.max), mean: round(p.mean), count: p.count };
}

// ── the run ────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  for (const tool of ['wrk', NGINX]) {
    if (!which(tool)) throw new Error(`${tool} is not installed: apt-get install -y wrk nginx (the Debian packages).`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'catapult-bench-gateway-'));
  let cp: ControlPlane | undefined;
  try {
    const config = loadConfig({ env: { CATAPULT_DATA_DIR: dir, CATAPULT_API_PORT: '0', CATAPULT_EVENT_POLL_MS: '200' }, cwd: dir });
    cp = await startControlPlane({ config, log: silentLogger() });
    const gatewayKey = (await cp.keys.create({ name: 'bench gateway', scopes: ['gateway'] }, null)).secret;
    const clientKey = (await cp.keys.create({ name: 'bench client', scopes: ['infer'] }, null)).secret;
    const auth = { authorization: `Bearer ${clientKey}` };
    const gateway = await startGatewayProcess(cp.url, gatewayKey, 'warn');
    log(`control plane ${cp.url}, gateway ${gateway.url} (pid ${gateway.child.pid})`);

    // 1. Overhead ─────────────────────────────────────────────────────────
    const fast = await startFastUpstream();
    await cp.routeRegistry.upsert({ id: 'bench_fast', kind: 'deployment', name: 'fast', aliases: [], protocol: 'openai', replicas: [{ id: 'fast-0', url: fast.url, ready: true }] });
    await waitForModel(gateway.url, clientKey, 'fast');
    const nginxPort = await freePort();
    const nginx = await startNginxProxy(join(dir, 'nginx-fast'), [fast.url], nginxPort);
    const nginxUrl = `http://127.0.0.1:${nginxPort}`;
    const requestBody = JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 });
    const script = join(dir, 'post.lua');
    writeFileSync(
      script,
      `wrk.method = "POST"\nwrk.body = '${requestBody}'\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer ${clientKey}"\n`,
    );
    const targets = { direct: fast.url, nginx: nginxUrl, gateway: gateway.url };
    const servingPids = { direct: [fast.child.pid!], nginx: nginxWorkers(nginx), gateway: [gateway.child.pid!] };
    const saturation: Record<string, number[]> = { direct: [], nginx: [], gateway: [] };
    const cpuPerRequest: Record<string, number[]> = { direct: [], nginx: [], gateway: [] };
    for (let roundNo = 0; roundNo < 2; roundNo++) {
      for (const name of ['gateway', 'nginx', 'direct'] as const) {
        wrk(`${targets[name]}/v1/chat/completions`, script, 2);
        const before = cpuOf(servingPids[name]);
        const r = wrk(`${targets[name]}/v1/chat/completions`, script, S(6));
        const cpuUs = ((cpuOf(servingPids[name]) - before) / r.requests) * 1e6;
        saturation[name]!.push(r.rps);
        cpuPerRequest[name]!.push(Math.round(cpuUs * 10) / 10);
        log(`saturation ${name}: ${Math.round(r.rps)} requests/s (mean latency ${r.latency}), ${cpuUs.toFixed(1)} CPU µs per request in the ${name === 'direct' ? 'upstream' : name}`);
      }
    }
    const best = (xs: number[]) => Math.max(...xs);

    // The same gateway with its structured access log on (info level), for what logging costs.
    const logged = await startGatewayProcess(cp.url, gatewayKey, 'info');
    await waitForModel(logged.url, clientKey, 'fast');
    wrk(`${logged.url}/v1/chat/completions`, script, 2);
    const loggedRps = wrk(`${logged.url}/v1/chat/completions`, script, S(6)).rps;
    log(`saturation gateway with access log: ${Math.round(loggedRps)} requests/s`);
    await stopChild(logged.child);

    // Fixed rate, in one-second slices that rotate over the three targets: a burst of load from
    // elsewhere on the machine then hits one slice of each rather than one target's whole run.
    const RATE = 1000;
    const SLICES = QUICK ? 3 : 8;
    const names = ['direct', 'gateway', 'nginx'] as const;
    const slices: Record<string, OpenLoopResult[]> = { direct: [], gateway: [], nginx: [] };
    for (const name of names) {
      await openLoop(targets[name], '/v1/chat/completions', requestBody, auth, arrivalOffsets({ kind: 'constant', rate: RATE }, { durationMs: 1000 }, 1));
    }
    for (let i = 0; i < SLICES; i++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(i + k) % names.length]!;
        slices[name]!.push(await openLoop(targets[name], '/v1/chat/completions', requestBody, auth, arrivalOffsets({ kind: 'constant', rate: RATE }, { durationMs: 1000 }, 2 + i)));
      }
    }
    const fixed = Object.fromEntries(
      names.map((name) => {
        const parts = slices[name]!;
        return [name, { latency: percentilesMs(mergeHistograms(parts.map((p) => p.hist))), failed: parts.reduce((a, p) => a + p.failed, 0), sliceP50: parts.map((p) => p.latency.p50) }];
      }),
    ) as Record<(typeof names)[number], { latency: ReturnType<typeof percentilesMs>; failed: number; sliceP50: number[] }>;
    for (const name of names) {
      const l = fixed[name].latency;
      log(`fixed ${RATE}/s ${name}: p50 ${l.p50.toFixed(3)} ms, p99 ${l.p99.toFixed(3)} ms, failed ${fixed[name].failed}`);
    }
    // Added latency per slice (each slice compared with the direct slice of the same round), then the median.
    const addedP50 = median(fixed.gateway.sliceP50.map((v, i) => v - fixed.direct.sliceP50[i]!));
    const nginxAddedP50 = median(fixed.nginx.sliceP50.map((v, i) => v - fixed.direct.sliceP50[i]!));
    await stopChild(nginx);
    await stopChild(fast.child);

    // 2. Routing quality ──────────────────────────────────────────────────
    const simArgs = ['--model-name', 'llm', '--ttft-ms', '20', '--itl-ms', '4', '--max-concurrency', '4', '--max-tokens-policy', 'exact'];
    const sims = await Promise.all([0, 1, 2, 3].map((i) => startSimulator([...simArgs, '--seed', String(i), ...(i === 3 ? ['--slow-factor', '3'] : [])])));
    const slowHost = new URL(sims[3]!.url).host;
    await cp.routeRegistry.upsert({
      id: 'bench_llm',
      kind: 'deployment',
      name: 'llm',
      aliases: [],
      protocol: 'openai',
      replicas: sims.map((s, i) => ({ id: i === 3 ? 'slow' : `fast-${i}`, url: s.url, ready: true })),
    });
    await waitForModel(gateway.url, clientKey, 'llm');
    const rrPort = await freePort();
    const rr = await startNginxProxy(join(dir, 'nginx-rr'), sims.map((s) => s.url), rrPort);
    const llmBody = JSON.stringify({ model: 'llm', messages: [{ role: 'user', content: 'hello' }], max_tokens: 16 });
    // Round robin gives the slow replica a quarter of the traffic: 50/s keeps it at 75% of its capacity.
    const LLM_RATE = 50;
    const llmSchedule = arrivalOffsets({ kind: 'poisson', rate: LLM_RATE }, { durationMs: S(20) * 1000 }, 7);
    await openLoop(gateway.url, '/v1/chat/completions', llmBody, auth, arrivalOffsets({ kind: 'poisson', rate: LLM_RATE }, { durationMs: 3000 }, 3));
    const balanced = await openLoop(gateway.url, '/v1/chat/completions', llmBody, auth, llmSchedule, 'x-catapult-replica');
    log(`routing gateway: p50 ${balanced.latency.p50.toFixed(1)} ms, p99 ${balanced.latency.p99.toFixed(1)} ms, per replica ${JSON.stringify(balanced.byUpstream)}`);
    await openLoop(`http://127.0.0.1:${rrPort}`, '/v1/chat/completions', llmBody, auth, arrivalOffsets({ kind: 'poisson', rate: LLM_RATE }, { durationMs: 1000 }, 4));
    const roundRobin = await openLoop(`http://127.0.0.1:${rrPort}`, '/v1/chat/completions', llmBody, auth, llmSchedule, 'x-upstream');
    log(`routing round robin: p50 ${roundRobin.latency.p50.toFixed(1)} ms, p99 ${roundRobin.latency.p99.toFixed(1)} ms, per replica ${JSON.stringify(roundRobin.byUpstream)}`);
    await stopChild(rr);
    await Promise.all(sims.map((s) => stopChild(s.child)));
    const share = (r: OpenLoopResult, key: (k: string) => boolean) => {
      const total = Object.values(r.byUpstream).reduce((a, b) => a + b, 0);
      const slow = Object.entries(r.byUpstream).filter(([k]) => key(k)).reduce((a, [, v]) => a + v, 0);
      return total > 0 ? round(slow / total, 4) : NaN;
    };

    // 3. Streaming ────────────────────────────────────────────────────────
    const STREAMS = QUICK ? 500 : 2000;
    const streamSim = await startSimulator(['--model-name', 'stream', '--ttft-ms', '200', '--itl-ms', '200', '--max-concurrency', '4096', '--max-tokens-policy', 'exact']);
    await cp.routeRegistry.upsert({ id: 'bench_stream', kind: 'deployment', name: 'stream', aliases: [], protocol: 'openai', replicas: [{ id: 'stream-0', url: streamSim.url, ready: true }] });
    await waitForModel(gateway.url, clientKey, 'stream');
    const TOKENS = 20;
    // Warm the gateway's upstream connections with the same burst, so both runs start with cold client
    // connections only (a gateway in service keeps its upstream pool warm).
    await streaming(gateway.url, auth, 'stream', STREAMS, 2, 1000);
    const direct = await streaming(streamSim.url, auth, 'stream', STREAMS, TOKENS, 1000);
    log(`streaming direct: ${direct.completed}/${STREAMS} streams, ITL mean ${direct.itlMean.toFixed(2)} ms p50 ${direct.itl.p50.toFixed(2)} p99 ${direct.itl.p99.toFixed(2)}, TTFT p50 ${direct.ttft.p50.toFixed(1)}`);
    const viaGateway = await streaming(gateway.url, auth, 'stream', STREAMS, TOKENS, 1000);
    log(`streaming gateway: ${viaGateway.completed}/${STREAMS} streams, ITL mean ${viaGateway.itlMean.toFixed(2)} ms p50 ${viaGateway.itl.p50.toFixed(2)} p99 ${viaGateway.itl.p99.toFixed(2)}, TTFT p50 ${viaGateway.ttft.p50.toFixed(1)}`);
    await stopChild(streamSim.child);
    await stopChild(gateway.child);

    const throughputRatio = best(saturation.gateway!) / best(saturation.nginx!);
    const addedP99 = fixed.gateway.latency.p99 - fixed.direct.latency.p99;
    const p99Ratio = balanced.latency.p99 / roundRobin.latency.p99;
    const itlDelta = Math.abs(viaGateway.itlMean - direct.itlMean) / direct.itlMean;
    const streamFailures = viaGateway.failed + direct.failed + (STREAMS - viaGateway.completed);

    report({
      bench: 'gateway',
      anchors: {
        overhead: `nginx ${/nginx\/(\S+)/.exec(spawnSync(NGINX, ['-v'], { encoding: 'utf8' }).stderr)?.[1] ?? '?'} proxy_pass with upstream keepalive, 1 worker process, measured with wrk 4.1 in this run`,
        routing: 'round robin (nginx upstream default) over the same 4 replicas, same Poisson schedule',
        streaming: `the same ${STREAMS} concurrent streams sent straight to the simulator`,
      },
      machine: { cpus: cpus().length, loadavg1: round(loadavg()[0]!, 2) },
      quick: QUICK,
      overhead: {
        upstream: 'node:http answering a 250-byte chat completion, POST with a 90-byte JSON body',
        wrk: { threads: 1, connections: 64, seconds: S(6), rounds: 2 },
        saturationRps: {
          direct: Math.round(best(saturation.direct!)),
          gateway: Math.round(best(saturation.gateway!)),
          nginx: Math.round(best(saturation.nginx!)),
          gatewayWithAccessLog: Math.round(loggedRps),
          allRuns: saturation,
        },
        cpuMicrosecondsPerRequest: {
          note: 'CPU time of the serving process(es) per request during the saturation runs (the upstream for direct)',
          direct: Math.min(...cpuPerRequest.direct!),
          gateway: Math.min(...cpuPerRequest.gateway!),
          nginx: Math.min(...cpuPerRequest.nginx!),
          allRuns: cpuPerRequest,
        },
        fixedRate: {
          rate: RATE,
          slices: `${SLICES} one-second slices per target, rotating`,
          latencyMs: { direct: summary(fixed.direct.latency), gateway: summary(fixed.gateway.latency), nginx: summary(fixed.nginx.latency) },
          addedMs: {
            method: 'p50: median over slices of (slice p50 - direct slice p50 of the same round); p99: of the merged histograms',
            gateway: { p50: round(addedP50), p99: round(addedP99) },
            nginx: { p50: round(nginxAddedP50), p99: round(fixed.nginx.latency.p99 - fixed.direct.latency.p99) },
          },
          sliceP50Ms: { direct: fixed.direct.sliceP50.map((v) => round(v)), gateway: fixed.gateway.sliceP50.map((v) => round(v)), nginx: fixed.nginx.sliceP50.map((v) => round(v)) },
          failed: { direct: fixed.direct.failed, gateway: fixed.gateway.failed, nginx: fixed.nginx.failed },
        },
      },
      routing: {
        replicas: '4 simulators, max 4 sequences each, TTFT 20 ms, ITL 4 ms, 16 tokens; one with slow factor 3',
        arrivals: `Poisson ${LLM_RATE}/s for ${S(20)} s`,
        latencyMs: { gateway: summary(balanced.latency), roundRobin: summary(roundRobin.latency) },
        slowReplicaShare: { gateway: share(balanced, (k) => k === 'slow'), roundRobin: share(roundRobin, (k) => k === slowHost) },
        failed: { gateway: balanced.failed, roundRobin: roundRobin.failed },
      },
      streaming: {
        streams: STREAMS,
        tokensPerStream: TOKENS,
        simulator: 'TTFT 200 ms, ITL 200 ms',
        direct: { completed: direct.completed, itlMeanMs: round(direct.itlMean), itlMs: summary(direct.itl), ttftMs: summary(direct.ttft) },
        gateway: { completed: viaGateway.completed, itlMeanMs: round(viaGateway.itlMean), itlMs: summary(viaGateway.itl), ttftMs: summary(viaGateway.ttft) },
        itlP50Delta: round(Math.abs(viaGateway.itl.p50 - direct.itl.p50) / direct.itl.p50, 4),
        itlP99Delta: round(Math.abs(viaGateway.itl.p99 - direct.itl.p99) / direct.itl.p99, 4),
        failedStreams: streamFailures,
      },
      goals: {
        gateway_vs_nginx_throughput: goal(throughputRatio, 0.6, 'min'),
        added_p50_ms: goal(addedP50, 1, 'max', 'ms'),
        balancing_p99_vs_round_robin: goal(p99Ratio, 0.6, 'max'),
        streaming_itl_delta: goal(streamFailures > 0 ? Number.POSITIVE_INFINITY : itlDelta, 0.05, 'max'),
      },
    });
  } finally {
    await Promise.all(children.map((c) => stopChild(c)));
    await cp?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

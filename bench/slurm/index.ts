/**
 * Slurm: (1) time from POST /api/v1/deployments to `active` for one ONNX replica placed as a Slurm job,
 * against the anchor: the same job script submitted by hand with `sbatch` and its health path polled
 * every 50 ms (the job's own start latency in Slurm, plus the server's start). Goal: Catapult adds
 * under 2 s. (2) SSH commands the control plane issues per poll interval while 50 replicas are Slurm
 * jobs (on the 2-CPU test node 2 run and the rest wait in the queue; the poll reads them all). Goal:
 * at most one state query per interval per cluster, independent of the number of jobs.
 *
 * Needs the real single-node Slurm and sshd: scripts/services/slurm.sh and scripts/services/sshd.sh.
 * Usage: npm run bench -- slurm [--runs N] [--replicas N] [--window SECONDS]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/observability/index.js';
import { type ControlPlane, startControlPlane } from '../../src/server/index.js';
import { ROOT, goal, median, report, sleep } from '../common.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
};
const RUNS = arg('runs', 3);
const REPLICAS = arg('replicas', 50);
const WINDOW_S = arg('window', 10);
const POLL_MS = 500;
const SSHD_DIR = '/var/tmp/catapult-test-infra/sshd';
const log = (line: string) => process.stdout.write(`${line}\n`);

function jobs(name: string): string[] {
  return execFileSync('squeue', ['-h', '-t', 'PENDING,RUNNING,CONFIGURING,COMPLETING', '-n', name, '-o', '%i'], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

async function until<T>(check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs: number, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

async function main(): Promise<void> {
  for (const s of ['slurm.sh', 'sshd.sh']) execFileSync('bash', [join(ROOT, 'scripts', 'services', s)], { stdio: 'inherit' });
  const dir = mkdtempSync(join(tmpdir(), 'catapult-bench-slurm-'));
  const workDir = mkdtempSync('/var/tmp/catapult-bench-slurm-');
  const config = loadConfig({ env: { CATAPULT_DATA_DIR: dir, CATAPULT_API_PORT: '0', CATAPULT_GATEWAY_PORT: '0', CATAPULT_EVENT_POLL_MS: '200' }, cwd: dir });
  const cp: ControlPlane = await startControlPlane({ config, log: silentLogger() });
  const { secret } = await cp.keys.create({ name: 'bench', scopes: ['admin'] }, null);
  const call = async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await fetch(cp.url + path, {
      method,
      headers: { authorization: `Bearer ${secret}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  try {
    await call('POST', '/api/v1/slurm-clusters', {
      name: 'bench',
      host: '127.0.0.1',
      port: 2222,
      user: 'root',
      privateKey: readFileSync(`${SSHD_DIR}/key`, 'utf8'),
      hostKey: readFileSync(`${SSHD_DIR}/hostkey.pub`, 'utf8'),
      workDir,
      pollIntervalMs: POLL_MS,
    });
    await call('POST', '/api/v1/models', { name: 'iris', source: join(ROOT, 'models', 'iris', 'model.onnx') });

    // (1) POST → active, against the same script submitted by hand.
    const catapult: number[] = [];
    const anchor: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const name = `iris-${i}`;
      const t0 = performance.now();
      await call('POST', '/api/v1/deployments', { name, model: 'iris', runtime: 'onnx', resources: { cpu: 1, memory: '512Mi' }, placement: { backend: 'slurm', cluster: 'bench' } });
      const d = await until(async () => {
        const x = await call('GET', `/api/v1/deployments/${name}`);
        return x.state === 'active' ? x : undefined;
      }, `${name} to be active`, 120_000);
      catapult.push(performance.now() - t0);
      const rep = d.replicas.items[0].id as string;
      const r = cp.slurm.list().find((x) => x.id === rep);
      if (r) log(`  replica ${rep}: submitted +${(r.submittedAt ?? 0) - r.createdAt} ms, running seen +${(r.startedAt ?? 0) - r.createdAt} ms, ready +${(r.readyAt ?? 0) - r.createdAt} ms after it was created`);
      await call('DELETE', `/api/v1/deployments/${name}`);
      await until(() => (jobs(`catapult-${rep}`).length === 0 ? true : undefined), 'the job to end', 60_000, 100);

      // The anchor: Catapult's own script for that replica, under another name, submitted and polled directly.
      const script = readFileSync(join(workDir, 'replicas', rep, 'job.sbatch'), 'utf8').replace(/--job-name=\S+/, `--job-name=anchor-${i}`).replaceAll(`/replicas/${rep}`, `/anchor-${i}`);
      const adir = join(workDir, `anchor-${i}`);
      execFileSync('mkdir', ['-p', adir]);
      writeFileSync(join(adir, 'job.sbatch'), script);
      const a0 = performance.now();
      const id = execFileSync('sbatch', ['--parsable', join(adir, 'job.sbatch')], { encoding: 'utf8', cwd: adir }).trim();
      await until(async () => {
        let ep: string;
        try {
          ep = readFileSync(join(adir, 'endpoint'), 'utf8');
        } catch {
          return undefined;
        }
        const [host, port] = ep.trim().split(' ');
        try {
          const r = await fetch(`http://${host}:${port}/v2/health/ready`, { signal: AbortSignal.timeout(1000) });
          return r.ok ? true : undefined;
        } catch {
          return undefined;
        }
      }, 'the hand-submitted job to serve', 120_000, 50);
      anchor.push(performance.now() - a0);
      execFileSync('scancel', [id]);
      await until(() => (jobs(`anchor-${i}`).length === 0 ? true : undefined), 'the anchor job to end', 60_000, 100);
      log(`run ${i + 1}: POST→active ${Math.round(catapult[i]!)} ms; sbatch→serving by hand ${Math.round(anchor[i]!)} ms`);
    }
    const added = (median(catapult) - median(anchor)) / 1000;

    // (2) Commands per poll interval with many jobs.
    await call('POST', '/api/v1/deployments', { name: 'many', model: 'iris', runtime: 'onnx', replicas: REPLICAS, resources: { cpu: 1, memory: '256Mi' }, placement: { backend: 'slurm', cluster: 'bench' } });
    const submitted = await until(() => {
      const n = execFileSync('squeue', ['-h', '-o', '%j'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('catapult-')).length;
      return n >= REPLICAS ? n : undefined;
    }, `${REPLICAS} jobs in squeue`, 180_000, 200);
    await sleep(2 * POLL_MS);
    const comm = await cp.slurmClusters.session('bench');
    const polls0 = cp.slurm.pollCommands.get('bench') ?? 0;
    const cmds0 = comm.commands;
    const t0 = performance.now();
    await sleep(WINDOW_S * 1000);
    const elapsed = performance.now() - t0;
    const intervals = elapsed / POLL_MS;
    const polls = (cp.slurm.pollCommands.get('bench') ?? 0) - polls0;
    const commands = comm.commands - cmds0;
    const states = execFileSync('squeue', ['-h', '-o', '%T'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    const running = states.filter((s) => s === 'RUNNING').length;
    log(`${submitted} jobs (${running} running, ${states.length - running} queued): ${commands} SSH commands (${polls} state polls) in ${(elapsed / 1000).toFixed(1)} s = ${(commands / intervals).toFixed(2)} per ${POLL_MS} ms interval`);
    await call('DELETE', '/api/v1/deployments/many');
    await until(() => (execFileSync('squeue', ['-h', '-o', '%j'], { encoding: 'utf8' }).includes('catapult-') ? undefined : true), 'every job to end', 180_000, 500);

    report({
      bench: 'slurm',
      anchor: 'the same sbatch script submitted by hand, its health polled every 50 ms',
      postToActiveMs: { catapult: catapult.map(Math.round), anchor: anchor.map(Math.round) },
      jobs: { submitted, running, queued: states.length - running },
      window: { seconds: Math.round(elapsed / 100) / 10, pollIntervalMs: POLL_MS, sshCommands: commands, statePolls: polls },
      goals: {
        addedSecondsToActive: goal(added, 2, 'max', 's'),
        sshCommandsPerPollInterval: goal(commands / intervals, 1, 'max'),
      },
    });
  } finally {
    await cp.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/index.js';
import { type ControlPlane, startControlPlane } from '../../src/server/index.js';
import { ROOT, childEnv } from '../helpers/cli.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { until } from '../gateway/harness.js';
import { localCluster, slurmInfraProblem, takeTurnsOnSlurmNode } from './infra.js';
import { describeWithService } from '../helpers/services.js';

type Json = any;

const IRIS = join(ROOT, 'models', 'iris', 'model.onnx');
const problem = await slurmInfraProblem();

function jobsOf(name: string): string[] {
  return execFileSync('squeue', ['-h', '-t', 'PENDING,RUNNING,CONFIGURING', '-n', name, '-o', '%i'], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

/**
 * This suite kills and restarts sshd, so it runs its own (scripts/services/sshd.sh with another
 * directory and port) and leaves the shared one on 2222 to the other suites.
 */
const OWN_SSHD_DIR = '/var/tmp/catapult-test-infra/sshd-faults';
const OWN_SSHD_PORT = 2223;
const startOwnSshd = () =>
  execFileSync('bash', [join(ROOT, 'scripts', 'services', 'sshd.sh')], { env: childEnv({ CATAPULT_SSHD_DIR: OWN_SSHD_DIR, CATAPULT_SSHD_PORT: String(OWN_SSHD_PORT) }) });

/** Stops this suite's sshd and every session it serves (its master and the master's children, by pid). */
function stopSshd(): void {
  const pid = readFileSync(join(OWN_SSHD_DIR, 'sshd.pid'), 'utf8').trim();
  let children: string[] = [];
  try {
    children = execFileSync('pgrep', ['-P', pid], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    children = [];
  }
  for (const p of [pid, ...children]) {
    try {
      process.kill(Number(p), 'SIGTERM');
    } catch {
      // already gone
    }
  }
}

describeWithService('Slurm replicas survive faults', problem ?? null, () => {
  let t: TestControlPlane;
  let cp: ControlPlane;
  const workDir = mkdtempSync('/var/tmp/catapult-slurm-test-');

  takeTurnsOnSlurmNode();
  beforeAll(async () => {
    startOwnSshd();
    t = await startTestControlPlane('sqlite');
    cp = t.cp;
    const own = {
      port: OWN_SSHD_PORT,
      privateKey: readFileSync(join(OWN_SSHD_DIR, 'key'), 'utf8'),
      hostKey: readFileSync(join(OWN_SSHD_DIR, 'hostkey.pub'), 'utf8'),
    };
    expect((await t.call('POST', '/api/v1/slurm-clusters', { body: localCluster('hpc', workDir, own) })).status).toBe(201);
    await t.call('POST', '/api/v1/models', { body: { name: 'iris', source: IRIS } });
  });
  afterAll(async () => {
    await cp?.close();
    await t?.db.cleanup();
    rmSync(workDir, { recursive: true, force: true });
    stopSshd();
  });

  const api = async (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(cp.url + path, { method, headers: { authorization: `Bearer ${t.adminKey}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const waitActive = async (name: string): Promise<Json> => {
    let last: Json;
    try {
      return await until(
        async () => {
          last = await (await api('GET', `/api/v1/deployments/${name}`)).json();
          return last.state === 'active' ? last : undefined;
        },
        `${name} to be active`,
        90_000,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(last)}`);
    }
  };

  it('keeps serving while sshd is down, reconnects when it returns, and submits no second job', async () => {
    const res = await api('POST', '/api/v1/deployments', { name: 'iris-ft', model: 'iris', runtime: 'onnx', resources: { cpu: 1, memory: '512Mi' }, placement: { backend: 'slurm', cluster: 'hpc' } });
    expect(res.status).toBe(201);
    const d = await waitActive('iris-ft');
    const jobName = `catapult-${d.replicas.items[0].id}`;
    const [job] = jobsOf(jobName);
    expect(job).toBeDefined();
    const commandsBefore = cp.slurm.pollCommands.get('hpc') ?? 0;

    stopSshd();
    await new Promise((r) => setTimeout(r, 700));
    const whileDown = cp.slurm.pollCommands.get('hpc') ?? 0;
    // Several poll intervals without the login node: no poll gets through, yet the job runs on and the replica stays ready.
    await new Promise((r) => setTimeout(r, 3000));
    expect(cp.slurm.pollCommands.get('hpc') ?? 0).toBe(whileDown);
    expect(((await (await api('GET', '/api/v1/deployments/iris-ft')).json()) as Json).state).toBe('active');
    expect((await fetch(`${d.replicas.items[0].url}/v2/health/ready`)).status).toBe(200);

    startOwnSshd();
    await until(() => (cp.slurm.pollCommands.get('hpc') ?? 0) > commandsBefore + 2, 'polls to succeed again after the reconnect', 30_000);
    expect(jobsOf(jobName)).toEqual([job]);
    expect((await waitActive('iris-ft')).replicas.items[0].id).toBe(d.replicas.items[0].id);
  }, 180_000);

  it('adopts its running job after a control plane restart instead of submitting another', async () => {
    const before = (await (await api('GET', '/api/v1/deployments/iris-ft')).json()) as Json;
    const jobName = `catapult-${before.replicas.items[0].id}`;
    const [job] = jobsOf(jobName);
    const config = cp.config;
    await cp.close();
    cp = await startControlPlane({ config, log: silentLogger() });
    const after = await waitActive('iris-ft');
    expect(after.replicas.items.map((r: Json) => r.id)).toEqual([before.replicas.items[0].id]);
    expect(jobsOf(jobName)).toEqual([job]);

    await api('DELETE', '/api/v1/deployments/iris-ft');
    await until(() => jobsOf(jobName).length === 0, 'the job to be cancelled', 60_000);
  }, 180_000);
});

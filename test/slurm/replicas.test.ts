import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { type Harness, startHarness, until } from '../gateway/harness.js';
import { localCluster, slurmInfraProblem, squeueNames, takeTurnsOnSlurmNode } from './infra.js';
import { describeWithService } from '../helpers/services.js';

type Json = any;

const IRIS = join(ROOT, 'models', 'iris', 'model.onnx');
const IRIS_INPUT = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] };
const problem = await slurmInfraProblem();

function jobsOf(name: string): { id: string; state: string }[] {
  return execFileSync('squeue', ['-h', '-t', 'PENDING,RUNNING,CONFIGURING', '-n', name, '-o', '%i %T'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id, state] = l.trim().split(' ');
      return { id: id!, state: state! };
    });
}

describeWithService('replicas as Slurm jobs', problem ?? null, () => {
  let h: Harness;
  const workDir = mkdtempSync('/var/tmp/catapult-slurm-test-');

  takeTurnsOnSlurmNode();
  beforeAll(async () => {
    h = await startHarness();
    h.t.cp.deployments.setGatewayUrl(h.gw.url);
    expect((await h.t.call('POST', '/api/v1/slurm-clusters', { body: localCluster('hpc', workDir, { timeLimit: '30' }) })).status).toBe(201);
    expect((await h.t.call('POST', '/api/v1/models', { body: { name: 'iris', source: IRIS } })).status).toBe(201);
  });
  afterAll(async () => {
    await h?.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  const deployment = async (name: string): Promise<Json> => (await h.t.call('GET', `/api/v1/deployments/${name}`)).json();
  /** Waits for a deployment state; on timeout the error carries the deployment's replicas and their messages. */
  const waitState = async (name: string, state: string, timeoutMs: number): Promise<Json> => {
    try {
      return await until(
        async () => {
          const x = await deployment(name);
          return x.state === state ? x : undefined;
        },
        `deployment ${name} to be ${state}`,
        timeoutMs,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(await deployment(name))}`);
    }
  };

  it('refuses, before storing anything, a partition the cluster does not have and more GPUs than a node has', async () => {
    const bad = await h.t.call('POST', '/api/v1/deployments', {
      body: { name: 'nopart', model: 'iris', runtime: 'onnx', placement: { backend: 'slurm', cluster: 'hpc', partition: 'nosuch' } },
    });
    expect(bad.status).toBe(422);
    const p = (await bad.json()) as Json;
    expect(p.code).toBe('CATAPULT_SLURM_SUBMIT_REFUSED');
    expect(p.detail).toMatch(/partition/i);
    const greedy = await h.t.call('POST', '/api/v1/deployments', {
      body: { name: 'greedy', model: 'iris', runtime: 'onnx', resources: { gpus: { count: 8 } }, placement: { backend: 'slurm', cluster: 'hpc' } },
    });
    expect(greedy.status).toBe(422);
    expect(((await greedy.json()) as Json).code).toBe('CATAPULT_SLURM_SUBMIT_REFUSED');
    const nocluster = await h.t.call('POST', '/api/v1/deployments', { body: { name: 'lost', model: 'iris', runtime: 'onnx', placement: { backend: 'slurm', cluster: 'nope' } } });
    expect(nocluster.status).toBe(404);
    expect(((await nocluster.json()) as Json).code).toBe('CATAPULT_SLURM_CLUSTER_NOT_FOUND');
    expect(((await (await h.t.call('GET', '/api/v1/deployments')).json()) as Json).items).toEqual([]);
  });

  it('serves the ONNX demo from a Slurm job through the gateway, replaces a job cancelled by hand, and leaves no job once deleted', async () => {
    const res = await h.t.call('POST', '/api/v1/deployments', {
      body: { name: 'iris-hpc', model: 'iris', runtime: 'onnx', replicas: 1, resources: { cpu: 1, memory: '512Mi' }, placement: { backend: 'slurm', cluster: 'hpc' } },
    });
    expect(res.status).toBe(201);
    const d = await waitState('iris-hpc', 'active', 90_000);
    const replica = d.replicas.items[0];
    expect(replica.workerId).toMatch(/^slurm:hpc\//);
    const jobName = `catapult-${replica.id}`;
    const first = jobsOf(jobName);
    expect(first).toEqual([{ id: expect.any(String), state: 'RUNNING' }]);

    // The job's own script: what Slurm was asked for.
    const script = readFileSync(join(workDir, 'replicas', replica.id, 'job.sbatch'), 'utf8');
    expect(script).toContain(`#SBATCH --job-name=${jobName}`);
    expect(script).toContain('#SBATCH --time=30');
    expect(script).toContain('#SBATCH --mem=512M');

    const infer = async () =>
      until(
        async () => {
          const r = await fetch(`${h.gw.url}/v2/models/iris-hpc/infer`, {
            method: 'POST',
            headers: { authorization: `Bearer ${h.inferKey}`, 'content-type': 'application/json' },
            body: JSON.stringify(IRIS_INPUT),
          });
          return r.status === 200 ? ((await r.json()) as Json) : undefined;
        },
        'an inference through the gateway',
        30_000,
      );
    const out = await infer();
    expect(out.model_name).toBe('iris-hpc');
    expect(out.outputs.length).toBeGreaterThan(0);

    // Someone cancels the job by hand: Catapult notices and a new job takes its place.
    execFileSync('scancel', [first[0]!.id]);
    const second = await until(
      () => {
        const j = jobsOf(jobName);
        return j.length === 1 && j[0]!.id !== first[0]!.id && j[0]!.state === 'RUNNING' ? j[0] : undefined;
      },
      'a new job for the replica',
      60_000,
    );
    expect(Number(second.id)).toBeGreaterThan(Number(first[0]!.id));
    await waitState('iris-hpc', 'active', 90_000);
    expect((await infer()).model_name).toBe('iris-hpc');

    // Its output file is the replica's log.
    const logs = await until(
      async () => {
        const r = await h.t.call('GET', `/api/v1/deployments/iris-hpc/logs`);
        const text = await r.text();
        return text.includes('serving on') ? text : undefined;
      },
      'the job output in the replica logs',
      30_000,
    );
    expect(logs).toContain(`job ${second.id} serving on`);

    expect((await h.t.call('DELETE', '/api/v1/deployments/iris-hpc')).status).toBeLessThan(300);
    await until(() => jobsOf(jobName).length === 0, 'the job to leave squeue', 60_000);
    await until(async () => (await h.t.call('GET', '/api/v1/deployments/iris-hpc')).status === 404, 'the deployment to be gone', 60_000);
    expect(squeueNames().filter((n) => n === jobName)).toEqual([]);
  }, 300_000);
});

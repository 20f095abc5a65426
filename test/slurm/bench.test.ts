import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { join } from 'node:path';
import { ROOT, runCli } from '../helpers/cli.js';
import { type Harness, startHarness, until } from '../gateway/harness.js';
import { localCluster, slurmInfraProblem, takeTurnsOnSlurmNode } from './infra.js';
import { describeWithService } from '../helpers/services.js';

type Json = any;

const problem = await slurmInfraProblem();

/** The example recipe (examples/bench/slurm-command-clients.yaml): iris on cluster `hpc`, two clients curling SERVICE_URL. */
const EXAMPLE = readFileSync(join(ROOT, 'examples', 'bench', 'slurm-command-clients.yaml'), 'utf8');

function recipe(name: string, command: string): string {
  return `
name: ${name}
target:
  service:
    runtime: onnx
    model: iris
    backend: slurm
    resources: { cpu: 1, memory: 512Mi }
    keep: false
clients:
  count: 2
  where: slurm
  cluster: hpc
  timeLimit: "5"
  command: |
${command.replace(/^/gm, '    ')}
`;
}

/** Names of this suite's jobs still in squeue (its working dir tells them from other suites'). */
function liveJobs(workDir: string, prefix = 'catapult-'): string[] {
  return execFileSync('squeue', ['-h', '-o', '%j %Z'], { encoding: 'utf8' })
    .split('\n')
    .map((s) => s.trim().split(' '))
    .filter(([name, dir]) => name?.startsWith(prefix) && dir?.startsWith(workDir))
    .map(([name]) => name!);
}

describeWithService('benchmarks with a service and command clients on Slurm (seed 004)', problem ?? null, () => {
  let h: Harness;
  const workDir = mkdtempSync('/var/tmp/catapult-slurm-bench-');

  takeTurnsOnSlurmNode();
  beforeAll(async () => {
    h = await startHarness();
    h.t.cp.deployments.setGatewayUrl(h.gw.url);
    expect((await h.t.call('POST', '/api/v1/slurm-clusters', { body: localCluster('hpc', workDir, { timeLimit: '30' }) })).status).toBe(201);
    expect((await h.t.call('POST', '/api/v1/models', { body: { name: 'iris', source: join(ROOT, 'models', 'iris', 'model.onnx') } })).status).toBe(201);
  });
  afterAll(async () => {
    await h?.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  const waitFinal = async (id: string): Promise<Json> => {
    try {
      return await until(
        async () => {
          const b = (await (await h.t.call('GET', `/api/v1/benchmarks/${id}`)).json()) as Json;
          return ['completed', 'failed', 'cancelled'].includes(b.state) ? b : undefined;
        },
        `benchmark ${id} to end`,
        180_000,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(await (await h.t.call('GET', `/api/v1/benchmarks/${id}`)).json())}`);
    }
  };

  it('refuses a slurm client recipe without its cluster or command, naming the field', async () => {
    const res = await h.t.call('POST', '/api/v1/benchmarks', { body: { recipe: { name: 'x', target: { url: 'http://127.0.0.1:1' }, clients: { count: 1, where: 'slurm' } } } });
    expect(res.status).toBe(400);
    const p = (await res.json()) as Json;
    expect(p.code).toBe('CATAPULT_RECIPE_INVALID');
    expect(JSON.stringify(p)).toContain('clients.cluster');
    expect(JSON.stringify(p)).toContain('clients.command');
  });

  it('deploys the iris service as a Slurm job, then runs 2 command clients against SERVICE_URL; show lists their jobs and keeps their outputs', async () => {
    const created = await h.t.call('POST', '/api/v1/benchmarks', { body: { yaml: EXAMPLE } });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as Json;
    const b = await waitFinal(id);
    expect(b.state, b.reason).toBe('completed');
    expect(b.where).toBe('slurm');

    // The service: one Slurm job that served the model.
    const svc = b.slurm.service;
    expect(svc.name).toMatch(/^bench-/);
    expect(svc.jobs).toHaveLength(1);
    expect(svc.jobs[0]).toMatchObject({ cluster: 'hpc', jobId: expect.stringMatching(/^\d+$/), hostname: expect.any(String) });
    expect(svc.jobs[0].startedAt).toBeGreaterThan(0);
    expect(svc.jobs[0].readyAt).toBeGreaterThanOrEqual(svc.jobs[0].startedAt);

    // The clients: two jobs of their own, after the service, both completed with their files collected.
    const clients = b.slurm.clients as Json[];
    expect(clients.map((c) => c.name)).toEqual(['client-0', 'client-1']);
    const ids = new Set<string>([svc.jobs[0].jobId]);
    for (const c of clients) {
      expect(c.state).toBe('COMPLETED');
      expect(c.jobId).toMatch(/^\d+$/);
      ids.add(c.jobId);
      expect(Number(c.jobId)).toBeGreaterThan(Number(svc.jobs[0].jobId));
      expect(c.hostname).toBeTruthy();
      for (const t of [c.submitTime, c.startTime, c.endTime]) expect(t).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(c.workingDir).toBe(`${workDir}/benchmarks/${id}/clients/${c.name}`);
      const log = readFileSync(c.collected.log, 'utf8');
      expect(log).toContain('HTTP 200');
      expect(log).toContain('"outputs"');
      const metrics = JSON.parse(readFileSync(c.collected.metrics, 'utf8'));
      expect(metrics).toMatchObject({ status: 200, service: svc.name });
      expect(c.collected.log).toContain(`benchmarks/${id}/clients/${c.name}/`);
    }
    expect(ids.size).toBe(3);

    // The service is removed after the run (no keep): its deployment and job are gone.
    await until(async () => (await h.t.call('GET', `/api/v1/deployments/${svc.name}`)).status === 404, 'the service deployment to be removed', 60_000);
    await until(() => liveJobs(workDir).length === 0, 'no job left in squeue', 60_000);

    // The seed's `--id` shows the same: the service job and both client jobs with their times.
    if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'index.js'))) throw new Error('dist/ is missing: run npm run build before this test');
    const env = { CATAPULT_URL: h.t.url, CATAPULT_API_KEY: h.t.adminKey };
    const shown = await runCli(['bench', '--id', id], { env, timeoutMs: 30_000 });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('Slurm cluster hpc');
    expect(shown.stdout).toContain(svc.jobs[0].jobId);
    for (const c of clients) {
      expect(shown.stdout).toMatch(new RegExp(`${c.name}\\s+${c.jobId}\\s+COMPLETED`));
      expect(shown.stdout).toContain(c.startTime);
      expect(shown.stdout).toContain(c.collected.metrics);
    }
    const same = await runCli(['bench', 'show', id], { env, timeoutMs: 30_000 });
    // The same text, but for relative times that may tick over between the two calls ("8s ago").
    const steady = (text: string) => text.replace(/\d+(\.\d+)?(ms|s|m|h|d) ago/g, 'N ago');
    expect(steady(same.stdout)).toBe(steady(shown.stdout));
  }, 300_000);

  it('cancels a run while its clients run: the client jobs (running and pending) leave squeue and the run ends cancelled', async () => {
    const created = await h.t.call('POST', '/api/v1/benchmarks', { body: { yaml: recipe('seed004-long', 'echo started; sleep 120') } });
    const { id } = (await created.json()) as Json;
    await until(
      async () => {
        const b = (await (await h.t.call('GET', `/api/v1/benchmarks/${id}`)).json()) as Json;
        // The one-node test cluster may run one client at a time beside the service: the other then waits PENDING.
        return b.slurm?.clients?.length === 2 && b.slurm.clients.some((c: Json) => c.state === 'RUNNING') ? b : undefined;
      },
      'a client job to run',
      120_000,
    );
    expect(liveJobs(workDir, `catapult-bc-${id}`)).toHaveLength(2);
    expect((await h.t.call('POST', `/api/v1/benchmarks/${id}/cancel`, { body: {} })).status).toBe(200);
    const b = await waitFinal(id);
    expect(b.state).toBe('cancelled');
    expect(b.slurm.clients.map((c: Json) => c.state)).toEqual(['CANCELLED', 'CANCELLED']);
    await until(() => liveJobs(workDir).length === 0, 'the client and service jobs to leave squeue', 60_000);
  }, 300_000);

  it('fails a run whose client job fails, with that client and its last log lines in the reason', async () => {
    const created = await h.t.call('POST', '/api/v1/benchmarks', { body: { yaml: recipe('seed004-broken', 'echo "about to fail: $SERVICE_URL"\nexit 3') } });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as Json;
    const b = await waitFinal(id);
    expect(b.state).toBe('failed');
    expect(b.reason).toContain('client-0');
    expect(b.reason).toContain('FAILED');
    expect(b.reason).toContain('about to fail: http://');
    expect(b.slurm.clients.every((c: Json) => c.state === 'FAILED')).toBe(true);
    await until(() => liveJobs(workDir).length === 0, 'the service job to leave squeue', 60_000);
  }, 300_000);
});

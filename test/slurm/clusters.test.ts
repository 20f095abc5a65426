import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { SSHD_DIR, SSHD_PORT, localCluster, slurmInfraProblem } from './infra.js';
import { describeWithService } from '../helpers/services.js';

type Json = any;

const problem = await slurmInfraProblem();

describeWithService('Slurm clusters over SSH', problem ?? null, () => {
  let t: TestControlPlane;
  const workDir = mkdtempSync('/var/tmp/catapult-slurm-test-');

  beforeAll(async () => {
    t = await startTestControlPlane('sqlite');
  });
  afterAll(async () => {
    await t?.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('adds a cluster, never shows its private key, and its test reports nodes, GPUs, partitions and the Slurm version', async () => {
    const res = await t.call('POST', '/api/v1/slurm-clusters', { body: localCluster('local', workDir, { partition: 'debug', timeLimit: '10' }) });
    expect(res.status).toBe(201);
    const text = await res.text();
    expect(text).not.toContain('PRIVATE KEY');
    const c: Json = JSON.parse(text);
    expect(c).toMatchObject({ name: 'local', host: '127.0.0.1', hasPrivateKey: true, partition: 'debug', timeLimit: '10' });
    expect(c.privateKey).toBeUndefined();
    const listed = await (await t.call('GET', '/api/v1/slurm-clusters')).text();
    expect(listed).not.toContain('PRIVATE KEY');

    const report = (await (await t.call('POST', '/api/v1/slurm-clusters/local/test')).json()) as Json;
    const sinfoVersion = execFileSync('sinfo', ['--version'], { encoding: 'utf8' }).trim().split(/\s+/).pop();
    expect(report.version).toBe(sinfoVersion);
    expect(report.nodes).toHaveLength(1);
    expect(report.nodes[0]).toMatchObject({ gpus: 2, cpus: 2, partitions: ['debug'] });
    expect(report.nodes[0].gres).toContain('gpu:fake:2');
    expect(report.partitions).toEqual([expect.objectContaining({ name: 'debug', isDefault: true, available: 'up' })]);
  });

  it('changes only the fields a PATCH names', async () => {
    const res = await t.call('PATCH', '/api/v1/slurm-clusters/local', { body: { account: 'ml' } });
    expect(res.status).toBe(200);
    const c = (await res.json()) as Json;
    expect(c).toMatchObject({ account: 'ml', partition: 'debug', timeLimit: '10', port: 2222, pollIntervalMs: 500 });
    // The key still works: it was not touched.
    expect((await t.call('POST', '/api/v1/slurm-clusters/local/test')).status).toBe(200);
  });

  it('refuses a login node whose host key is not the configured one, naming the key it saw', async () => {
    const other = execFileSync('bash', ['-c', `d=$(mktemp -d) && ssh-keygen -q -t ed25519 -N '' -f $d/k && cat $d/k.pub && rm -rf $d`], { encoding: 'utf8' });
    await t.call('POST', '/api/v1/slurm-clusters', { body: localCluster('spoofed', workDir, { hostKey: other }) });
    const res = await t.call('POST', '/api/v1/slurm-clusters/spoofed/test');
    expect(res.status).toBe(502);
    const p = (await res.json()) as Json;
    expect(p.code).toBe('CATAPULT_SLURM_HOST_KEY_MISMATCH');
    expect(p.detail).toMatch(/presented SHA256:/);
  });

  it('says so when the key is wrong or the host is unreachable', async () => {
    const wrongKey = execFileSync('bash', ['-c', `d=$(mktemp -d) && ssh-keygen -q -t ed25519 -N '' -f $d/k && cat $d/k && rm -rf $d`], { encoding: 'utf8' });
    await t.call('POST', '/api/v1/slurm-clusters', { body: localCluster('wrongkey', workDir, { privateKey: wrongKey }) });
    const bad = (await (await t.call('POST', '/api/v1/slurm-clusters/wrongkey/test')).json()) as Json;
    expect(bad.code).toBe('CATAPULT_SLURM_AUTH_FAILED');
    expect(bad.detail).toContain('root');

    await t.call('POST', '/api/v1/slurm-clusters', { body: localCluster('nowhere', workDir, { port: 1 }) });
    const down = (await (await t.call('POST', '/api/v1/slurm-clusters/nowhere/test')).json()) as Json;
    expect(down.code).toBe('CATAPULT_SLURM_UNREACHABLE');
    expect(down.detail).toContain('127.0.0.1:1');
  });

  it('rejects bad input field by field and a duplicate name, storing nothing', async () => {
    const res = await t.call('POST', '/api/v1/slurm-clusters', { body: { ...localCluster('bad name!', 'relative/dir') } });
    expect(res.status).toBe(400);
    const p = (await res.json()) as Json;
    expect(p.code).toBe('CATAPULT_VALIDATION_FAILED');
    const dup = await t.call('POST', '/api/v1/slurm-clusters', { body: localCluster('local', workDir) });
    expect(dup.status).toBe(409);
    expect(((await dup.json()) as Json).code).toBe('CATAPULT_SLURM_CLUSTER_EXISTS');
    const names = ((await (await t.call('GET', '/api/v1/slurm-clusters')).json()) as Json).items.map((c: Json) => c.name);
    expect(names).toEqual(['local', 'nowhere', 'spoofed', 'wrongkey']);
  });

  it('keeps the private key sealed in the one secret column and deletes clusters', async () => {
    const raw = readFileSync(`${SSHD_DIR}/key`, 'utf8');
    const row = (await t.cp.store.db.selectFrom('slurm_clusters' as never).selectAll().where('name' as never, '=', 'local' as never).executeTakeFirst()) as Json;
    expect(row.private_key_secret).toMatch(/^enc:v1:/);
    expect(row.private_key_secret).not.toContain(raw.split('\n')[1]);
    expect(row.settings).not.toContain('PRIVATE KEY');
    expect((await t.call('DELETE', '/api/v1/slurm-clusters/nowhere')).status).toBe(200);
    expect((await t.call('GET', '/api/v1/slurm-clusters/nowhere')).status).toBe(404);
  });

  it('is driven from the CLI: slurm add, ls, test and rm (needs npm run build)', async () => {
    const env = { CATAPULT_URL: t.url, CATAPULT_API_KEY: t.adminKey };
    const add = await runCli(
      ['slurm', 'add', 'cli', '--host', '127.0.0.1', '--port', String(SSHD_PORT), '--user', 'root', '--key', `${SSHD_DIR}/key`, '--host-key', `${SSHD_DIR}/hostkey.pub`, '--work-dir', workDir, '--partition', 'debug'],
      { env },
    );
    expect(add.stderr).toBe('');
    expect(add.stdout).toContain('Added Slurm cluster cli (root@127.0.0.1:2222)');
    const ls = await runCli(['slurm', 'ls'], { env });
    expect(ls.stdout).toMatch(/cli\s+root@127\.0\.0\.1:2222\s+debug/);
    expect(ls.stdout).not.toContain('PRIVATE KEY');
    const test = await runCli(['slurm', 'test', 'cli'], { env });
    expect(test.code).toBe(0);
    expect(test.stdout).toMatch(/^Slurm \d+\.\d+\.\d+ on cli: 1 node\(s\), 2 GPU\(s\)/);
    expect(test.stdout).toContain('gpu:fake:2');
    const bad = await runCli(['slurm', 'test', 'spoofed'], { env });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('host key');
    const rm = await runCli(['slurm', 'rm', 'cli'], { env });
    expect(rm.stdout).toContain('Removed Slurm cluster cli.');
  });
});

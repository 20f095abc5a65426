import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SlurmClusterService, runCommandClients } from '../../src/slurm/index.js';
import { createTestDatabase, type TestDatabase, describeWithService } from '../helpers/services.js';
import { Store } from '../../src/store/index.js';
import { EventLog } from '../../src/events/index.js';
import { allMigrations } from '../../src/server/migrations.js';
import { systemClock } from '../../src/util/index.js';
import { localCluster, slurmInfraProblem, takeTurnsOnSlurmNode } from './infra.js';
import { SecretBox } from '../../src/secrets/index.js';

const problem = await slurmInfraProblem();

describeWithService('benchmark command clients as Slurm jobs (seed 004)', problem ?? null, () => {
  let db: TestDatabase;
  let store: Store;
  let events: EventLog;
  let clusters: SlurmClusterService;
  let server: Server;
  let port = 0;
  const hits: string[] = [];
  const workDir = mkdtempSync('/var/tmp/catapult-slurm-test-');

  takeTurnsOnSlurmNode();
  beforeAll(async () => {
    db = await createTestDatabase('sqlite', 'slurmclients');
    store = new Store({ databaseUrl: db.databaseUrl, sqliteFile: db.sqliteFile, migrations: allMigrations() });
    await store.migrate();
    events = new EventLog(store, systemClock, 100);
    clusters = new SlurmClusterService({ store, events, clock: systemClock, secrets: new SecretBox(randomBytes(32), { kind: 'setting' }) });
    await clusters.create(localCluster('hpc', workDir, { timeLimit: '5' }));
    // The service under test: a real HTTP server the jobs reach by this node's name.
    server = createServer((req, res) => {
      hits.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: true }));
    });
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    clusters?.close();
    server?.close();
    events?.close();
    await store?.close();
    await db?.cleanup();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('keeps the private key of a cluster sealed at rest, never as the key text', async () => {
    const row = await store.db.selectFrom('slurm_clusters' as never).selectAll().executeTakeFirstOrThrow() as { private_key_secret: string };
    expect(row.private_key_secret).toMatch(/^enc:v1:/);
    expect(row.private_key_secret).not.toContain('PRIVATE KEY');
  });

  it('runs two clients with SERVICE_URL after the service, records their jobs and times, and collects their logs and metrics', async () => {
    const comm = await clusters.session('hpc');
    const cluster = await clusters.get('hpc');
    const collectDir = mkdtempSync(join(tmpdir(), 'catapult-collect-'));
    const command =
      'for i in 1 2 3; do curl -s -o /dev/null -w "%{http_code}\\n" "$SERVICE_URL/ping?client=$SLURM_JOB_NAME&i=$i"; done; ' +
      'echo "{\\"service\\":\\"$SERVICE_NAME\\",\\"host\\":\\"$SERVICE_HOSTNAME\\",\\"port\\":$SERVICE_PORT,\\"requests\\":3}" > "$METRICS_FILE"';
    const records = await runCommandClients({
      comm,
      cluster,
      benchmarkId: 'bm_test1',
      service: { name: 'echo', hostname: hostname(), port },
      clients: [
        { name: 'c1', command },
        { name: 'c2', command },
      ],
      collectDir,
      pollMs: 300,
      timeoutMs: 120_000,
    });
    expect(records.map((r) => [r.name, r.state])).toEqual([
      ['c1', 'COMPLETED'],
      ['c2', 'COMPLETED'],
    ]);
    for (const r of records) {
      expect(r.jobId).toMatch(/^\d+$/);
      expect(r.hostname).toBe(hostname());
      expect(r.submitTime).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(r.startTime).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(r.endTime).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(JSON.parse(readFileSync(r.collected.metrics!, 'utf8'))).toEqual({ service: 'echo', host: hostname(), port, requests: 3 });
      const log = readFileSync(r.collected.log!, 'utf8');
      expect(log).toContain(`client job ${r.jobId} on ${hostname()} -> http://${hostname()}:${port}`);
      expect(log.match(/^200$/gm)).toHaveLength(3);
    }
    expect(hits.filter((h) => h.includes('catapult-bc-bm_test1-c1'))).toHaveLength(3);
    expect(hits.filter((h) => h.includes('catapult-bc-bm_test1-c2'))).toHaveLength(3);
  }, 180_000);
});

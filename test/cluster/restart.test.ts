import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { Assignment } from '../../src/cluster/index.js';
import { loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/observability/index.js';
import { type ControlPlane, startControlPlane } from '../../src/server/index.js';
import { type Backend, createTestDatabase, describeEachBackend } from '../helpers/services.js';
import { type CliProcess, startAgent, until } from './processes.js';

const GiB = 2 ** 30;
const FAST = { CATAPULT_HEARTBEAT_INTERVAL_MS: '200', CATAPULT_MISSED_HEARTBEATS: '3', CATAPULT_OFFLINE_GRACE_MS: '5000' };
const replica = (owner: string, memGiB: number) => ({ owner, resources: { cpu: 1, memoryBytes: GiB, gpus: { count: 1, memoryBytes: memGiB * GiB } } });

describeEachBackend('control plane restart with agents connected', (backend: Backend) => {
  it('lets agents reconnect to a restarted control plane without restarting any replica, and its registry matches what they report', async () => {
    const db = await createTestDatabase(backend, 'cprestart');
    const dir = mkdtempSync(join(tmpdir(), 'catapult-cprestart-'));
    const config = (port: number) =>
      loadConfig({
        env: { CATAPULT_DATA_DIR: db.dataDir, CATAPULT_DATABASE_URL: db.databaseUrl, CATAPULT_API_PORT: String(port), CATAPULT_EVENT_POLL_MS: '100', ...FAST },
        cwd: db.dataDir,
      });
    let cp: ControlPlane = await startControlPlane({ config: config(0), log: silentLogger() });
    const port = Number(new URL(cp.url).port);
    const agents: CliProcess[] = [];
    try {
      const { secret } = await cp.cluster.createJoinToken({}, null);
      agents.push(
        ...(await Promise.all(
          ['cp-e', 'cp-f'].map((name) => startAgent({ server: cp.url, token: secret, name, dataDir: join(dir, name), gpus: '2xH100:80GiB' })),
        )),
      );
      const placed = await cp.cluster.createAssignments([replica('dep_cp', 30), replica('dep_cp', 30), { ...replica('dep_cp', 50), policy: 'spread' }]);
      await until('all replicas to run', () => cp.cluster.listAssignments({ owner: 'dep_cp' }).every((a) => a.state === 'ready'));
      const before = cp.cluster.listAssignments({ owner: 'dep_cp' });
      const lastSeq = await cp.events.latestSeq();

      await cp.close();
      // The agents notice (their heartbeats fail) and keep running what they run.
      await new Promise((r) => setTimeout(r, 1000));
      expect(agents.every((a) => a.child.exitCode === null)).toBe(true);
      cp = await startControlPlane({ config: config(port), log: silentLogger() });
      const restartedAt = Date.now();

      for (const name of ['cp-e', 'cp-f']) {
        await until(`${name} to heartbeat the new server`, () => {
          const w = cp.cluster.getWorker(name);
          return w.state === 'ready' && w.lastHeartbeatAt > restartedAt + 400;
        });
      }
      const after: Assignment[] = cp.cluster.listAssignments({ owner: 'dep_cp' });
      expect(after.map((a) => [a.id, a.workerId, a.state, a.moves])).toEqual(before.map((a) => [a.id, a.workerId, 'ready', 0]));
      expect(placed.map((a) => a.id).sort()).toEqual(after.map((a) => a.id).sort());
      // No replica changed state (none restarted) and none moved.
      const since = (await cp.events.list(lastSeq, 10_000)).filter((e) => e.subject.kind === 'assignment');
      expect(since).toEqual([]);
      // The registry's GPU memory in use is what the agents report: their replicas' reservations.
      for (const w of cp.cluster.listWorkers()) {
        for (const g of w.gpus) {
          const reserved = after.filter((a) => a.workerId === w.id && a.gpuIndices.includes(g.index)).reduce((s, a) => s + a.gpuMemoryBytes, 0);
          expect(g.memoryUsedBytes, `${w.name} GPU ${g.index}`).toBe(reserved);
          expect(g.reservedBytes).toBe(reserved);
        }
      }
    } finally {
      await Promise.all(agents.map((a) => a.kill('SIGKILL')));
      await cp.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      await db.cleanup();
    }
  });
});

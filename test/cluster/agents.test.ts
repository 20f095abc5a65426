import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '../../src/cluster/index.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { type CliProcess, startAgent, until } from './processes.js';

const GiB = 2 ** 30;
/**
 * Short intervals so the real timing plays out in seconds: not_ready after 5 × 200 ms, offline after
 * 8 s (long enough for a restarted agent process to come back on a busy machine).
 */
const GRACE_MS = 8000;
const FAST = { CATAPULT_HEARTBEAT_INTERVAL_MS: '200', CATAPULT_MISSED_HEARTBEATS: '5', CATAPULT_OFFLINE_GRACE_MS: String(GRACE_MS) };

const replica = (owner: string, memGiB = 60) => ({ owner, resources: { cpu: 1, memoryBytes: GiB, gpus: { count: 1, memoryBytes: memGiB * GiB } } });

describe('agents as real processes', () => {
  let t: TestControlPlane;
  let dir: string;
  let token: string;
  const agents: CliProcess[] = [];

  const agent = async (name: string, extra: string[] = []) => {
    const p = await startAgent({ server: t.url, token, name, dataDir: join(dir, name), gpus: '1xH100:80GiB', extra });
    agents.push(p);
    return p;
  };
  const worker = (name: string): Worker => t.cp.cluster.getWorker(name);
  const eventsOf = async () => t.cp.events.list(0, 100_000);

  beforeAll(async () => {
    t = await startTestControlPlane('sqlite', { env: FAST });
    dir = mkdtempSync(join(tmpdir(), 'catapult-agents-'));
    token = (await t.cp.cluster.createJoinToken({ name: 'process tests' }, null)).secret;
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.kill('SIGKILL')));
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('moves the replicas of an agent killed with SIGKILL only after it has been offline for the grace period', async () => {
    const [a, b] = await Promise.all([agent('kill-a', ['--labels', 'test=kill']), agent('kill-b', ['--labels', 'test=kill'])]);
    const [r] = await t.cp.cluster.createAssignments([{ ...replica('dep_kill'), selectors: { test: 'kill' } }]);
    const home = r!.workerId!;
    const homeName = worker(home).name;
    const otherName = homeName === 'kill-a' ? 'kill-b' : 'kill-a';
    await until('the replica to run', () => t.cp.cluster.getAssignment(r!.id).state === 'ready');

    await (homeName === 'kill-a' ? a : b).kill('SIGKILL');
    await until('the killed worker to be not_ready', () => worker(homeName).state === 'not_ready');
    // Not ready is not gone: the replica stays put through the grace period.
    expect(t.cp.cluster.getAssignment(r!.id).workerId).toBe(home);
    const notReadyAt = Date.now();
    await until('the killed worker to go offline', () => worker(homeName).state === 'offline', GRACE_MS * 3);
    const moved = await until('the replica to run on the other worker', () => {
      const x = t.cp.cluster.getAssignment(r!.id);
      return x.state === 'ready' && x.workerId === worker(otherName).id ? x : undefined;
    });
    expect(moved.moves).toBe(1);
    expect(Date.now() - notReadyAt).toBeGreaterThan(0);

    const log = await eventsOf();
    const seqOf = (pred: (e: (typeof log)[number]) => boolean) => log.find(pred)?.seq ?? -1;
    const offlineSeq = seqOf((e) => e.type === 'worker.offline' && e.subject.id === home);
    const notReadySeq = seqOf((e) => e.type === 'worker.not_ready' && e.subject.id === home);
    const rescheduled = log.filter((e) => e.type === 'assignment.rescheduled' && e.subject.id === r!.id);
    expect(notReadySeq).toBeGreaterThan(0);
    expect(offlineSeq).toBeGreaterThan(notReadySeq);
    expect(rescheduled).toHaveLength(1);
    expect(rescheduled[0]!.seq).toBeGreaterThan(offlineSeq);
    expect(rescheduled[0]!.data).toMatchObject({ from: home, to: worker(otherName).id, reason: 'offline' });
  });

  it('restarts nothing and moves nothing when an agent comes back within the grace period', async () => {
    const c = await agent('restart-c', ['--labels', 'test=restart']);
    const [r] = await t.cp.cluster.createAssignments([{ ...replica('dep_restart', 10), selectors: { test: 'restart' }, modelKey: 'm-restart' }]);
    await until('the replica to run', () => t.cp.cluster.getAssignment(r!.id).state === 'ready');
    const home = t.cp.cluster.getAssignment(r!.id).workerId!;
    const homeName = worker(home).name;
    expect(homeName).toBe('restart-c');
    const before = (await eventsOf()).at(-1)!.seq;

    await c.kill('SIGKILL');
    const killedAt = Date.now();
    await until('the worker to notice the silence', () => worker(home).state === 'not_ready');
    const back = await startAgent({ server: t.url, name: 'restart-c', dataDir: join(dir, 'restart-c'), gpus: '1xH100:80GiB', extra: ['--labels', 'test=restart'] });
    agents.push(back);
    expect(back.stdout()).toMatch(/reconnected to/);
    await until('the worker to be ready again', () => worker(home).state === 'ready');
    // Wait out the rest of the grace period the kill started.
    await until('the grace period to pass', () => Date.now() > killedAt + GRACE_MS + 1000, GRACE_MS * 3);

    expect(worker(home).state).toBe('ready');
    expect(t.cp.cluster.getAssignment(r!.id)).toMatchObject({ workerId: home, state: 'ready', moves: 0 });
    const after = (await eventsOf()).filter((e) => e.seq > before);
    expect(after.filter((e) => e.subject.id === r!.id)).toEqual([]);
    const workerEvents = after.filter((e) => e.subject.id === home).map((e) => e.type);
    expect(workerEvents.slice(0, 2)).toEqual(['worker.not_ready', 'worker.reconnected']);
    expect(workerEvents).toContain('worker.ready');
    expect(workerEvents).not.toContain('worker.offline');
  });

  it('keeps an agent whose clock is an hour ahead ready', async () => {
    await agent('skewed', ['--clock-skew-ms', '3600000']);
    const id = worker('skewed').id;
    const skewed = await until('a heartbeat with the skew', () => (worker(id).clockSkewMs ?? 0) > 3_500_000);
    expect(skewed).toBe(true);
    // Watch it for well over the not_ready threshold (5 × 200 ms).
    const until3s = Date.now() + 3000;
    while (Date.now() < until3s) {
      expect(worker(id).state).toBe('ready');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(Math.abs(worker(id).clockSkewMs! - 3_600_000)).toBeLessThan(60_000);
  });
});

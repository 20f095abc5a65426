import { afterEach, beforeEach, expect, it } from 'vitest';
import { type Backend, type TestDatabase, createTestDatabase, describeEachBackend } from '../../test/helpers/services.js';
import { EventLog, eventMigrations } from '../events/index.js';
import { silentLogger } from '../observability/index.js';
import { Store, tables } from '../store/index.js';
import { ManualClock } from '../util/index.js';
import { type Gpu, type RegisterBody, ClusterService, clusterMigrations } from './index.js';

const GiB = 2 ** 30;
const config = { heartbeatIntervalMs: 5000, missedHeartbeats: 3, offlineGraceMs: 60_000 };

function h100(index: number, usedGiB = 0): Gpu {
  return {
    vendor: 'nvidia',
    index,
    name: 'NVIDIA H100 80GB HBM3',
    uuid: `GPU-${index}`,
    memoryTotalBytes: 80 * GiB,
    memoryUsedBytes: usedGiB * GiB,
    utilizationPercent: 0,
    temperatureC: 35,
    fake: true,
  };
}

function body(name: string, gpus: Gpu[] = [h100(0)], extra: Partial<RegisterBody> = {}): RegisterBody {
  return { name, labels: {}, capacity: { cpuCores: 16, memoryBytes: 64 * GiB }, gpus, cachedModels: [], ...extra };
}

const gpuReplica = (owner: string, memGiB = 40) => ({ owner, resources: { cpu: 1, memoryBytes: GiB, gpus: { count: 1, memoryBytes: memGiB * GiB } } });

describeEachBackend('cluster service', (backend: Backend) => {
  let tdb: TestDatabase;
  let store: Store;
  let events: EventLog;
  let clock: ManualClock;
  let svc: ClusterService;

  const open = async () => {
    const s = new ClusterService({ config, store, clock, log: silentLogger(), events }, { reconcileEveryMs: null });
    await s.start();
    return s;
  };

  const join = async (name: string, gpus: Gpu[] = [h100(0)], extra: Partial<RegisterBody> = {}) => {
    const { secret } = await svc.createJoinToken({}, null);
    const res = await svc.register(body(name, gpus, extra), { joinToken: secret });
    return { id: res.workerId, credential: res.credential! };
  };

  /** Advances the clock in heartbeat-sized steps, heartbeating the given workers and reconciling after each. */
  const run = async (ms: number, alive: string[]) => {
    for (let t = 0; t < ms; t += config.heartbeatIntervalMs) {
      clock.advance(config.heartbeatIntervalMs);
      for (const id of alive) await svc.heartbeat(id, { gpus: svc.getWorker(id).gpus.map(stripView), replicas: reportsFor(id), cachedModels: [] });
      await svc.reconcile();
    }
  };

  /** What an agent running everything assigned to it would report. */
  const reportsFor = (id: string) => svc.listAssignments({ workerId: id }).filter((a) => a.desired === 'run').map((a) => ({ assignmentId: a.id, state: 'ready' as const }));

  const types = async () => (await events.list(0, 10_000)).map((e) => `${e.type}${e.subject.kind === 'worker' ? `:${String(e.data.name)}` : ''}`);

  beforeEach(async () => {
    tdb = await createTestDatabase(backend, 'cluster');
    store = new Store({ databaseUrl: tdb.databaseUrl, sqliteFile: tdb.sqliteFile, migrations: { ...eventMigrations, ...clusterMigrations } });
    await store.migrate();
    clock = new ManualClock();
    events = new EventLog(store, clock, 100);
    svc = await open();
  });
  afterEach(async () => {
    await svc.stop();
    events.close();
    await store.close();
    await tdb.cleanup();
  });

  it('lets an agent join once per token use, and refuses expired, revoked and used-up tokens alike', async () => {
    const { token, secret } = await svc.createJoinToken({ maxUses: 1, expiresAt: clock.now() + 60_000 }, 'key_x');
    const first = await svc.register(body('a'), { joinToken: secret });
    expect(first.credential).toMatch(/^catagent_/);
    await expect(svc.register(body('b'), { joinToken: secret })).rejects.toMatchObject({ code: 'CATAPULT_JOIN_TOKEN_INVALID' });
    const expiring = await svc.createJoinToken({ expiresAt: clock.now() + 1000 }, null);
    clock.advance(1001);
    await expect(svc.register(body('c'), { joinToken: expiring.secret })).rejects.toMatchObject({ code: 'CATAPULT_JOIN_TOKEN_INVALID' });
    const revoked = await svc.createJoinToken({}, null);
    await svc.revokeJoinToken(revoked.token.id);
    await expect(svc.register(body('d'), { joinToken: revoked.secret })).rejects.toMatchObject({ code: 'CATAPULT_JOIN_TOKEN_INVALID' });
    await expect(svc.register(body('e'), { joinToken: 'catjoin_nonsense' })).rejects.toMatchObject({ code: 'CATAPULT_JOIN_TOKEN_INVALID' });
    expect((await svc.listJoinTokens()).find((t) => t.id === token.id)).toMatchObject({ uses: 1, maxUses: 1, createdBy: 'key_x' });
    // Only hashes are stored: neither the join token nor the agent credential appears in the database.
    const dump = JSON.stringify([
      await tables<Record<string, object>>(store.db).selectFrom('join_tokens').selectAll().execute(),
      await tables<Record<string, object>>(store.db).selectFrom('workers').selectAll().execute(),
    ]);
    expect(dump).not.toContain(secret);
    expect(dump).not.toContain(first.credential!);
    expect(svc.listWorkers().map((w) => w.name)).toEqual(['a']);
  });

  it('keeps the worker id when an agent comes back with its credential, and refuses a second live agent with the same name', async () => {
    const a = await join('node-a');
    const again = await svc.register(body('node-a', [h100(0), h100(1)]), { credential: a.credential });
    expect(again).toMatchObject({ workerId: a.id, state: 'ready' });
    expect(again.credential).toBeUndefined();
    expect(svc.getWorker('node-a').gpus).toHaveLength(2);
    await expect(join('node-a')).rejects.toMatchObject({ code: 'CATAPULT_WORKER_NAME_TAKEN' });
    expect(await svc.resolveCredential(a.credential)).toEqual({ kind: 'agent', agentId: a.id, name: 'node-a' });
    expect(await svc.resolveCredential('catagent_wrong')).toBeUndefined();
    expect(await svc.resolveCredential('catjoin_unknown')).toBeUndefined();
    await expect(svc.register(body('node-b'), { credential: 'catagent_wrong' })).rejects.toMatchObject({ code: 'CATAPULT_UNAUTHENTICATED' });
    expect(await svc.resolveCredential('cat_an_api_key')).toBeUndefined();
  });

  it('marks a silent worker not_ready after three missed heartbeats and offline after the grace period, and only then moves its replicas', async () => {
    const a = await join('a');
    const b = await join('b');
    const [r] = await svc.createAssignments([{ ...gpuReplica('dep_1'), policy: 'binpack' }]);
    const home = r!.workerId!;
    const other = home === a.id ? b.id : a.id;
    await run(15_000, [home, other]);
    expect(svc.getWorker(home).state).toBe('ready');

    // The home worker goes silent.
    await run(15_000, [other]);
    expect(svc.getWorker(home).state).toBe('ready');
    await run(5000, [other]);
    expect(svc.getWorker(home).state).toBe('not_ready');
    expect(svc.getAssignment(r!.id).workerId).toBe(home);

    await run(35_000, [other]);
    expect(svc.getWorker(home).state).toBe('not_ready');
    expect(svc.getAssignment(r!.id).workerId).toBe(home);

    // Sixty seconds of silence exactly is still within the grace period.
    await run(5000, [other]);
    expect(svc.getWorker(home).state).toBe('not_ready');
    await run(5000, [other]);
    expect(svc.getWorker(home).state).toBe('offline');
    const moved = svc.getAssignment(r!.id);
    expect(moved).toMatchObject({ workerId: other, state: 'assigned', moves: 1 });
    const log = await types();
    const homeName = svc.getWorker(home).name;
    expect(log.indexOf(`worker.not_ready:${homeName}`)).toBeLessThan(log.indexOf(`worker.offline:${homeName}`));
    expect(log.indexOf(`worker.offline:${homeName}`)).toBeLessThan(log.indexOf('assignment.rescheduled'));
  });

  it('does not move anything when an agent comes back within the grace period', async () => {
    const a = await join('a');
    const b = await join('b');
    const credentials = new Map([
      [a.id, a.credential],
      [b.id, b.credential],
    ]);
    const [r] = await svc.createAssignments([gpuReplica('dep_1')]);
    const home = r!.workerId!;
    await run(30_000, []);
    expect(svc.getWorker(home).state).toBe('not_ready');
    // The agent restarts and re-registers with its saved credential.
    const back = await svc.register(body(svc.getWorker(home).name), { credential: credentials.get(home)! });
    expect(back.workerId).toBe(home);
    await run(10_000, [home]);
    expect(svc.getWorker(home).state).toBe('ready');
    await run(60_000, [home]);
    expect(svc.getAssignment(r!.id)).toMatchObject({ workerId: home, moves: 0 });
    expect(await types()).not.toContain('assignment.rescheduled');
  });

  it('keeps a worker whose clock is an hour off ready, and shows the skew', async () => {
    const a = await join('skewed');
    for (let i = 0; i < 20; i++) {
      clock.advance(5000);
      await svc.heartbeat(a.id, { sentAt: clock.now() + 3_600_000, gpus: [h100(0)], replicas: [], cachedModels: [] });
      await svc.reconcile();
      expect(svc.getWorker(a.id).state).toBe('ready');
    }
    expect(svc.getWorker(a.id).clockSkewMs).toBe(3_600_000);
  });

  it('survives a restart of the service: workers stay ready, placements stay, and the assignment version does not change', async () => {
    const a = await join('a');
    const [r] = await svc.createAssignments([gpuReplica('dep_1')]);
    await svc.heartbeat(a.id, { gpus: [h100(0, 40)], replicas: [{ assignmentId: r!.id, state: 'ready', runId: 'run-1' }], cachedModels: ['m'] });
    const before = await svc.waitForAssignments(a.id, undefined, 0);
    await svc.stop();
    // The control plane is down for ten minutes, longer than the grace period.
    clock.advance(600_000);
    svc = await open();
    expect(svc.getWorker(a.id)).toMatchObject({ state: 'ready', cachedModels: ['m'] });
    expect(svc.getWorker(a.id).gpus[0]!.memoryUsedBytes).toBe(40 * GiB);
    expect(svc.getAssignment(r!.id)).toMatchObject({ workerId: a.id, state: 'ready' });
    expect(await svc.resolveCredential(a.credential)).toMatchObject({ agentId: a.id });
    expect((await svc.waitForAssignments(a.id, undefined, 0)).version).toBe(before.version);
    // Its own downtime does not count against the workers: they have the full window to reconnect.
    clock.advance(14_000);
    await svc.reconcile();
    expect(svc.getWorker(a.id).state).toBe('ready');
  });

  it('follows a replica through assigned, starting, ready and stop, with an event for each change', async () => {
    const a = await join('a');
    const [r] = await svc.createAssignments([{ ...gpuReplica('dep_1'), spec: { runtime: 'simulator' }, modelKey: 'llama' }]);
    expect(r).toMatchObject({ state: 'assigned', workerId: a.id, gpuIndices: [0], gpuMemoryBytes: 40 * GiB, mode: 'gpu' });
    const hb = (state: 'starting' | 'ready') => svc.heartbeat(a.id, { gpus: [h100(0)], replicas: [{ assignmentId: r!.id, state }], cachedModels: [] });
    await hb('starting');
    await hb('ready');
    expect(svc.getAssignment(r!.id).state).toBe('ready');
    expect(svc.getWorker(a.id).replicas).toEqual({ total: 1, byState: { ready: 1 } });
    const removed = await svc.removeAssignment(r!.id);
    expect(removed.desired).toBe('stop');
    // Resources stay reserved until the agent confirms the stop.
    expect(svc.getWorker(a.id).gpus[0]!.reservedBytes).toBe(40 * GiB);
    expect((await svc.waitForAssignments(a.id, undefined, 0)).items).toEqual([]);
    await svc.heartbeat(a.id, { gpus: [h100(0)], replicas: [], cachedModels: [] });
    expect(() => svc.getAssignment(r!.id)).toThrow(expect.objectContaining({ code: 'CATAPULT_ASSIGNMENT_NOT_FOUND' }));
    expect(svc.getWorker(a.id).gpus[0]!.reservedBytes).toBe(0);
    const changes = (await events.list(0, 1000)).filter((e) => e.subject.id === r!.id).map((e) => [e.type, e.data.to ?? null]);
    expect(changes).toEqual([
      ['assignment.created', null],
      ['assignment.state_changed', 'starting'],
      ['assignment.state_changed', 'ready'],
      ['assignment.stopping', null],
      ['assignment.removed', null],
    ]);
  });

  it('keeps a replica that fits nowhere pending with the reason, and places it once a worker with room joins', async () => {
    await join('small', [{ ...h100(0), memoryTotalBytes: 24 * GiB, memoryUsedBytes: 12 * GiB, name: 'NVIDIA L4' }]);
    const [r] = await svc.createAssignments([{ owner: 'dep_1', resources: { cpu: 1, memoryBytes: GiB, gpus: { count: 1, memoryBytes: 16 * GiB } } }]);
    expect(r!.state).toBe('pending');
    expect(r!.explanation!.reasons[0]!.reason).toBe('worker small: GPU 0 has 12.0 GiB free, needs 16.0 GiB');
    const unschedulable = (await events.list(0, 1000)).find((e) => e.type === 'assignment.unschedulable')!;
    expect(unschedulable.data.reasons).toEqual(['worker small: GPU 0 has 12.0 GiB free, needs 16.0 GiB']);
    // Retrying without any change neither moves it nor repeats the event.
    clock.advance(11_000);
    await svc.reconcile();
    expect((await events.list(0, 1000)).filter((e) => e.type === 'assignment.unschedulable')).toHaveLength(1);
    const big = await join('big');
    await svc.reconcile();
    expect(svc.getAssignment(r!.id)).toMatchObject({ state: 'assigned', workerId: big.id, explanation: null });
    expect(await types()).toContain('assignment.placed');
    const status = (await svc.statusSections().replicas!()) as { byState: Record<string, number> };
    expect(status.byState).toEqual({ assigned: 1 });
  });

  it('drains a worker by moving what fits elsewhere and leaving the rest running where it is', async () => {
    const a = await join('a', [h100(0), h100(1)]);
    const b = await join('b', [h100(0)]);
    await svc.cordon(b.id);
    const rs = await svc.createAssignments([gpuReplica('dep_1', 60), gpuReplica('dep_1', 60)]);
    expect(rs.map((r) => r.workerId)).toEqual([a.id, a.id]);
    await svc.uncordon(b.id);
    const drained = await svc.drain(a.id);
    expect(drained.state).toBe('draining');
    const after = svc.listAssignments({ owner: 'dep_1' });
    expect(after.map((r) => r.workerId).sort()).toEqual([a.id, b.id].sort());
    const stuck = after.find((r) => r.workerId === a.id)!;
    expect(stuck.explanation!.summary).toMatch(/No worker can run this replica/);
    expect(stuck.explanation!.reasons.map((x) => x.reason)).toContain('worker b: GPU 0 has 20.0 GiB free, needs 60.0 GiB');
    // More room appears: the reconciler finishes the drain.
    await join('c');
    await svc.reconcile();
    expect(svc.listAssignments({ workerId: a.id })).toEqual([]);
    expect((await svc.uncordon(a.id)).state).toBe('ready');
  });

  it('refuses to remove a live worker that runs replicas unless forced, and then moves them and revokes its credential', async () => {
    const a = await join('a');
    await join('b');
    const [r] = await svc.createAssignments([{ ...gpuReplica('dep_1'), selectors: {} }]);
    const home = r!.workerId!;
    await expect(svc.removeWorker(home)).rejects.toMatchObject({ code: 'CATAPULT_WORKER_BUSY' });
    await svc.removeWorker(home, { force: true });
    expect(() => svc.getWorker(home)).toThrow(expect.objectContaining({ code: 'CATAPULT_WORKER_NOT_FOUND' }));
    expect(svc.getAssignment(r!.id).workerId).not.toBe(home);
    if (home === a.id) expect(await svc.resolveCredential(a.credential)).toBeUndefined();
    // After a restart it is still gone.
    await svc.stop();
    svc = await open();
    expect(svc.listWorkers()).toHaveLength(1);
  });

  it('answers a long-poll at once when the agent is behind, and otherwise when its set changes', async () => {
    const a = await join('a');
    const first = await svc.waitForAssignments(a.id, undefined, 10_000);
    expect(first.items).toEqual([]);
    const waiting = svc.waitForAssignments(a.id, first.version, 10_000);
    const [r] = await svc.createAssignments([gpuReplica('dep_1')]);
    const changed = await waiting;
    expect(changed.version).not.toBe(first.version);
    expect(changed.items.map((i) => i.id)).toEqual([r!.id]);
    const t0 = Date.now();
    const idle = await svc.waitForAssignments(a.id, changed.version, 50);
    expect(idle.version).toBe(changed.version);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
  });

  it('writes heartbeat telemetry in batches rather than on every heartbeat', async () => {
    const a = await join('a');
    clock.advance(30_000);
    await svc.heartbeat(a.id, { gpus: [{ ...h100(0, 33), utilizationPercent: 77 }], replicas: [], cachedModels: [] });
    const row = () => tables<{ workers: { id: string; gpus: string } }>(store.db).selectFrom('workers').select('gpus').where('id', '=', a.id).executeTakeFirstOrThrow();
    expect(JSON.parse((await row()).gpus)[0].utilizationPercent).toBe(0);
    await svc.reconcile();
    expect(JSON.parse((await row()).gpus)[0].utilizationPercent).toBe(77);
    expect(svc.getWorker(a.id).gpus[0]).toMatchObject({ memoryUsedBytes: 33 * GiB, freeBytes: 47 * GiB });
  });

  it('rejects malformed assignment input with a validation error, not a crash', async () => {
    await expect(svc.createAssignments([{ owner: '', resources: { cpu: -1, memoryBytes: 0, gpus: null } }])).rejects.toMatchObject({
      code: 'CATAPULT_VALIDATION_FAILED',
    });
    expect(svc.listAssignments()).toEqual([]);
  });
});

function stripView(g: Gpu & { reservedBytes?: number; freeBytes?: number }): Gpu {
  const { reservedBytes: _r, freeBytes: _f, ...gpu } = g;
  return gpu;
}

import { describe, expect, it } from 'vitest';
import { type AssignmentView, deriveState } from './service.js';

let n = 0;
function replica(over: Partial<AssignmentView> & { generation?: number } = {}): AssignmentView {
  const { generation = 1, ...rest } = over;
  return {
    id: `asg_${++n}`,
    owner: 'dep_1',
    spec: { generation },
    workerId: 'wrk_1',
    gpuIndices: [],
    desired: 'run',
    state: 'ready',
    message: null,
    explanation: null,
    endpoint: 'http://127.0.0.1:1',
    createdAt: n,
    ...rest,
  };
}
const row = { generation: 1, deleting: 0 };

describe('deployment state', () => {
  it('is active when every desired replica of the current generation is ready', () => {
    expect(deriveState(row, 2, [replica(), replica()], 0, []).state).toBe('active');
  });

  it('is degraded with a reason when some are ready and one crash-looped', () => {
    const s = deriveState(row, 2, [replica(), replica({ state: 'failed', message: 'crash loop: 5 failures within 600 s\n--- last output ---\nboom' })], 0, []);
    expect(s.state).toBe('degraded');
    expect(s.reason).toBe('1/2 replicas ready; 1 failed: crash loop: 5 failures within 600 s');
  });

  it('is failed when every replica failed', () => {
    expect(deriveState(row, 1, [replica({ state: 'failed', message: 'not ready after 30 s' })], 0, []).reason).toBe('all replicas failed: not ready after 30 s');
  });

  it('is scheduling, quoting the placement explanation, when a replica cannot be placed', () => {
    const s = deriveState(row, 1, [replica({ workerId: null, state: 'pending', explanation: { summary: 'no worker has 2 GPUs with 80.0 GiB free' } })], 0, []);
    expect(s).toMatchObject({ state: 'scheduling', reason: '1 replica(s) cannot be placed: no worker has 2 GPUs with 80.0 GiB free' });
    expect(s.conditions.find((c) => c.type === 'Scheduled')!.status).toBe('False');
  });

  it('is provisioning while placed replicas start, and pending before any exists', () => {
    expect(deriveState(row, 1, [replica({ state: 'starting' })], 0, []).state).toBe('provisioning');
    expect(deriveState(row, 1, [], 0, []).state).toBe('pending');
  });

  it('stays degraded during a roll even when enough replicas are ready, and says it is rolling', () => {
    const s = deriveState({ generation: 2, deleting: 0 }, 1, [replica({ generation: 1 }), replica({ generation: 2, state: 'starting' })], 0, []);
    expect(s.state).toBe('degraded');
    expect(s.reason).toMatch(/rolling out generation 2/);
    expect(s.conditions.find((c) => c.type === 'Progressing')!.reason).toBe('RollingUpdate');
  });

  it('is stopped at zero replicas, counting the ones still stopping', () => {
    expect(deriveState(row, 0, [], 0, []).state).toBe('stopped');
    expect(deriveState(row, 0, [replica({ desired: 'stop', state: 'draining' })], 0, []).reason).toBe('stopping 1 replica(s)');
  });

  it('keeps a condition’s `since` while its status holds', () => {
    const first = deriveState(row, 1, [replica({ state: 'starting' })], 1000, []);
    const later = deriveState(row, 1, [replica({ state: 'starting' })], 5000, first.conditions);
    expect(later.conditions.find((c) => c.type === 'Ready')!.since).toBe(1000);
  });
});

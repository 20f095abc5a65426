import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AgentAssignment } from '../cluster/index.js';
import { NoopExecutor } from './index.js';

const assignment = (id: string, modelKey: string | null = null): AgentAssignment => ({
  id,
  owner: 'dep_1',
  spec: {},
  resources: { cpu: 1, memoryBytes: 1024, gpus: null },
  modelKey,
  mode: 'cpu',
  gpuVendor: null,
  gpuIndices: [],
  gpuMemoryBytes: 0,
});

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('the no-op replica executor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'catapult-noop-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts what is assigned, forgets what is not, and counts the models it ran as cached', async () => {
    const ex = new NoopExecutor({ startDelayMs: 1 });
    await ex.apply([assignment('a', 'm1'), assignment('b')]);
    expect(ex.list().map((r) => [r.assignment.id, r.state])).toEqual([
      ['a', 'starting'],
      ['b', 'starting'],
    ]);
    await until(() => ex.list().every((r) => r.state === 'ready'));
    await ex.apply([assignment('b')]);
    expect(ex.list().map((r) => r.assignment.id)).toEqual(['b']);
    expect(ex.cachedModels()).toEqual(['m1']);
    await ex.close();
  });

  it('hands its replicas to the next agent process unchanged, as a supervisor adopting its children would', async () => {
    const stateFile = join(dir, 'noop.json');
    const first = new NoopExecutor({ stateFile, startDelayMs: 1 });
    await first.apply([assignment('a', 'm1')]);
    await until(() => first.list()[0]!.state === 'ready');
    const runId = first.list()[0]!.runId;
    // No close(): the agent was killed.
    const second = new NoopExecutor({ stateFile, startDelayMs: 1 });
    expect(second.list().map((r) => [r.assignment.id, r.state, r.runId])).toEqual([['a', 'ready', runId]]);
    await second.apply([assignment('a', 'm1')]);
    expect(second.list()[0]!.runId).toBe(runId);
    expect(second.cachedModels()).toEqual(['m1']);
    await second.close();
  });
});

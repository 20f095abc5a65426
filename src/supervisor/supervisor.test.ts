import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../../test/helpers/cli.js';
import { freePort } from '../util/index.js';
import { tempDir } from '../../test/helpers/services.js';
import { DEFAULT_RESTART, type ProcessSpec, type ProcessStatus, Supervisor, groupMembers, isAlive } from './index.js';

const FIXTURE = join(ROOT, 'test', 'fixtures', 'replica-server.mjs');

async function spec(id: string, extra: string[] = [], over: Partial<ProcessSpec> = {}): Promise<ProcessSpec> {
  const port = await freePort();
  return {
    id,
    argv: [process.execPath, FIXTURE, '--port', String(port), ...extra],
    env: {},
    host: '127.0.0.1',
    port,
    readiness: { path: '/health', timeoutMs: 10_000, periodMs: 50 },
    stopGraceMs: 2000,
    restart: { ...DEFAULT_RESTART, backoffBaseMs: 100, backoffMaxMs: 400 },
    ...over,
  };
}

/** Resolves with the first status of `id` that satisfies `pred`. */
function waitStatus(sup: Supervisor, id: string, pred: (s: ProcessStatus) => boolean, timeoutMs = 15_000): Promise<ProcessStatus> {
  const now = sup.status(id);
  if (now && pred(now)) return Promise.resolve({ ...now });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sup.off('status', on);
      reject(new Error(`timed out; last status ${JSON.stringify(sup.status(id))}`));
    }, timeoutMs);
    const on = (s: ProcessStatus) => {
      if (s.id === id && pred(s)) {
        clearTimeout(timer);
        sup.off('status', on);
        resolve(s);
      }
    };
    sup.on('status', on);
  });
}

describe('the replica supervisor', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  function make(dir?: string): Supervisor {
    const tmp = dir ? undefined : tempDir();
    const sup = new Supervisor({ dir: dir ?? tmp!.dir });
    cleanups.push(async () => {
      await sup.close({ stopReplicas: true });
      tmp?.remove();
    });
    return sup;
  }

  it('starts a process, reports it ready once its health check answers, and keeps its output', async () => {
    const sup = make();
    const s = await spec('r1', ['--ready-after', '300']);
    sup.start(s);
    expect(sup.status('r1')!.phase).toBe('starting');
    const ready = await waitStatus(sup, 'r1', (x) => x.phase === 'ready');
    expect(ready.pid).toBeGreaterThan(0);
    expect(sup.tail('r1').join('\n')).toContain('listening');
  });

  it('stops the whole process group: nothing it started is left in the process table', async () => {
    const sup = make();
    sup.start(await spec('r2', ['--grandchild']));
    const { pid } = await waitStatus(sup, 'r2', (x) => x.phase === 'ready');
    await expect.poll(() => groupMembers(pid!).length).toBe(2);
    await sup.stop('r2');
    expect(sup.status('r2')!.phase).toBe('stopped');
    expect(groupMembers(pid!)).toEqual([]);
    expect(sup.tail('r2').join('\n')).toContain('got SIGTERM');
  });

  it('restarts a killed process with backoff and counts the restart', async () => {
    const sup = make();
    sup.start(await spec('r3'));
    const first = await waitStatus(sup, 'r3', (x) => x.phase === 'ready');
    process.kill(first.pid!, 'SIGKILL');
    const backoff = await waitStatus(sup, 'r3', (x) => x.phase === 'backoff');
    expect(backoff.reason).toMatch(/killed by SIGKILL; restarting in \d/);
    const again = await waitStatus(sup, 'r3', (x) => x.phase === 'ready' && x.pid !== first.pid);
    expect(again.restarts).toBe(1);
    expect(isAlive(first.pid!)).toBe(false);
  });

  it('gives up on a crash loop, saying so with the last lines of output', async () => {
    const sup = make();
    const s = await spec('r4', ['--exit-after', '50']);
    sup.start({ ...s, restart: { backoffBaseMs: 20, backoffMaxMs: 40, crashLoopCount: 3, crashLoopWindowMs: 60_000 } });
    const failed = await waitStatus(sup, 'r4', (x) => x.phase === 'failed');
    expect(failed.reason).toMatch(/crash loop: 3 failures within 60 s; last: exited with code 3/);
    expect(failed.lastLogLines.join('\n')).toContain('crashing with code 3');
    expect(failed.restarts).toBe(2);
  });

  it('fails a process that never becomes ready after its timeout, with the reason and its output, and kills it', async () => {
    const sup = make();
    const s = await spec('r5', ['--ready-after', '999999']);
    sup.start({ ...s, readiness: { path: '/health', timeoutMs: 800, periodMs: 50 } });
    const { pid } = await waitStatus(sup, 'r5', (x) => x.phase === 'starting' && x.pid !== null);
    const failed = await waitStatus(sup, 'r5', (x) => x.phase === 'failed');
    expect(failed.reason).toMatch(/not ready after 1 s \(GET \/health on port \d+\)/);
    expect(failed.lastLogLines.join('\n')).toContain('listening');
    expect(groupMembers(pid!)).toEqual([]);
  });

  it('restarts a process whose liveness check keeps failing', async () => {
    const sup = make();
    const s = await spec('r6', ['--unhealthy-after', '400']);
    sup.start({ ...s, liveness: { path: '/health', periodMs: 100, failureThreshold: 2, timeoutMs: 500 } });
    const first = await waitStatus(sup, 'r6', (x) => x.phase === 'ready');
    const restarted = await waitStatus(sup, 'r6', (x) => x.phase === 'ready' && x.pid !== first.pid);
    expect(restarted.restarts).toBeGreaterThanOrEqual(1);
  });

  it('leaves replicas running when it closes without stopping them, and a new supervisor adopts them', async () => {
    const tmp = tempDir();
    cleanups.push(() => tmp.remove());
    const a = new Supervisor({ dir: tmp.dir });
    a.start(await spec('r7'));
    const { pid } = await waitStatus(a, 'r7', (x) => x.phase === 'ready');
    await a.close({ stopReplicas: false });
    expect(isAlive(pid!)).toBe(true);

    const b = make(tmp.dir);
    const { adopted, gone } = b.adopt();
    expect(gone).toEqual([]);
    expect(adopted.map((s) => s.id)).toEqual(['r7']);
    const ready = await waitStatus(b, 'r7', (x) => x.phase === 'ready');
    expect(ready).toMatchObject({ pid, adopted: true });
    await b.stop('r7');
    expect(isAlive(pid!)).toBe(false);
  });

  it('reports replicas that died while nobody supervised them, instead of adopting a stranger', async () => {
    const tmp = tempDir();
    cleanups.push(() => tmp.remove());
    const a = new Supervisor({ dir: tmp.dir });
    a.start(await spec('r8'));
    const { pid } = await waitStatus(a, 'r8', (x) => x.phase === 'ready');
    await a.close({ stopReplicas: false });
    process.kill(pid!, 'SIGKILL');
    await expect.poll(() => isAlive(pid!)).toBe(false);
    const b = make(tmp.dir);
    const { adopted, gone } = b.adopt();
    expect(adopted).toEqual([]);
    expect(gone.map((s) => s.id)).toEqual(['r8']);
  });

  it('follows new output lines as they are written', async () => {
    const sup = make();
    const s = await spec('r9', ['--exit-after', '300']);
    sup.start({ ...s, restart: { backoffBaseMs: 5000, backoffMaxMs: 5000, crashLoopCount: 5, crashLoopWindowMs: 60_000 } });
    await waitStatus(sup, 'r9', (x) => x.phase === 'ready');
    const seen: string[] = [];
    const stop = sup.follow('r9', (lines) => seen.push(...lines), true, 50);
    await expect.poll(() => seen.join('\n'), { timeout: 5000 }).toContain('crashing with code 3');
    stop();
  });
});

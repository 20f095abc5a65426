import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RouteInput } from '../../src/gateway/index.js';
import { type RunningSimulator, startSimulator } from '../../src/runtimes/index.js';
import { type Json, type Harness, type ReplicaProcess, chat, startHarness, startSimulatorProcess, until } from './harness.js';

interface Outcome {
  status: number;
  replica: string | null;
  error?: string;
}

/**
 * Steady non-streaming load: `workers` clients each sending one request after another until told to
 * stop. Bounded by time and count; records every outcome.
 */
function steadyLoad(h: Harness, model: string, workers = 6, maxRequests = 20_000) {
  const outcomes: Outcome[] = [];
  let stop = false;
  const run = async () => {
    while (!stop && outcomes.length < maxRequests) {
      try {
        const res = await h.call('/v1/chat/completions', { body: chat(model, { max_tokens: 3 }) });
        const text = await res.text();
        outcomes.push({ status: res.status, replica: res.headers.get('x-catapult-replica'), ...(res.status === 200 ? {} : { error: text.slice(0, 200) }) });
      } catch (err) {
        outcomes.push({ status: 0, replica: null, error: String(err) });
      }
    }
  };
  const done = Promise.all(Array.from({ length: workers }, run));
  return {
    outcomes,
    /** Resolves once `n` more requests have completed. */
    async after(n: number) {
      const target = outcomes.length + n;
      await until(() => outcomes.length >= target || stop, `${n} more requests`, 30_000);
    },
    async stop() {
      stop = true;
      await done;
      return outcomes;
    },
  };
}

function failures(outcomes: Outcome[]): Outcome[] {
  return outcomes.filter((o) => o.status !== 200);
}

describe('failover under steady load', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ gateway: { ejectBaseMs: 30_000 } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('loses no request when one of three replica processes is killed, and sends the dead one nothing more', async () => {
    const replicas: ReplicaProcess[] = await Promise.all(
      [1, 2, 3].map(() => startSimulatorProcess({ modelName: 'llama', ttftMs: 5, itlMs: 2, timerSpinMs: 0 })),
    );
    try {
      await h.publish({
        id: 'dep_kill',
        kind: 'deployment',
        name: 'llama',
        aliases: [],
        protocol: 'openai',
        replicas: replicas.map((r, i) => ({ id: `r${i}`, url: r.url, ready: true })),
      });
      const load = steadyLoad(h, 'llama');
      await load.after(150);
      await replicas[1]!.kill();
      await load.after(100);
      const dead = h.gw.table.lookup('dep_kill')!.ready.find((m) => m.id === 'r1')!.upstream;
      expect(dead.isEjected(performance.now())).toBe(true);
      const attemptsAtEjection = await upstreamErrorCount(h);
      await load.after(300);
      const outcomes = await load.stop();

      expect(failures(outcomes)).toEqual([]);
      // The kill was felt (requests hit the dead replica) and absorbed by retries on the others.
      expect(attemptsAtEjection).toBeGreaterThan(0);
      expect(await metricSum(h, 'catapult_gateway_retries_total')).toBeGreaterThan(0);
      // Nothing more was tried on the dead replica once it was ejected.
      expect(await upstreamErrorCount(h)).toBe(attemptsAtEjection);
      const tail = outcomes.slice(-300);
      expect(tail.some((o) => o.replica === 'r1')).toBe(false);
      expect(new Set(tail.map((o) => o.replica))).toEqual(new Set(['r0', 'r2']));
    } finally {
      await Promise.all(replicas.map((r) => r.kill()));
    }
  });

  it('loses no request while a deployment scales 1 → 3 → 1 and rolls to a new spec', async () => {
    const started: RunningSimulator[] = [];
    const sim = async (seed: number) => {
      const s = await startSimulator({ modelName: 'roll', ttftMs: 3, itlMs: 1, timerSpinMs: 0, seed });
      started.push(s);
      return s;
    };
    const route = (replicas: { id: string; s: RunningSimulator; ready?: boolean }[]): RouteInput => ({
      id: 'dep_roll',
      kind: 'deployment',
      name: 'roll',
      aliases: ['md-dep_roll'],
      protocol: 'openai',
      replicas: replicas.map((r) => ({ id: r.id, url: r.s.url, ready: r.ready ?? true })),
    });
    try {
      const a = await sim(1);
      await h.publish(route([{ id: 'a', s: a }]));
      const load = steadyLoad(h, 'roll');
      await load.after(80);

      // Scale up: new replicas join as they become ready.
      const b = await sim(2);
      const c = await sim(3);
      await h.publish(route([{ id: 'a', s: a }, { id: 'b', s: b, ready: false }, { id: 'c', s: c, ready: false }]));
      await h.publish(route([{ id: 'a', s: a }, { id: 'b', s: b }, { id: 'c', s: c }]));
      await load.after(150);
      expect(new Set(load.outcomes.slice(-100).map((o) => o.replica))).toEqual(new Set(['a', 'b', 'c']));

      // Scale down: the replicas leave the table, then their processes stop at once (requests in flight on them are retried).
      await h.publish(route([{ id: 'a', s: a }]));
      await Promise.all([b.close(), c.close()]);
      await load.after(100);

      // Roll to a new spec: the new replica becomes ready, then the old one is drained and stopped.
      const d = await sim(4);
      await h.publish(route([{ id: 'a', s: a }, { id: 'd', s: d, ready: false }]));
      await h.publish(route([{ id: 'a', s: a }, { id: 'd', s: d }]));
      await load.after(80);
      await h.publish(route([{ id: 'a', s: a, ready: false }, { id: 'd', s: d }]));
      await a.close();
      await h.publish(route([{ id: 'd', s: d }]));
      await load.after(150);
      const outcomes = await load.stop();

      expect(failures(outcomes)).toEqual([]);
      expect(new Set(outcomes.slice(-100).map((o) => o.replica))).toEqual(new Set(['d']));
    } finally {
      await Promise.all(started.map((s) => s.close()));
    }
  });

  it('takes a replica the control plane marks not ready out of rotation at once', async () => {
    const x = await startSimulator({ modelName: 'mark', ttftMs: 1, itlMs: 1, timerSpinMs: 0 });
    const y = await startSimulator({ modelName: 'mark', ttftMs: 1, itlMs: 1, timerSpinMs: 0 });
    try {
      const both = (yReady: boolean): RouteInput => ({
        id: 'dep_mark',
        kind: 'deployment',
        name: 'mark',
        aliases: [],
        protocol: 'openai',
        replicas: [
          { id: 'x', url: x.url, ready: true },
          { id: 'y', url: y.url, ready: yReady },
        ],
      });
      await h.publish(both(true));
      await h.publish(both(false));
      const seen = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const res = await h.call('/v1/chat/completions', { body: chat('mark') });
        await res.arrayBuffer();
        seen.add(res.headers.get('x-catapult-replica')!);
      }
      expect(seen).toEqual(new Set(['x']));
    } finally {
      await Promise.all([x.close(), y.close()]);
    }
  });

  it('retries a 503 on another replica, and ejects a replica that keeps failing', async () => {
    const good = await startSimulator({ modelName: 'flaky', ttftMs: 1, itlMs: 1, timerSpinMs: 0 });
    const bad = await startSimulator({ modelName: 'flaky', ttftMs: 1, itlMs: 1, timerSpinMs: 0, failRate: 1, failStatus: 503 });
    try {
      await h.publish({
        id: 'dep_flaky',
        kind: 'deployment',
        name: 'flaky',
        aliases: [],
        protocol: 'openai',
        replicas: [
          { id: 'good', url: good.url, ready: true },
          { id: 'bad', url: bad.url, ready: true },
        ],
      });
      for (let i = 0; i < 20; i++) {
        const res = await h.call('/v1/chat/completions', { body: chat('flaky') });
        expect(res.status).toBe(200);
        expect(res.headers.get('x-catapult-replica')).toBe('good');
        await res.arrayBuffer();
      }
      const badUpstream = h.gw.table.lookup('flaky')!.ready.find((m) => m.id === 'bad')!.upstream;
      expect(badUpstream.isEjected(performance.now())).toBe(true);
      const metrics = await (await fetch(`${h.gw.url}/metrics`)).text();
      expect(metrics).toMatch(/catapult_gateway_retries_total\{deployment="flaky",reason="status_503"\} [1-9]/);
      expect(metrics).toMatch(/catapult_gateway_ejections_total\{deployment="flaky"\} 1/);
    } finally {
      await Promise.all([good.close(), bad.close()]);
    }
  });

  it('answers 503 in the OpenAI format when every replica is down', async () => {
    const gone = await startSimulator({ modelName: 'gone', ttftMs: 1, itlMs: 1, timerSpinMs: 0 });
    const url = gone.url;
    await gone.close();
    await h.publish({ id: 'dep_gone', kind: 'deployment', name: 'gone', aliases: [], protocol: 'openai', replicas: [{ id: 'g', url, ready: true }] });
    const res = await h.call('/v1/chat/completions', { body: chat('gone') });
    expect([502, 503]).toContain(res.status);
    expect(((await res.json()) as Json).error.type).toBe('server_error');
  });
});

async function metricSum(h: Harness, name: string): Promise<number> {
  const text = await (await fetch(`${h.gw.url}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\d+)`, 'gm'))) n += Number(m[1]);
  return n;
}

function upstreamErrorCount(h: Harness): Promise<number> {
  return metricSum(h, 'catapult_gateway_upstream_errors_total');
}

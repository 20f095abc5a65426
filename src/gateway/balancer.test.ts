import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_BALANCE, choose } from './balancer.js';
import type { Member } from './table.js';
import { Upstream } from './upstream.js';

const opened: Upstream[] = [];
function member(id: string, ewmaMs: number, outstanding = 0): Member {
  const upstream = new Upstream(`http://127.0.0.1:1/${id}`, { connectTimeoutMs: 100, responseTimeoutMs: 1000, initialEwmaMs: ewmaMs, tauMs: 10_000 });
  upstream.outstanding = outstanding;
  opened.push(upstream);
  return { id, upstream };
}

/** A deterministic stand-in for Math.random. */
function seq(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

describe('replica choice', () => {
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((u) => u.pool.destroy()));
  });

  it('prefers, of two random replicas, the one with fewer outstanding requests weighted by its latency', () => {
    const linear = { ...DEFAULT_BALANCE, bias: 1, rand: seq(0, 0) };
    const fast = member('fast', 10, 2);
    const slow = member('slow', 30, 0);
    // cost: fast (2+1)*10 = 30, slow (0+1)*30 = 30 → a tie goes to the less loaded one.
    expect(choose([fast, slow], 0, null, null, linear)!.member.id).toBe('slow');
    fast.upstream.outstanding = 1;
    expect(choose([fast, slow], 0, null, null, linear)!.member.id).toBe('fast');
  });

  it('with a bias below 1, lets a fast batching replica take more requests in flight before a slow one is used', () => {
    const batching = { ...DEFAULT_BALANCE, bias: 0.5, rand: seq(0, 0) };
    const fast = member('fast', 10, 5);
    const slow = member('slow', 30, 0);
    // cost: fast 10·√6 ≈ 24.5 < slow 30·√1 = 30.
    expect(choose([fast, slow], 0, null, null, batching)!.member.id).toBe('fast');
    fast.upstream.outstanding = 9;
    expect(choose([fast, slow], 0, null, null, batching)!.member.id).toBe('slow');
  });

  it('tries a replica again once its latency average has decayed for lack of samples', () => {
    const a = member('a', 10);
    const b = member('b', 30);
    const t = performance.now();
    const o = { ...DEFAULT_BALANCE, rand: seq(0, 0) };
    expect(choose([a, b], t, null, null, o)!.member.id).toBe('a');
    // a keeps answering in 10 ms; b has had no sample for 20 s: 30·e^-2 ≈ 4 ms, now the cheaper one to try.
    a.upstream.sample(10, t + 19_999);
    expect(choose([a, b], t + 20_000, null, null, o)!.member.id).toBe('b');
  });

  it('sends a 3x slower replica a small share of the traffic when loads are even', () => {
    const members = [member('a', 10), member('b', 10), member('c', 10), member('slow', 30)];
    const counts = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const c = choose(members, 0, null, null)!;
      counts.set(c.member.id, (counts.get(c.member.id) ?? 0) + 1);
    }
    expect(counts.get('slow') ?? 0).toBe(0);
  });

  it('skips ejected replicas and ones this request already tried, and uses an ejected one only as a last resort', () => {
    const a = member('a', 10);
    const b = member('b', 10);
    const c = member('c', 10);
    b.upstream.ejectedUntil = 1000;
    for (let i = 0; i < 50; i++) expect(choose([a, b, c], 10, [a.upstream], null)!.member.id).toBe('c');
    const last = choose([a, b, c], 10, [a.upstream, c.upstream], null)!;
    expect(last).toMatchObject({ panic: true });
    expect(last.member.id).toBe('b');
    expect(choose([a, b, c], 10, [a.upstream, b.upstream, c.upstream], null)).toBeUndefined();
    expect(choose([], 0, null, null)).toBeUndefined();
  });

  it('keeps a session on one replica, and moves only the sessions of a replica that leaves', () => {
    const members = [member('a', 10), member('b', 10), member('c', 10), member('d', 10)];
    const before = new Map<string, string>();
    for (let s = 0; s < 200; s++) {
      const first = choose(members, 0, null, `session-${s}`)!;
      expect(first.affinity).toBe('hit');
      expect(choose(members, 0, null, `session-${s}`)!.member.id).toBe(first.member.id);
      before.set(`session-${s}`, first.member.id);
    }
    expect(new Set(before.values()).size).toBe(4);
    const without = members.filter((m) => m.id !== 'b');
    for (const [s, id] of before) {
      const now = choose(without, 0, null, s)!.member.id;
      if (id !== 'b') expect(now).toBe(id);
    }
  });

  it('drops affinity when the preferred replica is loaded far beyond the others', () => {
    const members = [member('a', 10), member('b', 10), member('c', 10)];
    const preferred = choose(members, 0, null, 'hot-session')!.member;
    preferred.upstream.outstanding = 20;
    const c = choose(members, 0, null, 'hot-session')!;
    expect(c.affinity).toBe('overflow');
    expect(c.member.id).not.toBe(preferred.id);
    preferred.upstream.outstanding = 5;
    expect(choose(members, 0, null, 'hot-session')).toMatchObject({ affinity: 'hit', member: preferred });
  });
});

import { describe, expect, it } from 'vitest';
import { type LivenessFacts, type LivenessPolicy, judgeSilence, onHeartbeat } from './liveness.js';

const policy: LivenessPolicy = { heartbeatIntervalMs: 5000, missedHeartbeats: 3, offlineGraceMs: 60_000, recoverHeartbeats: 2 };
const T0 = 1_000_000;

describe('worker liveness', () => {
  const ready: LivenessFacts = { liveness: 'ready', lastSeenAt: T0, streak: 2 };

  it('stays ready through two missed heartbeats and goes not_ready after the third', () => {
    expect(judgeSilence(ready, T0 + 14_999, policy)).toBe('ready');
    expect(judgeSilence(ready, T0 + 15_000, policy)).toBe('ready');
    expect(judgeSilence(ready, T0 + 15_001, policy)).toBe('not_ready');
  });

  it('goes offline only after the grace period, from ready or not_ready alike', () => {
    expect(judgeSilence({ ...ready, liveness: 'not_ready' }, T0 + 60_000, policy)).toBe('not_ready');
    expect(judgeSilence({ ...ready, liveness: 'not_ready' }, T0 + 60_001, policy)).toBe('offline');
    expect(judgeSilence(ready, T0 + 3_600_000, policy)).toBe('offline');
  });

  it('never moves a worker up on silence alone', () => {
    expect(judgeSilence({ liveness: 'offline', lastSeenAt: T0, streak: 0 }, T0 + 1, policy)).toBe('offline');
    expect(judgeSilence({ liveness: 'not_ready', lastSeenAt: T0, streak: 0 }, T0 + 1, policy)).toBe('not_ready');
  });

  it('uses a grace period no shorter than the not_ready threshold', () => {
    const tight = { ...policy, offlineGraceMs: 1000 };
    expect(judgeSilence(ready, T0 + 10_000, tight)).toBe('ready');
    expect(judgeSilence(ready, T0 + 15_001, tight)).toBe('offline');
  });

  it('needs two on-time heartbeats in a row to bring a not_ready worker back, so one late heartbeat does not flap it', () => {
    let f: LivenessFacts = { liveness: 'not_ready', lastSeenAt: T0, streak: 0 };
    // The late heartbeat that ends the silence starts a streak of one.
    f = onHeartbeat(f, T0 + 20_000, policy);
    expect(f).toEqual({ liveness: 'not_ready', lastSeenAt: T0 + 20_000, streak: 1 });
    f = onHeartbeat(f, T0 + 25_000, policy);
    expect(f.liveness).toBe('ready');
  });

  it('brings an offline worker back through not_ready', () => {
    let f: LivenessFacts = { liveness: 'offline', lastSeenAt: T0, streak: 0 };
    f = onHeartbeat(f, T0 + 600_000, policy);
    expect(f.liveness).toBe('not_ready');
    f = onHeartbeat(f, T0 + 605_000, policy);
    expect(f.liveness).toBe('ready');
  });

  it('toggles a worker whose heartbeats are late now and then at most once per lapse', () => {
    // Heartbeats every 5 s, but every fourth one 20 s late: ready → not_ready → ready, never back and forth within a lapse.
    let f: LivenessFacts = { ...ready };
    let now = T0;
    const seen: string[] = [];
    for (let i = 1; i <= 13; i++) {
      const gap = i % 4 === 0 ? 20_000 : 5000;
      // The reconciler looks every second in between.
      for (let t = now + 1000; t < now + gap; t += 1000) {
        const judged = judgeSilence(f, t, policy);
        if (judged !== f.liveness) f = { ...f, liveness: judged, streak: 0 };
        if (seen.at(-1) !== f.liveness) seen.push(f.liveness);
      }
      now += gap;
      f = onHeartbeat(f, now, policy);
      if (seen.at(-1) !== f.liveness) seen.push(f.liveness);
    }
    expect(seen).toEqual(['ready', 'not_ready', 'ready', 'not_ready', 'ready', 'not_ready', 'ready']);
  });

  it('ignores the agent clock entirely: only server receive times enter', () => {
    // Nothing in the facts carries the agent's time; a heartbeat stamped an hour ahead is judged by `now`.
    const f = onHeartbeat(ready, T0 + 5000, policy);
    expect(judgeSilence(f, T0 + 19_000, policy)).toBe('ready');
  });
});

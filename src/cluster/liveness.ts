import type { WorkerLiveness } from './types.js';

/**
 * The worker liveness state machine, as pure functions of the server's own receive times.
 *
 *   ready ──(no heartbeat for missed × interval)──▶ not_ready ──(no heartbeat for the grace period)──▶ offline
 *     ▲                                               │                                                 │
 *     └────────(recoverHeartbeats on-time heartbeats in a row)◀───────────── heartbeat ─────────────────┘
 *
 * Silence alone moves a worker down; only heartbeats move it up, and only after `recoverHeartbeats`
 * consecutive on-time ones (a heartbeat after a long gap starts the streak at one). That hysteresis
 * keeps a single late heartbeat from toggling a worker back and forth. The agent's clock never enters.
 */
export interface LivenessPolicy {
  heartbeatIntervalMs: number;
  /** Heartbeats missed in a row before a worker is not_ready. */
  missedHeartbeats: number;
  /** Silence after which a worker is offline and its replicas move; at least the not_ready threshold. */
  offlineGraceMs: number;
  /** On-time heartbeats in a row that bring a not_ready or offline worker back to ready. */
  recoverHeartbeats: number;
}

export interface LivenessFacts {
  liveness: WorkerLiveness;
  /** Server receive time of the latest heartbeat. */
  lastSeenAt: number;
  /** On-time heartbeats in a row. */
  streak: number;
}

export function notReadyAfterMs(p: LivenessPolicy): number {
  return p.missedHeartbeats * p.heartbeatIntervalMs;
}

export function offlineAfterMs(p: LivenessPolicy): number {
  return Math.max(p.offlineGraceMs, notReadyAfterMs(p));
}

/** What silence since `lastSeenAt` makes of a worker at `now`. Never moves a worker up. */
export function judgeSilence(facts: LivenessFacts, now: number, p: LivenessPolicy): WorkerLiveness {
  const silence = now - facts.lastSeenAt;
  if (silence > offlineAfterMs(p)) return 'offline';
  if (silence > notReadyAfterMs(p) && facts.liveness === 'ready') return 'not_ready';
  return facts.liveness;
}

/** What a heartbeat received at `now` makes of a worker. */
export function onHeartbeat(facts: LivenessFacts, now: number, p: LivenessPolicy): LivenessFacts {
  const gap = now - facts.lastSeenAt;
  const streak = gap <= notReadyAfterMs(p) ? facts.streak + 1 : 1;
  let liveness: WorkerLiveness = facts.liveness;
  if (liveness !== 'ready') liveness = streak >= p.recoverHeartbeats ? 'ready' : 'not_ready';
  return { liveness, lastSeenAt: now, streak };
}

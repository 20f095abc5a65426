import { connect } from 'node:net';
import type { Upstream } from './upstream.js';

export interface EjectionPolicy {
  /** Consecutive connect failures or 5xx responses that eject a replica. */
  ejectAfter: number;
  /** First ejection's length, in ms; each further one in a row doubles it. */
  baseMs: number;
  maxMs: number;
  /** A replica healthy this long after its last ejection starts again from `baseMs`. */
  forgetAfterMs: number;
}

/** Whether a TCP connection to the replica opens within `timeoutMs`. */
export function tcpProbe(u: Upstream, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: u.host, port: u.port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Passive outlier ejection. Failures are counted from real traffic; an ejected replica gets no
 * traffic until its backoff ends and a probe (not a client's request) finds it accepting connections
 * again. After a probe it is on probation: a single further failure ejects it for twice as long.
 */
export class OutlierDetector {
  constructor(
    private readonly policy: EjectionPolicy,
    private readonly now: () => number,
    private readonly probe: (u: Upstream) => Promise<boolean>,
    private readonly onEject: (u: Upstream, durationMs: number) => void,
  ) {}

  success(u: Upstream): void {
    u.failures = 0;
    if (u.ejections > 0 && u.ejectedUntil === 0 && this.now() - u.lastEjectionEnd > this.policy.forgetAfterMs) u.ejections = 0;
  }

  failure(u: Upstream): void {
    if (u.closed || u.isEjected(this.now())) return;
    u.failures++;
    if (u.failures >= this.policy.ejectAfter) this.eject(u);
  }

  eject(u: Upstream): void {
    if (u.closed) return;
    const duration = Math.min(this.policy.maxMs, this.policy.baseMs * 2 ** Math.min(u.ejections, 20));
    u.ejections++;
    u.failures = 0;
    u.ejectedUntil = this.now() + duration;
    this.onEject(u, duration);
    if (u.probeTimer) clearTimeout(u.probeTimer);
    u.probeTimer = setTimeout(() => void this.afterBackoff(u), duration);
    u.probeTimer.unref();
  }

  private async afterBackoff(u: Upstream): Promise<void> {
    u.probeTimer = undefined;
    if (u.closed) return;
    const ok = await this.probe(u).catch(() => false);
    if (u.closed) return;
    if (!ok) {
      this.eject(u);
      return;
    }
    u.ejectedUntil = 0;
    u.lastEjectionEnd = this.now();
    u.failures = this.policy.ejectAfter - 1;
  }
}

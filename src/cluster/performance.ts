import { z } from 'zod';
import type { HeartbeatBody } from './protocol.js';

/** One heartbeat's worth of a worker's performance. */
export interface PerformanceSample {
  at: number;
  /** Mean utilization of the worker's GPUs that report one; null when none does. */
  gpuUtilizationPercent: number | null;
  gpuMemoryUsedBytes: number;
  /** Replicas the agent reported ready to serve. */
  replicasServing: number;
}

export const workerPerformanceSchema = z
  .object({
    windowMs: z.number().describe('How far back the samples reach'),
    gpuUtilizationPercent: z
      .object({ last1m: z.number().nullable(), last5m: z.number().nullable(), last15m: z.number().nullable() })
      .describe('Mean GPU utilization over each window, from the heartbeats received in it; null without samples'),
    samples: z.array(
      z.object({ at: z.number(), gpuUtilizationPercent: z.number().nullable(), gpuMemoryUsedBytes: z.number(), replicasServing: z.number() }),
    ),
  })
  .meta({ id: 'WorkerPerformance' });
export type WorkerPerformanceView = z.infer<typeof workerPerformanceSchema>;

const WINDOW_MS = 15 * 60_000;

/**
 * GPU use over the last minutes, per worker, from the heartbeats this server received. Kept in
 * memory: several servers behind one database each know the heartbeats that reached them, and a
 * restarted server starts from none (the samples refill within a heartbeat interval).
 */
export class WorkerPerformance {
  private readonly byWorker = new Map<string, PerformanceSample[]>();

  constructor(private readonly windowMs = WINDOW_MS) {}

  record(workerId: string, at: number, body: Pick<HeartbeatBody, 'gpus' | 'replicas'>): void {
    const reported = body.gpus.map((g) => g.utilizationPercent).filter((u): u is number => u !== null);
    const sample: PerformanceSample = {
      at,
      gpuUtilizationPercent: reported.length > 0 ? reported.reduce((a, b) => a + b, 0) / reported.length : null,
      gpuMemoryUsedBytes: body.gpus.reduce((a, g) => a + g.memoryUsedBytes, 0),
      replicasServing: body.replicas.filter((r) => r.state === 'ready').length,
    };
    const samples = this.byWorker.get(workerId) ?? [];
    samples.push(sample);
    while (samples.length > 0 && samples[0]!.at < at - this.windowMs) samples.shift();
    this.byWorker.set(workerId, samples);
  }

  forget(workerId: string): void {
    this.byWorker.delete(workerId);
  }

  view(workerId: string, now: number): WorkerPerformanceView {
    const samples = (this.byWorker.get(workerId) ?? []).filter((s) => s.at >= now - this.windowMs);
    const mean = (sinceMs: number): number | null => {
      const values = samples.filter((s) => s.at >= now - sinceMs && s.gpuUtilizationPercent !== null).map((s) => s.gpuUtilizationPercent!);
      return values.length > 0 ? Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 10) / 10 : null;
    };
    return { windowMs: this.windowMs, gpuUtilizationPercent: { last1m: mean(60_000), last5m: mean(5 * 60_000), last15m: mean(15 * 60_000) }, samples };
  }
}

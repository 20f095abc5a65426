import { LoadEngine, type EngineResult, type PreparedItem } from './engine.js';
import { shardStages } from './plan.js';
import type { ShardProgressReport, ShardSpec } from './protocol.js';
import { toProgressReport } from './protocol.js';
import { RecordWriter } from './records.js';

/** What a shard runner needs to send one client's part of a run: the spec, with bodies as bytes. */
export type ShardRun = Omit<ShardSpec, 'benchmarkId' | 'items'> & { items: readonly PreparedItem[] };

/** Decodes the items of a fetched spec (bodies travel base64-encoded). */
export function shardRunOf(spec: ShardSpec): ShardRun {
  return { ...spec, items: spec.items.map((it) => ({ ...it, body: it.body === null ? null : Buffer.from(it.body, 'base64') })) };
}

/**
 * Runs one shard: its part of every stage from the run's common start time, every request recorded
 * to `file` (flushed each second, closed at the end), progress reported as it goes. The one shard
 * runner, for clients in the control plane's process and on agents alike.
 */
export async function runShard(run: ShardRun, opts: { file: string; signal: AbortSignal; onProgress: (p: ShardProgressReport) => void }): Promise<EngineResult> {
  const writer = new RecordWriter(opts.file);
  const flusher = setInterval(() => void writer.flush().catch(() => undefined), 1000);
  try {
    const engine = new LoadEngine({
      api: run.api,
      stream: run.stream,
      timeoutMs: run.timeoutMs,
      slo: run.slo,
      shard: run.shard,
      stages: shardStages(run.stages, run.shard, run.shards, run.seed),
      items: run.items,
      target: run.target,
      startAt: run.startAt,
      records: writer,
      signal: opts.signal,
      onProgress: (p) => opts.onProgress(toProgressReport(p)),
    });
    const result = await engine.run();
    await writer.close();
    return result;
  } finally {
    clearInterval(flusher);
  }
}

import type { RequestRecord } from './records.js';
import type { BenchmarkView, ResultsView } from './service.js';

/** A CSV field, quoted when it needs to be (RFC 4180). */
function field(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const row = (cells: unknown[]): string => `${cells.map(field).join(',')}\n`;

const RECORD_COLUMNS = [
  'i', 'shard', 'stage', 'item', 'phase', 'intended_ms', 'sent_ms', 'first_byte_ms', 'first_token_ms', 'end_ms', 'ttft_ms', 'e2e_ms',
  'chunks', 'status', 'error_kind', 'error', 'input_tokens', 'output_tokens', 'input_source', 'output_source', 'reference', 'text', 'wer',
] as const;

/** Raw records as CSV, one request a row; latencies are from the intended send time. */
export async function* recordsCsv(records: AsyncIterable<RequestRecord>): AsyncGenerator<string> {
  yield row([...RECORD_COLUMNS]);
  for await (const r of records) {
    yield row([
      r.i, r.shard, r.stage, r.item, r.phase, r.intended, r.sent, r.firstByte, r.firstToken, r.end,
      r.firstToken === null ? null : Math.round((r.firstToken - r.intended) * 1000) / 1000,
      Math.round((r.end - r.intended) * 1000) / 1000,
      r.chunks.length, r.status, r.error?.kind ?? null, r.error?.message ?? null, r.inputTokens, r.outputTokens, r.inputSource, r.outputSource,
      r.reference, r.text, r.score?.wer ?? null,
    ]);
  }
}

/** One row per stage with the metrics people compare. */
export function stagesCsv(b: BenchmarkView, results: ResultsView): string {
  const head = [
    'benchmark', 'name', 'state', 'stage', 'label', 'duration_s', 'sent', 'ok', 'errors', 'dropped', 'achieved_rate', 'requests_per_s',
    'output_tokens_per_s', 'goodput_per_s', 'ttft_p50_ms', 'ttft_p90_ms', 'ttft_p99_ms', 'itl_p50_ms', 'itl_p99_ms', 'tpot_p50_ms',
    'e2e_p50_ms', 'e2e_p90_ms', 'e2e_p99_ms', 'schedule_lag_p99_ms', 'wer', 'cer',
  ];
  let out = row(head);
  for (const s of results.stages) {
    out += row([
      b.id, b.name, b.state, s.index, s.label, s.durationS, s.requests.sent, s.requests.ok, s.requests.errors, s.requests.dropped, s.achievedRate,
      s.throughput.requestsPerS, s.throughput.outputTokensPerS, s.goodput?.requestsPerS ?? null, s.latency.ttft.p50, s.latency.ttft.p90, s.latency.ttft.p99,
      s.latency.itl.p50, s.latency.itl.p99, s.latency.tpot.p50, s.latency.e2e.p50, s.latency.e2e.p90, s.latency.e2e.p99, s.scheduleLagMs.p99,
      s.evaluation?.wer ?? null, s.evaluation?.cer ?? null,
    ]);
  }
  return out;
}

import type uPlot from 'uplot';
import type { Schemas } from '../../api/client';
import { BarChart } from '../../charts/BarChart';
import { Chart, PALETTE } from '../../charts/Chart';
import { Progress, Stat } from '../../components/ui';
import { formatDuration, formatMs, formatNumber, formatPercent } from '../../lib/format';

export type Benchmark = Schemas['Benchmark'];
export type Results = Schemas['BenchmarkResults'];
export type Stage = Schemas['StageResults'];
export type BenchProgress = Schemas['BenchmarkProgress'];
export type Evaluation = Schemas['Evaluation'];
export type Percentiles = Schemas['Percentiles'];

export const ENDED = new Set<Benchmark['state']>(['completed', 'failed', 'cancelled']);

export function isLlm(b: Pick<Benchmark, 'api'>): boolean {
  return b.api === 'openai-chat' || b.api === 'openai-completions';
}

export function targetText(b: Benchmark): string {
  return `${b.target.kind} ${b.target.ref}`;
}

export function duration(b: Benchmark, now = Date.now()): number | null {
  if (!b.startedAt) return null;
  return (b.finishedAt ?? now) - b.startedAt;
}

/** The live numbers of a running benchmark: what its stage has done so far. */
export function LiveProgress({ p, b }: { p: BenchProgress; b: Benchmark }) {
  const frac = p.total ? p.done / p.total : null;
  return (
    <div className="stack" style={{ gap: 10 }}>
      <div className="row" style={{ justifyContent: 'space-between' }}>
        <span>
          Stage {p.stage + 1} of {p.stages} · <strong>{p.stageLabel}</strong>
        </span>
        <span className="muted">
          {formatNumber(p.done)}
          {p.total ? ` / ${formatNumber(p.total)}` : ''} requests · {formatDuration(p.elapsedS * 1000)} elapsed · {p.inFlight} in flight
        </span>
      </div>
      <Progress value={frac} label={`Progress of ${b.name}`} />
      <div className="stats" style={{ marginBottom: 0 }}>
        <Stat label="Rate" value={formatNumber(p.ratePerS)} unit="req/s" />
        <Stat label="Errors" value={formatNumber(p.errors)} unit={p.done > 0 ? formatPercent(p.errors / p.done) : undefined} />
        {isLlm(b) ? <Stat label="TTFT p50 / p99" value={formatMs(p.ttftP50Ms)} unit={formatMs(p.ttftP99Ms)} /> : null}
        <Stat label="E2E p50 / p99" value={formatMs(p.e2eP50Ms)} unit={formatMs(p.e2eP99Ms)} />
        {isLlm(b) ? <Stat label="Output tokens" value={formatNumber(p.outputTokensPerS)} unit="tok/s" /> : null}
      </div>
    </div>
  );
}

/** Latency percentile keys in the order charts show them. */
export const PCT_KEYS = [
  ['p50', 'p50'],
  ['p90', 'p90'],
  ['p95', 'p95'],
  ['p99', 'p99'],
  ['p999', 'p99.9'],
] as const;

export function PercentileBars({ title, series, meta }: { title: string; meta?: string; series: { label: string; p: Percentiles; color?: string }[] }) {
  const shown = series.filter((s) => s.p.count > 0);
  if (shown.length === 0) return null;
  return (
    <BarChart
      title={title}
      meta={meta}
      series={shown.map((s) => ({ label: s.label, ...(s.color ? { color: s.color } : {}) }))}
      groups={PCT_KEYS.map(([k, label]) => ({ label, values: shown.map((s) => s.p[k]) }))}
      format={(v) => formatMs(v)}
    />
  );
}

/** Percentile to a "nines" position, so the tail (p99, p99.9) gets room on the axis. */
export function nines(p: number): number {
  if (p >= 100) return 4.3;
  return -Math.log10(1 - p / 100);
}

const NINE_TICKS = [0, nines(50), nines(90), nines(99), nines(99.9), nines(99.99)];
const NINE_LABELS = new Map(NINE_TICKS.map((t, i) => [t, ['p0', 'p50', 'p90', 'p99', 'p99.9', 'p99.99'][i]!]));

/** Latency at each percentile, one line per series, on a nines axis (HdrHistogram's percentile plot). */
export function DistributionChart({ title, meta, series }: { title: string; meta?: string; series: { label: string; points: { p: number; ms: number }[]; color?: string }[] }) {
  const shown = series.filter((s) => s.points.length > 0);
  if (shown.length === 0) return null;
  // The server samples every run at the same percentiles, so the x values line up across runs.
  const grid = [...new Set(shown.flatMap((s) => s.points.map((pt) => pt.p)))].sort((a, b) => a - b);
  const data: uPlot.AlignedData = [grid.map(nines), ...shown.map((s) => grid.map((p) => s.points.find((pt) => pt.p === p)?.ms ?? null))];
  const last = shown.map((s) => `${s.label}: p50 ${formatMs(s.points.find((pt) => pt.p === 50)?.ms)}, p99 ${formatMs(s.points.find((pt) => pt.p === 99)?.ms)}`).join('; ');
  return (
    <Chart
      title={title}
      meta={meta ?? 'latency at each percentile'}
      summary={last}
      data={data}
      series={shown.map((s, i) => ({ label: s.label, color: s.color ?? PALETTE[i % PALETTE.length]!, kind: 'points' as const }))}
      xTicks={{ at: NINE_TICKS, label: (v) => NINE_LABELS.get(v) ?? '' }}
      xValues={(v) => {
        const p = 100 * (1 - 10 ** -v);
        return `p${p >= 99.99 ? '100' : p.toFixed(p >= 99 ? 2 : 0)}`;
      }}
      yValues={(v) => formatMs(v)}
      xLabel="percentile"
      yFit
    />
  );
}

/** Whole-second steps for time axes. */
const SECONDS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600];

/** Requests and output tokens per second over a stage, from its one-second buckets. */
export function ThroughputChart({ title, series, tokens }: { title: string; series: { label: string; stage: Stage; color?: string }[]; tokens: boolean }) {
  const shown = series.filter((s) => s.stage.timeseries.length > 0);
  if (shown.length === 0) return null;
  const len = Math.max(...shown.map((s) => s.stage.timeseries.length));
  const xs = Array.from({ length: len }, (_, i) => i);
  const at = (s: Stage, i: number, f: (p: Stage['timeseries'][number]) => number) => {
    const point = s.timeseries[i];
    return point ? f(point) : null;
  };
  const single = shown.length === 1;
  const data: uPlot.AlignedData = single
    ? [xs, xs.map((i) => at(shown[0]!.stage, i, (p) => p.requests)), ...(tokens ? [xs.map((i) => at(shown[0]!.stage, i, (p) => p.outputTokens))] : []), xs.map((i) => at(shown[0]!.stage, i, (p) => p.errors))]
    : [xs, ...shown.map((s) => xs.map((i) => at(s.stage, i, (p) => p.requests)))];
  const defs = single
    ? [
        { label: 'requests/s', color: PALETTE[0]!, fill: true },
        ...(tokens ? [{ label: 'output tokens/s', color: PALETTE[1]!, scale: 'y2' as const }] : []),
        { label: 'errors/s', color: '#e8657a' },
      ]
    : shown.map((s, i) => ({ label: s.label, color: s.color ?? PALETTE[i % PALETTE.length]! }));
  const mean = (s: Stage) => s.timeseries.reduce((a, p) => a + p.requests, 0) / Math.max(1, s.timeseries.length);
  return (
    <Chart
      title={title}
      meta="per one-second bucket"
      summary={shown.map((s) => `${s.label}: mean ${formatNumber(mean(s.stage))} requests per second over ${s.stage.timeseries.length} s`).join('; ')}
      data={data}
      series={defs}
      xLabel="seconds"
      xIncrs={SECONDS}
      xValues={(v) => `${v} s`}
      yValues={(v) => formatNumber(v)}
      {...(single && tokens ? { y2Values: (v: number) => formatNumber(v), y2Label: 'tokens/s' } : {})}
      yLabel="requests/s"
    />
  );
}

/** Mean TTFT and E2E latency per second: whether latency drifted as the run went on. */
export function LatencyOverTime({ title, series }: { title: string; series: { label: string; stage: Stage; color?: string }[] }) {
  const shown = series.filter((s) => s.stage.timeseries.some((p) => p.e2eMeanMs !== null));
  if (shown.length === 0) return null;
  const len = Math.max(...shown.map((s) => s.stage.timeseries.length));
  const xs = Array.from({ length: len }, (_, i) => i);
  const single = shown.length === 1;
  const data: uPlot.AlignedData = single
    ? [xs, xs.map((i) => shown[0]!.stage.timeseries[i]?.e2eMeanMs ?? null), xs.map((i) => shown[0]!.stage.timeseries[i]?.ttftMeanMs ?? null)]
    : [xs, ...shown.map((s) => xs.map((i) => s.stage.timeseries[i]?.e2eMeanMs ?? null))];
  const defs = single
    ? [
        { label: 'E2E mean', color: PALETTE[4]! },
        { label: 'TTFT mean', color: PALETTE[5]! },
      ]
    : shown.map((s, i) => ({ label: s.label, color: s.color ?? PALETTE[i % PALETTE.length]! }));
  return (
    <Chart
      title={title}
      meta="mean per one-second bucket"
      summary={shown.map((s) => `${s.label}: E2E mean between ${formatMs(Math.min(...s.stage.timeseries.map((p) => p.e2eMeanMs ?? Infinity)))} and ${formatMs(Math.max(...s.stage.timeseries.map((p) => p.e2eMeanMs ?? 0)))}`).join('; ')}
      data={data}
      series={defs}
      xLabel="seconds"
      xIncrs={SECONDS}
      xValues={(v) => `${v} s`}
      yValues={(v) => formatMs(v)}
    />
  );
}

/**
 * Goodput beside throughput, one group per stage or run: the gap between the bars is the load that
 * was served but missed an SLO.
 */
export function GoodputChart({ title, rows }: { title: string; rows: { label: string; stage: Stage }[] }) {
  const shown = rows.filter((r) => r.stage.goodput !== null);
  if (shown.length === 0) return null;
  return (
    <BarChart
      title={title}
      meta="requests per second: all, and within every SLO"
      series={[
        { label: 'throughput', color: PALETTE[0]! },
        { label: 'goodput', color: PALETTE[2]! },
      ]}
      groups={shown.map((r) => ({ label: r.label, values: [r.stage.throughput.requestsPerS, r.stage.goodput?.requestsPerS ?? null] }))}
      format={(v) => formatNumber(v)}
    />
  );
}

/** The headline numbers of one stage, as tiles. */
export function StageTiles({ s, llm }: { s: Stage; llm: boolean }) {
  const errRate = s.requests.sent > 0 ? s.requests.errors / s.requests.sent : null;
  return (
    <div className="stats">
      <Stat label="Throughput" value={formatNumber(s.throughput.requestsPerS)} unit="req/s">
        <div className="detail">
          <span>
            <b>{formatNumber(s.requests.ok)}</b> ok of {formatNumber(s.requests.sent)}
          </span>
          {s.achievedRate !== null ? <span>sent at {formatNumber(s.achievedRate)}/s</span> : null}
        </div>
      </Stat>
      {llm ? (
        <Stat label="Output tokens" value={formatNumber(s.throughput.outputTokensPerS)} unit="tok/s">
          <div className="detail">
            <span>
              <b>{formatNumber(s.throughput.inputTokensPerS)}</b> input tok/s
            </span>
          </div>
        </Stat>
      ) : null}
      {llm ? (
        <Stat label="TTFT p50" value={formatMs(s.latency.ttft.p50)}>
          <div className="detail">
            <span>
              p99 <b>{formatMs(s.latency.ttft.p99)}</b>
            </span>
          </div>
        </Stat>
      ) : null}
      {llm ? (
        <Stat label="ITL p50" value={formatMs(s.latency.itl.p50)}>
          <div className="detail">
            <span>
              p99 <b>{formatMs(s.latency.itl.p99)}</b>
            </span>
          </div>
        </Stat>
      ) : null}
      <Stat label="E2E p50" value={formatMs(s.latency.e2e.p50)}>
        <div className="detail">
          <span>
            p99 <b>{formatMs(s.latency.e2e.p99)}</b>
          </span>
        </div>
      </Stat>
      <Stat label="Goodput" value={s.goodput ? formatNumber(s.goodput.requestsPerS) : '—'} unit={s.goodput ? 'req/s' : undefined}>
        <div className="detail">
          {s.goodput ? (
            <span>
              <b>{formatPercent(s.goodput.share)}</b> within SLO
            </span>
          ) : (
            <span>no SLO in the recipe</span>
          )}
        </div>
        {s.goodput?.share !== null && s.goodput?.share !== undefined ? <Progress value={s.goodput.share} label="Share of requests within the SLO" /> : null}
      </Stat>
      <Stat label="Errors" value={formatNumber(s.requests.errors)} unit={errRate !== null ? formatPercent(errRate) : undefined}>
        <div className="detail">
          {Object.entries(s.errorsByKind).map(([k, v]) => (
            <span key={k}>
              <b>{v}</b> {k}
            </span>
          ))}
          {s.requests.dropped > 0 ? <span className="warn-text">{s.requests.dropped} dropped</span> : null}
        </div>
      </Stat>
    </div>
  );
}

export function SloLine({ slo }: { slo: NonNullable<Stage['goodput']>['slo'] }) {
  const parts = [slo.ttftMs !== undefined ? `TTFT ≤ ${formatMs(slo.ttftMs)}` : '', slo.tpotMs !== undefined ? `TPOT ≤ ${formatMs(slo.tpotMs)}` : '', slo.e2eMs !== undefined ? `E2E ≤ ${formatMs(slo.e2eMs)}` : ''].filter(Boolean);
  return <span>{parts.join(', ')}</span>;
}

type Op = Evaluation['worst'][number]['ops'][number];

/**
 * A reference and its hypothesis aligned word by word: substitutions show the reference word and
 * what was heard instead, deletions are struck through, insertions stand alone. Colour is never the
 * only cue: each kind also has its own mark and a label for screen readers.
 */
export function Alignment({ ops }: { ops: readonly Op[] }) {
  return (
    <p className="alignment" aria-label="Alignment of the reference and the hypothesis">
      {ops.map((o, i) => {
        if (o.op === 'equal') return <span key={i} className="tok">{o.ref ?? o.hyp}</span>;
        if (o.op === 'substitute')
          return (
            <span key={i} className="tok sub" title={`substituted: said "${o.ref ?? ''}", heard "${o.hyp ?? ''}"`}>
              <span className="visually-hidden">substituted </span>
              <s>{o.ref}</s>
              <span className="hyp">{o.hyp}</span>
            </span>
          );
        if (o.op === 'delete')
          return (
            <span key={i} className="tok del" title={`deleted: "${o.ref ?? ''}" was not heard`}>
              <span className="visually-hidden">deleted </span>
              {o.ref}
            </span>
          );
        return (
          <span key={i} className="tok ins" title={`inserted: "${o.hyp ?? ''}" was heard but not said`}>
            <span className="visually-hidden">inserted </span>+{o.hyp}
          </span>
        );
      })}
    </p>
  );
}

export function AlignmentLegend() {
  return (
    <div className="legend-row" aria-hidden="true">
      <span>
        <span className="swatch" style={{ background: 'var(--warn)' }} />
        substitution (said → heard)
      </span>
      <span>
        <span className="swatch" style={{ background: 'var(--bad)' }} />
        deletion (not heard)
      </span>
      <span>
        <span className="swatch" style={{ background: 'var(--info)' }} />
        insertion (heard, not said)
      </span>
    </div>
  );
}

export function EvaluationView({ e }: { e: Evaluation }) {
  const w = e.words;
  return (
    <div className="stack">
      <div className="stats" style={{ marginBottom: 0 }}>
        <Stat label="WER" value={formatPercent(e.wer, 2)}>
          <div className="detail">
            <span>
              <b>{w.substitutions}</b> sub
            </span>
            <span>
              <b>{w.deletions}</b> del
            </span>
            <span>
              <b>{w.insertions}</b> ins
            </span>
            <span>of {formatNumber(w.referenceLength)} words</span>
          </div>
        </Stat>
        <Stat label="CER" value={formatPercent(e.cer, 2)}>
          <div className="detail">
            <span>of {formatNumber(e.chars.referenceLength)} characters</span>
          </div>
        </Stat>
        <Stat label="Utterances" value={formatNumber(e.scored)} unit={`of ${formatNumber(e.utterances)}`}>
          <div className="detail">{e.failed > 0 ? <span className="bad-text">{e.failed} failed (not in the rates)</span> : <span>all scored</span>}</div>
        </Stat>
        <Stat label="RTFx" value={e.rtfx === null ? '—' : formatNumber(e.rtfx)} unit={e.rtfx === null ? undefined : '× real time'}>
          <div className="detail">{e.audioSeconds !== null ? <span>{formatDuration(e.audioSeconds * 1000)} of audio</span> : <span>audio durations unknown</span>}</div>
        </Stat>
      </div>
      <div className="faint small">Normaliser {e.normalizer}; rates are corpus-level, from summed edits over summed reference length.</div>
      {e.worst.length > 0 ? (
        <div className="stack" style={{ gap: 8 }}>
          <div className="row" style={{ justifyContent: 'space-between' }}>
            <h3>Worst utterances</h3>
            <AlignmentLegend />
          </div>
          <table className="data" aria-label="Worst utterances">
            <thead>
              <tr>
                <th>Utterance</th>
                <th className="num">WER</th>
                <th>Alignment</th>
              </tr>
            </thead>
            <tbody>
              {e.worst.map((u) => (
                <tr key={u.id}>
                  <td className="mono small nowrap">{u.id}</td>
                  <td className="num">{formatPercent(u.wer, 1)}</td>
                  <td>
                    <Alignment ops={u.ops} />
                    <div className="faint small">heard: “{u.hypothesis}”</div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}

import { useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { api, unwrap } from '../../api/client';
import { useQuery } from '../../api/useQuery';
import { PALETTE } from '../../charts/Chart';
import { SelectField } from '../../components/Field';
import { Empty, ErrorAlert, Loading, PageHead, Panel, StateBadge } from '../../components/ui';
import { formatMs, formatNumber, formatPercent } from '../../lib/format';
import { type Benchmark, DistributionChart, GoodputChart, LatencyOverTime, PercentileBars, type Results, type Stage, ThroughputChart, isLlm, targetText } from './common';

type Metric = 'e2e' | 'ttft' | 'itl';

interface Run {
  b: Benchmark;
  r: Results;
  s: Stage | undefined;
  color: string;
  label: string;
}

/** A change against the first run, signed, with whether it is better for this kind of number. */
function Delta({ base, value, better }: { base: number | null | undefined; value: number | null | undefined; better: 'lower' | 'higher' }) {
  if (base === null || base === undefined || value === null || value === undefined || base === 0) return null;
  const change = (value - base) / base;
  if (Math.abs(change) < 0.005) return <span className="faint small"> ±0 %</span>;
  const good = better === 'lower' ? change < 0 : change > 0;
  return (
    <span className={`small ${good ? 'ok-text' : 'bad-text'}`}>
      {' '}
      {change > 0 ? '+' : ''}
      {(change * 100).toFixed(1)} %
    </span>
  );
}

function SummaryTable({ runs }: { runs: Run[] }) {
  const base = runs[0]?.s;
  const rows: { label: string; get: (s: Stage) => number | null; fmt: (v: number | null) => string; better: 'lower' | 'higher'; llm?: boolean }[] = [
    { label: 'Throughput (req/s)', get: (s) => s.throughput.requestsPerS, fmt: (v) => formatNumber(v), better: 'higher' },
    { label: 'Output tokens/s', get: (s) => s.throughput.outputTokensPerS, fmt: (v) => formatNumber(v), better: 'higher', llm: true },
    { label: 'Goodput (req/s)', get: (s) => s.goodput?.requestsPerS ?? null, fmt: (v) => formatNumber(v), better: 'higher' },
    { label: 'TTFT p50', get: (s) => s.latency.ttft.p50, fmt: formatMs, better: 'lower', llm: true },
    { label: 'TTFT p99', get: (s) => s.latency.ttft.p99, fmt: formatMs, better: 'lower', llm: true },
    { label: 'ITL p50', get: (s) => s.latency.itl.p50, fmt: formatMs, better: 'lower', llm: true },
    { label: 'E2E p50', get: (s) => s.latency.e2e.p50, fmt: formatMs, better: 'lower' },
    { label: 'E2E p99', get: (s) => s.latency.e2e.p99, fmt: formatMs, better: 'lower' },
    { label: 'Errors', get: (s) => s.requests.errors, fmt: (v) => formatNumber(v), better: 'lower' },
  ];
  const anyLlm = runs.some((r) => isLlm(r.b));
  return (
    <div className="table-wrap">
      <table className="data" aria-label="Runs side by side">
        <thead>
          <tr>
            <th>Metric</th>
            {runs.map((r) => (
              <th key={r.b.id} className="num">
                <span className="series-key" style={{ background: r.color }} />
                {r.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          <tr>
            <td className="muted">Target</td>
            {runs.map((r) => (
              <td key={r.b.id} className="num small">
                {targetText(r.b)}
              </td>
            ))}
          </tr>
          <tr>
            <td className="muted">Requests</td>
            {runs.map((r) => (
              <td key={r.b.id} className="num">
                {formatNumber(r.s?.requests.sent ?? null)}
              </td>
            ))}
          </tr>
          {rows
            .filter((row) => !row.llm || anyLlm)
            .map((row) => (
              <tr key={row.label}>
                <td className="name">{row.label}</td>
                {runs.map((r, i) => {
                  const v = r.s ? row.get(r.s) : null;
                  return (
                    <td key={r.b.id} className="num">
                      {row.fmt(v)}
                      {i > 0 && base ? <Delta base={row.get(base)} value={v} better={row.better} /> : null}
                    </td>
                  );
                })}
              </tr>
            ))}
          {runs.some((r) => r.b.wer !== null) ? (
            <tr>
              <td className="name">WER</td>
              {runs.map((r, i) => (
                <td key={r.b.id} className="num">
                  {formatPercent(r.b.wer, 2)}
                  {i > 0 ? <Delta base={runs[0]!.b.wer} value={r.b.wer} better="lower" /> : null}
                </td>
              ))}
            </tr>
          ) : null}
        </tbody>
      </table>
      <div className="panel-body faint small">Changes are against the first run. First stage of each run; sweeps compare stage by stage on their own pages.</div>
    </div>
  );
}

export default function BenchmarkCompare() {
  const [params] = useSearchParams();
  const ids = (params.get('ids') ?? '').split(',').filter(Boolean);
  const [metric, setMetric] = useState<Metric>('e2e');
  const q = useQuery((signal) => unwrap(api.GET('/api/v1/benchmarks/compare', { signal, params: { query: { ids: ids.join(',') } } })), [ids.join(',')], { enabled: ids.length >= 2 });

  if (ids.length < 2) {
    return (
      <div className="page">
        <PageHead title="Compare runs" />
        <Empty title="Choose two or more runs">
          Tick completed runs on the <Link to="/benchmarks">Benchmarks</Link> page and press Compare.
        </Empty>
      </div>
    );
  }

  const names = new Map<string, number>();
  const runs: Run[] = (q.data?.items ?? []).map((it, i) => {
    // Runs of one recipe share a name; the id's tail tells them apart.
    const seen = names.get(it.benchmark.name) ?? 0;
    names.set(it.benchmark.name, seen + 1);
    return { b: it.benchmark, r: it.results, s: it.results.stages[0], color: PALETTE[i % PALETTE.length]!, label: it.benchmark.name };
  });
  for (const r of runs) if ((names.get(r.b.name) ?? 0) > 1) r.label = `${r.b.name} ·${r.b.id.slice(-5)}`;
  const llm = runs.some((r) => isLlm(r.b));
  const withStage = runs.filter((r): r is Run & { s: Stage } => r.s !== undefined);
  const metricLabel = { e2e: 'E2E', ttft: 'TTFT', itl: 'ITL' }[metric];

  return (
    <div className="page">
      <PageHead
        title={`Compare ${ids.length} runs`}
        sub={
          <>
            {runs.map((r) => (
              <span key={r.b.id} className="row" style={{ gap: 6 }}>
                <span className="series-key" style={{ background: r.color }} />
                <Link to={`/benchmarks/${encodeURIComponent(r.b.id)}`}>{r.label}</Link>
                <StateBadge state={r.b.state} />
              </span>
            ))}
          </>
        }
        actions={
          llm ? (
            <SelectField label="Latency" value={metric} onChange={(e) => setMetric(e.target.value as Metric)} className="inline-field">
              <option value="e2e">end to end</option>
              <option value="ttft">time to first token</option>
              <option value="itl">inter-token</option>
            </SelectField>
          ) : null
        }
      />
      <ErrorAlert error={q.error} title="The runs could not be compared" />
      {q.loading ? (
        <Loading rows={6} label="Loading the runs" />
      ) : runs.length > 0 ? (
        <div className="stack" data-compare="true">
          <Panel title="Side by side" flush>
            <SummaryTable runs={runs} />
          </Panel>
          <div className="grid cols-2">
            <div className="panel chart-card">
              <PercentileBars title={`${metricLabel} latency by percentile`} series={withStage.map((r) => ({ label: r.label, p: r.s.latency[metric], color: r.color }))} />
            </div>
            <div className="panel chart-card">
              <DistributionChart title={`${metricLabel} latency distribution`} series={withStage.map((r) => ({ label: r.label, points: r.s.distributions[metric], color: r.color }))} />
            </div>
            <div className="panel chart-card">
              <ThroughputChart title="Requests per second over time" series={withStage.map((r) => ({ label: r.label, stage: r.s, color: r.color }))} tokens={false} />
            </div>
            <div className="panel chart-card">
              <LatencyOverTime title="Mean E2E latency over time" series={withStage.map((r) => ({ label: r.label, stage: r.s, color: r.color }))} />
            </div>
            {withStage.some((r) => r.s.goodput) ? (
              <div className="panel chart-card">
                <GoodputChart title="Goodput against throughput" rows={withStage.map((r) => ({ label: r.label, stage: r.s }))} />
              </div>
            ) : null}
          </div>
        </div>
      ) : null}
    </div>
  );
}

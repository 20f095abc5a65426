import { useEffect, useMemo, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import type uPlot from 'uplot';
import { type ApiError, api, authedFetch, readBody, toApiError, unwrap } from '../../api/client';
import { useEvents } from '../../api/events';
import { useQuery } from '../../api/useQuery';
import { useSession } from '../../auth/session';
import { Chart, PALETTE } from '../../charts/Chart';
import { CodeBlock } from '../../components/Code';
import { Confirm } from '../../components/Dialog';
import { Icon } from '../../components/Icon';
import { Tabs } from '../../components/Tabs';
import { useToast } from '../../components/Toast';
import { Ago, Empty, ErrorAlert, Loading, PageHead, Panel, StateBadge } from '../../components/ui';
import { formatDuration, formatMs, formatNumber, formatPercent } from '../../lib/format';
import { toYaml } from '../../lib/yaml';
import {
  type BenchProgress,
  type Benchmark,
  type Percentiles,
  DistributionChart,
  ENDED,
  GoodputChart,
  EvaluationView,
  LatencyOverTime,
  LiveProgress,
  PercentileBars,
  type Results,
  SloLine,
  type Stage,
  StageTiles,
  ThroughputChart,
  duration,
  isLlm,
  targetText,
} from './common';

/** Downloads an export with the key (a plain link could not send it). */
export async function download(id: string, format: 'json' | 'csv'): Promise<void> {
  const res = await authedFetch(`/api/v1/benchmarks/${encodeURIComponent(id)}/export?format=${format}`);
  if (!res.ok) throw toApiError(res.status, await readBody(res));
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `${id}.${format}`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

interface Sample {
  t: number;
  rate: number;
  e2eP50: number | null;
  e2eP99: number | null;
  ttftP50: number | null;
}

/** Rate and latency so far, drawn from the progress events seen while the page is open. */
function LiveChart({ samples, llm }: { samples: Sample[]; llm: boolean }) {
  if (samples.length < 2) return null;
  const data: uPlot.AlignedData = [samples.map((s) => s.t), samples.map((s) => s.rate), samples.map((s) => s.e2eP50), samples.map((s) => s.e2eP99), ...(llm ? [samples.map((s) => s.ttftP50)] : [])];
  return (
    <Chart
      title="So far"
      meta="from live progress"
      summary={`rate ${formatNumber(samples.at(-1)!.rate)} requests per second, E2E p99 ${formatMs(samples.at(-1)!.e2eP99)}`}
      data={data}
      series={[
        { label: 'req/s', color: PALETTE[0]!, fill: true },
        { label: 'E2E p50', color: PALETTE[4]!, scale: 'y2' },
        { label: 'E2E p99', color: PALETTE[3]!, scale: 'y2' },
        ...(llm ? [{ label: 'TTFT p50', color: PALETTE[5]!, scale: 'y2' as const }] : []),
      ]}
      xLabel="elapsed"
      xIncrs={[1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600]}
      xValues={(v) => `${v.toFixed(0)} s`}
      yValues={(v) => formatNumber(v)}
      y2Values={(v) => formatMs(v)}
      height={180}
    />
  );
}

function StageView({ b, s }: { b: Benchmark; s: Stage }) {
  const llm = isLlm(b);
  return (
    <div className="stack">
      <StageTiles s={s} llm={llm} />
      {s.goodput ? (
        <div className="faint small">
          SLO: <SloLine slo={s.goodput.slo} />. Goodput is the rate of requests that met every SLO.
        </div>
      ) : null}
      <div className="grid cols-2">
        <div className="panel chart-card">
          <PercentileBars
            title="Latency by percentile"
            meta="p50 → p99.9"
            series={[...(llm ? [{ label: 'TTFT', p: s.latency.ttft, color: PALETTE[5]! }, { label: 'ITL', p: s.latency.itl, color: PALETTE[1]! }] : []), { label: 'E2E', p: s.latency.e2e, color: PALETTE[4]! }]}
          />
          <LatencyTable s={s} llm={llm} />
        </div>
        <div className="panel chart-card">
          <ThroughputChart title="Throughput over time" series={[{ label: b.name, stage: s }]} tokens={llm} />
        </div>
        {llm ? (
          <div className="panel chart-card">
            <DistributionChart title="Time to first token" series={[{ label: 'TTFT', points: s.distributions.ttft, color: PALETTE[5]! }]} />
          </div>
        ) : null}
        {llm ? (
          <div className="panel chart-card">
            <DistributionChart title="Inter-token latency" series={[{ label: 'ITL', points: s.distributions.itl, color: PALETTE[1]! }]} />
          </div>
        ) : null}
        <div className="panel chart-card">
          <DistributionChart title="End-to-end latency" series={[{ label: 'E2E', points: s.distributions.e2e, color: PALETTE[4]! }]} />
        </div>
        <div className="panel chart-card">
          <LatencyOverTime title="Latency over time" series={[{ label: b.name, stage: s }]} />
        </div>
        {s.goodput ? (
          <div className="panel chart-card">
            <GoodputChart title="Goodput" rows={[{ label: s.label, stage: s }]} />
            <div className="faint small">
              {formatPercent(s.goodput.share)} of requests met <SloLine slo={s.goodput.slo} />.
            </div>
          </div>
        ) : null}
      </div>
      {s.evaluation ? (
        <Panel title="ASR evaluation" meta={s.label}>
          <EvaluationView e={s.evaluation} />
        </Panel>
      ) : null}
    </div>
  );
}

function LatencyTable({ s, llm }: { s: Stage; llm: boolean }) {
  const rows: [string, Percentiles][] = [
    ...(llm
      ? ([
          ['TTFT', s.latency.ttft],
          ['ITL', s.latency.itl],
          ['TPOT', s.latency.tpot],
        ] as [string, Percentiles][])
      : []),
    ['E2E', s.latency.e2e],
    ['Schedule lag', s.scheduleLagMs],
  ];
  return (
    <table className="data" aria-label="Latency percentiles in milliseconds" style={{ marginTop: 8 }}>
      <thead>
        <tr>
          <th>Metric</th>
          <th className="num">mean</th>
          <th className="num">p50</th>
          <th className="num">p90</th>
          <th className="num">p99</th>
          <th className="num">p99.9</th>
          <th className="num">max</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(([name, p]) => (
          <tr key={name}>
            <td className="name">{name}</td>
            <td className="num">{formatMs(p.mean)}</td>
            <td className="num">{formatMs(p.p50)}</td>
            <td className="num">{formatMs(p.p90)}</td>
            <td className="num">{formatMs(p.p99)}</td>
            <td className="num">{formatMs(p.p999)}</td>
            <td className="num">{formatMs(p.max)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** For a sweep: how latency grows with the load each stage achieved. */
function SweepChart({ stages, llm }: { stages: Stage[]; llm: boolean }) {
  const pts = stages.filter((s) => s.throughput.requestsPerS !== null).sort((a, b) => (a.throughput.requestsPerS ?? 0) - (b.throughput.requestsPerS ?? 0));
  if (pts.length < 2) return null;
  const data: uPlot.AlignedData = [pts.map((s) => s.throughput.requestsPerS!), pts.map((s) => s.latency.e2e.p50), pts.map((s) => s.latency.e2e.p99), ...(llm ? [pts.map((s) => s.latency.ttft.p99)] : [])];
  return (
    <Chart
      title="Latency against throughput"
      meta="one point per stage"
      summary={pts.map((s) => `${s.label}: ${formatNumber(s.throughput.requestsPerS)} req/s at E2E p99 ${formatMs(s.latency.e2e.p99)}`).join('; ')}
      data={data}
      series={[{ label: 'E2E p50', color: PALETTE[4]!, kind: 'points' }, { label: 'E2E p99', color: PALETTE[3]!, kind: 'points' }, ...(llm ? [{ label: 'TTFT p99', color: PALETTE[5]!, kind: 'points' as const }] : [])]}
      xLabel="requests/s"
      xValues={(v) => formatNumber(v)}
      yValues={(v) => formatMs(v)}
    />
  );
}

export default function BenchmarkDetail() {
  const { id = '' } = useParams();
  const session = useSession();
  const toast = useToast();
  const navigate = useNavigate();
  const q = useQuery((signal) => unwrap(api.GET('/api/v1/benchmarks/{id}', { signal, params: { path: { id } } })), [id], { refreshOn: ['benchmark.updated'] });
  const b = q.data;
  const ended = b ? ENDED.has(b.state) : false;
  const results = useQuery((signal) => unwrap(api.GET('/api/v1/benchmarks/{id}/results', { signal, params: { path: { id } } })), [id, b?.state], { enabled: ended });
  const [live, setLive] = useState<BenchProgress | null>(null);
  const [samples, setSamples] = useState<Sample[]>([]);
  const [stage, setStage] = useState('0');
  const [confirm, setConfirm] = useState<'cancel' | 'delete' | null>(null);
  const [error, setError] = useState<ApiError | undefined>();

  useEvents(['benchmark.progress'], (e) => {
    if (e.subject.id !== b?.id) return;
    const p = e.data as unknown as BenchProgress;
    setLive(p);
    setSamples((s) => [...s.filter((x) => x.t < p.elapsedS), { t: p.elapsedS, rate: p.ratePerS, e2eP50: p.e2eP50Ms, e2eP99: p.e2eP99Ms, ttftP50: p.ttftP50Ms }].slice(-600));
  });
  useEffect(() => {
    if (ended) setLive(null);
  }, [ended]);

  const r: Results | undefined = results.data;
  const stages = useMemo(() => r?.stages ?? [], [r]);

  if (q.loading) return <div className="page"><Loading rows={6} label="Loading the benchmark" /></div>;
  if (!b) return <div className="page"><ErrorAlert error={q.error} title={`Benchmark ${id} could not be loaded`} /></div>;

  const progress = live ?? b.progress;
  const act = (what: 'cancel' | 'delete') => {
    const call = what === 'cancel' ? api.POST('/api/v1/benchmarks/{id}/cancel', { params: { path: { id: b.id } } }) : api.DELETE('/api/v1/benchmarks/{id}', { params: { path: { id: b.id } } });
    unwrap(call).then(
      () => {
        setConfirm(null);
        if (what === 'delete') {
          toast(`Deleted ${b.name}`);
          void navigate('/benchmarks');
        } else {
          toast(`Cancelling ${b.name}`);
          q.reload();
        }
      },
      (err: unknown) => {
        setConfirm(null);
        setError(err as ApiError);
      },
    );
  };
  const exportAs = (format: 'json' | 'csv') => download(b.id, format).catch((err: unknown) => setError(err as ApiError));
  const current = stages[Number(stage)] ?? stages[0];

  return (
    <div className="page" data-benchmark-state={b.state}>
      <PageHead
        title={b.name}
        sub={
          <>
            <StateBadge state={b.state} />
            <span>{targetText(b)}</span>
            <span className="chip">{b.api}</span>
            {b.model ? <span className="chip">model {b.model}</span> : null}
            <span className="faint">
              {b.clients} client{b.clients === 1 ? '' : 's'} ({b.where}) · started <Ago ts={b.startedAt ?? b.createdAt} />
              {duration(b) !== null ? ` · ${ended ? 'took' : 'running for'} ${formatDuration(duration(b))}` : ''}
            </span>
          </>
        }
        actions={
          <>
            {ended ? (
              <>
                <button type="button" className="btn" onClick={() => void exportAs('json')}>
                  <Icon name="download" />
                  Export JSON
                </button>
                <button type="button" className="btn" onClick={() => void exportAs('csv')}>
                  <Icon name="download" />
                  Export CSV
                </button>
                <Link className="btn" to={`/benchmarks?compare=${encodeURIComponent(b.id)}`}>
                  <Icon name="compare" />
                  Compare
                </Link>
              </>
            ) : null}
            {session.can('bench') && !ended ? (
              <button type="button" className="btn danger" onClick={() => setConfirm('cancel')}>
                <Icon name="stop" />
                Cancel
              </button>
            ) : null}
            {session.can('bench') && ended ? (
              <button type="button" className="btn danger" onClick={() => setConfirm('delete')}>
                Delete
              </button>
            ) : null}
          </>
        }
      />
      <ErrorAlert error={error} />
      {b.reason && (b.state === 'failed' || b.state === 'cancelled') ? (
        <div className={`alert ${b.state === 'failed' ? 'bad' : 'info'}`} role="status" style={{ marginBottom: 14 }}>
          <div className="title">{b.state === 'failed' ? 'The benchmark failed' : b.state}</div>
          <div>{b.reason}</div>
        </div>
      ) : null}

      {!ended ? (
        <Panel title="Live progress" meta={b.reason ?? (b.state === 'running' ? 'updated as requests complete' : b.state)}>
          {progress ? <LiveProgress p={progress} b={b} /> : <Empty title={b.state === 'pending' ? 'Waiting for a worker to take it' : 'Preparing the target and the requests'} />}
          <div style={{ marginTop: 12 }}>
            <LiveChart samples={samples} llm={isLlm(b)} />
          </div>
        </Panel>
      ) : null}

      {ended ? (
        results.loading ? (
          <Loading rows={6} label="Loading the results" />
        ) : results.error ? (
          <ErrorAlert error={results.error} title="The results could not be loaded" />
        ) : stages.length === 0 ? (
          <Empty title="No results">{b.state === 'completed' ? 'The run recorded no requests.' : 'The run ended before any request was measured.'}</Empty>
        ) : (
          <div className="stack" data-results="true">
            {stages.length > 1 ? (
              <Panel title="Sweep" meta={`${stages.length} stages`}>
                <SweepChart stages={stages} llm={isLlm(b)} />
              </Panel>
            ) : null}
            {stages.length > 1 ? (
              <Tabs label="Stage" tabs={stages.map((s) => ({ key: String(s.index), label: s.label }))} selected={String(current?.index ?? 0)} onSelect={setStage}>
                {current ? <StageView b={b} s={current} /> : null}
              </Tabs>
            ) : current ? (
              <StageView b={b} s={current} />
            ) : null}
            {r?.evaluation && stages.length > 1 ? (
              <Panel title="ASR evaluation" meta="all stages">
                <EvaluationView e={r.evaluation} />
              </Panel>
            ) : null}
            {r && r.shards.length > 1 ? (
              <Panel title="Clients" meta="one shard per client" flush>
                <table className="data">
                  <thead>
                    <tr>
                      <th>Shard</th>
                      <th>State</th>
                      <th>Runner</th>
                      <th className="num">Records</th>
                      <th>Error</th>
                    </tr>
                  </thead>
                  <tbody>
                    {r.shards.map((s) => (
                      <tr key={s.shard}>
                        <td>{s.shard}</td>
                        <td>
                          <StateBadge state={s.state} />
                        </td>
                        <td className="mono small">{s.runner ?? '—'}</td>
                        <td className="num">{formatNumber(s.records)}</td>
                        <td className="bad-text small">{s.error ?? ''}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </Panel>
            ) : null}
          </div>
        )
      ) : null}

      <div style={{ marginTop: 14 }}>
        <Panel title="Recipe">
          <CodeBlock label="Recipe" code={b.recipeText ?? toYaml(b.recipe)} />
        </Panel>
      </div>

      {confirm === 'cancel' ? (
        <Confirm title={`Cancel ${b.name}?`} confirmLabel="Cancel benchmark" onClose={() => setConfirm(null)} onConfirm={() => act('cancel')}>
          <p style={{ margin: 0 }}>It stops sending requests and keeps the results of what it sent.</p>
        </Confirm>
      ) : null}
      {confirm === 'delete' ? (
        <Confirm title={`Delete ${b.name}?`} confirmLabel="Delete benchmark" onClose={() => setConfirm(null)} onConfirm={() => act('delete')}>
          <p style={{ margin: 0 }}>The run, its results and its raw per-request records are deleted.</p>
        </Confirm>
      ) : null}
    </div>
  );
}

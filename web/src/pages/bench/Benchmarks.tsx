import { useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { api, unwrap } from '../../api/client';
import { useQuery } from '../../api/useQuery';
import { useSession } from '../../auth/session';
import { SelectField } from '../../components/Field';
import { Icon } from '../../components/Icon';
import { Ago, Empty, ErrorAlert, Loading, PageHead, Panel, Progress, StateBadge } from '../../components/ui';
import { formatDuration, formatMs, formatNumber, formatPercent } from '../../lib/format';
import { type Benchmark, ENDED, duration, isLlm, targetText } from './common';

const STATES = ['pending', 'preparing', 'running', 'completed', 'failed', 'cancelled'] as const;

export function BenchmarksTable({ items, selected, onToggle }: { items: Benchmark[]; selected: ReadonlySet<string>; onToggle: (id: string) => void }) {
  if (items.length === 0) return <Empty title="No benchmarks yet">Run a recipe against a deployment, an endpoint or a URL.</Empty>;
  // Word error rates only mean something for ASR runs; the column appears when one is listed.
  const asr = items.some((b) => b.wer !== null);
  return (
    <div className="table-wrap">
      <table className="data">
        <thead>
          <tr>
            <th>
              <span className="visually-hidden">Compare</span>
            </th>
            <th>Name</th>
            <th>State</th>
            <th>Target</th>
            <th>API</th>
            <th className="num">Requests</th>
            <th className="num">Req/s</th>
            <th className="num">TTFT p50</th>
            <th className="num">E2E p99</th>
            <th className="num">Errors</th>
            {asr ? <th className="num">WER</th> : null}
            <th>Started</th>
            <th className="num">Took</th>
          </tr>
        </thead>
        <tbody>
          {items.map((b) => {
            const s = b.summary;
            const running = !ENDED.has(b.state);
            return (
              <tr key={b.id} className={selected.has(b.id) ? 'selected' : undefined}>
                <td>
                  <input type="checkbox" aria-label={`Compare ${b.name} (${b.id})`} checked={selected.has(b.id)} onChange={() => onToggle(b.id)} disabled={b.state !== 'completed' && !selected.has(b.id)} />
                </td>
                <td>
                  <Link className="name" to={`/benchmarks/${encodeURIComponent(b.id)}`}>
                    {b.name}
                  </Link>
                  <div className="faint small mono">{b.id}</div>
                </td>
                <td style={{ minWidth: 120 }}>
                  <StateBadge state={b.state} />
                  {running && b.progress ? (
                    <div style={{ marginTop: 4 }}>
                      <Progress value={b.progress.total ? b.progress.done / b.progress.total : null} label={`Progress of ${b.name}`} />
                    </div>
                  ) : null}
                  {b.state === 'failed' && b.reason ? <div className="bad-text small" style={{ maxWidth: 260 }}>{b.reason}</div> : null}
                </td>
                <td className="small nowrap">{targetText(b)}</td>
                <td>
                  <span className="chip">{b.api}</span>
                </td>
                <td className="num">{formatNumber(s?.requests ?? b.progress?.done ?? null)}</td>
                <td className="num">{formatNumber(s?.requestsPerS ?? b.progress?.ratePerS ?? null)}</td>
                <td className="num">{isLlm(b) ? formatMs(s?.ttftP50Ms ?? b.progress?.ttftP50Ms ?? null) : '—'}</td>
                <td className="num">{formatMs(s?.e2eP99Ms ?? b.progress?.e2eP99Ms ?? null)}</td>
                <td className={`num ${(s?.errors ?? 0) > 0 ? 'bad-text' : ''}`}>{s ? formatNumber(s.errors) : formatNumber(b.progress?.errors ?? null)}</td>
                {asr ? <td className="num">{b.wer === null ? '—' : formatPercent(b.wer, 2)}</td> : null}
                <td className="muted nowrap">
                  <Ago ts={b.startedAt ?? b.createdAt} />
                </td>
                <td className="num muted">{formatDuration(duration(b))}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export default function Benchmarks() {
  const session = useSession();
  const navigate = useNavigate();
  const [state, setState] = useState<'' | (typeof STATES)[number]>('');
  const [params] = useSearchParams();
  // A run's "Compare" button lands here with that run ticked.
  const [selected, setSelected] = useState<Set<string>>(() => new Set((params.get('compare') ?? '').split(',').filter(Boolean)));
  const q = useQuery((signal) => unwrap(api.GET('/api/v1/benchmarks', { signal, params: { query: { limit: 100, ...(state ? { state } : {}) } } })), [state], {
    refreshOn: ['benchmark.created', 'benchmark.updated', 'benchmark.deleted'],
    // Progress events arrive several times a second; the list catches up every two seconds.
    pollMs: 2000,
  });
  const items = q.data?.items ?? [];
  const toggle = (id: string) =>
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  return (
    <div className="page">
      <PageHead
        title="Benchmarks"
        sub="Load tests and evaluations of what you serve: latency percentiles, throughput, goodput under SLOs, WER and CER."
        actions={
          <>
            <SelectField label="State" value={state} onChange={(e) => setState(e.target.value as typeof state)} className="inline-field">
              <option value="">All</option>
              {STATES.map((s) => (
                <option key={s}>{s}</option>
              ))}
            </SelectField>
            <button type="button" className="btn" disabled={selected.size < 2} onClick={() => void navigate(`/benchmarks/compare?ids=${[...selected].join(',')}`)}>
              <Icon name="compare" />
              Compare {selected.size > 0 ? `(${selected.size})` : ''}
            </button>
            {session.can('bench') ? (
              <Link className="btn primary" to="/benchmarks/new">
                <Icon name="plus" />
                New benchmark
              </Link>
            ) : null}
          </>
        }
      />
      <ErrorAlert error={q.error} title="The benchmarks could not be loaded" />
      <Panel title="Runs" meta={selected.size > 0 ? `${selected.size} selected to compare` : 'tick two or more completed runs to compare them'} flush>
        {q.loading ? <Loading /> : <BenchmarksTable items={items} selected={selected} onToggle={toggle} />}
      </Panel>
    </div>
  );
}

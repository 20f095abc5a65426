import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { type ApiError, type Schemas, api, unwrap } from '../api/client';
import { useQuery } from '../api/useQuery';
import { useSession } from '../auth/session';
import { CheckField } from '../components/Field';
import { Confirm } from '../components/Dialog';
import { useToast } from '../components/Toast';
import { Ago, Empty, ErrorAlert, Fake, Labels, Loading, Meter, PageHead, Panel, StateBadge } from '../components/ui';
import { formatBytes, formatTime } from '../lib/format';
import { WorkerStateBadges, gpuSummary } from './Workers';

function useDeploymentNames() {
  const q = useQuery((signal) => unwrap(api.GET('/api/v1/deployments', { signal })), [], { refreshOn: ['deployment.created', 'deployment.deleted'] });
  return new Map((q.data?.items ?? []).map((d) => [d.id, d.name]));
}

export default function WorkerDetail() {
  const { id = '' } = useParams();
  const session = useSession();
  const toast = useToast();
  const navigate = useNavigate();
  const worker = useQuery((signal) => unwrap(api.GET('/api/v1/workers/{id}', { signal, params: { path: { id } } })), [id], { refreshOn: ['worker.'], pollMs: 5000 });
  const assignments = useQuery((signal) => unwrap(api.GET('/api/v1/assignments', { signal, params: { query: { workerId: worker.data?.id ?? id } } })), [id, worker.data?.id], {
    refreshOn: ['assignment.'],
    enabled: worker.data !== undefined,
  });
  const names = useDeploymentNames();
  const [actionError, setActionError] = useState<ApiError | undefined>();
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState<'drain' | 'remove' | null>(null);
  const [force, setForce] = useState(false);

  const w = worker.data;
  const act = async (what: 'cordon' | 'uncordon' | 'drain' | 'remove') => {
    if (!w) return;
    setBusy(true);
    setActionError(undefined);
    try {
      const path = { path: { id: w.id } };
      if (what === 'cordon') await unwrap(api.POST('/api/v1/workers/{id}/cordon', { params: path }));
      if (what === 'uncordon') await unwrap(api.POST('/api/v1/workers/{id}/uncordon', { params: path }));
      if (what === 'drain') await unwrap(api.POST('/api/v1/workers/{id}/drain', { params: path }));
      if (what === 'remove') {
        await unwrap(api.DELETE('/api/v1/workers/{id}', { params: { path: { id: w.id }, query: force ? { force: 'true' } : {} } }));
        toast(`Removed worker ${w.name}`);
        void navigate('/workers');
        return;
      }
      toast(`${what === 'cordon' ? 'Cordoned' : what === 'uncordon' ? 'Uncordoned' : 'Draining'} ${w.name}`);
      worker.reload();
    } catch (err) {
      setActionError(err as ApiError);
    } finally {
      setBusy(false);
      setConfirm(null);
    }
  };

  if (worker.loading) return <div className="page"><Loading rows={6} label="Loading the worker" /></div>;
  if (!w) return <div className="page"><ErrorAlert error={worker.error} title={`Worker ${id} could not be loaded`} /></div>;

  const admin = session.can('admin');
  const items = (assignments.data?.items ?? []).filter((a) => a.desired === 'run' || a.state !== 'stopped');

  return (
    <div className="page">
      <PageHead
        title={w.name}
        sub={
          <>
            <WorkerStateBadges w={w} />
            <span>{gpuSummary(w)}</span>
            {w.fake ? <Fake /> : null}
            <span className="faint">last heartbeat <Ago ts={w.lastHeartbeatAt} /></span>
          </>
        }
        actions={
          admin ? (
            <>
              {w.cordoned ? (
                <button type="button" className="btn" disabled={busy} onClick={() => void act('uncordon')}>
                  Uncordon
                </button>
              ) : (
                <button type="button" className="btn" disabled={busy} onClick={() => void act('cordon')}>
                  Cordon
                </button>
              )}
              <button type="button" className="btn" disabled={busy || w.draining} onClick={() => setConfirm('drain')}>
                Drain
              </button>
              <button type="button" className="btn danger" disabled={busy} onClick={() => setConfirm('remove')}>
                Remove
              </button>
            </>
          ) : null
        }
      />
      <ErrorAlert error={actionError} />
      <div className="stack">
        <div className="grid cols-3">
          <Panel title="Capacity" meta="what placement may use">
            <div className="stack" style={{ gap: 10 }}>
              <Meter label="CPU cores allocated" caption="CPU cores allocated" used={w.allocated.cpu} total={w.capacity.cpuCores} format={(n) => `${Math.round(n * 100) / 100}`} />
              <Meter label="Memory allocated" caption="Memory allocated" used={w.allocated.memoryBytes} total={w.capacity.memoryBytes} />
            </div>
          </Panel>
          <Panel title="Agent">
            <dl className="kv">
              <dt>Worker id</dt>
              <dd className="mono">{w.id}</dd>
              <dt>Hostname</dt>
              <dd>{w.hostname ?? '—'}</dd>
              <dt>Agent version</dt>
              <dd>{w.agentVersion ?? '—'}</dd>
              <dt>Registered</dt>
              <dd>{formatTime(w.registeredAt)}</dd>
              <dt>State since</dt>
              <dd>
                <Ago ts={w.stateChangedAt} />
              </dd>
              <dt>Clock skew</dt>
              <dd>{w.clockSkewMs === null ? '—' : `${w.clockSkewMs} ms`}</dd>
            </dl>
          </Panel>
          <Panel title="Labels and cache">
            <dl className="kv">
              <dt>Labels</dt>
              <dd>
                <Labels labels={w.labels} />
              </dd>
              <dt>Cached models</dt>
              <dd>{w.cachedModels.length === 0 ? <span className="faint">none</span> : <span className="chips">{w.cachedModels.map((m) => <span key={m} className="chip">{m}</span>)}</span>}</dd>
              <dt>Replicas</dt>
              <dd>
                {w.replicas.total}{' '}
                <span className="faint">
                  {Object.entries(w.replicas.byState)
                    .map(([k, v]) => `${v} ${k}`)
                    .join(', ')}
                </span>
              </dd>
            </dl>
          </Panel>
        </div>

        <WorkerPerformancePanel performance={w.performance} />

        <Panel title="GPUs" meta={w.gpus.length === 0 ? 'none' : `${w.gpus.length}`} flush>
          {w.gpus.length === 0 ? (
            <Empty title="No GPUs">This worker runs replicas on CPU.</Empty>
          ) : (
            <div className="table-wrap">
              <table className="data">
                <thead>
                  <tr>
                    <th>#</th>
                    <th>Model</th>
                    <th style={{ width: '30%' }}>Memory used / total</th>
                    <th className="num">Reserved</th>
                    <th className="num">Free to place</th>
                    <th style={{ width: '16%' }}>Utilisation</th>
                    <th className="num">Temperature</th>
                  </tr>
                </thead>
                <tbody>
                  {w.gpus.map((g) => (
                    <tr key={g.uuid}>
                      <td className="mono">{g.index}</td>
                      <td>
                        {g.name} <span className="faint small">{g.vendor}</span> {g.fake ? <Fake /> : null}
                        <div className="faint small mono">{g.uuid}</div>
                      </td>
                      <td>
                        <Meter label={`GPU ${g.index} memory`} used={g.memoryUsedBytes} total={g.memoryTotalBytes} compact />
                      </td>
                      <td className="num">{formatBytes(g.reservedBytes)}</td>
                      <td className="num">{formatBytes(g.freeBytes)}</td>
                      <td>
                        {g.utilizationPercent === null ? (
                          <span className="faint">not reported</span>
                        ) : (
                          <Meter label={`GPU ${g.index} utilisation`} used={g.utilizationPercent} total={100} format={(n) => `${Math.round(n)} %`} compact percentOnly />
                        )}
                      </td>
                      <td className="num">{g.temperatureC === null ? '—' : `${Math.round(g.temperatureC)} °C`}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Panel>

        <Panel title="Replicas on this worker" meta={`${items.length}`} flush>
          {items.length === 0 ? (
            <Empty title="No replicas here" />
          ) : (
            <table className="data">
              <thead>
                <tr>
                  <th>Replica</th>
                  <th>Deployment</th>
                  <th>State</th>
                  <th>Mode</th>
                  <th>GPUs</th>
                  <th>Endpoint</th>
                  <th>Since</th>
                </tr>
              </thead>
              <tbody>
                {items.map((a) => (
                  <tr key={a.id}>
                    <td className="mono small">{a.id}</td>
                    <td>{names.get(a.owner) ? <Link to={`/deployments/${encodeURIComponent(names.get(a.owner)!)}`}>{names.get(a.owner)}</Link> : <span className="mono">{a.owner}</span>}</td>
                    <td>
                      <StateBadge state={a.desired === 'stop' && a.state !== 'stopped' ? 'stopping' : a.state} />
                    </td>
                    <td>{a.mode ?? '—'}</td>
                    <td className="mono">{a.gpuIndices.length > 0 ? a.gpuIndices.join(', ') : '—'}</td>
                    <td className="mono small">{a.endpoint ?? '—'}</td>
                    <td className="muted">
                      <Ago ts={a.stateChangedAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Panel>
      </div>

      {confirm === 'drain' ? (
        <Confirm title={`Drain ${w.name}?`} confirmLabel="Drain worker" busy={busy} onClose={() => setConfirm(null)} onConfirm={() => void act('drain')}>
          <p style={{ margin: 0 }}>New replicas stop being placed here and its {w.replicas.total} replicas move to other workers; any that fit nowhere stay until they can move.</p>
        </Confirm>
      ) : null}
      {confirm === 'remove' ? (
        <Confirm title={`Remove ${w.name}?`} confirmLabel="Remove worker" busy={busy} onClose={() => setConfirm(null)} onConfirm={() => void act('remove')}>
          <p style={{ margin: 0 }}>The worker is forgotten and its agent credential revoked. A live worker that still runs replicas is refused unless forced.</p>
          <CheckField label="Force: move its replicas elsewhere at once" checked={force} onChange={(e) => setForce(e.target.checked)} />
        </Confirm>
      ) : null}
    </div>
  );
}

type Performance = Schemas['WorkerPerformance'];

const percent = (v: number | null) => (v === null ? '—' : `${v}%`);

/** GPU use over the last minutes, from the heartbeats the server received, with a line of the samples. */
export function WorkerPerformancePanel({ performance }: { performance: Performance }) {
  const { gpuUtilizationPercent: u, samples } = performance;
  const withUse = samples.filter((s) => s.gpuUtilizationPercent !== null);
  const first = samples[0]?.at ?? 0;
  const span = Math.max(1, (samples.at(-1)?.at ?? first) - first);
  const points = withUse.map((s) => `${(((s.at - first) / span) * 300).toFixed(1)},${(60 - (s.gpuUtilizationPercent! / 100) * 60).toFixed(1)}`).join(' ');
  return (
    <Panel title="Performance" meta={`GPU use, last ${Math.round(performance.windowMs / 60_000)} minutes`}>
      <div className="stack" style={{ gap: 10 }}>
        <dl className="kv">
          <dt>GPU use, last minute</dt>
          <dd>{percent(u.last1m)}</dd>
          <dt>Last 5 minutes</dt>
          <dd>{percent(u.last5m)}</dd>
          <dt>Last 15 minutes</dt>
          <dd>{percent(u.last15m)}</dd>
          <dt>Heartbeats sampled</dt>
          <dd>{samples.length}</dd>
        </dl>
        {withUse.length > 1 ? (
          <svg viewBox="0 0 300 60" width="100%" height="60" role="img" aria-label={`GPU use over the last minutes, from ${withUse.length} heartbeats`}>
            <polyline points={points} fill="none" stroke="currentColor" strokeWidth="1.5" />
          </svg>
        ) : (
          <span className="faint">{withUse.length === 0 ? 'No GPU use reported yet.' : 'One sample so far.'}</span>
        )}
      </div>
    </Panel>
  );
}

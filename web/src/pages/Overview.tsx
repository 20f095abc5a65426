import { useEffect, useRef } from 'react';
import { Link } from 'react-router';
import { type GetOk, api, unwrap } from '../api/client';
import { useFeed } from '../api/events';
import { useQuery } from '../api/useQuery';
import { ErrorAlert, Fake, Loading, Meter, PageHead, Panel, StateBadge, Stat } from '../components/ui';
import { formatBytes, formatNumber } from '../lib/format';
import { EventList } from './EventFeed';

type Status = GetOk<'/api/v1/cluster/status'>;

const WORKER_STATES = ['ready', 'not_ready', 'draining', 'offline'] as const;

function Counts({ byState, order }: { byState: Record<string, number>; order?: readonly string[] }) {
  const keys = order ?? Object.keys(byState).sort();
  const shown = keys.filter((k) => (byState[k] ?? 0) > 0 || order?.includes(k));
  if (shown.length === 0) return <span className="faint">none</span>;
  return (
    <div className="detail">
      {shown.map((k) => (
        <span key={k}>
          <b>{byState[k] ?? 0}</b> {k.replace(/_/g, ' ')}
        </span>
      ))}
    </div>
  );
}

function GpuTable({ gpus }: { gpus: NonNullable<Status['gpus']> }) {
  if (gpus.items.length === 0) {
    return (
      <div className="empty">
        <strong>No GPUs reported</strong>
        Workers without GPUs run replicas on CPU. Agents report GPUs found by nvidia-smi or rocm-smi.
      </div>
    );
  }
  return (
    <div className="table-wrap">
      <table className="data">
        <thead>
          <tr>
            <th>Worker</th>
            <th>GPU</th>
            <th style={{ width: '34%' }}>Memory (used · reserved)</th>
            <th className="num">Util</th>
            <th className="num">Temp</th>
          </tr>
        </thead>
        <tbody>
          {gpus.items.map((g) => (
            <tr key={`${g.workerId}-${g.index}`}>
              <td>
                <Link to={`/workers/${encodeURIComponent(g.workerId)}`}>{g.worker}</Link>
              </td>
              <td className="nowrap">
                <span className="mono faint">#{g.index}</span> {g.name} {g.fake ? <Fake /> : null}
              </td>
              <td>
                <Meter label={`${g.worker} GPU ${g.index} memory`} used={g.memoryUsedBytes} reserved={Math.max(0, g.memoryReservedBytes - g.memoryUsedBytes)} total={g.memoryTotalBytes} compact />
              </td>
              <td className="num">{g.utilizationPercent === null ? '—' : `${Math.round(g.utilizationPercent)} %`}</td>
              <td className="num">{g.temperatureC === null ? '—' : `${Math.round(g.temperatureC)} °C`}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {gpus.truncated ? <div className="panel-body faint small">Showing the first {gpus.items.length} of {gpus.total} GPUs; the Workers page lists them all.</div> : null}
    </div>
  );
}

export function OverviewView({ status, deployments }: { status: Status; deployments: GetOk<'/api/v1/deployments'>['items'] }) {
  const workers = status.workers;
  const gpus = status.gpus;
  const replicas = status.replicas;
  const queues = status.queues ?? [];
  const gpuUsed = gpus?.items.reduce((a, g) => a + g.memoryUsedBytes, 0) ?? 0;
  const active = deployments.filter((d) => d.state === 'active').length;
  const byDeploymentState: Record<string, number> = {};
  for (const d of deployments) byDeploymentState[d.state] = (byDeploymentState[d.state] ?? 0) + 1;
  const pending = queues.reduce((a, q) => a + q.pending, 0);
  const running = queues.reduce((a, q) => a + q.running, 0);
  const dead = queues.reduce((a, q) => a + q.dead, 0);

  return (
    <>
      <div className="stats">
        <Stat label="Workers" value={workers?.total ?? 0} unit={`${workers?.byState.ready ?? 0} ready`}>
          <Counts byState={workers?.byState ?? {}} order={WORKER_STATES} />
          {workers && workers.cordoned > 0 ? <div className="detail warn-text">{workers.cordoned} cordoned</div> : null}
        </Stat>
        <Stat label="GPUs" value={gpus?.total ?? 0} unit={gpus && gpus.fake > 0 ? `${gpus.fake} fake` : undefined}>
          {gpus && gpus.memoryTotalBytes > 0 ? (
            <Meter label="GPU memory in use across the cluster" used={gpuUsed} total={gpus.memoryTotalBytes} caption="in use" />
          ) : (
            <div className="detail">CPU only</div>
          )}
          {gpus && gpus.memoryTotalBytes > 0 ? <div className="detail">{formatBytes(gpus.memoryFreeBytes)} free to place on</div> : null}
        </Stat>
        <Stat label="Replicas" value={replicas?.total ?? 0} unit={`${replicas?.byState.ready ?? 0} ready`}>
          <Counts byState={replicas?.byState ?? {}} />
        </Stat>
        <Stat label="Deployments" value={deployments.length} unit={`${active} active`}>
          <Counts byState={byDeploymentState} />
        </Stat>
        <Stat label="Task queues" value={formatNumber(pending)} unit="pending">
          <div className="detail">
            <span>
              <b>{running}</b> running
            </span>
            <span className={dead > 0 ? 'bad-text' : undefined}>
              <b>{dead}</b> dead
            </span>
            <span>
              <b>{queues.length}</b> queues
            </span>
          </div>
        </Stat>
      </div>

      {replicas && replicas.unschedulable.length > 0 ? (
        <div className="alert warn" style={{ marginBottom: 14 }} role="status">
          <div className="title">
            {replicas.unschedulable.length} replica{replicas.unschedulable.length === 1 ? '' : 's'} cannot be placed
          </div>
          <ul>
            {replicas.unschedulable.map((u) => {
              const d = deployments.find((x) => x.id === u.owner);
              return (
                <li key={u.id}>
                  {d ? <Link to={`/deployments/${encodeURIComponent(d.name)}`}>{d.name}</Link> : <span className="mono">{u.owner}</span>}: {u.reason}
                </li>
              );
            })}
          </ul>
        </div>
      ) : null}

      <div className="stack">
        {gpus ? (
          <Panel title="GPUs" meta={`${gpus.total} on ${workers?.total ?? 0} workers`} flush>
            <GpuTable gpus={gpus} />
          </Panel>
        ) : null}
        <Panel title="Deployments" meta={`${active} of ${deployments.length} active`} actions={<Link to="/deployments">All deployments</Link>} flush>
          {deployments.length === 0 ? (
            <div className="empty">
              <strong>No deployments</strong>
              <Link to="/deployments/new">Deploy a model</Link>
            </div>
          ) : (
            <div className="table-wrap">
              <table className="data">
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>State</th>
                    <th>Runtime</th>
                    <th style={{ width: '26%' }}>Replicas ready</th>
                  </tr>
                </thead>
                <tbody>
                  {deployments.slice(0, 12).map((d) => (
                    <tr key={d.id}>
                      <td>
                        <Link className="name" to={`/deployments/${encodeURIComponent(d.name)}`}>
                          {d.name}
                        </Link>
                      </td>
                      <td>
                        <StateBadge state={d.state} />
                      </td>
                      <td className="muted">{d.runtime}</td>
                      <td>
                        <Meter label={`${d.name} replicas ready`} used={d.replicas.ready} total={Math.max(d.replicas.desired, d.replicas.ready)} format={(n) => String(n)} compact kind="ready" />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Panel>
        <Panel title="Queues" meta="durable background work" actions={<Link to="/tasks">Tasks</Link>} flush>
          {queues.length === 0 ? (
            <div className="empty">No queue has waiting, running or dead tasks.</div>
          ) : (
            <table className="data">
              <thead>
                <tr>
                  <th>Queue</th>
                  <th className="num">Pending</th>
                  <th className="num">Running</th>
                  <th className="num">Dead</th>
                  <th className="num">Concurrency</th>
                </tr>
              </thead>
              <tbody>
                {queues.map((q) => (
                  <tr key={q.queue}>
                    <td>
                      <Link to={`/tasks?queue=${encodeURIComponent(q.queue)}`}>{q.queue}</Link>
                    </td>
                    <td className="num">{q.pending}</td>
                    <td className="num">{q.running}</td>
                    <td className={`num ${q.dead > 0 ? 'bad-text' : ''}`}>{q.dead}</td>
                    <td className="num muted">{q.concurrency ?? 'no limit'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Panel>
      </div>
    </>
  );
}

function LiveFeed() {
  const feed = useFeed();
  // Events that arrive after the page opened flash once, so a change catches the eye.
  const openedAt = useRef<number | null>(null);
  if (openedAt.current === null && feed.length > 0) openedAt.current = feed[0]!.seq;
  return (
    <Panel title="Live events" meta="resource changes as they happen" flush>
      <EventList events={feed} fresh={openedAt.current ?? undefined} empty="Waiting for events…" />
    </Panel>
  );
}

export default function Overview() {
  const status = useQuery((signal) => unwrap(api.GET('/api/v1/cluster/status', { signal })), [], {
    refreshOn: ['worker.', 'assignment.', 'task.', 'deployment.'],
    pollMs: 5000,
  });
  const deployments = useQuery((signal) => unwrap(api.GET('/api/v1/deployments', { signal })), [], { refreshOn: ['deployment.'], pollMs: 15_000 });
  const data = status.data && deployments.data ? { status: status.data, deployments: deployments.data.items } : undefined;
  const loaded = data !== undefined;

  // The console benchmark measures navigation start to this mark.
  useEffect(() => {
    if (loaded && !performance.getEntriesByName('overview-data').length) performance.mark('overview-data');
  }, [loaded]);

  return (
    <div className="page" data-loaded={loaded ? 'true' : undefined}>
      <PageHead title="Overview" sub="Cluster status: workers, GPUs, replicas and queues, and what is changing now." />
      <div className="grid main-side">
        <div>
          <ErrorAlert error={status.error ?? deployments.error} title="The cluster status could not be loaded" />
          {data ? <OverviewView status={data.status} deployments={data.deployments} /> : status.error ? null : <Loading rows={6} label="Loading the cluster status" />}
        </div>
        <LiveFeed />
      </div>
    </div>
  );
}

import { useState } from 'react';
import { Link } from 'react-router';
import { type GetOk, api, unwrap } from '../api/client';
import { useQuery } from '../api/useQuery';
import { DataTable } from '../components/DataTable';
import { SelectField } from '../components/Field';
import { Ago, Empty, ErrorAlert, Fake, Labels, Meter, PageHead, Panel, StateBadge } from '../components/ui';
import { formatBytes } from '../lib/format';

export type Worker = GetOk<'/api/v1/workers'>['items'][number];

const STATES = ['ready', 'not_ready', 'draining', 'offline'] as const;

/** "2 × H100 80GB" for a worker's GPUs, grouping identical ones. */
export function gpuSummary(w: Worker): string {
  if (w.gpus.length === 0) return 'CPU only';
  const byName = new Map<string, number>();
  for (const g of w.gpus) byName.set(g.name, (byName.get(g.name) ?? 0) + 1);
  return [...byName].map(([n, c]) => `${c} × ${n}`).join(', ');
}

export function WorkerStateBadges({ w }: { w: Worker }) {
  return (
    <span className="row" style={{ gap: 4 }}>
      <StateBadge state={w.state} />
      {w.cordoned && w.state !== 'draining' ? <StateBadge state="cordoned" /> : null}
    </span>
  );
}

export function WorkersTable({ workers, loading = false }: { workers: Worker[]; loading?: boolean }) {
  return (
    <DataTable
      loading={loading}
      rows={workers}
      empty={
        <Empty title="No workers">
          Join a machine with <code>catapult agent --server URL --token JOIN_TOKEN</code>; Admin → Join tokens makes a token.
        </Empty>
      }
      head={
        <>
          <th>Name</th>
          <th>State</th>
          <th>GPUs</th>
          <th style={{ minWidth: 170 }}>GPU memory</th>
          <th style={{ minWidth: 150 }}>CPU allocated</th>
          <th style={{ minWidth: 150 }}>Memory allocated</th>
          <th className="num">Replicas</th>
          <th>Labels</th>
          <th>Heartbeat</th>
        </>
      }
      row={(w) => {
        const gpuTotal = w.gpus.reduce((a, g) => a + g.memoryTotalBytes, 0);
        const gpuUsed = w.gpus.reduce((a, g) => a + g.memoryUsedBytes, 0);
        return (
          <tr key={w.id}>
            <td>
              <Link className="name" to={`/workers/${encodeURIComponent(w.id)}`}>
                {w.name}
              </Link>
              <div className="faint small">{w.hostname ?? w.id}</div>
            </td>
            <td>
              <WorkerStateBadges w={w} />
            </td>
            <td className="nowrap">
              {gpuSummary(w)} {w.fake ? <Fake /> : null}
            </td>
            <td>{gpuTotal > 0 ? <Meter label={`${w.name} GPU memory`} used={gpuUsed} total={gpuTotal} compact /> : <span className="faint">—</span>}</td>
            <td>
              <Meter label={`${w.name} CPU allocated`} used={w.allocated.cpu} total={w.capacity.cpuCores} format={(n) => `${Math.round(n * 100) / 100}`} compact />
            </td>
            <td>
              <Meter label={`${w.name} memory allocated`} used={w.allocated.memoryBytes} total={w.capacity.memoryBytes} compact />
            </td>
            <td className="num">{w.replicas.total}</td>
            <td>
              <Labels labels={w.labels} />
            </td>
            <td className="nowrap muted">
              <Ago ts={w.lastHeartbeatAt} />
            </td>
          </tr>
        );
      }}
    />
  );
}

export default function Workers() {
  const [state, setState] = useState<'' | (typeof STATES)[number]>('');
  const q = useQuery((signal) => unwrap(api.GET('/api/v1/workers', { signal, params: { query: state ? { state } : {} } })), [state], {
    refreshOn: ['worker.'],
    pollMs: 5000,
  });
  const items = q.data?.items ?? [];
  const gpus = items.reduce((a, w) => a + w.gpus.length, 0);
  return (
    <div className="page">
      <PageHead
        title="Workers"
        sub={`Machines running catapult agent: ${items.length} workers, ${gpus} GPUs, ${formatBytes(items.reduce((a, w) => a + w.capacity.memoryBytes, 0))} memory.`}
        actions={
          <SelectField label="State" value={state} onChange={(e) => setState(e.target.value as typeof state)} className="inline-field">
            <option value="">All states</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s.replace('_', ' ')}
              </option>
            ))}
          </SelectField>
        }
      />
      <ErrorAlert error={q.error} title="The workers could not be loaded" />
      <Panel title="Workers" meta={`${items.length}`} flush>
        <WorkersTable workers={items} loading={q.loading} />
      </Panel>
    </div>
  );
}

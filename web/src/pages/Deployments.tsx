import { Link } from 'react-router';
import { type GetOk, api, unwrap } from '../api/client';
import { useQuery } from '../api/useQuery';
import { useSession } from '../auth/session';
import { CopyButton } from '../components/Code';
import { DataTable } from '../components/DataTable';
import { Icon } from '../components/Icon';
import { Ago, Empty, ErrorAlert, Meter, PageHead, Panel, StateBadge } from '../components/ui';

export type Deployment = GetOk<'/api/v1/deployments/{id}'>;

/** The URL a client uses first: the OpenAI base, or the KServe v2 infer URL. */
export function primaryUrl(d: Deployment): string | undefined {
  return d.urls.openai ?? d.urls['kserve-v2'] ?? d.urls.http ?? Object.values(d.urls)[0];
}

export function DeploymentsTable({ deployments, models, loading = false }: { deployments: Deployment[]; models: Map<string, string>; loading?: boolean }) {
  return (
    <DataTable
      loading={loading}
      rows={deployments}
      empty={
        <Empty title="No deployments">A deployment runs a model on a runtime, with replicas placed on workers.</Empty>
      }
      head={
        <>
          <th>Name</th>
          <th>State</th>
          <th>Model</th>
          <th>Runtime</th>
          <th>Protocol</th>
          <th style={{ minWidth: 140 }}>Replicas ready</th>
          <th>Gateway URL</th>
          <th>Updated</th>
        </>
      }
      row={(d) => {
        const url = primaryUrl(d);
        return (
          <tr key={d.id}>
            <td>
              <Link className="name" to={`/deployments/${encodeURIComponent(d.name)}`}>
                {d.name}
              </Link>
              {d.reason && d.state !== 'active' ? <div className="faint small" style={{ maxWidth: 380 }}>{d.reason}</div> : null}
            </td>
            <td>
              <StateBadge state={d.state} />
            </td>
            <td>{d.modelId ? <Link to={`/models/${encodeURIComponent(d.modelId)}`}>{models.get(d.modelId) ?? d.modelId}</Link> : <span className="faint">—</span>}</td>
            <td>{d.runtime}</td>
            <td>
              <span className="chip">{d.protocol}</span>
            </td>
            <td>
              <Meter label={`${d.name} replicas ready`} used={d.replicas.ready} total={Math.max(d.replicas.desired, d.replicas.ready)} format={(n) => String(n)} compact kind="ready" />
            </td>
            <td className="nowrap">
              {url ? (
                <span className="row" style={{ gap: 6, flexWrap: 'nowrap' }}>
                  <code className="small muted">{url}</code>
                  <CopyButton text={url} label="Copy URL" className="btn ghost small" />
                </span>
              ) : null}
            </td>
            <td className="muted nowrap">
              <Ago ts={d.updatedAt} />
            </td>
          </tr>
        );
      }}
    />
  );
}

export default function Deployments() {
  const session = useSession();
  const q = useQuery((signal) => unwrap(api.GET('/api/v1/deployments', { signal })), [], { refreshOn: ['deployment.', 'assignment.'] });
  const models = useQuery((signal) => unwrap(api.GET('/api/v1/models', { signal })), [], { refreshOn: ['model.'] });
  const names = new Map((models.data?.items ?? []).map((m) => [m.id, `${m.name}:${m.version}`]));
  const items = q.data?.items ?? [];
  return (
    <div className="page">
      <PageHead
        title="Deployments"
        sub={`${items.filter((d) => d.state === 'active').length} of ${items.length} active. Each serves through the gateway under its name.`}
        actions={
          session.can('deploy') ? (
            <Link className="btn primary" to="/deployments/new">
              <Icon name="plus" />
              New deployment
            </Link>
          ) : null
        }
      />
      <ErrorAlert error={q.error} title="The deployments could not be loaded" />
      <Panel title="Deployments" meta={`${items.length}`} flush>
        <DeploymentsTable deployments={items} models={names} loading={q.loading} />
      </Panel>
    </div>
  );
}

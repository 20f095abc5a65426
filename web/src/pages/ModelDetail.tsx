import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { type ApiError, api, unwrap } from '../api/client';
import { useQuery } from '../api/useQuery';
import { useSession } from '../auth/session';
import { Confirm } from '../components/Dialog';
import { Icon } from '../components/Icon';
import { useToast } from '../components/Toast';
import { Empty, ErrorAlert, Labels, Loading, PageHead, Panel, StateBadge } from '../components/ui';
import { formatBytes, formatTime } from '../lib/format';

export default function ModelDetail() {
  const { id = '' } = useParams();
  const session = useSession();
  const toast = useToast();
  const navigate = useNavigate();
  const model = useQuery((signal) => unwrap(api.GET('/api/v1/models/{id}', { signal, params: { path: { id } } })), [id], { refreshOn: ['model.'] });
  const deployments = useQuery((signal) => unwrap(api.GET('/api/v1/deployments', { signal })), [], { refreshOn: ['deployment.'] });
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();

  if (model.loading) return <div className="page"><Loading rows={5} label="Loading the model" /></div>;
  const m = model.data;
  if (!m) return <div className="page"><ErrorAlert error={model.error} title={`Model ${id} could not be loaded`} /></div>;
  const using = (deployments.data?.items ?? []).filter((d) => d.modelId === m.id);

  const remove = () => {
    unwrap(api.DELETE('/api/v1/models/{id}', { params: { path: { id: m.id } } })).then(
      () => {
        toast(`Deleted the registration of ${m.name}`);
        void navigate('/models');
      },
      (err: unknown) => {
        setConfirm(false);
        setError(err as ApiError);
      },
    );
  };

  return (
    <div className="page">
      <PageHead
        title={
          <>
            {m.name} <span className="faint mono" style={{ fontSize: 14 }}>:{m.version}</span>
          </>
        }
        sub={
          <>
            <span className="chip accent">{m.format}</span>
            <span>{formatBytes(m.sizeBytes)}</span>
            {m.description ? <span>{m.description}</span> : null}
          </>
        }
        actions={
          session.can('deploy') ? (
            <>
              <Link className="btn primary" to={`/deployments/new?model=${encodeURIComponent(m.id)}`}>
                <Icon name="deployments" />
                Deploy
              </Link>
              <button type="button" className="btn danger" onClick={() => setConfirm(true)}>
                Delete
              </button>
            </>
          ) : null
        }
      />
      <ErrorAlert error={error} />
      <div className="grid cols-2" style={{ marginBottom: 14 }}>
        <Panel title="What is known">
          <dl className="kv">
            <dt>Id</dt>
            <dd className="mono">{m.id}</dd>
            <dt>Format</dt>
            <dd>{m.format}</dd>
            <dt>Detected from</dt>
            <dd>{m.formatEvidence}</dd>
            <dt>Size</dt>
            <dd>
              {formatBytes(m.sizeBytes)} <span className="faint">({m.sizeBytes.toLocaleString('en-US')} bytes)</span>
            </dd>
            <dt>Source</dt>
            <dd className="mono small">{m.source}</dd>
            <dt>Path</dt>
            <dd className="mono small">{m.path}</dd>
            <dt>Labels</dt>
            <dd>
              <Labels labels={m.labels} />
            </dd>
            <dt>Registered</dt>
            <dd>{formatTime(m.createdAt)}</dd>
          </dl>
        </Panel>
        <Panel title="Analysis and security scan">
          <Empty title="Not analysed">
            This server records the detected format and size; the model analyzer (operators, parameters, memory estimate, tokenizer) and the security scan add their
            results here once they run on this registry.
          </Empty>
        </Panel>
      </div>
      <Panel title="Deployments of this model" meta={`${using.length}`} flush>
        {using.length === 0 ? (
          <Empty title="Not deployed" />
        ) : (
          <table className="data">
            <thead>
              <tr>
                <th>Deployment</th>
                <th>State</th>
                <th>Runtime</th>
                <th className="num">Replicas ready</th>
              </tr>
            </thead>
            <tbody>
              {using.map((d) => (
                <tr key={d.id}>
                  <td>
                    <Link className="name" to={`/deployments/${encodeURIComponent(d.name)}`}>
                      {d.name}
                    </Link>
                  </td>
                  <td>
                    <StateBadge state={d.state} />
                  </td>
                  <td>{d.runtime}</td>
                  <td className="num">
                    {d.replicas.ready} / {d.replicas.desired}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Panel>
      {confirm ? (
        <Confirm title={`Delete ${m.name}:${m.version}?`} confirmLabel="Delete registration" onClose={() => setConfirm(false)} onConfirm={remove}>
          <p style={{ margin: 0 }}>The registration is removed; the files stay where they are. A model that is deployed cannot be deleted.</p>
        </Confirm>
      ) : null}
    </div>
  );
}

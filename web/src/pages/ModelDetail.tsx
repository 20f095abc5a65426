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
  const descriptor = useQuery((signal) => unwrap(api.GET('/api/v1/models/{id}/descriptor', { signal, params: { path: { id } } })), [id], { refreshOn: ['model.'] });
  const scan = useQuery((signal) => unwrap(api.GET('/api/v1/models/{id}/scan', { signal, params: { path: { id } } })), [id], { refreshOn: ['model.'] });
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();

  if (model.loading) return <div className="page"><Loading rows={5} label="Loading the model" /></div>;
  const m = model.data;
  if (!m) return <div className="page"><ErrorAlert error={model.error} title={`Model ${id} could not be loaded`} /></div>;
  const using = (deployments.data?.items ?? []).filter((x) => x.modelId === m.id);
  const d = descriptor.data;

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
        <Panel title="Analysis and security scan" meta={<StateBadge state={m.state} />}>
          {m.state === 'registered' || m.state === 'analysing' ? (
            <Empty title="Analysing">Intake is analysing and scanning this model; this panel fills in when it is done.</Empty>
          ) : (
            <dl className="kv">
              {m.error ? (
                <>
                  <dt>Error</dt>
                  <dd className="mono small">{m.error}</dd>
                </>
              ) : null}
              <dt>Parameters</dt>
              <dd>{m.parameterCount === null ? 'unknown' : m.parameterCount.toLocaleString('en-US')}</dd>
              {m.estimate ? (
                <>
                  <dt>GPU memory per replica</dt>
                  <dd>
                    {formatBytes(m.estimate.totalBytes)}{' '}
                    <span className="faint">
                      = weights {formatBytes(m.estimate.weightsBytes)} + KV cache {formatBytes(m.estimate.kvCacheBytes)} ({m.estimate.kvBytesPerToken} B/token ×{' '}
                      {m.estimate.contextLength} tokens × {m.estimate.concurrency}) + activations {formatBytes(m.estimate.activationBytes)} + runtime{' '}
                      {formatBytes(m.estimate.runtimeOverheadBytes)}
                    </span>
                  </dd>
                </>
              ) : null}
              {d?.architecture ? (
                <>
                  <dt>Architecture</dt>
                  <dd>
                    {d.architecture.architectures.join(', ') || d.architecture.modelType}: {d.architecture.layers} layers, hidden {d.architecture.hiddenSize}, {d.architecture.heads} heads (
                    {d.architecture.kvHeads} KV), vocab {d.architecture.vocabSize}, {d.architecture.maxPositions} positions, {d.architecture.dtype}
                  </dd>
                </>
              ) : null}
              {d?.onnx ? (
                <>
                  <dt>ONNX</dt>
                  <dd>
                    opset {d.onnx.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')};{' '}
                    {Object.entries(d.onnx.ops)
                      .map(([op, n]) => `${op}×${n}`)
                      .join(' ')}
                    <br />
                    inputs {d.onnx.inputs.map((i) => `${i.name} ${i.dtype}[${i.shape.join(',')}]`).join(', ')} → outputs{' '}
                    {d.onnx.outputs.map((i) => `${i.name} ${i.dtype}[${i.shape.join(',')}]`).join(', ')}
                  </dd>
                </>
              ) : null}
              {d?.gguf ? (
                <>
                  <dt>GGUF</dt>
                  <dd>
                    {d.gguf.architecture}, {d.gguf.quantization}, context {d.gguf.contextLength}, {d.gguf.tensorCount} tensors
                  </dd>
                </>
              ) : null}
              {d?.tokenizer ? (
                <>
                  <dt>Tokenizer</dt>
                  <dd>
                    {d.tokenizer.type ?? 'unknown'}, {d.tokenizer.vocabSize ?? '?'} tokens
                    {d.tokenizer.chatTemplate ? ', chat template' : ''}
                  </dd>
                </>
              ) : null}
              {d?.licence ? (
                <>
                  <dt>Licence</dt>
                  <dd>
                    {d.licence.id ?? 'not recognised'} <span className="faint">({d.licence.source})</span>
                  </dd>
                </>
              ) : null}
              <dt>Security scan</dt>
              <dd>
                {m.scanVerdict ? <StateBadge state={m.scanVerdict === 'safe' ? 'ready' : 'failed'} label={m.scanVerdict} /> : 'not scanned'} {m.findingCount} finding(s)
                {m.override ? (
                  <div className="small">
                    Overridden by {m.override.by} on {formatTime(m.override.at)}: {m.override.reason}
                  </div>
                ) : null}
              </dd>
            </dl>
          )}
        </Panel>
      </div>
      {scan.data && scan.data.findings.length > 0 ? (
        <Panel title="Scan findings" meta={`${scan.data.findings.length}`} flush>
          <table className="data">
            <thead>
              <tr>
                <th>Severity</th>
                <th>Kind</th>
                <th>Where</th>
                <th>Why</th>
              </tr>
            </thead>
            <tbody>
              {scan.data.findings.map((f, i) => (
                <tr key={i}>
                  <td>
                    <StateBadge state={f.severity === 'critical' || f.severity === 'high' ? 'failed' : 'pending'} label={f.severity} />
                  </td>
                  <td>{f.kind}</td>
                  <td className="mono small">{f.location}</td>
                  <td>{f.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Panel>
      ) : null}
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

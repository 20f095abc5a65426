import { type FormEvent, useEffect, useRef, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { type ApiError, type GetOk, api, unwrap } from '../api/client';
import { useEvents } from '../api/events';
import { useQuery } from '../api/useQuery';
import { useSession } from '../auth/session';
import { CodeBlock, CopyButton } from '../components/Code';
import { DataTable } from '../components/DataTable';
import { Confirm } from '../components/Dialog';
import { CheckField, SelectField, TextField } from '../components/Field';
import { Tabs } from '../components/Tabs';
import { useToast } from '../components/Toast';
import { Ago, Empty, ErrorAlert, Loading, PageHead, Panel, StateBadge } from '../components/ui';
import { formatClock, formatTime } from '../lib/format';
import { toYaml } from '../lib/yaml';
import type { Deployment } from './Deployments';
import { describe as describeEvent } from './EventFeed';
import { type ModelMetadata, TryIt, exampleInferBody, useKserveMetadata } from './TryIt';

type Assignment = GetOk<'/api/v1/assignments'>['items'][number];
type Explanation = NonNullable<Assignment['explanation']>;
type DeploymentEvent = GetOk<'/api/v1/deployments/{id}/events'>['items'][number];

const TABS = ['overview', 'try', 'events', 'logs', 'spec'] as const;
type Tab = (typeof TABS)[number];

/** A curl command a user can paste; the key stays a variable so the clipboard never holds it. */
export function curlFor(d: Deployment, protocol: string, url: string, meta?: ModelMetadata | null): string {
  const auth = '-H "Authorization: Bearer $CATAPULT_API_KEY"';
  if (protocol === 'openai') {
    return `curl ${auth} -H 'content-type: application/json' \\\n  ${url}/chat/completions \\\n  -d '${JSON.stringify({ model: d.urls.model ?? d.name, messages: [{ role: 'user', content: 'Hello' }] })}'`;
  }
  if (protocol === 'kserve-v2' || protocol === 'predict') {
    const body = meta ? JSON.stringify(exampleInferBody(meta.inputs)) : '{"inputs":[{"name":"INPUT","shape":[1],"datatype":"FP32","data":[0]}]}';
    return `curl ${auth} -H 'content-type: application/json' \\\n  ${url} \\\n  -d '${body}'`;
  }
  return `curl ${auth} ${url}`;
}

const URL_LABEL: Record<string, string> = {
  openai: 'OpenAI-compatible base URL',
  model: 'Model name',
  'kserve-v2': 'KServe v2 infer',
  predict: 'Predict URL (model-serving shape)',
  http: 'HTTP base URL',
};

function Endpoints({ d }: { d: Deployment }) {
  const entries = Object.entries(d.urls);
  const { meta } = useKserveMetadata(d);
  return (
    <Panel title="Endpoints" meta="through the data-plane gateway">
      <div className="stack" style={{ gap: 12 }}>
        {entries.map(([protocol, url]) => (
          <div key={protocol} className="stack" style={{ gap: 6 }}>
            <div className="row" style={{ justifyContent: 'space-between' }}>
              <span>
                <span className="muted">{URL_LABEL[protocol] ?? protocol}</span> <code>{url}</code>
              </span>
              <CopyButton text={url} label={protocol === 'model' ? 'Copy name' : 'Copy URL'} />
            </div>
            {protocol !== 'model' ? <CodeBlock label={`curl example for ${protocol}`} code={curlFor(d, protocol, url, meta)} wrap /> : null}
          </div>
        ))}
        <div className="faint small">Set <code>CATAPULT_API_KEY</code> to a key with the infer scope (Admin → API keys).</div>
      </div>
    </Panel>
  );
}

export function ExplanationView({ e }: { e: Explanation }) {
  return (
    <div className="explain">
      <div className="summary">{e.summary}</div>
      <div className="faint small">
        {e.workersChecked} workers checked
        {Object.keys(e.byKind).length > 0
          ? ` · ${Object.entries(e.byKind)
              .map(([k, v]) => `${v} ${k.replace(/_/g, ' ')}`)
              .join(', ')}`
          : ''}
      </div>
      {e.reasons.length > 0 ? (
        <table className="data" aria-label="Why each worker was not chosen">
          <thead>
            <tr>
              <th>Worker</th>
              <th>Why not</th>
            </tr>
          </thead>
          <tbody>
            {e.reasons.map((r) => (
              <tr key={r.workerId}>
                <td className="nowrap">
                  <Link to={`/workers/${encodeURIComponent(r.workerId)}`}>{r.worker}</Link>
                </td>
                <td>
                  <span className="chip">{r.kind.replace(/_/g, ' ')}</span> {r.reason}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}

function Replicas({ d, assignments, workers }: { d: Deployment; assignments: Map<string, Assignment>; workers: Map<string, string> }) {
  const items = d.replicas.items;
  return (
    <Panel title="Replicas" meta={`${d.replicas.ready} ready of ${d.replicas.desired} desired`} flush>
      {items.length === 0 ? (
        <Empty title={d.replicas.desired === 0 ? 'Scaled to zero' : 'No replicas yet'} />
      ) : (
        <div className="table-wrap">
          <table className="data">
            <thead>
              <tr>
                <th>Replica</th>
                <th>State</th>
                <th>Worker</th>
                <th>Mode</th>
                <th>GPUs</th>
                <th>Serves at</th>
                <th>Message</th>
              </tr>
            </thead>
            <tbody>
              {items.map((r) => {
                const a = assignments.get(r.id);
                const state = r.desired === 'stop' && r.state !== 'stopped' ? 'stopping' : r.state;
                return (
                  <tr key={r.id}>
                    <td className="mono small">
                      {r.id}
                      <div className="faint">gen {r.generation}</div>
                    </td>
                    <td>
                      <StateBadge state={state} />
                    </td>
                    <td>{r.workerId ? <Link to={`/workers/${encodeURIComponent(r.workerId)}`}>{workers.get(r.workerId) ?? r.workerId}</Link> : <span className="warn-text">not placed</span>}</td>
                    <td>{a?.mode ?? '—'}</td>
                    <td className="mono">{r.gpuIndices.length > 0 ? r.gpuIndices.join(', ') : '—'}</td>
                    <td className="mono small">{r.url ?? '—'}</td>
                    <td style={{ maxWidth: 420 }}>
                      {r.message ? <span className="small">{r.message}</span> : null}
                      {a?.explanation && !r.workerId ? <ExplanationView e={a.explanation} /> : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}

function Conditions({ d }: { d: Deployment }) {
  if (d.conditions.length === 0) return null;
  return (
    <Panel title="Conditions" flush>
      <table className="data">
        <thead>
          <tr>
            <th>Type</th>
            <th>Status</th>
            <th>Reason</th>
            <th>Message</th>
            <th>Since</th>
          </tr>
        </thead>
        <tbody>
          {d.conditions.map((c) => (
            <tr key={c.type}>
              <td className="name">{c.type}</td>
              <td>
                <StateBadge state={c.status === 'True' ? 'ready' : c.status === 'False' && c.type !== 'Progressing' ? 'pending' : 'queued'} label={c.status} />
              </td>
              <td>{c.reason}</td>
              <td className="small">{c.message}</td>
              <td className="muted nowrap">
                <Ago ts={c.since} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Panel>
  );
}

function Events({ d }: { d: Deployment }) {
  const q = useQuery((signal) => unwrap(api.GET('/api/v1/deployments/{id}/events', { signal, params: { path: { id: d.id }, query: { limit: 300 } } })), [d.id], {
    refreshOn: ['deployment.', 'assignment.'],
  });
  const items = [...(q.data?.items ?? [])].reverse();
  return (
    <Panel title="Events" meta="this deployment's and its replicas', newest first" flush>
      <ErrorAlert error={q.error} />
      <DataTable
        loading={q.loading}
        rows={items}
        empty={<Empty title="No events yet" />}
        head={
          <>
            <th>Time</th>
            <th>Event</th>
            <th>Details</th>
          </>
        }
        row={(e) => <EventRow key={e.seq} e={e} />}
      />
    </Panel>
  );
}

function EventRow({ e }: { e: DeploymentEvent }) {
  const reasons = Array.isArray(e.data.reasons) ? (e.data.reasons as unknown[]).filter((r): r is string => typeof r === 'string') : [];
  const unplaced = e.type === 'assignment.unschedulable';
  return (
    <tr>
      <td className="nowrap muted" title={formatTime(e.ts)}>
        {formatClock(e.ts)}
      </td>
      <td className="nowrap">
        <span className={unplaced || /failed|crash/.test(e.type) ? 'bad-text' : undefined}>{e.type}</span>
      </td>
      <td>
        {unplaced && typeof e.data.summary === 'string' ? (
          <div className="explain">
            <div className="summary">Not placed: {e.data.summary}</div>
            {reasons.length > 0 ? (
              <ul style={{ margin: '4px 0 0', paddingLeft: 18 }}>
                {reasons.map((r, i) => (
                  <li key={i} className="small">
                    {r}
                  </li>
                ))}
              </ul>
            ) : null}
          </div>
        ) : (
          <span className="small">{describeEvent(e)}</span>
        )}
        {typeof e.data.lastLines === 'string' || Array.isArray(e.data.lastLines) ? (
          <CodeBlock label="Last log lines" code={Array.isArray(e.data.lastLines) ? (e.data.lastLines as unknown[]).map(String).join('\n') : String(e.data.lastLines)} copy={false} />
        ) : null}
      </td>
    </tr>
  );
}

type LogLine = GetOk<'/api/v1/deployments/{id}/logs'>['items'][number];

/** Follows the replicas' output: the last lines, then whatever comes after `next`, once a second. */
function Logs({ d }: { d: Deployment }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [replica, setReplica] = useState('');
  const [paused, setPaused] = useState(false);
  const [follow, setFollow] = useState(true);
  const [error, setError] = useState<ApiError | undefined>();
  const next = useRef<number | null>(null);
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    next.current = null;
    setLines([]);
  }, [replica, d.id]);

  useEffect(() => {
    if (paused) return;
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const query = { ...(replica ? { replica } : {}), ...(next.current === null ? { tail: 300 } : { since: next.current, tail: 5000 }) };
        const page = await unwrap(api.GET('/api/v1/deployments/{id}/logs', { params: { path: { id: d.id }, query } }));
        if (stop) return;
        next.current = page.next;
        if (page.items.length > 0) setLines((l) => [...l, ...page.items].slice(-3000));
        setError(undefined);
      } catch (err) {
        if (!stop) setError(err as ApiError);
      }
      if (!stop) timer = setTimeout(() => void tick(), 1000);
    };
    void tick();
    return () => {
      stop = true;
      if (timer) clearTimeout(timer);
    };
  }, [d.id, replica, paused]);

  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow]);

  return (
    <Panel
      title="Logs"
      meta={paused ? 'paused' : 'following'}
      actions={
        <>
          <SelectField label="Replica" value={replica} onChange={(e) => setReplica(e.target.value)} className="inline-field">
            <option value="">All replicas</option>
            {d.replicas.items.map((r) => (
              <option key={r.id} value={r.id}>
                {r.id}
              </option>
            ))}
          </SelectField>
          <CheckField label="Scroll to newest" checked={follow} onChange={(e) => setFollow(e.target.checked)} />
          <button type="button" className="btn small" onClick={() => setPaused((p) => !p)}>
            {paused ? 'Resume' : 'Pause'}
          </button>
        </>
      }
    >
      <ErrorAlert error={error} />
      <div className="logs" ref={box} role="log" aria-label="Replica output" tabIndex={0}>
        {lines.length === 0 ? <div className="empty">No output yet.</div> : null}
        {lines.map((l) => (
          <div className="line" key={`${l.replica}-${l.seq}`}>
            <span className="ts">{formatClock(l.ts)}</span>
            <span className="rep" title={l.replica}>
              {l.replica.slice(-8)}
            </span>
            <span>{l.line}</span>
          </div>
        ))}
      </div>
    </Panel>
  );
}

function Scale({ d, onDone }: { d: Deployment; onDone: () => void }) {
  const [value, setValue] = useState(String(d.replicas.desired));
  const [error, setError] = useState<ApiError | undefined>();
  const [busy, setBusy] = useState(false);
  const toast = useToast();
  useEffect(() => setValue(String(d.replicas.desired)), [d.replicas.desired]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const n = Number(value);
    setBusy(true);
    unwrap(api.PATCH('/api/v1/deployments/{id}', { params: { path: { id: d.id } }, body: { replicas: n } })).then(
      () => {
        setBusy(false);
        setError(undefined);
        toast(`Scaling ${d.name} to ${n} replica${n === 1 ? '' : 's'}`);
        onDone();
      },
      (err: unknown) => {
        setBusy(false);
        setError(err as ApiError);
      },
    );
  };
  return (
    <form className="row" onSubmit={submit} aria-label="Scale" style={{ alignItems: 'flex-end' }}>
      <TextField label="Replicas" name="replicas" type="number" min={0} value={value} onChange={(e) => setValue(e.target.value)} error={error} className="inline-field narrow" />
      <button type="submit" className="btn" disabled={busy || value === String(d.replicas.desired)}>
        Scale
      </button>
    </form>
  );
}

export default function DeploymentDetail() {
  const { id = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const session = useSession();
  const toast = useToast();
  const navigate = useNavigate();
  const tab = (TABS as readonly string[]).includes(params.get('tab') ?? '') ? (params.get('tab') as Tab) : 'overview';
  const q = useQuery((signal) => unwrap(api.GET('/api/v1/deployments/{id}', { signal, params: { path: { id } } })), [id], {
    refreshOn: ['deployment.', 'assignment.'],
    pollMs: 10_000,
  });
  const d = q.data;
  const assignments = useQuery((signal) => unwrap(api.GET('/api/v1/assignments', { signal, params: { query: { owner: d?.id ?? '' } } })), [d?.id], {
    refreshOn: ['assignment.'],
    enabled: d !== undefined,
  });
  const workers = useQuery((signal) => unwrap(api.GET('/api/v1/workers', { signal })), [], { refreshOn: ['worker.registered', 'worker.removed'] });
  const model = useQuery((signal) => unwrap(api.GET('/api/v1/models/{id}', { signal, params: { path: { id: d?.modelId ?? '' } } })), [d?.modelId], { enabled: Boolean(d?.modelId) });
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const [gone, setGone] = useState(false);

  useEvents(['deployment.deleted'], (e) => {
    if (d && e.subject.id === d.id) setGone(true);
  });

  if (q.loading) return <div className="page"><Loading rows={6} label="Loading the deployment" /></div>;
  if (!d) return <div className="page"><ErrorAlert error={q.error} title={`Deployment ${id} could not be loaded`} /></div>;

  const asg = new Map((assignments.data?.items ?? []).map((a) => [a.id, a]));
  const workerNames = new Map((workers.data?.items ?? []).map((w) => [w.id, w.name]));
  const canDeploy = session.can('deploy');

  const remove = () => {
    unwrap(api.DELETE('/api/v1/deployments/{id}', { params: { path: { id: d.id } } })).then(
      () => {
        toast(`Deleting ${d.name}: its replicas are stopping`);
        void navigate('/deployments');
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
        title={d.name}
        sub={
          <>
            <StateBadge state={d.state} />
            {d.reason ? <span>{d.reason}</span> : null}
            <span className="chip">{d.runtime}</span>
            <span className="chip">{d.protocol}</span>
            {d.modelId ? (
              <span>
                model <Link to={`/models/${encodeURIComponent(d.modelId)}`}>{model.data ? `${model.data.name}:${model.data.version}` : d.modelId}</Link>
              </span>
            ) : null}
            <span className="faint">
              updated <Ago ts={d.updatedAt} />
            </span>
          </>
        }
        actions={
          canDeploy ? (
            <>
              <Scale d={d} onDone={q.reload} />
              <button type="button" className="btn danger" onClick={() => setConfirm(true)}>
                Delete
              </button>
            </>
          ) : null
        }
      />
      {gone ? <div className="alert warn">This deployment was deleted.</div> : null}
      <ErrorAlert error={error} />
      <Tabs
        label="Deployment"
        tabs={[
          { key: 'overview', label: 'Overview' },
          { key: 'try', label: 'Try it' },
          { key: 'events', label: 'Events' },
          { key: 'logs', label: 'Logs' },
          { key: 'spec', label: 'Spec' },
        ]}
        selected={tab}
        onSelect={(t) => setParams(t === 'overview' ? {} : { tab: t }, { replace: true })}
      >
        {tab === 'overview' ? (
          <div className="stack">
            <Replicas d={d} assignments={asg} workers={workerNames} />
            <div className="grid cols-2">
              <Endpoints d={d} />
              <Conditions d={d} />
            </div>
          </div>
        ) : null}
        {tab === 'try' ? <TryIt d={d} /> : null}
        {tab === 'events' ? <Events d={d} /> : null}
        {tab === 'logs' ? <Logs d={d} /> : null}
        {tab === 'spec' ? (
          <Panel title="Spec" meta={`generation ${d.generation}`}>
            <CodeBlock label="Deployment spec" code={toYaml(d.spec)} />
          </Panel>
        ) : null}
      </Tabs>
      {confirm ? (
        <Confirm title={`Delete ${d.name}?`} confirmLabel="Delete deployment" onClose={() => setConfirm(false)} onConfirm={remove}>
          <p style={{ margin: 0 }}>
            Its {d.replicas.total} replica{d.replicas.total === 1 ? '' : 's'} stop and the gateway stops routing to it. Clients calling <code>{d.name}</code> get 404.
          </p>
        </Confirm>
      ) : null}
    </div>
  );
}

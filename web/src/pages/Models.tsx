import { type FormEvent, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { ApiError, type GetOk, type PostBody, api, unwrap } from '../api/client';
import { useQuery } from '../api/useQuery';
import { useSession } from '../auth/session';
import { DataTable } from '../components/DataTable';
import { Dialog } from '../components/Dialog';
import { TextAreaField, TextField } from '../components/Field';
import { Icon } from '../components/Icon';
import { useToast } from '../components/Toast';
import { Ago, Empty, ErrorAlert, Labels, PageHead, Panel } from '../components/ui';
import { formatBytes } from '../lib/format';

export type Model = GetOk<'/api/v1/models'>['items'][number];
type RegisterBody = PostBody<'/api/v1/models'>;

/** `k=v` lines (or comma-separated) into a record; the error names the first bad entry. */
export function parseLabels(text: string): { labels: Record<string, string>; error?: string } {
  const labels: Record<string, string> = {};
  for (const raw of text.split(/[\n,]/)) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    if (eq <= 0) return { labels, error: `'${entry}' is not key=value` };
    labels[entry.slice(0, eq).trim()] = entry.slice(eq + 1).trim();
  }
  return { labels };
}

export function RegisterModelForm({ onDone, register }: { onDone: (m: Model) => void; register: (body: RegisterBody) => Promise<Model> }) {
  const [name, setName] = useState('');
  const [version, setVersion] = useState('');
  const [source, setSource] = useState('');
  const [description, setDescription] = useState('');
  const [labels, setLabels] = useState('');
  const [error, setError] = useState<ApiError | undefined>();
  const [busy, setBusy] = useState(false);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseLabels(labels);
    if (parsed.error) {
      setError(new ApiError(400, 'LABELS', 'A label is not key=value.', 'Write one key=value per line.', [{ path: 'labels', message: parsed.error }]));
      return;
    }
    const body: RegisterBody = { name: name.trim(), source: source.trim() };
    if (version.trim()) body.version = version.trim();
    if (description.trim()) body.description = description.trim();
    if (Object.keys(parsed.labels).length > 0) body.labels = parsed.labels;
    setBusy(true);
    setError(undefined);
    register(body).then(
      (m) => {
        setBusy(false);
        onDone(m);
      },
      (err: unknown) => {
        setBusy(false);
        setError(err as ApiError);
      },
    );
  };

  return (
    <form className="form" onSubmit={submit} id="register-model" noValidate>
      <div className="form-grid">
        <TextField label="Name" name="name" required value={name} onChange={(e) => setName(e.target.value)} error={error} hint="Letters, digits, dots, dashes, underscores" />
        <TextField label="Version" name="version" value={version} onChange={(e) => setVersion(e.target.value)} error={error} hint="Default 1" />
      </div>
      <TextField
        label="Source"
        name="source"
        required
        value={source}
        onChange={(e) => setSource(e.target.value)}
        error={error}
        placeholder="/models/llama-3-8b or file:///data/model.onnx"
        hint="A path or file:// URI on the control plane's machine; the format is detected from the files."
      />
      <TextField label="Description" name="description" value={description} onChange={(e) => setDescription(e.target.value)} error={error} />
      <TextAreaField label="Labels" name="labels" rows={3} value={labels} onChange={(e) => setLabels(e.target.value)} error={error} hint="One key=value per line" />
      <ErrorAlert error={error} shownAtFields={['name', 'version', 'source', 'description', 'labels']} />
      <div className="form-actions">
        <button type="submit" className="btn primary" disabled={busy}>
          {busy ? 'Registering…' : 'Register model'}
        </button>
      </div>
    </form>
  );
}

export function ModelsTable({ models, loading = false }: { models: Model[]; loading?: boolean }) {
  return (
    <DataTable
      loading={loading}
      rows={models}
      empty={
        <Empty title="No models registered">Register a model file or directory to deploy it.</Empty>
      }
      head={
        <>
          <th>Name</th>
          <th>Version</th>
          <th>Format</th>
          <th className="num">Size</th>
          <th>Source</th>
          <th>Labels</th>
          <th>Registered</th>
        </>
      }
      row={(m) => (
        <tr key={m.id}>
          <td>
            <Link className="name" to={`/models/${encodeURIComponent(m.id)}`}>
              {m.name}
            </Link>
            {m.description ? <div className="faint small">{m.description}</div> : null}
          </td>
          <td className="mono">{m.version}</td>
          <td>
            <span className="chip accent">{m.format}</span>
          </td>
          <td className="num">{formatBytes(m.sizeBytes)}</td>
          <td className="mono small muted" style={{ maxWidth: 360, overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }} title={m.source}>
            {m.source}
          </td>
          <td>
            <Labels labels={m.labels} />
          </td>
          <td className="muted nowrap">
            <Ago ts={m.createdAt} />
          </td>
        </tr>
      )}
    />
  );
}

export default function Models() {
  const session = useSession();
  const toast = useToast();
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const q = useQuery((signal) => unwrap(api.GET('/api/v1/models', { signal })), [], { refreshOn: ['model.'] });
  return (
    <div className="page">
      <PageHead
        title="Models"
        sub="The model registry: artifacts with their detected format, ready to deploy."
        actions={
          session.can('deploy') ? (
            <button type="button" className="btn primary" onClick={() => setOpen(true)}>
              <Icon name="plus" />
              Register model
            </button>
          ) : null
        }
      />
      <ErrorAlert error={q.error} title="The models could not be loaded" />
      <Panel title="Models" meta={q.data ? `${q.data.items.length}` : undefined} flush>
        <ModelsTable models={q.data?.items ?? []} loading={q.loading} />
      </Panel>
      {open ? (
        <Dialog title="Register a model" onClose={() => setOpen(false)} wide>
          <RegisterModelForm
            register={(body) => unwrap(api.POST('/api/v1/models', { body }))}
            onDone={(m) => {
              setOpen(false);
              toast(`Registered ${m.name}:${m.version} (${m.format})`);
              void navigate(`/models/${encodeURIComponent(m.id)}`);
            }}
          />
        </Dialog>
      ) : null}
    </div>
  );
}

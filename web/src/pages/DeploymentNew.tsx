import { type FormEvent, useEffect, useMemo, useState } from 'react';
import { useNavigate, useSearchParams } from 'react-router';
import { ApiError, type GetOk, type PostBody, api, normalisePath, unwrap } from '../api/client';
import { useQuery } from '../api/useQuery';
import { useSession } from '../auth/session';
import { CheckField, SelectField, TextAreaField, TextField } from '../components/Field';
import { Tabs } from '../components/Tabs';
import { useToast } from '../components/Toast';
import { YamlEditor } from '../components/YamlEditor';
import { Empty, ErrorAlert, PageHead, Panel } from '../components/ui';
import { type Issue, lineOf, parseYaml, toYaml } from '../lib/yaml';
import { parseLabels } from './Models';

export type DeploymentBody = PostBody<'/api/v1/deployments'>;
type Runtime = GetOk<'/api/v1/runtimes'>['items'][number];
type Model = GetOk<'/api/v1/models'>['items'][number];

/** What the form holds: text as typed, turned into a request body by toBody. */
export interface DeploymentForm {
  name: string;
  model: string;
  runtime: string;
  replicas: string;
  cpu: string;
  memory: string;
  gpuCount: string;
  gpuMemory: string;
  gpuVendor: '' | 'nvidia' | 'amd';
  gpuType: string;
  policy: 'spread' | 'binpack';
  allowCpuFallback: boolean;
  selectors: string;
  env: string;
  args: string;
  options: string;
}

export const EMPTY_FORM: DeploymentForm = {
  name: '',
  model: '',
  runtime: '',
  replicas: '1',
  cpu: '',
  memory: '',
  gpuCount: '',
  gpuMemory: '',
  gpuVendor: '',
  gpuType: '',
  policy: 'spread',
  allowCpuFallback: false,
  selectors: '',
  env: '',
  args: '',
  options: '',
};

const FORM_FIELDS = ['name', 'model', 'runtime', 'replicas', 'resources.cpu', 'resources.memory', 'resources.gpus.count', 'resources.gpus.memory', 'resources.gpus.vendor', 'resources.gpus.type', 'placement.selectors', 'env', 'args', 'options'];

/** The request body the form describes, or the field errors that stop it being sent. */
export function toBody(f: DeploymentForm): { body: DeploymentBody; errors: { path: string; message: string }[] } {
  const errors: { path: string; message: string }[] = [];
  const body: DeploymentBody = { name: f.name.trim(), runtime: f.runtime };
  if (f.model) body.model = f.model;
  const replicas = Number(f.replicas);
  if (f.replicas.trim() === '' || !Number.isInteger(replicas) || replicas < 0) errors.push({ path: 'replicas', message: 'a whole number, 0 or more' });
  else body.replicas = replicas;
  const resources: NonNullable<DeploymentBody['resources']> = {};
  if (f.cpu.trim()) resources.cpu = /^\d+(\.\d+)?$/.test(f.cpu.trim()) ? Number(f.cpu.trim()) : f.cpu.trim();
  if (f.memory.trim()) resources.memory = f.memory.trim();
  if (f.gpuCount.trim() || f.gpuMemory.trim() || f.gpuVendor || f.gpuType.trim()) {
    const gpus: NonNullable<NonNullable<DeploymentBody['resources']>['gpus']> = {};
    if (f.gpuCount.trim()) {
      const n = Number(f.gpuCount);
      if (!Number.isInteger(n) || n < 1) errors.push({ path: 'resources.gpus.count', message: 'a whole number, 1 or more' });
      else gpus.count = n;
    }
    if (f.gpuMemory.trim()) gpus.memory = f.gpuMemory.trim();
    if (f.gpuVendor) gpus.vendor = f.gpuVendor;
    if (f.gpuType.trim()) gpus.type = f.gpuType.trim();
    resources.gpus = gpus;
  }
  if (Object.keys(resources).length > 0) body.resources = resources;
  const selectors = parseLabels(f.selectors);
  if (selectors.error) errors.push({ path: 'placement.selectors', message: selectors.error });
  body.placement = { selectors: selectors.labels, policy: f.policy, allowCpuFallback: f.allowCpuFallback };
  const env = parseLabels(f.env.replace(/,/g, '\n'));
  if (env.error) errors.push({ path: 'env', message: env.error });
  else if (Object.keys(env.labels).length > 0) body.env = env.labels;
  const args = f.args
    .split('\n')
    .map((a) => a.trim())
    .filter(Boolean);
  if (args.length > 0) body.args = args;
  if (f.options.trim()) {
    const parsed = parseYaml(f.options);
    if (parsed.issues.length > 0 || typeof parsed.value !== 'object' || parsed.value === null || Array.isArray(parsed.value)) {
      errors.push({ path: 'options', message: parsed.issues[0] ? `line ${parsed.issues[0].line ?? '?'}: ${parsed.issues[0].message}` : 'a YAML mapping, e.g. threads: 2' });
    } else body.options = parsed.value as Record<string, unknown>;
  }
  return { body, errors };
}

function lines(r: Record<string, string> | undefined): string {
  return Object.entries(r ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
}

/** Fills the form from a YAML body as far as the form can show it. */
export function fromBody(b: Partial<DeploymentBody>): DeploymentForm {
  const gpus = b.resources?.gpus ?? undefined;
  return {
    ...EMPTY_FORM,
    name: b.name ?? '',
    model: b.model ?? '',
    runtime: b.runtime ?? '',
    replicas: String(b.replicas ?? 1),
    cpu: b.resources?.cpu !== undefined ? String(b.resources.cpu) : '',
    memory: b.resources?.memory !== undefined ? String(b.resources.memory) : '',
    gpuCount: gpus?.count !== undefined ? String(gpus.count) : '',
    gpuMemory: gpus?.memory !== undefined ? String(gpus.memory) : '',
    gpuVendor: gpus?.vendor ?? '',
    gpuType: gpus?.type ?? '',
    policy: b.placement?.policy ?? 'spread',
    allowCpuFallback: b.placement?.allowCpuFallback ?? false,
    selectors: lines(b.placement?.selectors),
    env: lines(b.env),
    args: (b.args ?? []).join('\n'),
    options: b.options && Object.keys(b.options).length > 0 ? toYaml(b.options).trimEnd() : '',
  };
}

/** The runtime to offer first for a model: the first one that serves its format. */
export function runtimeFor(model: Model | undefined, runtimes: readonly Runtime[]): string | undefined {
  if (!model) return undefined;
  return runtimes.find((r) => r.formats !== 'any' && r.formats.includes(model.format))?.name;
}

export function DeploymentFormFields({
  form,
  set,
  runtimes,
  models,
  error,
}: {
  form: DeploymentForm;
  set: (patch: Partial<DeploymentForm>) => void;
  runtimes: readonly Runtime[];
  models: readonly Model[];
  error: ApiError | undefined;
}) {
  const runtime = runtimes.find((r) => r.name === form.runtime);
  return (
    <>
      <fieldset className="form-section">
        <legend>What to serve</legend>
        <div className="form-grid">
          <TextField label="Name" name="name" value={form.name} onChange={(e) => set({ name: e.target.value })} error={error} required hint="Clients use it as the model name; lower case, digits, . _ -" autoComplete="off" />
          <SelectField
            label="Model"
            name="model"
            value={form.model}
            error={error}
            onChange={(e) => {
              const model = models.find((m) => m.id === e.target.value);
              set({ model: e.target.value, ...(runtimeFor(model, runtimes) ? { runtime: runtimeFor(model, runtimes) } : {}) });
            }}
            hint={runtime && !runtime.requiresModel ? `${runtime.name} needs no model` : 'A registered model'}
          >
            <option value="">No model</option>
            {models.map((m) => (
              <option key={m.id} value={m.id}>
                {m.name}:{m.version} ({m.format})
              </option>
            ))}
          </SelectField>
          <SelectField label="Runtime" name="runtime" value={form.runtime} onChange={(e) => set({ runtime: e.target.value })} error={error} required hint={runtime?.description}>
            <option value="" disabled>
              Choose a runtime
            </option>
            {runtimes.map((r) => (
              <option key={r.name} value={r.name}>
                {r.name} · {r.protocol}
                {r.kind === 'template' ? ' · template' : ''}
              </option>
            ))}
          </SelectField>
          <TextField label="Replicas" name="replicas" type="number" min={0} value={form.replicas} onChange={(e) => set({ replicas: e.target.value })} error={error} />
        </div>
      </fieldset>
      <fieldset className="form-section">
        <legend>Resources per replica</legend>
        <div className="form-grid">
          <TextField label="CPU" name="resources.cpu" value={form.cpu} onChange={(e) => set({ cpu: e.target.value })} error={error} placeholder={runtime ? String(runtime.cpu) : '1'} hint="Cores (0.5) or millicores (500m)" />
          <TextField label="Memory" name="resources.memory" value={form.memory} onChange={(e) => set({ memory: e.target.value })} error={error} placeholder="2Gi" hint="Bytes or 512Mi, 16GiB" />
          <TextField label="GPUs" name="resources.gpus.count" type="number" min={1} value={form.gpuCount} onChange={(e) => set({ gpuCount: e.target.value })} error={error} hint={runtime ? `GPU: ${runtime.gpu}` : 'On one worker'} />
          <TextField label="GPU memory" name="resources.gpus.memory" value={form.gpuMemory} onChange={(e) => set({ gpuMemory: e.target.value })} error={error} placeholder="40GiB" hint="Per GPU with a count, in total without" />
          <SelectField label="GPU vendor" name="resources.gpus.vendor" value={form.gpuVendor} onChange={(e) => set({ gpuVendor: e.target.value as DeploymentForm['gpuVendor'] })} error={error}>
            <option value="">Any</option>
            <option value="nvidia">NVIDIA</option>
            <option value="amd">AMD</option>
          </SelectField>
          <TextField label="GPU type" name="resources.gpus.type" value={form.gpuType} onChange={(e) => set({ gpuType: e.target.value })} error={error} placeholder="H100" />
        </div>
      </fieldset>
      <fieldset className="form-section">
        <legend>Placement and process</legend>
        <div className="form-grid">
          <SelectField label="Placement policy" name="placement.policy" value={form.policy} onChange={(e) => set({ policy: e.target.value as DeploymentForm['policy'] })} error={error} hint="spread: across workers; binpack: fill one first">
            <option value="spread">spread</option>
            <option value="binpack">binpack</option>
          </SelectField>
          <TextAreaField label="Worker selectors" name="placement.selectors" rows={2} value={form.selectors} onChange={(e) => set({ selectors: e.target.value })} error={error} hint="Labels a worker must have, key=value per line" />
          <TextAreaField label="Environment" name="env" rows={2} value={form.env} onChange={(e) => set({ env: e.target.value })} error={error} hint="NAME=value per line" />
          <TextAreaField label="Extra arguments" name="args" rows={2} value={form.args} onChange={(e) => set({ args: e.target.value })} error={error} hint="One per line, appended to the command" />
        </div>
        <div className="form-grid" style={{ marginTop: 12 }}>
          <TextAreaField label="Runtime options" name="options" rows={3} value={form.options} onChange={(e) => set({ options: e.target.value })} error={error} hint="YAML, e.g. threads: 2 (see the runtime's documentation)" />
          <CheckField label="Allow CPU fallback" checked={form.allowCpuFallback} onChange={(e) => set({ allowCpuFallback: e.target.checked })} hint="Run on CPU when no GPU fits" />
        </div>
      </fieldset>
    </>
  );
}

export default function DeploymentNew() {
  const session = useSession();
  const toast = useToast();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const runtimes = useQuery((signal) => unwrap(api.GET('/api/v1/runtimes', { signal })), []);
  const models = useQuery((signal) => unwrap(api.GET('/api/v1/models', { signal })), [], { refreshOn: ['model.'] });
  const [tab, setTab] = useState<'form' | 'yaml'>('form');
  const [form, setForm] = useState<DeploymentForm>(EMPTY_FORM);
  const [yamlText, setYamlText] = useState('');
  const [yamlIssues, setYamlIssues] = useState<Issue[]>([]);
  const [error, setError] = useState<ApiError | undefined>();
  const [busy, setBusy] = useState(false);

  // A link from a model page (?model=) starts with that model and its runtime chosen.
  const preselect = params.get('model');
  useEffect(() => {
    const list = runtimes.data?.items;
    if (!preselect || !models.data || !list) return;
    const model = models.data.items.find((m) => m.id === preselect || m.name === preselect);
    if (!model) return;
    setForm((f) => (f.model ? f : { ...f, model: model.id, name: f.name || model.name.toLowerCase().replace(/[^a-z0-9._-]/g, '-'), runtime: runtimeFor(model, list) ?? f.runtime }));
  }, [preselect, models.data, runtimes.data]);

  const set = (patch: Partial<DeploymentForm>) => setForm((f) => ({ ...f, ...patch }));
  const modelItems = useMemo(() => models.data?.items ?? [], [models.data]);

  const create = (body: DeploymentBody, onError: (err: ApiError) => void) => {
    setBusy(true);
    setError(undefined);
    unwrap(api.POST('/api/v1/deployments', { body })).then(
      (d) => {
        setBusy(false);
        toast(`Created ${d.name}; placing its replicas`);
        void navigate(`/deployments/${encodeURIComponent(d.name)}`);
      },
      (err: unknown) => {
        setBusy(false);
        onError(err as ApiError);
      },
    );
  };

  const submitForm = (e: FormEvent) => {
    e.preventDefault();
    const { body, errors } = toBody(form);
    if (errors.length > 0) {
      setError(new ApiError(400, 'FORM', 'Some fields need fixing.', 'Correct the fields marked below.', errors));
      return;
    }
    create(body, setError);
  };

  const submitYaml = () => {
    const parsed = parseYaml(yamlText);
    if (parsed.issues.length > 0) {
      setYamlIssues(parsed.issues);
      setError(new ApiError(400, 'YAML', 'The YAML does not parse.', 'Fix the lines marked in the editor.'));
      return;
    }
    if (typeof parsed.value !== 'object' || parsed.value === null || Array.isArray(parsed.value)) {
      setYamlIssues([{ path: '', line: 1, column: 1, message: 'a deployment is a mapping: name, runtime, model, replicas, …' }]);
      return;
    }
    setYamlIssues([]);
    create(parsed.value as DeploymentBody, (err) => {
      setError(err);
      setYamlIssues(err.errors.map((fe) => ({ path: normalisePath(fe.path), message: fe.message, ...(lineOf(yamlText, fe.path) ?? { line: null, column: null }) })));
    });
  };

  const switchTab = (to: 'form' | 'yaml') => {
    if (to === tab) return;
    setError(undefined);
    if (to === 'yaml') {
      setYamlText(toYaml(toBody(form).body));
      setYamlIssues([]);
    } else {
      const parsed = parseYaml(yamlText);
      if (parsed.issues.length === 0 && typeof parsed.value === 'object' && parsed.value !== null) setForm(fromBody(parsed.value));
    }
    setTab(to);
  };

  if (!session.can('deploy')) {
    return (
      <div className="page">
        <PageHead title="New deployment" />
        <Empty title="This key cannot create deployments">Creating a deployment needs a key with the deploy scope.</Empty>
      </div>
    );
  }

  return (
    <div className="page" style={{ maxWidth: 1100 }}>
      <PageHead title="New deployment" sub="Choose a model and a runtime; replicas are placed on workers that fit and served through the gateway." />
      <ErrorAlert error={runtimes.error ?? models.error} />
      <Tabs
        label="How to describe the deployment"
        tabs={[
          { key: 'form', label: 'Form' },
          { key: 'yaml', label: 'YAML' },
        ]}
        selected={tab}
        onSelect={switchTab}
      >
        {tab === 'form' ? (
          <form className="form" onSubmit={submitForm} noValidate aria-label="New deployment">
            <DeploymentFormFields form={form} set={set} runtimes={runtimes.data?.items ?? []} models={modelItems} error={error} />
            <ErrorAlert error={error} shownAtFields={FORM_FIELDS} />
            <div className="form-actions">
              <button type="submit" className="btn primary" disabled={busy}>
                {busy ? 'Creating…' : 'Create deployment'}
              </button>
              <span className="faint">The same as POST /api/v1/deployments; the YAML tab shows the body.</span>
            </div>
          </form>
        ) : (
          <Panel title="Deployment YAML" meta="the body of POST /api/v1/deployments">
            <div className="form">
              <YamlEditor label="Deployment spec" value={yamlText} onChange={setYamlText} issues={yamlIssues} />
              <ErrorAlert error={error} shownAtFields={yamlIssues.map((i) => i.path)} />
              <div className="form-actions">
                <button type="button" className="btn primary" onClick={submitYaml} disabled={busy}>
                  {busy ? 'Creating…' : 'Create deployment'}
                </button>
              </div>
            </div>
          </Panel>
        )}
      </Tabs>
    </div>
  );
}

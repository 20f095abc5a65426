import { type FormEvent, useEffect, useMemo, useRef, useState } from 'react';
import { useNavigate } from 'react-router';
import type { ApiError} from '../../api/client';
import { type PostBody, api, normalisePath, unwrap } from '../../api/client';
import { useQuery } from '../../api/useQuery';
import { useSession } from '../../auth/session';
import { CodeBlock } from '../../components/Code';
import { CheckField, SelectField, TextField } from '../../components/Field';
import { Icon } from '../../components/Icon';
import { Tabs } from '../../components/Tabs';
import { useToast } from '../../components/Toast';
import { YamlEditor } from '../../components/YamlEditor';
import { Empty, ErrorAlert, PageHead, Panel } from '../../components/ui';
import type { Issue } from '../../lib/yaml';
import { toYaml } from '../../lib/yaml';

type CreateBody = PostBody<'/api/v1/benchmarks'>;

// The choices a recipe offers (src/bench/recipe.ts); the server validates every recipe, so a value
// it gains before the form does still works from the YAML tab.
const APIS = ['openai-chat', 'openai-completions', 'kserve-v2', 'asr-transcriptions', 'http'] as const;
const DATASETS = ['synthetic', 'jsonl', 'asr-manifest', 'hf-arrow'] as const;
const LOADS = ['closed', 'constant', 'poisson', 'gamma', 'ramp'] as const;

export function starterRecipe(deployment: string): string {
  return `# A benchmark recipe: what to hit, with what requests, how hard and for how long.
name: ${deployment} chat load
target: { deployment: ${deployment} }
workload:
  api: openai-chat
  stream: true
  dataset: { type: synthetic, inputTokens: 128, outputTokens: 64, count: 500 }
load: { type: closed, concurrency: 8 }
stop: { duration: 15s, warmup: 2s }
slo: { ttftMs: 500, e2eMs: 5000 }
`;
}

/** The form's fields, as typed. */
export interface RecipeForm {
  name: string;
  targetKind: 'deployment' | 'endpoint' | 'url';
  target: string;
  api: (typeof APIS)[number];
  stream: boolean;
  dataset: (typeof DATASETS)[number];
  inputTokens: string;
  outputTokens: string;
  count: string;
  path: string;
  load: (typeof LOADS)[number];
  concurrency: string;
  rate: string;
  from: string;
  to: string;
  duration: string;
  requests: string;
  warmup: string;
  ttftMs: string;
  tpotMs: string;
  e2eMs: string;
  clients: string;
  where: 'local' | 'agents';
}

export const EMPTY_RECIPE_FORM: RecipeForm = {
  name: '',
  targetKind: 'deployment',
  target: '',
  api: 'openai-chat',
  stream: true,
  dataset: 'synthetic',
  inputTokens: '128',
  outputTokens: '64',
  count: '500',
  path: '',
  load: 'closed',
  concurrency: '8',
  rate: '10',
  from: '1',
  to: '20',
  duration: '15s',
  requests: '',
  warmup: '',
  ttftMs: '',
  tpotMs: '',
  e2eMs: '',
  clients: '1',
  where: 'local',
};

const num = (s: string): number | undefined => (s.trim() === '' || !Number.isFinite(Number(s)) ? undefined : Number(s));
const dur = (s: string): string | number | undefined => (s.trim() === '' ? undefined : /^\d+(\.\d+)?$/.test(s.trim()) ? Number(s) : s.trim());

/** The recipe the form describes; the server says what is wrong with it. */
export function recipeFrom(f: RecipeForm): Record<string, unknown> {
  const dataset: Record<string, unknown> = { type: f.dataset };
  if (f.dataset === 'synthetic') Object.assign(dataset, { inputTokens: num(f.inputTokens), outputTokens: num(f.outputTokens), count: num(f.count) });
  else dataset.path = f.path;
  const load: Record<string, unknown> = { type: f.load };
  if (f.load === 'closed') load.concurrency = num(f.concurrency);
  else if (f.load === 'ramp') Object.assign(load, { from: num(f.from), to: num(f.to) });
  else load.rate = num(f.rate);
  const stop: Record<string, unknown> = {};
  if (dur(f.duration) !== undefined) stop.duration = dur(f.duration);
  if (num(f.requests) !== undefined) stop.requests = num(f.requests);
  if (dur(f.warmup) !== undefined) stop.warmup = dur(f.warmup);
  const slo: Record<string, unknown> = {};
  for (const k of ['ttftMs', 'tpotMs', 'e2eMs'] as const) if (num(f[k]) !== undefined) slo[k] = num(f[k]);
  const recipe: Record<string, unknown> = {
    name: f.name,
    target: { [f.targetKind]: f.target },
    workload: { api: f.api, ...(f.api.startsWith('openai') ? { stream: f.stream } : {}), dataset },
    load,
    stop,
  };
  if (Object.keys(slo).length > 0) recipe.slo = slo;
  if (f.clients !== '1' || f.where !== 'local') recipe.clients = { count: num(f.clients), where: f.where };
  return JSON.parse(JSON.stringify(recipe)) as Record<string, unknown>;
}

function RecipeFormFields({ f, set, deployments, error }: { f: RecipeForm; set: (p: Partial<RecipeForm>) => void; deployments: string[]; error: ApiError | undefined }) {
  return (
    <>
      <fieldset className="form-section">
        <legend>Target</legend>
        <div className="form-grid">
          <TextField label="Name" name="name" value={f.name} onChange={(e) => set({ name: e.target.value })} error={error} autoComplete="off" hint="Shown in lists and comparisons" />
          <SelectField label="Target kind" value={f.targetKind} onChange={(e) => set({ targetKind: e.target.value as RecipeForm['targetKind'], target: '' })}>
            <option value="deployment">deployment (through the gateway)</option>
            <option value="endpoint">registered endpoint</option>
            <option value="url">URL</option>
          </SelectField>
          {f.targetKind === 'deployment' ? (
            <SelectField label="Deployment" name="target.deployment" value={f.target} onChange={(e) => set({ target: e.target.value })} error={error}>
              <option value="">Choose a deployment</option>
              {deployments.map((d) => (
                <option key={d}>{d}</option>
              ))}
            </SelectField>
          ) : (
            <TextField label={f.targetKind === 'url' ? 'URL' : 'Endpoint'} name={`target.${f.targetKind}`} value={f.target} onChange={(e) => set({ target: e.target.value })} error={error} placeholder={f.targetKind === 'url' ? 'http://gpu-node-1:8000' : 'endpoint name or id'} />
          )}
        </div>
      </fieldset>
      <fieldset className="form-section">
        <legend>Workload</legend>
        <div className="form-grid">
          <SelectField label="API" name="workload.api" value={f.api} onChange={(e) => set({ api: e.target.value as RecipeForm['api'] })} error={error}>
            {APIS.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </SelectField>
          <SelectField label="Dataset" name="workload.dataset.type" value={f.dataset} onChange={(e) => set({ dataset: e.target.value as RecipeForm['dataset'] })} error={error}>
            {DATASETS.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </SelectField>
          {f.dataset === 'synthetic' ? (
            <>
              <TextField label="Input tokens" name="workload.dataset.inputTokens" type="number" min={1} value={f.inputTokens} onChange={(e) => set({ inputTokens: e.target.value })} error={error} />
              <TextField label="Output tokens" name="workload.dataset.outputTokens" type="number" min={1} value={f.outputTokens} onChange={(e) => set({ outputTokens: e.target.value })} error={error} />
              <TextField label="Prompts" name="workload.dataset.count" type="number" min={1} value={f.count} onChange={(e) => set({ count: e.target.value })} error={error} hint="Distinct synthetic prompts" />
            </>
          ) : (
            <TextField label="Dataset path" name="workload.dataset.path" value={f.path} onChange={(e) => set({ path: e.target.value })} error={error} hint="On the machine that runs the clients" />
          )}
          {f.api.startsWith('openai') ? <CheckField label="Stream tokens" checked={f.stream} onChange={(e) => set({ stream: e.target.checked })} hint="Needed for TTFT and ITL" /> : null}
        </div>
      </fieldset>
      <fieldset className="form-section">
        <legend>Load and stop</legend>
        <div className="form-grid">
          <SelectField label="Load" name="load.type" value={f.load} onChange={(e) => set({ load: e.target.value as RecipeForm['load'] })} error={error} hint="closed: fixed concurrency; others: open-loop arrivals">
            {LOADS.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </SelectField>
          {f.load === 'closed' ? <TextField label="Concurrency" name="load.concurrency" type="number" min={1} value={f.concurrency} onChange={(e) => set({ concurrency: e.target.value })} error={error} /> : null}
          {f.load === 'constant' || f.load === 'poisson' || f.load === 'gamma' ? <TextField label="Rate (req/s)" name="load.rate" type="number" min={0} value={f.rate} onChange={(e) => set({ rate: e.target.value })} error={error} /> : null}
          {f.load === 'ramp' ? (
            <>
              <TextField label="From (req/s)" name="load.from" type="number" value={f.from} onChange={(e) => set({ from: e.target.value })} error={error} />
              <TextField label="To (req/s)" name="load.to" type="number" value={f.to} onChange={(e) => set({ to: e.target.value })} error={error} />
            </>
          ) : null}
          <TextField label="Duration" name="stop.duration" value={f.duration} onChange={(e) => set({ duration: e.target.value })} error={error} hint="e.g. 30s, 2m" />
          <TextField label="Requests" name="stop.requests" type="number" min={1} value={f.requests} onChange={(e) => set({ requests: e.target.value })} error={error} hint="Stop after this many (optional)" />
          <TextField label="Warmup" name="stop.warmup" value={f.warmup} onChange={(e) => set({ warmup: e.target.value })} error={error} hint="Not measured, e.g. 2s" />
        </div>
      </fieldset>
      <fieldset className="form-section">
        <legend>SLO and clients</legend>
        <div className="form-grid">
          <TextField label="TTFT SLO (ms)" name="slo.ttftMs" type="number" min={0} value={f.ttftMs} onChange={(e) => set({ ttftMs: e.target.value })} error={error} hint="Goodput counts requests within every SLO" />
          <TextField label="TPOT SLO (ms)" name="slo.tpotMs" type="number" min={0} value={f.tpotMs} onChange={(e) => set({ tpotMs: e.target.value })} error={error} />
          <TextField label="E2E SLO (ms)" name="slo.e2eMs" type="number" min={0} value={f.e2eMs} onChange={(e) => set({ e2eMs: e.target.value })} error={error} />
          <TextField label="Clients" name="clients.count" type="number" min={1} value={f.clients} onChange={(e) => set({ clients: e.target.value })} error={error} hint="Load generators splitting the load" />
          <SelectField label="Clients run" name="clients.where" value={f.where} onChange={(e) => set({ where: e.target.value as RecipeForm['where'] })} error={error}>
            <option value="local">on the control plane</option>
            <option value="agents">on agents</option>
          </SelectField>
        </div>
      </fieldset>
    </>
  );
}

const FORM_FIELDS = [
  'name',
  'target.deployment',
  'target.url',
  'target.endpoint',
  'workload.api',
  'workload.dataset.type',
  'workload.dataset.inputTokens',
  'workload.dataset.outputTokens',
  'workload.dataset.count',
  'workload.dataset.path',
  'load.type',
  'load.concurrency',
  'load.rate',
  'load.from',
  'load.to',
  'stop.duration',
  'stop.requests',
  'stop.warmup',
  'slo.ttftMs',
  'slo.tpotMs',
  'slo.e2eMs',
  'clients.count',
  'clients.where',
];

function issuesOf(err: ApiError): Issue[] {
  return err.errors.map((e) => ({ path: normalisePath(e.path), line: e.line ?? null, column: e.column ?? null, message: e.message }));
}

/** The recipe editor with the server's validation as you type: problems marked at their lines. */
export function RecipeEditor({ text, setText, validate, submitError }: { text: string; setText: (t: string) => void; validate: (body: CreateBody) => Promise<{ valid: boolean; errors: Issue[] }>; submitError: ApiError | undefined }) {
  const [issues, setIssues] = useState<Issue[]>([]);
  const [checked, setChecked] = useState<'checking' | 'valid' | 'invalid' | 'unknown'>('unknown');
  const seq = useRef(0);
  useEffect(() => {
    if (submitError?.errors.length) setIssues(issuesOf(submitError));
  }, [submitError]);
  useEffect(() => {
    const mine = ++seq.current;
    setChecked('checking');
    const timer = setTimeout(() => {
      validate({ yaml: text }).then(
        (r) => {
          if (mine !== seq.current) return;
          setIssues(r.errors);
          setChecked(r.valid ? 'valid' : 'invalid');
        },
        () => {
          if (mine === seq.current) setChecked('unknown');
        },
      );
    }, 350);
    return () => clearTimeout(timer);
  }, [text, validate]);
  return (
    <div className="stack" style={{ gap: 8 }}>
      <YamlEditor label="Recipe" value={text} onChange={setText} issues={issues} />
      <div className="small" role="status" aria-live="polite">
        {checked === 'valid' ? <span className="ok-text">✓ The recipe is valid.</span> : null}
        {checked === 'invalid' ? <span className="bad-text">{issues.length === 1 ? '1 problem' : `${issues.length} problems`} in the recipe.</span> : null}
        {checked === 'checking' ? <span className="faint">Checking…</span> : null}
      </div>
    </div>
  );
}

export default function BenchmarkNew() {
  const session = useSession();
  const navigate = useNavigate();
  const toast = useToast();
  const deployments = useQuery((signal) => unwrap(api.GET('/api/v1/deployments', { signal })), []);
  const names = useMemo(() => (deployments.data?.items ?? []).map((d) => d.name), [deployments.data]);
  const firstLlm = deployments.data?.items.find((d) => d.protocol === 'openai')?.name ?? names[0] ?? 'my-deployment';
  const [tab, setTab] = useState<'yaml' | 'form'>('yaml');
  const [text, setText] = useState<string | null>(null);
  const [form, setForm] = useState<RecipeForm>(EMPTY_RECIPE_FORM);
  const [error, setError] = useState<ApiError | undefined>();
  const [busy, setBusy] = useState(false);

  // The starter recipe targets a real deployment once the list is in.
  useEffect(() => {
    if (text === null && deployments.data) {
      setText(starterRecipe(firstLlm));
      setForm((f) => ({ ...f, name: `${firstLlm} chat load`, target: firstLlm }));
    }
  }, [deployments.data, firstLlm, text]);

  const validate = useMemo(() => (body: CreateBody) => unwrap(api.POST('/api/v1/benchmarks/validate', { body })), []);

  const create = (body: CreateBody) => {
    setBusy(true);
    setError(undefined);
    unwrap(api.POST('/api/v1/benchmarks', { body })).then(
      (b) => {
        setBusy(false);
        toast(`Started ${b.name}`);
        void navigate(`/benchmarks/${encodeURIComponent(b.id)}`);
      },
      (err: unknown) => {
        setBusy(false);
        setError(err as ApiError);
      },
    );
  };

  if (!session.can('bench')) {
    return (
      <div className="page">
        <PageHead title="New benchmark" />
        <Empty title="This key cannot run benchmarks">Running a benchmark needs a key with the bench scope.</Empty>
      </div>
    );
  }

  const preview = toYaml(recipeFrom(form));

  return (
    <div className="page" style={{ maxWidth: 1200 }}>
      <PageHead title="New benchmark" sub="Write a recipe, or fill in the form; the recipe is checked as you type and each problem is marked at its line." />
      <Tabs
        label="How to describe the benchmark"
        tabs={[
          { key: 'yaml', label: 'Recipe (YAML)' },
          { key: 'form', label: 'Form' },
        ]}
        selected={tab}
        onSelect={(t) => {
          setError(undefined);
          if (t === 'yaml' && tab === 'form') setText(preview);
          setTab(t);
        }}
      >
        {tab === 'yaml' ? (
          <Panel title="Recipe" meta="target · workload · load · stop · slo · clients">
            <div className="form">
              {text !== null ? <RecipeEditor text={text} setText={setText} validate={validate} submitError={error} /> : null}
              <ErrorAlert error={error} shownAtFields={error?.errors.map((e) => normalisePath(e.path)) ?? []} />
              <div className="form-actions">
                <button type="button" className="btn primary" disabled={busy || text === null} onClick={() => text !== null && create({ yaml: text })}>
                  <Icon name="play" />
                  {busy ? 'Starting…' : 'Run benchmark'}
                </button>
              </div>
            </div>
          </Panel>
        ) : (
          <div className="grid main-side" style={{ gridTemplateColumns: 'minmax(0, 1fr) 380px' }}>
            <form
              className="form"
              noValidate
              aria-label="New benchmark"
              onSubmit={(e: FormEvent) => {
                e.preventDefault();
                create({ recipe: recipeFrom(form) });
              }}
            >
              <RecipeFormFields f={form} set={(p) => setForm((f) => ({ ...f, ...p }))} deployments={names} error={error} />
              <ErrorAlert error={error} shownAtFields={FORM_FIELDS} />
              <div className="form-actions">
                <button type="submit" className="btn primary" disabled={busy}>
                  <Icon name="play" />
                  {busy ? 'Starting…' : 'Run benchmark'}
                </button>
              </div>
            </form>
            <Panel title="The recipe" meta="what the form sends">
              <CodeBlock label="Recipe preview" code={preview} />
            </Panel>
          </div>
        )}
      </Tabs>
    </div>
  );
}

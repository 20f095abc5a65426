import { useState } from 'react';
import { useSearchParams } from 'react-router';
import { type ApiError, type GetOk, api, unwrap } from '../api/client';
import { useQuery } from '../api/useQuery';
import { useSession } from '../auth/session';
import { CodeBlock } from '../components/Code';
import { DataTable } from '../components/DataTable';
import { Dialog } from '../components/Dialog';
import { SelectField, TextField } from '../components/Field';
import { useToast } from '../components/Toast';
import { Ago, Empty, ErrorAlert, PageHead, Panel, StateBadge } from '../components/ui';
import { formatMs, formatTime } from '../lib/format';

type Task = GetOk<'/api/v1/tasks'>['items'][number];
type TaskState = Task['state'];

const STATES: TaskState[] = ['queued', 'running', 'failed', 'succeeded', 'dead', 'cancelled'];

const CANCELLABLE = new Set<TaskState>(['queued', 'running', 'failed']);

export function TaskActions({ t, canChange, onChanged }: { t: Task; canChange: boolean; onChanged: (t: Task) => void }) {
  const [error, setError] = useState<ApiError | undefined>();
  const toast = useToast();
  if (!canChange) return null;
  const run = (what: 'retry' | 'cancel') => {
    const call =
      what === 'retry'
        ? api.POST('/api/v1/tasks/{id}/retry', { params: { path: { id: t.id } } })
        : api.POST('/api/v1/tasks/{id}/cancel', { params: { path: { id: t.id } } });
    unwrap(call).then(
      (updated) => {
        setError(undefined);
        toast(what === 'retry' ? `Retrying ${t.kind} ${t.id}` : updated.state === 'cancelled' ? `Cancelled ${t.id}` : `Cancel requested for ${t.id}`);
        onChanged(updated);
      },
      (err: unknown) => setError(err as ApiError),
    );
  };
  return (
    <span className="row" style={{ gap: 4, flexWrap: 'nowrap' }}>
      {t.state === 'dead' ? (
        <button type="button" className="btn small" onClick={() => run('retry')} aria-label={`Retry task ${t.id}`}>
          Retry
        </button>
      ) : null}
      {CANCELLABLE.has(t.state) && t.cancelRequestedAt === null ? (
        <button type="button" className="btn small danger" onClick={() => run('cancel')} aria-label={`Cancel task ${t.id}`}>
          Cancel
        </button>
      ) : null}
      {error ? (
        <span className="bad-text small" role="alert">
          {error.detail}
        </span>
      ) : null}
    </span>
  );
}

function TaskDetail({ t, onClose }: { t: Task; onClose: () => void }) {
  return (
    <Dialog title={`${t.kind} · ${t.id}`} onClose={onClose} wide>
      <dl className="kv">
        <dt>State</dt>
        <dd>
          <StateBadge state={t.state} />
          {t.cancelRequestedAt ? <span className="warn-text small"> cancel requested</span> : null}
        </dd>
        <dt>Queue</dt>
        <dd>{t.queue}</dd>
        <dt>Attempts</dt>
        <dd>
          {t.attempts} of {t.maxAttempts}
        </dd>
        <dt>Priority</dt>
        <dd>{t.priority}</dd>
        <dt>Created</dt>
        <dd>{formatTime(t.createdAt)}</dd>
        <dt>Runs at</dt>
        <dd>{formatTime(t.runAt)}</dd>
        <dt>Lease</dt>
        <dd>{t.lease ? `${t.lease.owner} until ${formatTime(t.lease.expiresAt)}` : '—'}</dd>
        <dt>Idempotency key</dt>
        <dd className="mono">{t.idempotencyKey ?? '—'}</dd>
      </dl>
      {t.error ? (
        <div className="alert bad">
          <div className="title">
            {t.error.code} {t.error.retryable ? '(retryable)' : '(not retryable)'}
          </div>
          <div>{t.error.message}</div>
        </div>
      ) : null}
      <CodeBlock label="Payload" code={JSON.stringify(t.payload, null, 2) ?? 'null'} />
      {t.result !== undefined && t.result !== null ? <CodeBlock label="Result" code={JSON.stringify(t.result, null, 2)} /> : null}
    </Dialog>
  );
}

export default function Tasks() {
  const session = useSession();
  const [params, setParams] = useSearchParams();
  const queue = params.get('queue') ?? '';
  const state = (params.get('state') ?? '') as TaskState | '';
  const kind = params.get('kind') ?? '';
  const [cursor, setCursor] = useState<string | null>(null);
  const [open, setOpen] = useState<Task | null>(null);
  const setFilter = (k: string, v: string) => {
    const next = new URLSearchParams(params);
    if (v) next.set(k, v);
    else next.delete(k);
    setCursor(null);
    setParams(next, { replace: true });
  };

  const status = useQuery((signal) => unwrap(api.GET('/api/v1/cluster/status', { signal })), [], { refreshOn: ['task.'], pollMs: 5000 });
  const tasks = useQuery(
    (signal) =>
      unwrap(
        api.GET('/api/v1/tasks', {
          signal,
          params: { query: { limit: 100, ...(queue ? { queue } : {}), ...(state ? { state } : {}), ...(kind ? { kind } : {}), ...(cursor ? { cursor } : {}) } },
        }),
      ),
    [queue, state, kind, cursor],
    { refreshOn: ['task.'], pollMs: 5000 },
  );
  // A link to one task (from the event feed) opens it.
  const focus = params.get('focus');
  const focused = useQuery((signal) => unwrap(api.GET('/api/v1/tasks/{id}', { signal, params: { path: { id: focus ?? '' } } })), [focus], { enabled: Boolean(focus) });
  const queues = status.data?.queues ?? [];
  const items = tasks.data?.items ?? [];

  return (
    <div className="page">
      <PageHead title="Tasks" sub="Durable background work by queue: reconciles, analyses, benchmark shards. Dead tasks can be retried; waiting and running ones cancelled." />
      <ErrorAlert error={status.error ?? tasks.error} />
      <div className="stack">
        <Panel title="Queues" meta={`${queues.length}`} flush>
          {queues.length === 0 ? (
            <Empty title="No queue has waiting, running or dead tasks" />
          ) : (
            <table className="data">
              <thead>
                <tr>
                  <th>Queue</th>
                  <th className="num">Pending</th>
                  <th className="num">Running</th>
                  <th className="num">Dead</th>
                  <th className="num">Concurrency</th>
                  <th>
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {queues.map((q) => (
                  <tr key={q.queue} className={q.queue === queue ? 'selected' : undefined}>
                    <td className="name">{q.queue}</td>
                    <td className="num">{q.pending}</td>
                    <td className="num">{q.running}</td>
                    <td className={`num ${q.dead > 0 ? 'bad-text' : ''}`}>{q.dead}</td>
                    <td className="num muted">{q.concurrency ?? 'no limit'}</td>
                    <td className="num">
                      <button type="button" className="btn small ghost" onClick={() => setFilter('queue', q.queue === queue ? '' : q.queue)} aria-pressed={q.queue === queue}>
                        {q.queue === queue ? 'Show all' : 'Show tasks'}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Panel>
        <Panel
          title="Tasks"
          meta="newest first"
          actions={
            <div className="row">
              <SelectField label="Queue" value={queue} onChange={(e) => setFilter('queue', e.target.value)} className="inline-field">
                <option value="">All</option>
                {queues.map((q) => (
                  <option key={q.queue} value={q.queue}>
                    {q.queue}
                  </option>
                ))}
              </SelectField>
              <SelectField label="State" value={state} onChange={(e) => setFilter('state', e.target.value)} className="inline-field">
                <option value="">All</option>
                {STATES.map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </SelectField>
              <TextField label="Kind" value={kind} onChange={(e) => setFilter('kind', e.target.value)} className="inline-field" placeholder="any" />
            </div>
          }
          flush
        >
          <DataTable
            loading={tasks.loading}
            rows={items}
            empty={<Empty title="No tasks match" />}
            head={
              <>
                <th>Task</th>
                <th>Kind</th>
                <th>Queue</th>
                <th>State</th>
                <th className="num">Attempts</th>
                <th>Last error</th>
                <th>Created</th>
                <th className="num">Took</th>
                <th>
                  <span className="visually-hidden">Actions</span>
                </th>
              </>
            }
            row={(t) => (
              <tr key={t.id}>
                <td>
                  <button type="button" className="btn ghost small mono" onClick={() => setOpen(t)}>
                    {t.id}
                  </button>
                </td>
                <td>{t.kind}</td>
                <td className="muted">{t.queue}</td>
                <td>
                  <StateBadge state={t.state} />
                </td>
                <td className="num">
                  {t.attempts}/{t.maxAttempts}
                </td>
                <td className="small" style={{ maxWidth: 340 }}>
                  {t.error ? (
                    <>
                      <code>{t.error.code}</code> {t.error.message}
                    </>
                  ) : (
                    <span className="faint">—</span>
                  )}
                </td>
                <td className="muted nowrap">
                  <Ago ts={t.createdAt} />
                </td>
                <td className="num muted">{t.startedAt && t.finishedAt ? formatMs(t.finishedAt - t.startedAt) : '—'}</td>
                <td className="num">
                  <TaskActions t={t} canChange={session.can('deploy')} onChanged={() => tasks.reload()} />
                </td>
              </tr>
            )}
          />
          {tasks.data?.nextCursor ? (
            <div className="panel-body">
              <button type="button" className="btn" onClick={() => setCursor(tasks.data?.nextCursor ?? null)}>
                Older tasks
              </button>
            </div>
          ) : null}
        </Panel>
      </div>
      {open ? <TaskDetail t={open} onClose={() => setOpen(null)} /> : null}
      {!open && focus && focused.data ? <TaskDetail t={focused.data} onClose={() => setFilter('focus', '')} /> : null}
    </div>
  );
}

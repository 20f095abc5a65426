import { type FormEvent, useState } from 'react';
import { ApiError, type GetOk, type PostBody, type PostOk, api, unwrap } from '../../api/client';
import { useQuery } from '../../api/useQuery';
import { useSession } from '../../auth/session';
import { ALL_SCOPES, SCOPE_HELP, type Scope } from '../../auth/scopes';
import { SecretOnce } from '../../components/Code';
import { DataTable } from '../../components/DataTable';
import { Confirm, Dialog } from '../../components/Dialog';
import { CheckField, SelectField, TextAreaField, TextField } from '../../components/Field';
import { Icon } from '../../components/Icon';
import { useToast } from '../../components/Toast';
import { Ago, ErrorAlert, Panel, StateBadge } from '../../components/ui';
import { formatTime } from '../../lib/format';
import { EXPIRY } from './expiry';

type Key = GetOk<'/api/v1/keys'>['items'][number];
type KeyBody = PostBody<'/api/v1/keys'>;
type CreatedKey = PostOk<'/api/v1/keys'>;

export function CreateKeyForm({ create, onCreated }: { create: (body: KeyBody) => Promise<CreatedKey>; onCreated: (k: CreatedKey) => void }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['read']);
  const [deployments, setDeployments] = useState('');
  const [rpm, setRpm] = useState('');
  const [tpm, setTpm] = useState('');
  const [expires, setExpires] = useState('');
  const [error, setError] = useState<ApiError | undefined>();
  const [busy, setBusy] = useState(false);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (scopes.length === 0) {
      setError(new ApiError(400, 'FORM', 'Choose at least one scope.', '', [{ path: 'scopes', message: 'at least one scope' }]));
      return;
    }
    const body: KeyBody = { name: name.trim(), scopes };
    const limitTo = deployments
      .split(/[\n,]/)
      .map((s) => s.trim())
      .filter(Boolean);
    if (limitTo.length > 0) body.deployments = limitTo;
    if (rpm.trim()) body.rateLimitRpm = Number(rpm);
    if (tpm.trim()) body.rateLimitTpm = Number(tpm);
    if (expires) body.expiresAt = Date.now() + Number(expires) * 1000;
    setBusy(true);
    setError(undefined);
    create(body).then(
      (k) => {
        setBusy(false);
        onCreated(k);
      },
      (err: unknown) => {
        setBusy(false);
        setError(err as ApiError);
      },
    );
  };

  return (
    <form className="form" onSubmit={submit} noValidate aria-label="Create an API key">
      <TextField label="Name" name="name" value={name} onChange={(e) => setName(e.target.value)} error={error} hint="Who or what uses the key" autoComplete="off" />
      <fieldset className="form-section">
        <legend>Scopes</legend>
        <div className="form-grid">
          {ALL_SCOPES.map((s) => (
            <CheckField
              key={s}
              label={s}
              hint={SCOPE_HELP[s]}
              checked={scopes.includes(s)}
              onChange={(e) => setScopes((cur) => (e.target.checked ? [...cur, s] : cur.filter((x) => x !== s)))}
            />
          ))}
        </div>
        {error?.forField('scopes').length ? <div className="error bad-text small">{error.forField('scopes')[0]!.message}</div> : null}
      </fieldset>
      <div className="form-grid">
        <TextAreaField label="Limit infer to deployments" name="deployments" rows={2} value={deployments} onChange={(e) => setDeployments(e.target.value)} error={error} hint="Names, one per line; empty: all" />
        <TextField label="Requests per minute" name="rateLimitRpm" type="number" min={1} value={rpm} onChange={(e) => setRpm(e.target.value)} error={error} hint="Data plane; empty: no limit" />
        <TextField label="Tokens per minute" name="rateLimitTpm" type="number" min={1} value={tpm} onChange={(e) => setTpm(e.target.value)} error={error} hint="Data plane; empty: no limit" />
        <SelectField label="Expires" name="expiresAt" value={expires} onChange={(e) => setExpires(e.target.value)} error={error}>
          {EXPIRY.map((x) => (
            <option key={x.label} value={x.seconds === null ? '' : String(x.seconds)}>
              {x.label}
            </option>
          ))}
        </SelectField>
      </div>
      <ErrorAlert error={error} shownAtFields={['name', 'scopes', 'deployments', 'rateLimitRpm', 'rateLimitTpm', 'expiresAt']} />
      <div className="form-actions">
        <button type="submit" className="btn primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create key'}
        </button>
      </div>
    </form>
  );
}

function KeyState({ k }: { k: Key }) {
  if (k.revokedAt) return <StateBadge state="revoked" />;
  if (k.expiresAt && k.expiresAt < Date.now()) return <StateBadge state="expired" />;
  return <StateBadge state="active" />;
}

/** Admin → API keys: list, create (secret shown once), revoke. */
export default function Keys() {
  const session = useSession();
  const toast = useToast();
  const [all, setAll] = useState(false);
  const q = useQuery((signal) => unwrap(api.GET('/api/v1/keys', { signal, params: { query: all ? { includeRevoked: 'true' } : {} } })), [all], { refreshOn: ['key.'] });
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [revoke, setRevoke] = useState<Key | null>(null);
  const [error, setError] = useState<ApiError | undefined>();

  const doRevoke = (k: Key) => {
    unwrap(api.DELETE('/api/v1/keys/{id}', { params: { path: { id: k.id } } })).then(
      () => {
        setRevoke(null);
        toast(`Revoked ${k.name}`);
        q.reload();
      },
      (err: unknown) => {
        setRevoke(null);
        setError(err as ApiError);
      },
    );
  };

  return (
    <>
      <ErrorAlert error={q.error ?? error} />
      <Panel
        title="API keys"
        meta="stored as SHA-256 hashes; secrets are shown once"
        actions={
          <>
            <CheckField label="Show revoked" checked={all} onChange={(e) => setAll(e.target.checked)} />
            <button type="button" className="btn primary small" onClick={() => setCreating(true)}>
              <Icon name="plus" />
              Create key
            </button>
          </>
        }
        flush
      >
        <DataTable
          loading={q.loading}
          rows={q.data?.items ?? []}
          head={
            <>
              <th>Name</th>
              <th>Prefix</th>
              <th>Scopes</th>
              <th>State</th>
              <th>Limits</th>
              <th>Last used</th>
              <th>Created</th>
              <th>Expires</th>
              <th>
                <span className="visually-hidden">Actions</span>
              </th>
            </>
          }
          row={(k) => (
            <tr key={k.id}>
              <td className="name">
                {k.name}
                {k.id === session.who.id ? <span className="chip accent" style={{ marginLeft: 6 }}>this session</span> : null}
              </td>
              <td className="mono small">{k.prefix}…</td>
              <td>
                <span className="chips">
                  {k.scopes.map((s) => (
                    <span key={s} className="chip">
                      {s}
                    </span>
                  ))}
                </span>
                {k.deployments ? <div className="faint small">infer: {k.deployments.join(', ')}</div> : null}
              </td>
              <td>
                <KeyState k={k} />
              </td>
              <td className="small muted">{[k.rateLimitRpm ? `${k.rateLimitRpm} rpm` : '', k.rateLimitTpm ? `${k.rateLimitTpm} tpm` : ''].filter(Boolean).join(', ') || '—'}</td>
              <td className="muted nowrap">
                <Ago ts={k.lastUsedAt} />
              </td>
              <td className="muted nowrap">
                <Ago ts={k.createdAt} />
              </td>
              <td className="muted nowrap">{k.expiresAt ? formatTime(k.expiresAt) : 'never'}</td>
              <td className="num">
                {!k.revokedAt ? (
                  <button type="button" className="btn small danger" onClick={() => setRevoke(k)} aria-label={`Revoke key ${k.name}`}>
                    Revoke
                  </button>
                ) : null}
              </td>
            </tr>
          )}
        />
      </Panel>
      {creating ? (
        <Dialog
          title={created ? `Key ${created.key.name} created` : 'Create an API key'}
          onClose={() => {
            setCreating(false);
            setCreated(null);
          }}
          wide
          footer={
            created ? (
              <button
                type="button"
                className="btn primary"
                onClick={() => {
                  setCreating(false);
                  setCreated(null);
                }}
              >
                Done
              </button>
            ) : undefined
          }
        >
          {created ? (
            <SecretOnce secret={created.secret} what="API key" />
          ) : (
            <CreateKeyForm
              create={(body) => unwrap(api.POST('/api/v1/keys', { body }))}
              onCreated={(k) => {
                setCreated(k);
                q.reload();
              }}
            />
          )}
        </Dialog>
      ) : null}
      {revoke ? (
        <Confirm title={`Revoke ${revoke.name}?`} confirmLabel="Revoke key" onClose={() => setRevoke(null)} onConfirm={() => doRevoke(revoke)}>
          <p style={{ margin: 0 }}>
            Requests with <code>{revoke.prefix}…</code> are refused at once, on the API and the gateway.
            {revoke.id === session.who.id ? ' This is the key you are signed in with: you will be signed out.' : ''}
          </p>
        </Confirm>
      ) : null}
    </>
  );
}

import { type FormEvent, useState } from 'react';
import { useNavigate, useParams } from 'react-router';
import { ApiError, type GetOk, type PostBody, type PostOk, api, unwrap } from '../api/client';
import { useQuery } from '../api/useQuery';
import { useSession } from '../auth/session';
import { ALL_SCOPES, SCOPE_HELP, type Scope } from '../auth/scopes';
import { CodeBlock, SecretOnce } from '../components/Code';
import { Confirm, Dialog } from '../components/Dialog';
import { CheckField, SelectField, TextAreaField, TextField } from '../components/Field';
import { Icon } from '../components/Icon';
import { Tabs } from '../components/Tabs';
import { useToast } from '../components/Toast';
import { Ago, Empty, ErrorAlert, Loading, PageHead, Panel, StateBadge } from '../components/ui';
import { formatTime } from '../lib/format';

type Key = GetOk<'/api/v1/keys'>['items'][number];
type KeyBody = PostBody<'/api/v1/keys'>;
type CreatedKey = PostOk<'/api/v1/keys'>;
type JoinToken = GetOk<'/api/v1/join-tokens'>['items'][number];
type TokenBody = PostBody<'/api/v1/join-tokens'>;
type CreatedToken = PostOk<'/api/v1/join-tokens'>;

const TABS = ['keys', 'join-tokens', 'audit'] as const;
type Tab = (typeof TABS)[number];

const EXPIRY: { label: string; seconds: number | null }[] = [
  { label: 'Never', seconds: null },
  { label: '1 hour', seconds: 3600 },
  { label: '1 day', seconds: 86_400 },
  { label: '7 days', seconds: 7 * 86_400 },
  { label: '30 days', seconds: 30 * 86_400 },
  { label: '1 year', seconds: 365 * 86_400 },
];

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

function Keys() {
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
        {q.loading ? (
          <Loading />
        ) : (
          <div className="table-wrap">
            <table className="data">
              <thead>
                <tr>
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
                </tr>
              </thead>
              <tbody>
                {(q.data?.items ?? []).map((k) => (
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
                ))}
              </tbody>
            </table>
          </div>
        )}
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

export function CreateTokenForm({ create, onCreated }: { create: (body: TokenBody) => Promise<CreatedToken>; onCreated: (t: CreatedToken) => void }) {
  const [name, setName] = useState('');
  const [expires, setExpires] = useState(String(86_400));
  const [maxUses, setMaxUses] = useState('');
  const [error, setError] = useState<ApiError | undefined>();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: TokenBody = {};
    if (name.trim()) body.name = name.trim();
    // "Never" must be said: a token given no expiry lasts the server's default (24 hours).
    if (expires) body.expiresInSeconds = Number(expires);
    else body.expiresAt = null;
    if (maxUses.trim()) body.maxUses = Number(maxUses);
    create(body).then(onCreated, (err: unknown) => setError(err as ApiError));
  };
  return (
    <form className="form" onSubmit={submit} noValidate aria-label="Create a join token">
      <div className="form-grid">
        <TextField label="Name" name="name" value={name} onChange={(e) => setName(e.target.value)} error={error} hint="What the token is for, e.g. rack-3" />
        <SelectField label="Expires" name="expiresInSeconds" value={expires} onChange={(e) => setExpires(e.target.value)} error={error}>
          {EXPIRY.map((x) => (
            <option key={x.label} value={x.seconds === null ? '' : String(x.seconds)}>
              {x.label}
            </option>
          ))}
        </SelectField>
        <TextField label="Max uses" name="maxUses" type="number" min={1} value={maxUses} onChange={(e) => setMaxUses(e.target.value)} error={error} hint="How many agents may join; empty: no limit" />
      </div>
      <ErrorAlert error={error} shownAtFields={['name', 'expiresInSeconds', 'maxUses']} />
      <div className="form-actions">
        <button type="submit" className="btn primary">
          Create token
        </button>
      </div>
    </form>
  );
}

function JoinTokens() {
  const toast = useToast();
  const [all, setAll] = useState(false);
  const q = useQuery((signal) => unwrap(api.GET('/api/v1/join-tokens', { signal, params: { query: all ? { includeRevoked: 'true' } : {} } })), [all], { refreshOn: ['join_token.'] });
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [revoke, setRevoke] = useState<JoinToken | null>(null);
  const [error, setError] = useState<ApiError | undefined>();
  const server = window.location.origin;
  const close = () => {
    setCreating(false);
    setCreated(null);
  };
  return (
    <>
      <ErrorAlert error={q.error ?? error} />
      <Panel
        title="Join tokens"
        meta="what a new agent presents once to join; it then gets its own credential"
        actions={
          <>
            <CheckField label="Show revoked" checked={all} onChange={(e) => setAll(e.target.checked)} />
            <button type="button" className="btn primary small" onClick={() => setCreating(true)}>
              <Icon name="plus" />
              Create token
            </button>
          </>
        }
        flush
      >
        {q.loading ? (
          <Loading />
        ) : (q.data?.items ?? []).length === 0 ? (
          <Empty title="No join tokens" />
        ) : (
          <table className="data">
            <thead>
              <tr>
                <th>Name</th>
                <th>Prefix</th>
                <th className="num">Uses</th>
                <th>Expires</th>
                <th>Last used</th>
                <th>State</th>
                <th>
                    <span className="visually-hidden">Actions</span>
                  </th>
              </tr>
            </thead>
            <tbody>
              {(q.data?.items ?? []).map((t) => (
                <tr key={t.id}>
                  <td className="name">{t.name}</td>
                  <td className="mono small">{t.prefix}…</td>
                  <td className="num">
                    {t.uses}
                    {t.maxUses ? ` / ${t.maxUses}` : ''}
                  </td>
                  <td className="muted nowrap">{t.expiresAt ? formatTime(t.expiresAt) : 'never'}</td>
                  <td className="muted nowrap">
                    <Ago ts={t.lastUsedAt} />
                  </td>
                  <td>{t.revokedAt ? <StateBadge state="revoked" /> : t.expiresAt && t.expiresAt < Date.now() ? <StateBadge state="expired" /> : <StateBadge state="active" />}</td>
                  <td className="num">
                    {!t.revokedAt ? (
                      <button type="button" className="btn small danger" onClick={() => setRevoke(t)} aria-label={`Revoke join token ${t.name}`}>
                        Revoke
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Panel>
      {creating ? (
        <Dialog title={created ? 'Join token created' : 'Create a join token'} onClose={close} wide footer={created ? <button type="button" className="btn primary" onClick={close}>Done</button> : undefined}>
          {created ? (
            <>
              <SecretOnce secret={created.secret} what="join token" />
              <CodeBlock label="Join a machine" code={`catapult agent --server ${server} --token ${created.secret}`} wrap />
            </>
          ) : (
            <CreateTokenForm
              create={(body) => unwrap(api.POST('/api/v1/join-tokens', { body }))}
              onCreated={(t) => {
                setCreated(t);
                q.reload();
              }}
            />
          )}
        </Dialog>
      ) : null}
      {revoke ? (
        <Confirm
          title={`Revoke ${revoke.name}?`}
          confirmLabel="Revoke token"
          onClose={() => setRevoke(null)}
          onConfirm={() => {
            unwrap(api.DELETE('/api/v1/join-tokens/{id}', { params: { path: { id: revoke.id } } })).then(
              () => {
                setRevoke(null);
                toast(`Revoked ${revoke.name}`);
                q.reload();
              },
              (err: unknown) => {
                setRevoke(null);
                setError(err as ApiError);
              },
            );
          }}
        >
          <p style={{ margin: 0 }}>New agents cannot join with it. Agents that already joined keep their own credentials.</p>
        </Confirm>
      ) : null}
    </>
  );
}

function Audit() {
  const [method, setMethod] = useState<'' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'>('');
  const [actor, setActor] = useState('');
  const [before, setBefore] = useState<number[]>([]);
  const cursor = before.at(-1);
  const q = useQuery(
    (signal) =>
      unwrap(
        api.GET('/api/v1/audit', {
          signal,
          params: { query: { limit: 100, ...(method ? { method } : {}), ...(actor.trim() ? { actor: actor.trim() } : {}), ...(cursor !== undefined ? { before: cursor } : {}) } },
        }),
      ),
    [method, actor, cursor],
  );
  const items = q.data?.items ?? [];
  return (
    <>
      <ErrorAlert error={q.error} />
      <Panel
        title="Audit log"
        meta="every mutating call, newest first"
        actions={
          <div className="row">
            <SelectField label="Method" value={method} onChange={(e) => { setBefore([]); setMethod(e.target.value as typeof method); }} className="inline-field">
              <option value="">All</option>
              <option>POST</option>
              <option>PUT</option>
              <option>PATCH</option>
              <option>DELETE</option>
            </SelectField>
            <TextField label="Actor id" value={actor} onChange={(e) => { setBefore([]); setActor(e.target.value); }} className="inline-field" placeholder="key or agent id" />
          </div>
        }
        flush
      >
        {q.loading ? (
          <Loading />
        ) : items.length === 0 ? (
          <Empty title="Nothing recorded" />
        ) : (
          <div className="table-wrap">
            <table className="data">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Actor</th>
                  <th>Call</th>
                  <th className="num">Status</th>
                  <th>From</th>
                  <th>Request id</th>
                </tr>
              </thead>
              <tbody>
                {items.map((r) => (
                  <tr key={r.seq}>
                    <td className="nowrap muted">{formatTime(r.ts)}</td>
                    <td>
                      {r.actorName ?? <span className="faint">anonymous</span>}
                      {r.actorId ? <div className="faint small mono">{r.actorId}</div> : null}
                    </td>
                    <td className="mono small">
                      <strong>{r.method}</strong> {r.path}
                    </td>
                    <td className={`num ${r.status >= 400 ? 'bad-text' : 'ok-text'}`}>{r.status}</td>
                    <td className="mono small muted">{r.ip}</td>
                    <td className="mono small faint">{r.requestId}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <div className="panel-body row">
          {before.length > 0 ? (
            <button type="button" className="btn" onClick={() => setBefore((b) => b.slice(0, -1))}>
              Newer
            </button>
          ) : null}
          {items.length === 100 ? (
            <button type="button" className="btn" onClick={() => setBefore((b) => [...b, items.at(-1)!.seq])}>
              Older
            </button>
          ) : null}
        </div>
      </Panel>
    </>
  );
}

export default function Admin() {
  const session = useSession();
  const { tab: raw } = useParams();
  const navigate = useNavigate();
  const tab: Tab = (TABS as readonly string[]).includes(raw ?? '') ? (raw as Tab) : 'keys';
  if (!session.can('admin')) {
    return (
      <div className="page">
        <PageHead title="Admin" />
        <Empty title="Admin needs an admin key">API keys, join tokens and the audit log are open to keys with the admin scope only.</Empty>
      </div>
    );
  }
  return (
    <div className="page">
      <PageHead title="Admin" sub="Who may call the API and the gateway, which machines may join, and what was changed." />
      <Tabs
        label="Admin"
        tabs={[
          { key: 'keys', label: 'API keys' },
          { key: 'join-tokens', label: 'Join tokens' },
          { key: 'audit', label: 'Audit log' },
        ]}
        selected={tab}
        onSelect={(t) => void navigate(`/admin/${t}`, { replace: true })}
      >
        {tab === 'keys' ? <Keys /> : tab === 'join-tokens' ? <JoinTokens /> : <Audit />}
      </Tabs>
    </div>
  );
}

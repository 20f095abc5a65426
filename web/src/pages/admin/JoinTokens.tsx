import { type FormEvent, useState } from 'react';
import { type ApiError, type GetOk, type PostBody, type PostOk, api, unwrap } from '../../api/client';
import { useQuery } from '../../api/useQuery';
import { CodeBlock, SecretOnce } from '../../components/Code';
import { DataTable } from '../../components/DataTable';
import { Confirm, Dialog } from '../../components/Dialog';
import { CheckField, SelectField, TextField } from '../../components/Field';
import { Icon } from '../../components/Icon';
import { useToast } from '../../components/Toast';
import { Ago, Empty, ErrorAlert, Panel, StateBadge } from '../../components/ui';
import { formatTime } from '../../lib/format';
import { EXPIRY } from './expiry';

type JoinToken = GetOk<'/api/v1/join-tokens'>['items'][number];
type TokenBody = PostBody<'/api/v1/join-tokens'>;
type CreatedToken = PostOk<'/api/v1/join-tokens'>;

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

/** Admin → Join tokens: what a new agent presents once to join. */
export default function JoinTokens() {
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
        <DataTable
          loading={q.loading}
          rows={q.data?.items ?? []}
          empty={<Empty title="No join tokens" />}
          head={
            <>
              <th>Name</th>
              <th>Prefix</th>
              <th className="num">Uses</th>
              <th>Expires</th>
              <th>Last used</th>
              <th>State</th>
              <th>
                <span className="visually-hidden">Actions</span>
              </th>
            </>
          }
          row={(t) => (
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
          )}
        />
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

import { useState } from 'react';
import { api, unwrap } from '../../api/client';
import { useQuery } from '../../api/useQuery';
import { DataTable } from '../../components/DataTable';
import { SelectField, TextField } from '../../components/Field';
import { Empty, ErrorAlert, Panel } from '../../components/ui';
import { formatTime } from '../../lib/format';

/** Admin → Audit log: every mutating call, newest first, a hundred at a time. */
export default function Audit() {
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
        <DataTable
          loading={q.loading}
          rows={items}
          empty={<Empty title="Nothing recorded" />}
          head={
            <>
              <th>Time</th>
              <th>Actor</th>
              <th>Call</th>
              <th className="num">Status</th>
              <th>From</th>
              <th>Request id</th>
            </>
          }
          row={(r) => (
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
          )}
        />
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

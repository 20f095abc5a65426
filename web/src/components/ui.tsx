import { type ReactNode, useId } from 'react';
import { type ApiError, normalisePath } from '../api/client';
import { formatAgo, formatBytes, formatTime } from '../lib/format';

export type Tone = 'ok' | 'warn' | 'bad' | 'info' | 'idle';

/** How each state word across the API reads at a glance. */
const TONES: Record<string, Tone> = {
  active: 'ok',
  ready: 'ok',
  completed: 'ok',
  succeeded: 'ok',
  running: 'info',
  starting: 'info',
  assigned: 'info',
  provisioning: 'info',
  scheduling: 'warn',
  preparing: 'info',
  pending: 'warn',
  queued: 'idle',
  degraded: 'warn',
  not_ready: 'warn',
  draining: 'warn',
  cordoned: 'warn',
  failed: 'bad',
  dead: 'bad',
  offline: 'bad',
  cancelled: 'idle',
  stopped: 'idle',
  stopping: 'idle',
  revoked: 'idle',
  expired: 'idle',
};

const BUSY = new Set(['running', 'starting', 'provisioning', 'scheduling', 'preparing', 'assigned', 'draining', 'pending']);

export function toneOf(state: string): Tone {
  return TONES[state] ?? 'idle';
}

export function StateBadge({ state, label }: { state: string; label?: string }) {
  const tone = toneOf(state);
  return <span className={`badge ${tone === 'idle' ? '' : tone}${BUSY.has(state) ? ' busy' : ''}`}>{label ?? state.replace(/_/g, ' ')}</span>;
}

/**
 * A bar for a used/total quantity (GPU memory, CPU). `reserved` is what placement has promised
 * but the process does not use yet, drawn hatched after the used part.
 */
export function Meter({
  label,
  used,
  total,
  reserved = 0,
  format = formatBytes,
  caption,
  compact,
  kind = 'usage',
  percentOnly,
}: {
  /** Show only the percentage (utilisation), not used / total. */
  percentOnly?: boolean;
  /** usage: fuller is closer to a limit (amber, then red); ready: fuller is better (green when full). */
  kind?: 'usage' | 'ready';
  label: string;
  used: number;
  total: number;
  reserved?: number;
  format?: (n: number) => string;
  caption?: ReactNode;
  compact?: boolean;
}) {
  const frac = total > 0 ? Math.min(1, used / total) : 0;
  const res = total > 0 ? Math.min(1 - frac, Math.max(0, reserved) / total) : 0;
  const level = kind === 'ready' ? (total > 0 && used >= total ? 'full' : used === 0 ? 'bad' : 'warn') : frac >= 0.9 ? 'bad' : frac >= 0.75 ? 'warn' : 'ok';
  return (
    <div className="meter meterbar" data-level={level}>
      {!compact ? (
        <div className="caption">
          <span>{caption ?? label}</span>
          <span>
            {format(used)} / {format(total)}
          </span>
        </div>
      ) : null}
      <div
        className="track"
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={total}
        aria-valuenow={used}
        aria-valuetext={`${format(used)} of ${format(total)}`}
      >
        <div className="fill" style={{ width: `${frac * 100}%` }} />
        {res > 0 ? <div className="fill reserved" style={{ width: `${res * 100}%` }} /> : null}
      </div>
      {compact ? (
        <div className="caption">
          <span>{percentOnly ? '' : `${format(used)} / ${format(total)}`}</span>
          <span>{Math.round(frac * 100)} %</span>
        </div>
      ) : null}
    </div>
  );
}

export function Progress({ value, label }: { value: number | null; label: string }) {
  if (value === null) {
    return (
      <div className="progress indeterminate" role="progressbar" aria-label={label}>
        <div />
      </div>
    );
  }
  const pct = Math.max(0, Math.min(100, value * 100));
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(pct)}>
      <div style={{ width: `${pct}%` }} />
    </div>
  );
}

export function Stat({ label, value, unit, children }: { label: string; value: ReactNode; unit?: string; children?: ReactNode }) {
  return (
    <div className="stat" role="group" aria-label={label}>
      <div className="label">{label}</div>
      <div className="value">
        {value}
        {unit ? <small>{unit}</small> : null}
      </div>
      {children}
    </div>
  );
}

export function Panel({
  title,
  meta,
  actions,
  children,
  flush,
  id,
  headingLevel = 2,
}: {
  title: ReactNode;
  meta?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  flush?: boolean;
  id?: string;
  headingLevel?: 2 | 3;
}) {
  const H = headingLevel === 2 ? 'h2' : 'h3';
  const auto = useId();
  const titleId = `${id ?? auto}-title`;
  // Named by its heading, so each panel is a landmark region people can jump to.
  return (
    <section className="panel" aria-labelledby={titleId} id={id}>
      <div className="panel-head">
        <H id={titleId}>{title}</H>
        {meta ? <span className="meta">{meta}</span> : null}
        {actions ? <div className="actions">{actions}</div> : null}
      </div>
      <div className={`panel-body${flush ? ' flush' : ''}`}>{children}</div>
    </section>
  );
}

export function PageHead({ title, sub, actions }: { title: ReactNode; sub?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="page-head">
      <div className="titles">
        <h1>{title}</h1>
        {sub ? <div className="sub">{sub}</div> : null}
      </div>
      {actions ? <div className="actions">{actions}</div> : null}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <strong>{title}</strong>
      {children}
    </div>
  );
}

export function Loading({ rows = 3, label = 'Loading' }: { rows?: number; label?: string }) {
  return (
    <div className="panel-body" role="status" aria-label={label}>
      <div className="stack" style={{ gap: 10 }}>
        {Array.from({ length: rows }, (_, i) => (
          <div key={i} className="skeleton" style={{ width: `${90 - i * 15}%` }} />
        ))}
      </div>
    </div>
  );
}

/**
 * An API error as the user should read it: what went wrong, then what to do. Field errors shown
 * next to their fields (`shownAtFields`) are not repeated here.
 */
export function ErrorAlert({ error, title, shownAtFields = [] }: { error: ApiError | undefined | null; title?: string; shownAtFields?: readonly string[] }) {
  if (!error) return null;
  const unplaced = error.errors.filter((e) => (e.path !== '' || e.line) && !shownAtFields.includes(normalisePath(e.path)));
  return (
    <div className="alert bad" role="alert">
      <div className="title">{title ?? error.detail}</div>
      {title ? <div>{error.detail}</div> : null}
      {error.hint ? <div className="hint">{error.hint}</div> : null}
      {unplaced.length > 0 ? (
        <ul>
          {unplaced.map((e, i) => (
            <li key={i}>
              {e.line ? `line ${e.line}: ` : ''}
              {e.path ? <code>{e.path}</code> : null} {e.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function Ago({ ts }: { ts: number | null | undefined }) {
  if (ts === null || ts === undefined) return <span className="faint">—</span>;
  return (
    <time dateTime={new Date(ts).toISOString()} title={formatTime(ts)}>
      {formatAgo(ts)}
    </time>
  );
}

export function Labels({ labels }: { labels: Record<string, string> }) {
  const entries = Object.entries(labels);
  if (entries.length === 0) return <span className="faint">none</span>;
  return (
    <span className="chips">
      {entries.map(([k, v]) => (
        <span key={k} className="chip">
          {k}={v}
        </span>
      ))}
    </span>
  );
}

export function Fake() {
  return (
    <span className="chip" title="Reported by an agent started with --fake-gpus: a stand-in for GPUs on machines without them">
      fake
    </span>
  );
}

import { Link } from 'react-router';
import type { CatapultEvent } from '../api/events';
import { formatTime } from '../lib/format';

/** Where an event's subject lives in the console, when it has a page. */
export function subjectLink(e: CatapultEvent): string | null {
  const id = e.subject.id;
  const name = typeof e.data.name === 'string' ? e.data.name : id;
  switch (e.subject.kind) {
    case 'deployment':
      return `/deployments/${encodeURIComponent(name)}`;
    case 'worker':
      return `/workers/${encodeURIComponent(id)}`;
    case 'model':
      return `/models/${encodeURIComponent(id)}`;
    case 'benchmark':
      return `/benchmarks/${encodeURIComponent(id)}`;
    case 'task':
      return `/tasks?focus=${encodeURIComponent(id)}`;
    default:
      return null;
  }
}

/**
 * The colour of an event type in the feed. Red is for what went wrong; a key revoked (every
 * benchmark revokes its run key when it ends), a deployment removed or deleted is routine.
 */
export function tone(type: string): 'bad' | 'ok' | 'warn' | undefined {
  if (/(failed|dead|offline|unschedulable|crash|error)/.test(type)) return 'bad';
  if (/(ready|active|completed|succeeded|registered|created|placed)/.test(type)) return 'ok';
  if (/(not_ready|draining|cordoned|stopping|cancel|deleting|rescheduled)/.test(type)) return 'warn';
  return undefined;
}

/** A short line saying what happened, from the fields events commonly carry. */
export function describe(e: CatapultEvent): string {
  const d = e.data;
  const str = (k: string): string | undefined => (typeof d[k] === 'string' || typeof d[k] === 'number' ? String(d[k]) : undefined);
  // Ids are long and alike at the front; their tail tells them apart.
  const who = str('name') ?? (e.subject.kind === 'assignment' ? `replica …${e.subject.id.slice(-6)}` : `${e.subject.kind} …${e.subject.id.slice(-8)}`);
  const parts = [who];
  const from = str('from');
  const to = str('to') ?? str('state');
  if (to) parts.push(from ? `${from} → ${to}` : to);
  for (const k of ['reason', 'summary', 'message', 'worker', 'queue', 'format']) {
    const v = str(k);
    if (v && v !== to) parts.push(v);
  }
  return parts.join(' · ');
}

export function EventList({ events, empty = 'No events yet.', fresh }: { events: readonly CatapultEvent[]; empty?: string; fresh?: number }) {
  if (events.length === 0) return <div className="empty">{empty}</div>;
  return (
    <ul className="feed" aria-label="Events, newest first">
      {events.map((e) => {
        const to = subjectLink(e);
        const time = new Date(e.ts);
        return (
          <li key={e.seq} className={fresh !== undefined && e.seq > fresh ? 'fresh' : undefined}>
            <time dateTime={time.toISOString()} title={formatTime(e.ts)}>
              {time.toLocaleTimeString('en-GB', { hour12: false })}
            </time>
            <div>
              <div className="type" data-tone={tone(e.type)}>
                {e.type}
              </div>
              <div className="what">{to ? <Link to={to}>{describe(e)}</Link> : describe(e)}</div>
            </div>
          </li>
        );
      })}
    </ul>
  );
}

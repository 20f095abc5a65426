import { sql } from 'kysely';
import { z } from 'zod';
import type { AnyDb, CatapultMigration, Store } from '../store/index.js';
import { fromJson, tables, toJson } from '../store/index.js';
import type { Clock } from '../util/index.js';

/** What a subscriber receives: one committed resource change. */
export const eventSchema = z
  .object({
    seq: z.number(),
    ts: z.number(),
    // `<kind>.<verb>`, e.g. `key.created`, `worker.not_ready`.
    type: z.string(),
    subject: z.object({ kind: z.string(), id: z.string() }),
    data: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'Event' });
export type CatapultEvent = z.infer<typeof eventSchema>;

export interface EventInput {
  type: string;
  subject: { kind: string; id: string };
  data?: Record<string, unknown>;
}

interface EventsTable {
  seq: number;
  ts: number;
  type: string;
  subject_kind: string;
  subject_id: string;
  data: string;
}
interface EventTables {
  events: EventsTable;
}

export const eventMigrations: Record<string, CatapultMigration> = {
  '0002_events': {
    async up({ db, t, dialect }) {
      await db.schema
        .createTable('events')
        .addColumn('seq', t.serial, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('ts', t.ms, (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('subject_kind', 'text', (c) => c.notNull())
        .addColumn('subject_id', 'text', (c) => c.notNull())
        .addColumn('data', t.json, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('events_subject').on('events').columns(['subject_kind', 'subject_id', 'seq']).execute();
    },
  },
};

type Listener = (event: CatapultEvent) => void;

/**
 * The durable event log. Every resource change appends an event in the same transaction as the
 * change itself, so an event exists if and only if the change was committed. Subscribers (the SSE
 * stream, the gateway's routing table) read from a sequence number onwards; events written by other
 * servers sharing the database are picked up by polling.
 */
export class EventLog {
  private readonly listeners = new Set<Listener>();
  private lastSeen = 0;
  private started: Promise<void> | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private kickPending = false;
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly pollMs: number,
  ) {}

  /**
   * Appends an event inside the caller's transaction. Call `kick()` after the transaction commits so
   * local subscribers see it at once.
   *
   * On Postgres a transaction-scoped advisory lock makes appenders commit in sequence order, so a
   * reader that has seen seq N never later finds a smaller seq committed behind it.
   */
  async append(trx: AnyDb, input: EventInput): Promise<number> {
    if (this.store.dialect === 'postgres') {
      await sql`select pg_advisory_xact_lock(7431001)`.execute(trx);
    }
    const row = await tables<EventTables>(trx)
      .insertInto('events')
      .values({
        ts: this.clock.now(),
        type: input.type,
        subject_kind: input.subject.kind,
        subject_id: input.subject.id,
        data: toJson(input.data ?? {}),
      } as EventsTable)
      .returning('seq')
      .executeTakeFirstOrThrow();
    return Number(row.seq);
  }

  /** Appends one event in its own transaction and notifies subscribers. */
  async publish(input: EventInput): Promise<number> {
    const seq = await this.store.write((trx) => this.append(trx, input));
    this.kick();
    return seq;
  }

  /** Events after `afterSeq`, oldest first. */
  async list(afterSeq: number, limit = 500, types?: string[]): Promise<CatapultEvent[]> {
    let q = tables<EventTables>(this.store.db).selectFrom('events').selectAll().where('seq', '>', afterSeq);
    if (types && types.length > 0) q = q.where('type', 'in', types);
    const rows = await q.orderBy('seq').limit(limit).execute();
    return rows.map(toEvent);
  }

  /** The newest events about the given subjects, oldest first. */
  async listForSubjects(kinds: string[], ids: string[], limit = 500): Promise<CatapultEvent[]> {
    if (ids.length === 0) return [];
    const rows = await tables<EventTables>(this.store.db)
      .selectFrom('events')
      .selectAll()
      .where('subject_kind', 'in', kinds)
      .where('subject_id', 'in', ids)
      .orderBy('seq', 'desc')
      .limit(limit)
      .execute();
    return rows.reverse().map(toEvent);
  }

  /**
   * The newest events whose data has `field` equal to a string `value` (e.g. every event of a
   * deployment's replicas, which carry `owner`), oldest first. Matches on the JSON text, so it is
   * for ids and names, not free text.
   */
  async listByData(field: string, value: string, limit = 500): Promise<CatapultEvent[]> {
    const needle = `%${JSON.stringify(field)}:${JSON.stringify(value)}%`;
    const rows = await tables<EventTables>(this.store.db)
      .selectFrom('events')
      .selectAll()
      .where('data', 'like', needle)
      .orderBy('seq', 'desc')
      .limit(limit)
      .execute();
    return rows
      .reverse()
      .map(toEvent)
      .filter((e) => e.data[field] === value);
  }

  async latestSeq(): Promise<number> {
    const row = await tables<EventTables>(this.store.db)
      .selectFrom('events')
      .select((eb) => eb.fn.max('seq').as('max'))
      .executeTakeFirst();
    return Number(row?.max ?? 0);
  }

  /**
   * Calls `listener` for every event committed after `afterSeq`, first the history, then live.
   * Returns an unsubscribe function.
   */
  async subscribe(afterSeq: number, listener: Listener, types?: string[]): Promise<() => void> {
    let cursor = afterSeq;
    let live = false;
    const buffered: CatapultEvent[] = [];
    const wanted = types && types.length > 0 ? new Set(types) : undefined;
    const deliver = (ev: CatapultEvent) => {
      if (ev.seq <= cursor) return;
      cursor = ev.seq;
      if (!wanted || wanted.has(ev.type)) listener(ev);
    };
    const onEvent: Listener = (ev) => (live ? deliver(ev) : buffered.push(ev));
    this.listeners.add(onEvent);
    this.ensurePolling();
    try {
      for (;;) {
        const page = await this.list(cursor, 1000);
        for (const ev of page) deliver(ev);
        if (page.length < 1000) break;
      }
    } catch (err) {
      this.listeners.delete(onEvent);
      throw err;
    }
    for (const ev of buffered) deliver(ev);
    live = true;
    return () => {
      this.listeners.delete(onEvent);
      if (this.listeners.size === 0) this.stopPolling();
    };
  }

  /** Looks for new events now rather than at the next poll. */
  kick(): void {
    if (this.listeners.size === 0 || this.kickPending || this.closed) return;
    this.kickPending = true;
    setImmediate(() => {
      this.kickPending = false;
      void this.poll();
    });
  }

  close(): void {
    this.closed = true;
    this.stopPolling();
    this.listeners.clear();
  }

  private ensurePolling(): void {
    if (this.pollTimer || this.closed) return;
    // The poller starts from the current end of the log; subscribers read their own history first.
    this.started ??= this.latestSeq().then(
      (seq) => {
        this.lastSeen = Math.max(this.lastSeen, seq);
      },
      () => undefined,
    );
    this.pollTimer = setInterval(() => void this.poll(), this.pollMs);
    this.pollTimer.unref();
  }

  private stopPolling(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  private poll(): Promise<void> {
    if (this.polling) return this.polling;
    this.polling = (async () => {
      try {
        await this.started;
        for (;;) {
          const page = await this.list(this.lastSeen, 1000);
          for (const ev of page) {
            this.lastSeen = ev.seq;
            for (const l of this.listeners) l(ev);
          }
          if (page.length < 1000) break;
        }
      } catch {
        // The store is briefly unreachable; the next poll tries again.
      } finally {
        this.polling = undefined;
      }
    })();
    return this.polling;
  }
}

function toEvent(row: EventsTable): CatapultEvent {
  return {
    seq: Number(row.seq),
    ts: Number(row.ts),
    type: row.type,
    subject: { kind: row.subject_kind, id: row.subject_id },
    data: fromJson<Record<string, unknown>>(row.data, {}),
  };
}

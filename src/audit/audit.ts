import type { CatapultMigration, Store } from '../store/index.js';
import { tables } from '../store/index.js';
import type { Clock } from '../util/index.js';

/** One mutating API call: who did what, to which path, with what outcome. */
export interface AuditRecord {
  seq: number;
  ts: number;
  actorId: string | null;
  actorName: string | null;
  method: string;
  path: string;
  /** The route pattern, e.g. `/api/v1/keys/:id`. */
  route: string | null;
  status: number;
  requestId: string;
  ip: string;
}

interface AuditTable {
  seq: number;
  ts: number;
  actor_id: string | null;
  actor_name: string | null;
  method: string;
  path: string;
  route: string | null;
  status: number;
  request_id: string;
  ip: string;
}
interface AuditTables {
  audit_log: AuditTable;
}

export const auditMigrations: Record<string, CatapultMigration> = {
  '0003_audit_log': {
    async up({ db, t, dialect }) {
      await db.schema
        .createTable('audit_log')
        .addColumn('seq', t.serial, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('ts', t.ms, (c) => c.notNull())
        .addColumn('actor_id', 'text')
        .addColumn('actor_name', 'text')
        .addColumn('method', 'text', (c) => c.notNull())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('route', 'text')
        .addColumn('status', t.int, (c) => c.notNull())
        .addColumn('request_id', 'text', (c) => c.notNull())
        .addColumn('ip', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_log_actor').on('audit_log').columns(['actor_id', 'seq']).execute();
    },
  },
};

export interface AuditQuery {
  limit: number;
  /** Only records with seq below this (paging backwards from the newest). */
  before?: number;
  actorId?: string;
  method?: string;
}

/** Append-only record of every mutating API call. */
export class AuditLog {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async record(entry: Omit<AuditRecord, 'seq' | 'ts'>): Promise<void> {
    await tables<AuditTables>(this.store.db)
      .insertInto('audit_log')
      .values({
        ts: this.clock.now(),
        actor_id: entry.actorId,
        actor_name: entry.actorName,
        method: entry.method,
        path: entry.path.slice(0, 2048),
        route: entry.route,
        status: entry.status,
        request_id: entry.requestId,
        ip: entry.ip,
      } as AuditTable)
      .execute();
  }

  /** Newest first. */
  async list(q: AuditQuery): Promise<AuditRecord[]> {
    let query = tables<AuditTables>(this.store.db).selectFrom('audit_log').selectAll();
    if (q.before !== undefined) query = query.where('seq', '<', q.before);
    if (q.actorId) query = query.where('actor_id', '=', q.actorId);
    if (q.method) query = query.where('method', '=', q.method.toUpperCase());
    const rows = await query.orderBy('seq', 'desc').limit(q.limit).execute();
    return rows.map((r) => ({
      seq: Number(r.seq),
      ts: Number(r.ts),
      actorId: r.actor_id,
      actorName: r.actor_name,
      method: r.method,
      path: r.path,
      route: r.route,
      status: Number(r.status),
      requestId: r.request_id,
      ip: r.ip,
    }));
  }
}

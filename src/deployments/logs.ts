import { sql } from 'kysely';
import type { CatapultMigration, Store } from '../store/index.js';
import { tables } from '../store/index.js';
import type { Clock } from '../util/index.js';

/**
 * Replica output, shipped by agents in batches and kept in the store so any server can show and
 * follow it. Bounded: the newest `keepPerReplica` lines of each replica are kept.
 */
interface LogsTable {
  seq: number;
  replica_id: string;
  deployment_id: string;
  ts: number;
  line: string;
}
interface LogTables {
  replica_logs: LogsTable;
}

export const logMigrations: Record<string, CatapultMigration> = {
  '0320_replica_logs': {
    async up({ db, t, dialect }) {
      await db.schema
        .createTable('replica_logs')
        .addColumn('seq', t.serial, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('replica_id', 'text', (c) => c.notNull())
        .addColumn('deployment_id', 'text', (c) => c.notNull())
        .addColumn('ts', t.ms, (c) => c.notNull())
        .addColumn('line', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('replica_logs_deployment').on('replica_logs').columns(['deployment_id', 'seq']).execute();
      await db.schema.createIndex('replica_logs_replica').on('replica_logs').columns(['replica_id', 'seq']).execute();
    },
  },
};

export interface LogLine {
  seq: number;
  replica: string;
  ts: number;
  line: string;
}

const MAX_LINE = 8192;

export class ReplicaLogs {
  private appendsSincePrune = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly keepPerReplica = 5000,
  ) {}

  async append(batches: { replicaId: string; deploymentId: string; lines: string[] }[]): Promise<number> {
    const now = this.clock.now();
    const rows = batches.flatMap((b) => b.lines.map((line) => ({ replica_id: b.replicaId, deployment_id: b.deploymentId, ts: now, line: line.slice(0, MAX_LINE) })));
    if (rows.length === 0) return 0;
    await this.store.write(async (trx) => {
      for (let i = 0; i < rows.length; i += 200) {
        await tables<LogTables>(trx)
          .insertInto('replica_logs')
          .values(rows.slice(i, i + 200) as LogsTable[])
          .execute();
      }
    });
    this.appendsSincePrune += rows.length;
    if (this.appendsSincePrune > this.keepPerReplica) {
      this.appendsSincePrune = 0;
      await this.prune(batches.map((b) => b.replicaId));
    }
    return rows.length;
  }

  /** Lines of a deployment (optionally one replica) after `since`, or its last `tail` lines. */
  async read(deploymentId: string, opts: { replicaId?: string; since?: number; tail?: number; limit?: number }): Promise<{ items: LogLine[]; next: number }> {
    let q = tables<LogTables>(this.store.db).selectFrom('replica_logs').selectAll().where('deployment_id', '=', deploymentId);
    if (opts.replicaId) q = q.where('replica_id', '=', opts.replicaId);
    let rows: LogsTable[];
    if (opts.since !== undefined && opts.since > 0) {
      rows = await q.where('seq', '>', opts.since).orderBy('seq').limit(opts.limit ?? 1000).execute();
    } else {
      rows = (await q.orderBy('seq', 'desc').limit(opts.tail ?? 100).execute()).reverse();
    }
    const items = rows.map((r) => ({ seq: Number(r.seq), replica: r.replica_id, ts: Number(r.ts), line: r.line }));
    return { items, next: items.at(-1)?.seq ?? opts.since ?? 0 };
  }

  private async prune(replicaIds: string[]): Promise<void> {
    for (const id of new Set(replicaIds)) {
      const cutoff = await tables<LogTables>(this.store.db)
        .selectFrom('replica_logs')
        .select('seq')
        .where('replica_id', '=', id)
        .orderBy('seq', 'desc')
        .offset(this.keepPerReplica)
        .limit(1)
        .executeTakeFirst();
      if (cutoff) {
        await sql`delete from replica_logs where replica_id = ${id} and seq <= ${cutoff.seq}`.execute(this.store.db);
      }
    }
  }
}

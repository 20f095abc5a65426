import { sql } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type Backend, type TestDatabase, createTestDatabase, describeEachBackend } from '../../test/helpers/services.js';
import { type CatapultMigration, Store, fromJson, tables, toJson } from './index.js';

interface Widgets {
  widgets: { id: string; name: string; attrs: string; created_at: number; weight: number | null };
}

const migrations: Record<string, CatapultMigration> = {
  '0001_widgets': {
    async up({ db, t }) {
      await db.schema
        .createTable('widgets')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('attrs', t.json, (c) => c.notNull())
        .addColumn('created_at', t.ms, (c) => c.notNull())
        .addColumn('weight', t.float)
        .execute();
    },
  },
};

describeEachBackend('store', (backend: Backend) => {
  let tdb: TestDatabase;
  let store: Store;

  beforeEach(async () => {
    tdb = await createTestDatabase(backend, 'store');
    store = new Store({ databaseUrl: tdb.databaseUrl, sqliteFile: tdb.sqliteFile, migrations });
  });
  afterEach(async () => {
    await store.close();
    await tdb.cleanup();
  });

  it('applies pending migrations once and reports none pending afterwards', async () => {
    expect((await store.migrationStatus()).pending).toEqual(['0001_widgets']);
    expect(await store.migrate()).toEqual(['0001_widgets']);
    expect(await store.migrate()).toEqual([]);
    expect(await store.migrationStatus()).toEqual({ applied: ['0001_widgets'], pending: [] });
  });

  it('round-trips JSON text, epoch milliseconds beyond 2^31 and floats identically on both dialects', async () => {
    await store.migrate();
    const db = tables<Widgets>(store.db);
    const ts = Date.UTC(2030, 5, 1, 12, 0, 0, 123);
    await db.insertInto('widgets').values({ id: 'w1', name: 'a', attrs: toJson({ gpus: [0, 1] }), created_at: ts, weight: 1.5 }).execute();
    const row = await db.selectFrom('widgets').selectAll().where('id', '=', 'w1').executeTakeFirstOrThrow();
    expect(row.created_at).toBe(ts);
    expect(typeof row.created_at).toBe('number');
    expect(row.weight).toBe(1.5);
    expect(fromJson(row.attrs, {})).toEqual({ gpus: [0, 1] });
  });

  it('rolls a failed write transaction back entirely: nothing half-written', async () => {
    await store.migrate();
    const db = tables<Widgets>(store.db);
    await expect(
      store.write(async (trx) => {
        await tables<Widgets>(trx).insertInto('widgets').values({ id: 'w1', name: 'a', attrs: '{}', created_at: 1, weight: null }).execute();
        // Violates the unique name constraint.
        await tables<Widgets>(trx).insertInto('widgets').values({ id: 'w2', name: 'a', attrs: '{}', created_at: 1, weight: null }).execute();
      }),
    ).rejects.toThrow();
    expect(await db.selectFrom('widgets').selectAll().execute()).toEqual([]);
  });

  it('serialises concurrent write transactions without losing an increment', async () => {
    await store.migrate();
    const db = tables<Widgets>(store.db);
    await db.insertInto('widgets').values({ id: 'c', name: 'counter', attrs: '{}', created_at: 0, weight: null }).execute();
    await Promise.all(
      Array.from({ length: 20 }, () =>
        store.write(async (trx) => {
          const t = tables<Widgets>(trx);
          const row = await store.lockRows(t.selectFrom('widgets').select('created_at').where('id', '=', 'c')).executeTakeFirstOrThrow();
          await t
            .updateTable('widgets')
            .set({ created_at: row.created_at + 1 })
            .where('id', '=', 'c')
            .execute();
        }),
      ),
    );
    const row = await db.selectFrom('widgets').select('created_at').where('id', '=', 'c').executeTakeFirstOrThrow();
    expect(row.created_at).toBe(20);
  });

  it('answers ping while reachable and fails it once closed', async () => {
    await store.ping();
    await sql`select 1`.execute(store.db);
    await store.close();
    await expect(store.ping()).rejects.toThrow();
    // Reopen so afterEach can close cleanly.
    store = new Store({ databaseUrl: tdb.databaseUrl, sqliteFile: tdb.sqliteFile, migrations });
  });
});

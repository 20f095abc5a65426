import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, type Migration, Migrator, PostgresDialect, SqliteDialect, type SqliteDatabase, sql, type Transaction } from 'kysely';
import pg from 'pg';

export type Dialect = 'sqlite' | 'postgres';

/** The untyped query builder; each domain narrows it to its own tables with `tables<T>()`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyDb = Kysely<any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTrx = Transaction<any>;

/** Column types that differ between SQLite and Postgres; migrations use these so one file serves both. */
export interface ColumnTypes {
  /** Epoch milliseconds. */
  ms: 'bigint' | 'integer';
  /** An auto-incrementing 64-bit sequence, for append-only logs. */
  serial: 'bigserial' | 'integer';
  /** Arbitrary JSON, stored as text in both dialects so repository code is identical. */
  json: 'text';
  /** Integer counters and flags (0/1). */
  int: 'integer';
  float: 'double precision' | 'real';
}

export interface MigrationContext {
  db: AnyDb;
  dialect: Dialect;
  t: ColumnTypes;
}

/** A schema migration written once for both dialects. */
export interface CatapultMigration {
  up(ctx: MigrationContext): Promise<void>;
  down?(ctx: MigrationContext): Promise<void>;
}

export interface StoreOptions {
  /** Empty for SQLite; a postgres:// URL otherwise. */
  databaseUrl: string;
  /** Where the SQLite file lives when databaseUrl is empty. */
  sqliteFile: string;
  /** Every migration, keyed by a name that sorts in the order they must run (`0001_foundation`). */
  migrations: Record<string, CatapultMigration>;
  /** Postgres pool size. */
  poolSize?: number;
}

export interface MigrationStatus {
  applied: string[];
  pending: string[];
}

/**
 * One handle on the database, SQLite or Postgres. Repository code is the same for both; the few
 * places that must differ ask `dialect`.
 */
export class Store {
  readonly db: AnyDb;
  readonly dialect: Dialect;
  readonly description: string;
  private readonly migrator: Migrator;
  private readonly types: ColumnTypes;

  constructor(private readonly opts: StoreOptions) {
    if (opts.databaseUrl) {
      this.dialect = 'postgres';
      const url = new URL(opts.databaseUrl);
      this.description = `postgres://${url.host}${url.pathname}`;
      const pool = new pg.Pool({
        connectionString: opts.databaseUrl,
        max: opts.poolSize ?? 10,
        // int8 (bigint) columns hold epoch milliseconds and sequence numbers, all well inside 2^53.
        types: { getTypeParser: parseInt8AsNumber },
      });
      // A dropped idle connection must not crash the process; the pool replaces it.
      pool.on('error', () => undefined);
      this.db = new Kysely({ dialect: new PostgresDialect({ pool }) });
      this.types = { ms: 'bigint', serial: 'bigserial', json: 'text', int: 'integer', float: 'double precision' };
    } else {
      this.dialect = 'sqlite';
      const file = resolve(opts.sqliteFile);
      this.description = `sqlite:${file}`;
      // The database holds sealed secrets and everything else Catapult knows: only its owner reads it.
      if (!existsSync(dirname(file))) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      closeSync(openSync(file, 'a', 0o600));
      const database = new SQLite(file);
      database.pragma('journal_mode = WAL');
      // SQLite gives the -wal and -shm files the database file's mode; files of an older start are tightened here.
      for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
      database.pragma('synchronous = NORMAL');
      database.pragma('busy_timeout = 5000');
      database.pragma('foreign_keys = ON');
      this.db = new Kysely({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
      this.types = { ms: 'integer', serial: 'integer', json: 'text', int: 'integer', float: 'real' };
    }
    const ctx = (db: Kysely<unknown>): MigrationContext => ({ db: db as AnyDb, dialect: this.dialect, t: this.types });
    const migrations: Record<string, Migration> = {};
    for (const [name, m] of Object.entries(opts.migrations)) {
      migrations[name] = {
        up: (db) => m.up(ctx(db)),
        ...(m.down ? { down: (db: Kysely<unknown>) => m.down!(ctx(db)) } : {}),
      };
    }
    this.migrator = new Migrator({ db: this.db, provider: { getMigrations: () => Promise.resolve(migrations) } });
  }

  /** Applies every pending migration; safe to call from several servers at once (the migrator locks). */
  async migrate(): Promise<string[]> {
    const { error, results } = await this.migrator.migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error');
      throw new Error(`migration ${failed?.migrationName ?? '?'} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`, {
        cause: error,
      });
    }
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  }

  async migrationStatus(): Promise<MigrationStatus> {
    const all = await this.migrator.getMigrations();
    return {
      applied: all.filter((m) => m.executedAt !== undefined).map((m) => m.name),
      pending: all.filter((m) => m.executedAt === undefined).map((m) => m.name),
    };
  }

  /** Round-trips a trivial query; throws when the database is unreachable. */
  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  /**
   * Runs `fn` in a transaction that takes the write lock up front. On SQLite this is
   * `BEGIN IMMEDIATE`, so two processes sharing a file wait on each other instead of failing
   * with SQLITE_BUSY when a read turns into a write; on Postgres it is an ordinary transaction.
   */
  async write<T>(fn: (trx: AnyDb) => Promise<T>): Promise<T> {
    if (this.dialect === 'postgres') {
      return this.db.transaction().execute((trx) => fn(trx));
    }
    return this.db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      try {
        const result = await fn(conn);
        await sql`commit`.execute(conn);
        return result;
      } catch (err) {
        await sql`rollback`.execute(conn).catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * Adds `FOR UPDATE` (and `SKIP LOCKED`) on Postgres; SQLite has no row locks and needs none,
   * because `write()` already holds the database's single write lock.
   */
  lockRows<QB extends { forUpdate(): QB; skipLocked(): QB }>(qb: QB, opts: { skipLocked?: boolean } = {}): QB {
    if (this.dialect !== 'postgres') return qb;
    const locked = qb.forUpdate();
    return opts.skipLocked ? locked.skipLocked() : locked;
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

/**
 * better-sqlite3 behind a cache of prepared statements: Kysely prepares every query afresh, and for
 * the short statements on hot paths preparing costs about as much as running. Reuse is safe because
 * statements run synchronously on the one connection (a stream holds that connection until it ends);
 * the cache is bounded because IN lists of varying length make ever new texts.
 */
function withStatementCache(database: SQLite.Database, size = 500): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => database.close(),
    prepare(text: string) {
      let stmt = cache.get(text);
      if (stmt) {
        // Re-insert to keep the map in least-recently-used order.
        cache.delete(text);
      } else {
        stmt = database.prepare(text);
        if (cache.size >= size) cache.delete(cache.keys().next().value!);
      }
      cache.set(text, stmt);
      return stmt;
    },
  };
}

function parseInt8AsNumber(oid: number, format?: string): (value: string) => unknown {
  if (oid === 20) return (v: string) => Number(v);
  return pg.types.getTypeParser(oid, (format ?? 'text') as 'text') as (value: string) => unknown;
}

/** Narrows the untyped builder to a domain's own tables. */
export function tables<T>(db: AnyDb): Kysely<T> {
  return db as Kysely<T>;
}

/** Parses a JSON text column written by `toJson`. */
export function fromJson<T>(text: string | null | undefined, fallback: T): T {
  if (text === null || text === undefined || text === '') return fallback;
  return JSON.parse(text) as T;
}

export function toJson(value: unknown): string {
  return JSON.stringify(value ?? null);
}

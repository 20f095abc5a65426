/**
 * Real services for tests: a fresh SQLite file or a fresh Postgres database per test file.
 * Postgres is the one on 127.0.0.1:5432 (trust auth). When it is missing, tests fail under CI=true
 * and are skipped with a loud message otherwise.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe } from 'vitest';
import { isCi } from '../../src/config/index.js';

export const PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

let pgAvailable: Promise<boolean> | undefined;

export function postgresAvailable(): Promise<boolean> {
  pgAvailable ??= (async () => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return pgAvailable;
}

/** Creates an empty Postgres database for one test file; returns its URL and a dropper. */
export async function createPostgresDatabase(label = 'test'): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!(await postgresAvailable())) {
    throw new Error(
      'Postgres is not reachable at 127.0.0.1:5432. Start it with: ' +
        'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
    );
  }
  const name = `catapult_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  await admin.end();
  return {
    url: `postgres://postgres@127.0.0.1:5432/${name}`,
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists "${name}" with (force)`);
      await c.end();
    },
  };
}

/** A scratch directory removed by the returned function. */
export function tempDir(prefix = 'catapult-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export type Backend = 'sqlite' | 'postgres';

/** A database for one test file: an SQLite file or a Postgres database, and its cleanup. */
export interface TestDatabase {
  backend: Backend;
  /** postgres:// URL, or '' for SQLite. */
  databaseUrl: string;
  /** SQLite file (unused for Postgres). */
  sqliteFile: string;
  dataDir: string;
  cleanup: () => Promise<void>;
}

export async function createTestDatabase(backend: Backend, label = 'test'): Promise<TestDatabase> {
  const tmp = tempDir();
  if (backend === 'sqlite') {
    return {
      backend,
      databaseUrl: '',
      sqliteFile: join(tmp.dir, 'catapult.db'),
      dataDir: tmp.dir,
      cleanup: () => Promise.resolve(tmp.remove()),
    };
  }
  const db = await createPostgresDatabase(label);
  return {
    backend,
    databaseUrl: db.url,
    sqliteFile: join(tmp.dir, 'unused.db'),
    dataDir: tmp.dir,
    cleanup: async () => {
      await db.drop();
      tmp.remove();
    },
  };
}

const pgReady = await postgresAvailable();
if (!pgReady && isCi()) {
  // Fail loudly in CI: a missing service is a broken environment, not a reason to skip.
  throw new Error('CI=true but Postgres is not reachable at 127.0.0.1:5432; .ci/run should have started it.');
}

/**
 * Runs the same suite against SQLite and Postgres. Without Postgres (and outside CI) the Postgres
 * half is skipped with a message saying so.
 */
export function describeEachBackend(name: string, fn: (backend: Backend) => void): void {
  describe(`${name} [sqlite]`, () => fn('sqlite'));
  if (pgReady) {
    describe(`${name} [postgres]`, () => fn('postgres'));
  } else {
    describe.skip(`${name} [postgres] — SKIPPED: Postgres not reachable at 127.0.0.1:5432`, () => fn('postgres'));
  }
}

/**
 * Real services for tests: a fresh SQLite file or a fresh Postgres database per test file.
 * Postgres is the one on 127.0.0.1:5432 (trust auth), started by scripts/services/postgres.sh.
 *
 * A suite that needs something outside Node (a service, a Debian package) is declared with
 * `describeWithService`: when the thing is missing the suite FAILS with a message naming what is
 * missing and how to get it (`npm test` runs scripts/test-setup.sh, which installs and starts it).
 * Only quick mode (`npm test -- --quick`, or CATAPULT_TEST_QUICK=1) skips such a suite instead; the
 * reason is recorded, and the run's summary lists the skipped suites and why.
 */
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, it } from 'vitest';

/** Quick mode: suites whose services are missing are skipped (with a reason) instead of failing. */
export function quickMode(): boolean {
  return ['1', 'true', 'yes'].includes((process.env.CATAPULT_TEST_QUICK ?? '').toLowerCase());
}

/** Notes a skipped suite for the run's summary (see test/helpers/skipSummary.ts) and says so on stderr. */
export function recordSkip(suite: string, reason: string): void {
  process.stderr.write(`\n*** SKIPPED "${suite}" (quick mode): ${reason} ***\n`);
  const log = process.env.CATAPULT_TEST_SKIP_LOG;
  if (log) appendFileSync(log, `${JSON.stringify({ suite, reason })}\n`);
}

/**
 * `describe` for a suite that needs a service or a program. `missing` is null when everything is
 * there; otherwise a sentence saying what is missing and what provides it (name the
 * scripts/services/NAME.sh script or the Debian package). Then the suite is one failing test, unless
 * quick mode is on, in which case it is skipped and the reason goes into the run's summary.
 */
export function describeWithService(name: string, missing: string | null, fn: () => void): void {
  if (missing === null) {
    describe(name, fn);
  } else if (quickMode()) {
    recordSkip(name, missing);
    describe.skip(`${name} — SKIPPED: ${missing}`, fn);
  } else {
    describe(name, () => {
      it('has the services and programs it needs', () => {
        throw new Error(
          `${missing}. \`npm test\` installs and starts what the suites need (scripts/test-setup.sh); ` +
            'to skip such suites instead, run `npm test -- --quick` (CATAPULT_TEST_QUICK=1).',
        );
      });
    });
  }
}

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
    throw new Error('Postgres is not reachable at 127.0.0.1:5432. Start it with: scripts/services/postgres.sh');
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
export const POSTGRES_MISSING = pgReady ? null : 'Postgres is not reachable at 127.0.0.1:5432 (scripts/services/postgres.sh starts it)';

/**
 * Runs the same suite against SQLite and Postgres. Without Postgres the Postgres half fails, or in
 * quick mode is skipped with the reason.
 */
export function describeEachBackend(name: string, fn: (backend: Backend) => void): void {
  describe(`${name} [sqlite]`, () => fn('sqlite'));
  describeWithService(`${name} [postgres]`, POSTGRES_MISSING, () => fn('postgres'));
}

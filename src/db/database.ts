/**
 * The Kysely database handle. One pg pool per process; `close()` ends it.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { QuietClient } from './quiet-client.js';
import type { Database } from './schema.js';

// bigint (int8) columns come back as strings; timestamps as Date (pg default).
export type Db = Kysely<Database>;

export interface DatabaseHandle {
  db: Db;
  pool: pg.Pool;
  close(): Promise<void>;
}

export function createDatabase(connectionString: string, opts: { max?: number; applicationName?: string } = {}): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'e2ee-extension',
    // Fail fast instead of queueing forever when the server is gone.
    connectionTimeoutMillis: 10_000,
    // A client losing its connection while checked out must not crash the process either.
    Client: QuietClient,
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, pool, close: () => db.destroy() };
}

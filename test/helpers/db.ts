/**
 * A fresh, migrated database per test file on the suite's PostgreSQL server (TEST_DATABASE_URL),
 * so test files can run in parallel without sharing state. Dropped on teardown.
 */
import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { createDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrator.js';
import type { Database } from '../../src/db/schema.js';
import { readGroupSnapshot } from '../../src/groups/group-repository.js';

interface Teardown { teardown(fn: () => unknown): void }

export function serverUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is not set: run the suite with `npm test`');
  return url;
}

export async function createTestDatabase(t: Teardown): Promise<{ url: string; handle: DatabaseHandle }> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  const handle = createDatabase(url.toString(), { max: 10 });
  await migrate(handle.pool);
  t.teardown(async () => {
    await handle.close().catch(() => {});
    const c = new pg.Client({ connectionString: serverUrl() });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    await c.end();
  });
  return { url: url.toString(), handle };
}

/** The desired state of a group as webhooks left it (what the worker reads), without the worker's own fields. */
export async function desiredGroup(db: Kysely<Database>, tenantId: string, guid: string) {
  const g = await readGroupSnapshot(db, tenantId, guid);
  return g && { guid: g.guid, identity: g.identity, ownerUid: g.ownerUid, deleted: g.deleted, members: g.desiredMembers, desiredVersion: Number(g.desiredVersion) };
}

/** Rows the webhook intake writes, plus reconcile requests: "nothing changed" is equality of two of these. */
export async function webhookRowCounts(db: Kysely<Database>, recorder: { requests: unknown[] }) {
  const { rows } = await sql<{ events: string; groups: string; members: string; outbox: string }>`
    SELECT (SELECT count(*) FROM webhook_events) AS events, (SELECT count(*) FROM groups) AS groups,
           (SELECT count(*) FROM group_members) AS members, (SELECT count(*) FROM reconcile_outbox) AS outbox`.execute(db);
  return { ...rows[0], requests: recorder.requests.length };
}


/**
 * Operators' reads over many groups: a tenant's groups by status (keyset pages in guid order), the
 * users its groups wait for, counts per status, and the database-wide figures behind the metrics.
 * Each statement is served by an index (migrations/0010_operations.sql, 0015, 0005); pending groups
 * are left out of the status index (the intake writes them all the time), so their pages and the
 * per-status counts go through the primary key, in the same guid order.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { GroupError, GroupStatus } from '../db/schema.js';
import type { GroupFigures } from '../metrics/service-metrics.js';

export const GROUP_STATUSES: readonly GroupStatus[] = ['synced', 'pending', 'failed', 'over_capacity', 'deleted'];

export interface GroupListItem {
  guid: string;
  status: GroupStatus;
  lastError: GroupError | null;
  virgilMemberCount: number;
  pendingRegistrationCount: number;
  /** When its oldest change not yet reconciled was recorded; null when the worker is up to date. */
  unsyncedSince: string | null;
  updatedAt: string;
}

export interface Page<T> { items: T[]; nextCursor: string | null }

/** A page of the tenant's groups in guid order, optionally of one status; `cursor`: the last guid seen. */
export async function listGroups(db: Db, tenantId: string, opts: { status?: GroupStatus; limit: number; cursor?: string }): Promise<Page<GroupListItem>> {
  let query = db.selectFrom('groups')
    .select(['guid', 'status', 'last_error', 'virgil_members', 'pending_registration', 'unsynced_since', 'updated_at'])
    .where('tenant_id', '=', tenantId)
    .orderBy('guid')
    .limit(opts.limit + 1);
  if (opts.status !== undefined) query = query.where('status', '=', opts.status);
  if (opts.cursor !== undefined) query = query.where('guid', '>', opts.cursor);
  const rows = await query.execute();
  const items = rows.slice(0, opts.limit).map((r) => ({
    guid: r.guid,
    status: r.status,
    lastError: r.last_error ? { code: r.last_error.code, message: r.last_error.message } : null,
    virgilMemberCount: r.virgil_members.length,
    pendingRegistrationCount: r.pending_registration.length,
    unsyncedSince: r.unsynced_since?.toISOString() ?? null,
    updatedAt: r.updated_at.toISOString(),
  }));
  return { items, nextCursor: rows.length > opts.limit ? items[items.length - 1].guid : null };
}

export interface PendingUser {
  uid: string;
  /** Live groups waiting for this user to register with Virgil. */
  groups: number;
}

/** Users some live group of the tenant waits for (no Virgil card yet), in uid order. */
export async function listPendingUsers(db: Db, tenantId: string, opts: { limit: number; cursor?: string }): Promise<Page<PendingUser>> {
  const after = opts.cursor === undefined ? sql`` : sql`AND p.uid > ${opts.cursor}`;
  const { rows } = await sql<{ uid: string; groups: string }>`
    SELECT p.uid, count(*) AS groups
      FROM groups g, unnest(g.pending_registration) AS p(uid)
     WHERE g.tenant_id = ${tenantId} AND NOT g.deleted AND g.pending_registration <> '{}' ${after}
     GROUP BY p.uid ORDER BY p.uid LIMIT ${opts.limit + 1}`.execute(db);
  const items = rows.slice(0, opts.limit).map((r) => ({ uid: r.uid, groups: Number(r.groups) }));
  return { items, nextCursor: rows.length > opts.limit ? items[items.length - 1].uid : null };
}

/** The tenant's groups per status, every status present (0 when none). */
export async function countGroupsByStatus(db: Db, tenantId: string): Promise<Record<GroupStatus, number>> {
  const rows = await db.selectFrom('groups').select(['status', (eb) => eb.fn.countAll<string>().as('count')])
    .where('tenant_id', '=', tenantId).groupBy('status').execute();
  const counts = Object.fromEntries(GROUP_STATUSES.map((s) => [s, 0])) as Record<GroupStatus, number>;
  for (const r of rows) counts[r.status] = Number(r.count);
  return counts;
}

/** Distinct users some live group of the tenant waits for. */
export async function countPendingUsers(db: Db, tenantId: string): Promise<number> {
  const { rows } = await sql<{ count: string }>`
    SELECT count(DISTINCT p.uid) AS count
      FROM groups g, unnest(g.pending_registration) AS p(uid)
     WHERE g.tenant_id = ${tenantId} AND NOT g.deleted AND g.pending_registration <> '{}'`.execute(db);
  return Number(rows[0]?.count ?? 0);
}

/** When the tenant's oldest change not yet reconciled was recorded, or null. */
export async function oldestUnsyncedChange(db: Db, tenantId: string): Promise<Date | null> {
  const row = await db.selectFrom('groups').select((eb) => eb.fn.min('unsynced_since').as('oldest'))
    .where('tenant_id', '=', tenantId).where('unsynced_since', 'is not', null).executeTakeFirst();
  return (row?.oldest as Date | null | undefined) ?? null;
}

/**
 * Database-wide figures for the metrics: groups per status and memberships waiting for
 * registration, per tenant when `perTenant` (tenant null otherwise).
 */
export async function groupFigures(db: Db, perTenant: boolean): Promise<GroupFigures> {
  const tenantColumn = perTenant ? sql`tenant_id` : sql`NULL::text`;
  const groupBy = perTenant ? sql`GROUP BY tenant_id, status` : sql`GROUP BY status`;
  const [groups, pending] = await Promise.all([
    sql<{ tenant: string | null; status: string; count: string }>`
      SELECT ${tenantColumn} AS tenant, status, count(*) AS count FROM groups ${groupBy}`.execute(db),
    sql<{ tenant: string | null; count: string | null }>`
      SELECT ${tenantColumn} AS tenant, sum(cardinality(pending_registration)) AS count
        FROM groups WHERE NOT deleted AND pending_registration <> '{}' ${perTenant ? sql`GROUP BY tenant_id` : sql``}`.execute(db),
  ]);
  return {
    groups: groups.rows.map((r) => ({ tenant: r.tenant, status: r.status, count: Number(r.count) })),
    pendingMembers: pending.rows.map((r) => ({ tenant: r.tenant, count: Number(r.count ?? 0) })),
  };
}

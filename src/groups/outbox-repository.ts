/**
 * Every read and write of `reconcile_outbox`: a row means "this group must be reconciled". It is
 * written in the same transaction as the change that needs it (so a request survives a crash right
 * after the commit), marked when the sweeper has enqueued it, and cleared by the run that records
 * the group's outcome.
 */
import { sql, type Transaction } from 'kysely';
import type { Db } from '../db/database.js';
import type { Database } from '../db/schema.js';

type Executor = Db | Transaction<Database>;

export interface OutboxTarget { tenant_id: string; guid: string }

/** Records (or renews) a reconcile request for the group. */
export async function requestReconcile(trx: Transaction<Database>, tenantId: string, guid: string): Promise<void> {
  await requestReconciles(trx, tenantId, [guid]);
}

/** requestReconcile for many groups of one tenant, in one statement. */
export async function requestReconciles(trx: Transaction<Database>, tenantId: string, guids: readonly string[]): Promise<void> {
  if (guids.length === 0) return;
  await sql`
    INSERT INTO reconcile_outbox (tenant_id, guid)
    SELECT ${tenantId}::text, guid FROM unnest(${sql.val([...new Set(guids)].sort())}::text[]) AS r(guid)
    ON CONFLICT (tenant_id, guid) DO UPDATE SET requested_at = now(), enqueued_at = NULL`.execute(trx);
}

/** An operator's "reconcile now": records the request; false when the group does not exist. */
export async function requestResync(db: Executor, tenantId: string, guid: string): Promise<boolean> {
  const { rows } = await sql<{ guid: string }>`
    INSERT INTO reconcile_outbox (tenant_id, guid, requested_at, enqueued_at)
    SELECT g.tenant_id, g.guid, now(), NULL FROM groups g WHERE g.tenant_id = ${tenantId} AND g.guid = ${guid}
    ON CONFLICT (tenant_id, guid) DO UPDATE SET requested_at = now(), enqueued_at = NULL
    RETURNING guid`.execute(db);
  return rows.length > 0;
}

/**
 * Requests of active tenants not yet enqueued, or enqueued more than `redeliverAfterMs` ago and
 * still here (the job was lost, e.g. Redis restarted without persistence), oldest first.
 */
export async function dueOutboxRequests(db: Executor, opts: { redeliverAfterMs: number; limit: number }): Promise<OutboxTarget[]> {
  const { rows } = await sql<OutboxTarget>`
    SELECT o.tenant_id, o.guid
      FROM reconcile_outbox o JOIN tenants t ON t.app_id = o.tenant_id AND t.status = 'active'
     WHERE o.enqueued_at IS NULL OR o.enqueued_at < now() - make_interval(secs => ${opts.redeliverAfterMs / 1000})
     ORDER BY o.requested_at LIMIT ${opts.limit}`.execute(db);
  return rows;
}

export async function markEnqueued(db: Executor, targets: OutboxTarget[]): Promise<void> {
  if (targets.length === 0) return;
  await db.updateTable('reconcile_outbox').set({ enqueued_at: sql`now()` })
    .where(sql<boolean>`(tenant_id, guid) IN (SELECT * FROM unnest(${sql.val(targets.map((d) => d.tenant_id))}::text[], ${sql.val(targets.map((d) => d.guid))}::text[]))`)
    .execute();
}

/** The request is fulfilled (the run that read the newest desired state recorded its outcome). */
export async function clearReconcileRequest(trx: Transaction<Database>, tenantId: string, guid: string): Promise<void> {
  await trx.deleteFrom('reconcile_outbox').where('tenant_id', '=', tenantId).where('guid', '=', guid).execute();
}

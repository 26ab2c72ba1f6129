/**
 * Every read and write of `reconcile_outbox`: a row means "this group must be reconciled". It is
 * written in the same transaction as the change that needs it (so a request survives a crash right
 * after the commit), and cleared by the run that records the group's outcome.
 *
 * `enqueued_at` says when the request was handed to the queue. A writer that enqueues right after
 * its commit (the webhook intake, an operator's resync) sets it in that same write — no extra
 * round trip — and clears it again if the queue could not be reached; the sweeper then takes the
 * row on its next pass. A row whose hand-over is older than the redelivery delay is checked against
 * the queue (the job may have been lost, e.g. Redis restarted without persistence, or the process
 * died between its commit and the enqueue); so the sweeper never re-enqueues a group whose job is
 * still waiting or running, which would make a second, useless run.
 */
import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { Db } from '../db/database.js';
import type { Database } from '../db/schema.js';

type Executor = Db | Transaction<Database>;

export interface OutboxTarget { tenant_id: string; guid: string }

/**
 * The statement recording (or renewing) reconcile requests for groups, or null when there is
 * nothing to request (run with other writes: writeDesiredState). `handedToQueue`: the caller
 * enqueues them right after its commit (requestAfterCommit, which marks them if that fails).
 *
 * Returns one row per group: `queued_before` when the group's request had already been handed to
 * the queue by an earlier transaction and is still there, i.e. its job has not recorded an outcome
 * yet. Such a job is waiting (it will read the newest desired state), or running (a run that read
 * an older state cannot record it and queues a follow-up itself: see processor.ts), or lost (the
 * sweeper's redelivery check finds it). A caller need not enqueue that group again, and the hand-
 * over keeps its time, so the redelivery check counts from the first one.
 */
export function reconcileRequestsUpsert(targets: readonly OutboxTarget[], handedToQueue: boolean): RawBuilder<OutboxTarget & { queued_before: boolean }> | null {
  if (targets.length === 0) return null;
  // Once each (an upsert may not touch a row twice), in one order (two writers never wait in a cycle).
  const unique = [...new Map(targets.map((t) => [`${t.tenant_id}\0${t.guid}`, t])).entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, t]) => t);
  const enqueuedAt = handedToQueue ? sql`now()` : sql`NULL::timestamptz`;
  return sql<OutboxTarget & { queued_before: boolean }>`
    INSERT INTO reconcile_outbox AS o (tenant_id, guid, enqueued_at)
    SELECT t.tenant_id, t.guid, ${enqueuedAt}
      FROM unnest(${sql.val(unique.map((t) => t.tenant_id))}::text[], ${sql.val(unique.map((t) => t.guid))}::text[]) AS t(tenant_id, guid)
    ON CONFLICT (tenant_id, guid) DO UPDATE
       SET requested_at = now(),
           enqueued_at = CASE WHEN EXCLUDED.enqueued_at IS NOT NULL THEN coalesce(o.enqueued_at, EXCLUDED.enqueued_at) END
    RETURNING o.tenant_id, o.guid, coalesce(o.enqueued_at < now(), false) AS queued_before`;
}

/**
 * An operator's "reconcile now": records the request, for a run that reads the group from Virgil
 * (whatever a worker kept of it); false when the group does not exist.
 */
export async function requestResync(db: Executor, tenantId: string, guid: string, handedToQueue = false): Promise<boolean> {
  const enqueuedAt = handedToQueue ? sql`now()` : sql`NULL::timestamptz`;
  const { rows } = await sql<{ guid: string }>`
    INSERT INTO reconcile_outbox (tenant_id, guid, requested_at, enqueued_at, reload)
    SELECT g.tenant_id, g.guid, now(), ${enqueuedAt}, true FROM groups g WHERE g.tenant_id = ${tenantId} AND g.guid = ${guid}
    ON CONFLICT (tenant_id, guid) DO UPDATE SET requested_at = now(), enqueued_at = EXCLUDED.enqueued_at, reload = true
    RETURNING guid`.execute(db);
  return rows.length > 0;
}

export interface DueRequest extends OutboxTarget {
  /** Handed to the queue before (more than the redelivery delay ago): check the job is gone first. */
  redelivery: boolean;
}

/**
 * Requests of active tenants never handed to the queue, or handed more than `redeliverAfterMs` ago
 * and still here, oldest first.
 */
export async function dueOutboxRequests(db: Executor, opts: { redeliverAfterMs: number; limit: number }): Promise<DueRequest[]> {
  const { rows } = await sql<DueRequest>`
    SELECT o.tenant_id, o.guid, o.enqueued_at IS NOT NULL AS redelivery
      FROM reconcile_outbox o JOIN tenants t ON t.app_id = o.tenant_id AND t.status = 'active'
     WHERE o.enqueued_at IS NULL OR o.enqueued_at < now() - make_interval(secs => ${opts.redeliverAfterMs / 1000})
     ORDER BY o.requested_at LIMIT ${opts.limit}`.execute(db);
  return rows;
}

/** The queue could not be reached after all: the sweeper takes these on its next pass. */
export async function markNotEnqueued(db: Executor, targets: readonly OutboxTarget[]): Promise<void> {
  await setEnqueuedAt(db, targets, null);
}

export async function markEnqueued(db: Executor, targets: readonly OutboxTarget[]): Promise<void> {
  await setEnqueuedAt(db, targets, sql<Date>`now()`);
}

async function setEnqueuedAt(db: Executor, targets: readonly OutboxTarget[], value: ReturnType<typeof sql<Date>> | null): Promise<void> {
  if (targets.length === 0) return;
  await db.updateTable('reconcile_outbox').set({ enqueued_at: value })
    .where(sql<boolean>`(tenant_id, guid) IN (SELECT * FROM unnest(${sql.val(targets.map((d) => d.tenant_id))}::text[], ${sql.val(targets.map((d) => d.guid))}::text[]))`)
    .execute();
}

/** The request is fulfilled (the run that read the newest desired state recorded its outcome). */
export async function clearReconcileRequest(trx: Transaction<Database>, tenantId: string, guid: string): Promise<void> {
  await trx.deleteFrom('reconcile_outbox').where('tenant_id', '=', tenantId).where('guid', '=', guid).execute();
}

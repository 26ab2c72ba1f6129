/**
 * What the worker reads and writes in PostgreSQL for one group: the desired state (one statement,
 * so the group row and its members come from one snapshot), and the outcome of a run.
 *
 * The outcome is written only if the desired state did not change since it was read
 * (`desired_version` unchanged); otherwise the run reconciled an older state and the group is
 * queued again.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { GroupError, GroupStatus } from '../db/schema.js';
import { readGroupSnapshot, type GroupSnapshot } from './membership-repository.js';
import { PENDING_REGISTRATION_CHANNEL } from './pending-registrations.js';

/** A group as the worker reconciles it: where it lives, and what was read of it in one statement. */
export interface DesiredGroup extends GroupSnapshot {
  tenantId: string;
  guid: string;
}

export async function loadGroupForReconcile(db: Db, tenantId: string, guid: string): Promise<DesiredGroup | null> {
  const snapshot = await readGroupSnapshot(db, tenantId, guid);
  return snapshot && { tenantId, guid, ...snapshot };
}

export interface GroupOutcome {
  status: GroupStatus;
  virgilExists: boolean;
  virgilMembers: string[];
  pendingRegistration: string[];
  lastError: GroupError | null;
  /** Consecutive runs that did not reach `synced` (drives the pending re-check backoff). */
  attempts: number;
  /** Some pending member was not pending before: API processes are told (pending-registrations.ts). */
  newlyPending?: boolean;
}

/**
 * Records the outcome of reconciling `version` and clears the group's outbox row, in one short
 * transaction. Returns false when the desired state moved on meanwhile (nothing is written then;
 * the caller queues another run). Lock order is the intake's (groups row, then outbox row), so the
 * two never deadlock, and a request committed by the intake is never cleared by mistake: it either
 * bumped desired_version before this update (no match) or waits for this commit and re-inserts.
 */
export async function recordOutcome(db: Db, tenantId: string, guid: string, version: string, outcome: GroupOutcome): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const updated = await trx.updateTable('groups')
      .set({
        status: outcome.status,
        virgil_exists: outcome.virgilExists,
        virgil_members: outcome.virgilMembers,
        pending_registration: outcome.pendingRegistration,
        last_error: outcome.lastError === null ? null : JSON.stringify(outcome.lastError),
        attempts: outcome.attempts,
        synced_version: version,
        retry_at: null,
        updated_at: sql`now()`,
      })
      .where('tenant_id', '=', tenantId).where('guid', '=', guid).where('desired_version', '=', version)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) return false;
    // Delivered on commit, so an API process that reloads on it sees these members.
    if (outcome.newlyPending) await sql`SELECT pg_notify(${PENDING_REGISTRATION_CHANNEL}, ${tenantId})`.execute(trx);
    await trx.deleteFrom('reconcile_outbox').where('tenant_id', '=', tenantId).where('guid', '=', guid).execute();
    return true;
  });
}

/**
 * Records a failed attempt without touching what Virgil holds; the status stays and the reason
 * shows, unless the failure is final:
 *  - permanent: the group is failed, `version` counts as handled (and its outbox row is cleared),
 *    so nothing retries it until the desired state changes or an operator asks for a resync;
 *  - retries exhausted: the group is failed and the sweeper retries it after `retryAfterMs`.
 */
export async function recordFailure(
  db: Db, tenantId: string, guid: string,
  failure: { error: GroupError; final: boolean; permanent: boolean; version: string | null; retryAfterMs: number },
): Promise<void> {
  const handledVersion = failure.permanent ? failure.version : null;
  await db.transaction().execute(async (trx) => {
    const updated = await trx.updateTable('groups')
      .set((eb) => ({
        last_error: JSON.stringify(failure.error),
        attempts: eb('attempts', '+', 1),
        updated_at: sql`now()`,
        ...(failure.final ? { status: 'failed' as const } : {}),
        ...(failure.final && !failure.permanent ? { retry_at: sql<Date>`now() + make_interval(secs => ${failure.retryAfterMs / 1000})` } : {}),
        ...(failure.permanent ? { retry_at: null } : {}),
      }))
      .where('tenant_id', '=', tenantId).where('guid', '=', guid)
      .returning('desired_version')
      .executeTakeFirst();
    if (handledVersion === null || updated === undefined || String(updated.desired_version) !== handledVersion) return;
    await trx.updateTable('groups').set({ synced_version: handledVersion })
      .where('tenant_id', '=', tenantId).where('guid', '=', guid).execute();
    await trx.deleteFrom('reconcile_outbox').where('tenant_id', '=', tenantId).where('guid', '=', guid).execute();
  });
}

/**
 * What the worker records of its runs on a group: each change made on Virgil as it is made (the
 * membership version, the cards members hold tickets under), the outcome of a run, a failed attempt;
 * and the key-change lookups that read those cards back.
 *
 * An outcome is written only if the desired state did not change since it was read
 * (`desired_version` unchanged); otherwise the run reconciled an older state and the group is
 * queued again. Lock order is the intake's (groups row, then outbox row), so the two never
 * deadlock, and a request committed by the intake is never cleared by mistake: it either bumped
 * desired_version before the outcome's update (no match) or waits for its commit and re-inserts.
 */
import { sql, type Transaction } from 'kysely';
import type { Db } from '../db/database.js';
import type { Database, GroupError, GroupStatus } from '../db/schema.js';
import { PENDING_REGISTRATION_CHANNEL } from './group-repository.js';
import { clearReconcileRequest } from './outbox-repository.js';

type Executor = Db | Transaction<Database>;

/** One change the worker just made to a Virgil group, recorded as soon as it is made. */
export interface VirgilChange {
  /** Members now holding the tickets under these cards (added or re-added). */
  cards?: Array<{ uid: string; cardId: string }>;
  /** How many of them were re-added after a key change. */
  reAdded?: number;
}

/**
 * Raises the group's membership version and notes the cards members now hold tickets for.
 * Written right after each change, outside the run's versioned outcome: the change happened on
 * Virgil whether or not the run gets to record its outcome (it may be superseded, fail half way
 * or crash), and a client must learn of it to stop encrypting for a removed member.
 */
export async function recordVirgilChange(db: Db, tenantId: string, guid: string, change: VirgilChange = {}): Promise<void> {
  const reAdded = change.reAdded ?? 0;
  const cards = change.cards ?? [];
  // One statement (one round trip, atomic): the group row first, then its members, as every writer.
  await sql`
    WITH changed AS (
      UPDATE groups SET membership_version = membership_version + 1,
             key_changes = key_changes + ${reAdded},
             last_readd_at = CASE WHEN ${reAdded}::int > 0 THEN now() ELSE last_readd_at END
       WHERE tenant_id = ${tenantId} AND guid = ${guid}
      RETURNING tenant_id, guid)
    UPDATE group_members m SET card_id = c.card_id
      FROM changed g, unnest(${sql.val(cards.map((c) => c.uid))}::text[], ${sql.val(cards.map((c) => c.cardId))}::text[]) AS c(uid, card_id)
     WHERE m.tenant_id = g.tenant_id AND m.guid = g.guid AND m.uid = c.uid
       AND m.card_id IS DISTINCT FROM c.card_id`.execute(db);
}

/** Notes the cards members hold the tickets for, without counting a change (first sight of a card). */
export async function recordMemberCards(db: Executor, tenantId: string, guid: string, cards: ReadonlyArray<{ uid: string; cardId: string }>): Promise<void> {
  if (cards.length === 0) return;
  await sql`
    UPDATE group_members m SET card_id = c.card_id
      FROM unnest(${sql.val(cards.map((c) => c.uid))}::text[], ${sql.val(cards.map((c) => c.cardId))}::text[]) AS c(uid, card_id)
     WHERE m.tenant_id = ${tenantId} AND m.guid = ${guid} AND m.uid = c.uid
       AND m.card_id IS DISTINCT FROM c.card_id`.execute(db);
}

/**
 * The groups where `uid` holds tickets under a recorded card other than `cardId`: the groups a
 * key-change check must reconcile. Only groups where the user is a desired member and a Virgil
 * participant, so a removed member is never re-added.
 */
export async function groupsWithStaleCard(db: Executor, tenantId: string, uid: string, cardId: string): Promise<string[]> {
  const { rows } = await sql<{ guid: string }>`
    SELECT m.guid FROM group_members m JOIN groups g ON g.tenant_id = m.tenant_id AND g.guid = m.guid
     WHERE m.tenant_id = ${tenantId} AND m.uid = ${uid} AND m.card_id IS NOT NULL AND m.card_id <> ${cardId}
       AND m.is_member AND m.changed_at >= g.lifecycle_at AND NOT g.deleted AND ${uid} = ANY(g.virgil_members)
     ORDER BY m.guid`.execute(db);
  return rows.map((r) => r.guid);
}

/** Which of `uids` hold tickets in some live group of the tenant (the ones a key check concerns). */
export async function uidsHoldingTickets(db: Executor, tenantId: string, uids: string[]): Promise<string[]> {
  if (uids.length === 0) return [];
  const { rows } = await sql<{ uid: string }>`
    SELECT DISTINCT m.uid FROM group_members m
     WHERE m.tenant_id = ${tenantId} AND m.uid = ANY(${sql.val(uids)}::text[]) AND m.card_id IS NOT NULL AND m.is_member`.execute(db);
  return rows.map((r) => r.uid);
}

export interface GroupOutcome {
  status: GroupStatus;
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
 * the caller queues another run).
 */
export async function recordOutcome(db: Db, tenantId: string, guid: string, version: string, outcome: GroupOutcome): Promise<boolean> {
  // One statement (one round trip, atomic). The pending-registration notice is delivered on
  // commit, so an API process that reloads on it sees these members; the outbox row is cleared
  // only when the outcome was recorded (groups row first, then outbox row, as the intake).
  const { rows } = await sql<{ recorded: boolean }>`
    WITH recorded AS (
      UPDATE groups SET status = ${outcome.status}, virgil_members = ${sql.val(outcome.virgilMembers)}::text[],
             pending_registration = ${sql.val(outcome.pendingRegistration)}::text[],
             last_error = ${outcome.lastError === null ? null : JSON.stringify(outcome.lastError)}::jsonb,
             attempts = ${outcome.attempts}, synced_version = ${version}, retry_at = NULL, updated_at = now()
       WHERE tenant_id = ${tenantId} AND guid = ${guid} AND desired_version = ${version}
      RETURNING tenant_id, guid),
    notified AS (
      SELECT pg_notify(${PENDING_REGISTRATION_CHANNEL}, ${tenantId}) FROM recorded WHERE ${outcome.newlyPending === true}),
    cleared AS (
      DELETE FROM reconcile_outbox o USING recorded r WHERE o.tenant_id = r.tenant_id AND o.guid = r.guid RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM recorded) AS recorded, (SELECT count(*) FROM notified) AS notices, (SELECT count(*) FROM cleared) AS cleared`.execute(db);
  return rows[0]?.recorded === true;
}

/**
 * Records a failed attempt without touching what Virgil holds; the status stays and the reason
 * shows, unless the failure is final:
 *  - permanent: the group is failed, `version` counts as handled (and its outbox row is cleared),
 *    so nothing retries it until the desired state changes or an operator asks for a resync;
 *  - retries exhausted: the group is failed and the sweeper retries it after `retryAfterMs`.
 * Returns true when a permanent failure could not count as handled because the desired state moved
 * on during the run: the caller queues a follow-up run, as after a superseded success.
 */
export async function recordFailure(
  db: Db, tenantId: string, guid: string,
  failure: { error: GroupError; final: boolean; permanent: boolean; version: string | null; retryAfterMs: number },
): Promise<boolean> {
  const handledVersion = failure.permanent ? failure.version : null;
  return db.transaction().execute(async (trx) => {
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
    if (handledVersion === null || updated === undefined) return false;
    if (String(updated.desired_version) !== handledVersion) return true;
    await trx.updateTable('groups').set({ synced_version: handledVersion })
      .where('tenant_id', '=', tenantId).where('guid', '=', guid).execute();
    await clearReconcileRequest(trx, tenantId, guid);
    return false;
  });
}

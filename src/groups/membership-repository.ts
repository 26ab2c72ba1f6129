/**
 * Desired group state in PostgreSQL: recording a webhook event and applying it happen in ONE
 * transaction, together with the reconcile_outbox row, so an accepted event is never half applied
 * and a reconcile request survives a crash right after the commit.
 *
 * Concurrency: every writer of a group's desired state locks its `groups` row first (FOR UPDATE),
 * so decisions about one group are applied one at a time on every replica, while different groups
 * proceed in parallel. Rules are in desired-state.ts.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { GroupError, GroupStatus } from '../db/schema.js';
import type { GroupEvent } from './group-event.js';
import {
  applyDecisions, decidesAnything, decisionsOf, NEVER,
  type GroupRegisters, type MemberDecision,
} from './desired-state.js';

export interface RecordResult {
  /** duplicate: the event key was seen before; nothing was changed. */
  status: 'accepted' | 'duplicate';
  /** The desired state changed: a reconcile was put in the outbox and should be requested. */
  desiredChanged: boolean;
}

/**
 * Stores the event (deduplicated on tenant, source and key) and applies it to the desired state.
 * `groupIdentity` is the tenant's derivation of the Virgil group id.
 */
export async function recordGroupEvent(
  db: Db,
  tenantId: string,
  groupIdentity: (guid: string) => string,
  event: GroupEvent,
): Promise<RecordResult> {
  return db.transaction().execute(async (trx) => {
    const inserted = await trx.insertInto('webhook_events')
      .values({
        tenant_id: tenantId,
        source: event.source,
        event_key: event.key,
        type: event.type,
        occurred_at: event.occurredAt,
        payload: JSON.stringify(event.payload),
      })
      .onConflict((oc) => oc.columns(['tenant_id', 'source', 'event_key']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) return { status: 'duplicate', desiredChanged: false };

    const decisions = decisionsOf(event);
    if (!decidesAnything(decisions)) return { status: 'accepted', desiredChanged: false };

    const lockGroup = () => trx.selectFrom('groups')
      .select(['deleted', 'lifecycle_at', 'owner_uid', 'owner_at'])
      .where('tenant_id', '=', tenantId).where('guid', '=', event.guid)
      .forUpdate()
      .executeTakeFirst();
    let row = await lockGroup();
    let created = false;
    if (!row) {
      // First sight of the group (any order of arrival): a live group no create/delete has decided.
      // A concurrent first sight waits on our insert, then finds the row and locks it.
      const inserted = await trx.insertInto('groups')
        .values({ tenant_id: tenantId, guid: event.guid, identity: groupIdentity(event.guid), lifecycle_at: NEVER })
        .onConflict((oc) => oc.columns(['tenant_id', 'guid']).doNothing())
        .returning('guid')
        .executeTakeFirst();
      created = inserted !== undefined;
      row = await lockGroup();
      if (!row) throw new Error('group row vanished while being locked');
    }
    const registers: GroupRegisters = { deleted: row.deleted, lifecycleAt: row.lifecycle_at, ownerUid: row.owner_uid, ownerAt: row.owner_at };

    const uids = [...decisions.members.keys()];
    const current = new Map<string, MemberDecision>();
    if (uids.length > 0) {
      const rows = await trx.selectFrom('group_members')
        .select(['uid', 'is_member', 'changed_at'])
        .where('tenant_id', '=', tenantId).where('guid', '=', event.guid)
        .where('uid', '=', sql<string>`ANY(${sql.val(uids)}::text[])`)
        .execute();
      for (const r of rows) current.set(r.uid, { isMember: r.is_member, at: r.changed_at });
    }

    const applied = applyDecisions(registers, current, decisions, event.occurredAt);
    const desiredChanged = applied.desiredChanged || created;

    if (applied.memberWrites.size > 0) {
      await trx.insertInto('group_members')
        .values([...applied.memberWrites].map(([uid, d]) => ({
          tenant_id: tenantId, guid: event.guid, uid, is_member: d.isMember, changed_at: d.at,
        })))
        .onConflict((oc) => oc.columns(['tenant_id', 'guid', 'uid']).doUpdateSet((eb) => ({
          is_member: eb.ref('excluded.is_member'),
          changed_at: eb.ref('excluded.changed_at'),
          updated_at: sql`now()`,
        })))
        .execute();
    }

    if (applied.groupWritten || desiredChanged) {
      const g = applied.group;
      await trx.updateTable('groups')
        .set({
          deleted: g.deleted,
          lifecycle_at: g.lifecycleAt,
          owner_uid: g.ownerUid,
          owner_at: g.ownerAt,
          updated_at: sql`now()`,
          // A freshly inserted row already carries desired_version 1 for its first state.
          ...(desiredChanged ? { status: 'pending' as const } : {}),
          ...(applied.desiredChanged && !created ? { desired_version: sql<string>`desired_version + 1` } : {}),
        })
        .where('tenant_id', '=', tenantId).where('guid', '=', event.guid)
        .execute();
    }

    if (desiredChanged) {
      await trx.insertInto('reconcile_outbox')
        .values({ tenant_id: tenantId, guid: event.guid })
        .onConflict((oc) => oc.columns(['tenant_id', 'guid']).doUpdateSet({ requested_at: sql`now()`, enqueued_at: null }))
        .execute();
    }
    return { status: 'accepted', desiredChanged };
  });
}

/** One group as recorded: its row and the members it desires now, read in one statement. */
export interface GroupSnapshot {
  identity: string;
  ownerUid: string | null;
  deleted: boolean;
  /**
   * Sorted uids the group desires: member decisions that say "member" and belong to the current
   * incarnation (made at or after the lifecycle time), as in `countsAsMember` of desired-state.ts;
   * none once deleted. Compared in SQL to keep microsecond precision, sorted in JavaScript so the
   * order never depends on the database collation.
   */
  desiredMembers: string[];
  desiredVersion: string;
  /** What the worker's last run recorded. */
  status: GroupStatus;
  virgilMembers: string[];
  pendingRegistration: string[];
  attempts: number;
  lastError: GroupError | null;
  updatedAt: Date;
}

/** The group's snapshot (the admin status view and the worker both read through it), or null. */
export async function readGroupSnapshot(db: Db, tenantId: string, guid: string): Promise<GroupSnapshot | null> {
  const { rows } = await sql<{
    identity: string; owner_uid: string | null; deleted: boolean; desired_version: string; status: GroupStatus;
    virgil_members: string[]; pending_registration: string[]; attempts: number; last_error: GroupError | null;
    updated_at: Date; members: string[];
  }>`
    SELECT g.identity, g.owner_uid, g.deleted, g.desired_version, g.status, g.virgil_members, g.pending_registration,
           g.attempts, g.last_error, g.updated_at,
           COALESCE((SELECT array_agg(m.uid) FROM group_members m
                      WHERE m.tenant_id = g.tenant_id AND m.guid = g.guid
                        AND m.is_member AND m.changed_at >= g.lifecycle_at), '{}') AS members
      FROM groups g
     WHERE g.tenant_id = ${tenantId} AND g.guid = ${guid}`.execute(db);
  const row = rows[0];
  if (!row) return null;
  return {
    identity: row.identity,
    ownerUid: row.owner_uid,
    deleted: row.deleted,
    desiredMembers: row.deleted ? [] : [...row.members].sort(),
    desiredVersion: String(row.desired_version),
    status: row.status,
    virgilMembers: row.virgil_members,
    pendingRegistration: row.pending_registration,
    attempts: row.attempts,
    lastError: row.last_error,
    updatedAt: row.updated_at,
  };
}

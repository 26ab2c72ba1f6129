/**
 * The operator's view of a group's sync status, and a durable "reconcile now" request.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { GroupError, GroupStatus } from '../db/schema.js';
import { desiredMembersOf } from './membership-repository.js';

export interface GroupStatusView {
  guid: string;
  identity: string;
  status: GroupStatus;
  desiredMembers: string[];
  virgilMembers: string[];
  pendingRegistration: string[];
  lastError: GroupError | null;
  updatedAt: string;
}

/**
 * Desired members follow src/groups/desired-state.ts (`countsAsMember`): member decisions of the
 * current incarnation. A deleted group desires nobody.
 */
export async function getGroupStatus(db: Db, tenantId: string, guid: string): Promise<GroupStatusView | null> {
  const { rows } = await sql<{
    guid: string; identity: string; status: GroupStatus; deleted: boolean; virgil_members: string[];
    pending_registration: string[]; last_error: GroupError | null; updated_at: Date; members: string[];
  }>`
    SELECT g.guid, g.identity, g.status, g.deleted, g.virgil_members, g.pending_registration, g.last_error, g.updated_at,
           ${desiredMembersOf('g')} AS members
      FROM groups g
     WHERE g.tenant_id = ${tenantId} AND g.guid = ${guid}`.execute(db);
  const row = rows[0];
  if (!row) return null;
  return {
    guid: row.guid,
    identity: row.identity,
    status: row.status,
    desiredMembers: row.deleted ? [] : [...row.members].sort(),
    virgilMembers: [...row.virgil_members].sort(),
    pendingRegistration: [...row.pending_registration].sort(),
    lastError: row.last_error ? { code: row.last_error.code, message: row.last_error.message } : null,
    updatedAt: row.updated_at.toISOString(),
  };
}

/**
 * Records a reconcile request in the outbox (so it survives a queue outage); returns false when
 * the group does not exist.
 */
export async function recordResyncRequest(db: Db, tenantId: string, guid: string): Promise<boolean> {
  const { rows } = await sql<{ guid: string }>`
    INSERT INTO reconcile_outbox (tenant_id, guid, requested_at, enqueued_at)
    SELECT g.tenant_id, g.guid, now(), NULL FROM groups g WHERE g.tenant_id = ${tenantId} AND g.guid = ${guid}
    ON CONFLICT (tenant_id, guid) DO UPDATE SET requested_at = now(), enqueued_at = NULL
    RETURNING guid`.execute(db);
  return rows.length > 0;
}

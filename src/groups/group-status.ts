/**
 * The operator's view of a group's sync status, and a durable "reconcile now" request.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { GroupError, GroupStatus } from '../db/schema.js';
import { readGroupSnapshot } from './membership-repository.js';

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

export async function getGroupStatus(db: Db, tenantId: string, guid: string): Promise<GroupStatusView | null> {
  const group = await readGroupSnapshot(db, tenantId, guid);
  if (!group) return null;
  return {
    guid,
    identity: group.identity,
    status: group.status,
    desiredMembers: group.desiredMembers,
    virgilMembers: [...group.virgilMembers].sort(),
    pendingRegistration: [...group.pendingRegistration].sort(),
    lastError: group.lastError ? { code: group.lastError.code, message: group.lastError.message } : null,
    updatedAt: group.updatedAt.toISOString(),
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

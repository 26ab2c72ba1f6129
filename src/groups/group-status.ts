/**
 * The operator's view of a group's sync status.
 */
import type { Db } from '../db/database.js';
import type { GroupError, GroupStatus } from '../db/schema.js';
import { readGroupSnapshot } from './group-repository.js';

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

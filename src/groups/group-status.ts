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
  /** +1 for every change the worker made to the Virgil group. */
  membershipVersion: number;
  /** Members re-added after they changed their key, and the last time that happened. */
  keyChanges: number;
  lastReAddAt: string | null;
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
    membershipVersion: Number(group.membershipVersion),
    keyChanges: group.keyChanges,
    lastReAddAt: group.lastReAddAt?.toISOString() ?? null,
  };
}

/** What a member's client sees of a group (GET /v1/groups/{guid}). */
export interface MemberGroupView {
  guid: string;
  identity: string;
  membershipVersion: number;
  status: GroupStatus;
  updatedAt: string;
}

/**
 * The group as a desired member sees it, or null when `uid` is not a desired member of a live group
 * (so a non-member cannot tell whether the group exists).
 */
export async function getMemberGroupView(db: Db, tenantId: string, guid: string, uid: string): Promise<MemberGroupView | null> {
  const group = await readGroupSnapshot(db, tenantId, guid);
  if (!group || group.deleted || !group.desiredMembers.includes(uid)) return null;
  return {
    guid,
    identity: group.identity,
    membershipVersion: Number(group.membershipVersion),
    status: group.status,
    updatedAt: group.updatedAt.toISOString(),
  };
}

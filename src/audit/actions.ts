import { hostname } from 'node:os';

/**
 * The audit trail's vocabulary: every action an entry can name, and who can be an actor.
 *
 * Admin actions are recorded by the admin API after they succeed; the worker records each change
 * it makes on Virgil (who gained or lost access to which group) right after making it.
 */
export const AUDIT_ACTIONS = {
  tenantOnboarded: 'tenant.onboarded',
  /** A PATCH that replaced the Virgil APP_KEY or its key id. */
  tenantKeyRotated: 'tenant.app_key_rotated',
  tenantDisabled: 'tenant.disabled',
  tenantEnabled: 'tenant.enabled',
  /** Any other settings change (caller auth, webhooks, TTL, rate limits); details name the fields. */
  tenantUpdated: 'tenant.updated',
  groupResyncRequested: 'group.resync_requested',
  /** A bulk import of groups was started (details: its id and source). */
  importStarted: 'groups.import_started',

  groupCreated: 'group.created',
  membersAdded: 'group.members_added',
  membersRemoved: 'group.member_removed',
  /** Access of members who were no longer participants revoked again (a removal finished late). */
  accessRevoked: 'group.access_revoked',
  /** A member's new card re-added to a group after a key change (E3Kit `group.reAdd`). */
  memberReadded: 'group.member_readded',
  groupDeleted: 'group.deleted',
} as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[keyof typeof AUDIT_ACTIONS];
export const AUDIT_ACTION_NAMES: readonly AuditAction[] = Object.values(AUDIT_ACTIONS);

/**
 * The worker's steps on Virgil (src/reconcile's VirgilStep) and the action each one is audited as.
 * A step missing here is not audited.
 */
const ACTION_OF_VIRGIL_STEP: Readonly<Record<string, AuditAction>> = {
  created: AUDIT_ACTIONS.groupCreated,
  added: AUDIT_ACTIONS.membersAdded,
  removed: AUDIT_ACTIONS.membersRemoved,
  revoked: AUDIT_ACTIONS.accessRevoked,
  readded: AUDIT_ACTIONS.memberReadded,
  deleted: AUDIT_ACTIONS.groupDeleted,
};

export function auditActionOfVirgilStep(step: string): AuditAction | null {
  return Object.hasOwn(ACTION_OF_VIRGIL_STEP, step) ? ACTION_OF_VIRGIL_STEP[step] : null;
}

/** An admin token, named by a fingerprint: a digest of its digest, so nothing about it can be recovered. */
export function adminActor(tokenFingerprint: string): string {
  return `admin:${tokenFingerprint}`;
}

/** A worker process: its host name and process id (enough to find its logs); this process by default. */
export function workerActor(host: string = hostname(), pid: number = process.pid): string {
  return `worker:${host}/${pid}`;
}

/**
 * Reconciling one group: make the Virgil group (owned by the tenant's service identity) hold exactly
 * the desired members that have a Virgil card, and record what was done.
 *
 * One run:
 *   1. takes the group's advisory lock (group-lock.ts) — if another run holds it, this run is
 *      postponed (at most one run per group at once, across all workers);
 *   2. reads the desired state (one statement) and notes its desired_version;
 *   3. deleted group → deleteGroup (a no-op when it does not exist);
 *      more than 99 desired members → over_capacity: nobody is added, nothing is created, but
 *      members no longer desired still lose access (removal never grants anything);
 *      otherwise → look up cards (missing = pending registration), load the group or create it,
 *      remove participants no longer desired (new epoch), add registered members missing;
 *   4. records status, Virgil members and pending members for that desired_version — unless the
 *      desired state changed meanwhile, in which case the caller queues another run.
 *
 * Every step is idempotent and reads Virgil's current state first, so re-running after a crash at
 * any point converges (a group created by a run that died is loaded, a removal that died between
 * the new epoch and the revocation is revoked on the next run, see `staleIdentities`).
 */
import type pg from 'pg';
import type { Db } from '../db/database.js';
import type { GroupStatus } from '../db/schema.js';
import type { TenantRuntime } from '../tenants/types.js';
import { withGroupLock } from './group-lock.js';
import { readGroupSnapshot, recordOutcome, type GroupOutcome, type GroupSnapshot as DesiredGroup } from '../groups/group-repository.js';
import type { ServiceIdentities, ServiceIdentity } from '../virgil/service-identities.js';
import { addMembers, createOrLoadOwnGroup, findCards, loadOwnGroup, removeMembers, revokeAccess } from '../virgil/group-ops.js';

/** E3Kit groups hold at most 100 participants, and the service identity is one of them. */
export const MAX_GROUP_MEMBERS = 99;

export type VirgilStep = 'created' | 'removed' | 'added' | 'revoked' | 'deleted';

/**
 * Told of every change a run makes on Virgil, right after it was made and before the run goes on:
 * the worker logs and audits each one with the uids who gained or lost access (`members`), and
 * reliability tests stop runs at exact points through the same seam. Awaited: a throwing
 * observer fails the run there, as a crash at that point would.
 */
export type VirgilChangeObserver = (step: VirgilStep, group: { tenantId: string; guid: string }, members?: string[]) => Promise<void> | void;

export interface ReconcileDeps {
  db: Db;
  /** Pool the group locks are held on (one connection per running job). */
  pool: pg.Pool;
  /** A run still going after this long is abandoned (and retried). */
  runTimeoutMs: number;
  identities: ServiceIdentities;
  observeVirgilChange: VirgilChangeObserver;
}

export type ReconcileResult =
  | { kind: 'locked' }
  | { kind: 'missing' }
  | { kind: 'done'; recorded: boolean; version: string; outcome: GroupOutcome };

/** Filled in as the run proceeds, so a failure can be recorded against the version it read. */
export interface RunProgress { version: string | null }

export async function reconcileGroup(
  deps: ReconcileDeps, tenant: TenantRuntime, guid: string, progress: RunProgress = { version: null },
): Promise<ReconcileResult> {
  const result = await withGroupLock(deps.pool, tenant.appId, guid, deps.runTimeoutMs, async (assertHeld): Promise<ReconcileResult> => {
    const desired = await readGroupSnapshot(deps.db, tenant.appId, guid);
    if (!desired) return { kind: 'missing' };
    progress.version = desired.desiredVersion;
    const outcome = await deps.identities.use(tenant, (svc) => applyToVirgil(svc, tenant, desired, deps.observeVirgilChange));
    // Record only while still holding the group: otherwise another run may have started.
    assertHeld();
    const recorded = await recordOutcome(deps.db, tenant.appId, guid, desired.desiredVersion, outcome);
    return { kind: 'done', recorded, version: desired.desiredVersion, outcome };
  });
  return result.locked ? result.value : { kind: 'locked' };
}

async function applyToVirgil(svc: ServiceIdentity, tenant: TenantRuntime, desired: DesiredGroup, observe: VirgilChangeObserver): Promise<GroupOutcome> {
  const step = async (name: VirgilStep, members?: string[]) => observe(name, { tenantId: desired.tenantId, guid: desired.guid }, members);
  const groupId = desired.identity;

  if (desired.deleted) {
    await svc.eThree.deleteGroup(groupId);
    await step('deleted');
    return { status: 'deleted', virgilMembers: [], pendingRegistration: [], lastError: null, attempts: 0 };
  }

  const uidByIdentity = new Map<string, string>();
  for (const uid of [...desired.virgilMembers, ...desired.desiredMembers]) uidByIdentity.set(tenant.userIdentity(uid), uid);
  const uidsOf = (identities: string[]) => identities.filter((p) => p !== svc.identity).map((p) => uidByIdentity.get(p) ?? p);
  const desiredIdentities = new Set(desired.desiredMembers.map((uid) => tenant.userIdentity(uid)));
  const overCapacity = desired.desiredMembers.length > MAX_GROUP_MEMBERS;

  let group = await loadOwnGroup(svc, groupId);
  const staleBefore = group ? staleIdentities(desired, tenant, group.participants, desiredIdentities) : [];

  // Members that must go, go in every case: removal never grants access to anyone.
  if (group) {
    const leaving = group.participants.filter((p) => p !== svc.identity && !desiredIdentities.has(p));
    if (leaving.length > 0) {
      await removeMembers(group, leaving);
      await step('removed', uidsOf(leaving));
    }
  }
  if (staleBefore.length > 0) {
    await revokeAccess(svc, groupId, staleBefore);
    await step('revoked', uidsOf(staleBefore));
  }

  let pending: string[] = [];
  let status: GroupStatus;
  if (overCapacity) {
    status = 'over_capacity';
  } else {
    const cards = await findCards(svc.eThree, [...desiredIdentities]);
    pending = desired.desiredMembers.filter((uid) => !cards.has(tenant.userIdentity(uid)));
    const registeredCards = desired.desiredMembers.map((uid) => cards.get(tenant.userIdentity(uid))).filter((c) => c !== undefined);
    if (!group) {
      const made = await createOrLoadOwnGroup(svc, groupId, registeredCards);
      group = made.group;
      if (made.created) await step('created', uidsOf(group.participants));
    }
    const before = new Set(group.participants);
    await addMembers(group, registeredCards);
    const added = group.participants.filter((p) => !before.has(p));
    if (added.length > 0) await step('added', uidsOf(added));
    status = pending.length > 0 ? 'pending' : 'synced';
  }

  const participants = group ? group.participants.filter((p) => p !== svc.identity) : [];
  const virgilMembers = [...new Set(participants.map((p) => uidByIdentity.get(p)).filter((uid) => uid !== undefined))].sort();
  const samePending = pending.length === desired.pendingRegistration.length && pending.every((uid) => desired.pendingRegistration.includes(uid));
  return {
    status,
    virgilMembers,
    pendingRegistration: pending,
    lastError: overCapacity
      ? { code: 'GROUP_OVER_CAPACITY', message: `The group has ${desired.desiredMembers.length} members; an end-to-end encrypted group holds at most ${MAX_GROUP_MEMBERS} (100 participants including the service identity). Members were not added.` }
      : null,
    // Consecutive runs with members still pending drive the re-check backoff; a new pending set restarts it.
    attempts: status === 'pending' ? (samePending ? desired.attempts + 1 : 1) : 0,
    newlyPending: pending.some((uid) => !desired.pendingRegistration.includes(uid)),
  };
}

/**
 * Identities recorded as Virgil members by an earlier run that are neither participants now nor
 * desired: a removal whose revocation step did not complete. Their access is revoked again.
 */
function staleIdentities(desired: DesiredGroup, tenant: TenantRuntime, participants: string[], desiredIdentities: Set<string>): string[] {
  const current = new Set(participants);
  return desired.virgilMembers
    .map((uid) => tenant.userIdentity(uid))
    .filter((identity) => !current.has(identity) && !desiredIdentities.has(identity));
}

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
 *      otherwise → look up cards (missing = pending registration) and, at the same time, load the
 *      group — or do not load it: when this worker's previous run of the group left it at the
 *      membership version recorded now (nothing changed it since, see below), or when no run ever
 *      changed it (version 0: it is created, and loaded only if it exists after all); remove
 *      participants no longer desired (new epoch), re-add members whose card changed since they
 *      were given the tickets (a key change), create the group if missing, add registered members
 *      missing — tickets always pushed in batches Virgil accepts (src/virgil/ticket-batches.ts);
 *      each change is recorded as soon as it is made (membership version, cards given);
 *   4. records status, Virgil members and pending members for that desired_version — unless the
 *      desired state changed meanwhile, in which case the caller queues another run.
 *
 * Every step is idempotent and starts from Virgil's current state, so re-running after a crash at
 * any point converges (a group created by a run that died is loaded, a removal that died between
 * the new epoch and the revocation is revoked on the next run, see `staleIdentities`; members a
 * batch did not reach are not participants yet and are added).
 *
 * A kept group stands for Virgil's state because every change to a Virgil group is made by a run
 * holding the group's lock and raises the membership version right after it is made. The one gap,
 * a run elsewhere that changed Virgil and died before recording it, makes the kept group stale; a
 * run that started from a kept group and is refused by Virgil is therefore run once more from
 * Virgil itself (and any failure forgets the kept group, so a retry reads Virgil too). A change made
 * outside the service (with the service identity's key) is seen by an operator's resync, whose run
 * always reads Virgil. (A group created before membership versions existed also reads 0: its create
 * finds it, and the run starts again from it.)
 */
import type { Db } from '../db/database.js';
import type { GroupStatus } from '../db/schema.js';
import type { TenantRuntime } from '../tenants/types.js';
import { classifyFailure } from './failures.js';
import type { SessionLocks } from '../db/session-locks.js';
import { withGroupLock } from './group-lock.js';
import { readGroupSnapshot, type GroupSnapshot as DesiredGroup } from '../groups/group-repository.js';
import { recordMemberCards, recordOutcome, recordVirgilChange, type GroupOutcome, type VirgilChange } from '../groups/run-records.js';
import type { ServiceIdentities, ServiceIdentity, VirgilCard } from '../virgil/service-identities.js';
import {
  addMembers, createOrLoadOwnGroup, doneWithCards, findMemberCards, loadOwnGroup, reAddMember, removeMembers, revokeAccess, type VirgilGroup,
} from '../virgil/group-ops.js';
import { ticketBatcher } from '../virgil/ticket-batches.js';

/** E3Kit groups hold at most 100 participants, and the service identity is one of them. */
export const MAX_GROUP_MEMBERS = 99;

export type VirgilStep = 'created' | 'removed' | 'added' | 'revoked' | 'readded' | 'deleted';

/**
 * Told of every change a run makes on Virgil, right after it was made (and recorded: the group's
 * membership version rose) and before the run goes on: the worker logs each one (who lost or gained
 * access to which group is what an operator audits), and reliability tests stop runs at exact
 * points through the same seam. `uids`: the members the step is about: given the tickets (created,
 * added, readded) or losing them (removed, revoked); the worker audits them. Awaited: a throwing observer fails the run there, as a crash at that point would.
 */
export type VirgilChangeObserver = (step: VirgilStep, group: { tenantId: string; guid: string }, uids: string[]) => Promise<void> | void;

export interface ReconcileDeps {
  db: Db;
  /** The process's locks (one dedicated connection per worker process). */
  locks: SessionLocks;
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
  const result = await withGroupLock(deps.locks, tenant.appId, guid, deps.runTimeoutMs, async (assertHeld): Promise<ReconcileResult> => {
    const held = () => { try { assertHeld(); return true; } catch { return false; } };
    // A second pass only when the first one started from a kept group and Virgil refused a request
    // (a permanent failure, which would not be retried): Virgil may have been changed by a run
    // elsewhere that died before recording it. The second pass reads everything. (A transient
    // failure is retried by the queue, and the kept group is forgotten on any failure.)
    for (let pass = 1; ; pass++) {
      const desired = await readGroupSnapshot(deps.db, tenant.appId, guid);
      if (!desired) return { kind: 'missing' };
      progress.version = desired.desiredVersion;
      const group = { tenantId: desired.tenantId, guid: desired.guid };
      let changes = 0;
      const recorder: ChangeRecorder = {
        async changed(step, change, members) {
          await recordVirgilChange(deps.db, group.tenantId, group.guid, change);
          changes++;
          await deps.observeVirgilChange(step, group, members ?? change?.cards?.map((c) => c.uid) ?? []);
        },
        firstSight: (cards) => recordMemberCards(deps.db, group.tenantId, group.guid, cards),
      };
      let fromKept = false;
      let outcome: GroupOutcome;
      try {
        outcome = await deps.identities.use(tenant, async (svc) => {
          const trusting = pass === 1 && !desired.reload;
          const kept = trusting ? svc.keptGroup(desired.identity, desired.membershipVersion) : null;
          fromKept = kept !== null;
          const found: VirgilCard[][] = [];
          try {
            const applied = await applyToVirgil(svc, tenant, desired, recorder, { kept, trustVersions: trusting, found });
            // As this run leaves it, for the next run of the group here (if nothing changes it meanwhile).
            if (applied.group && held()) svc.keepGroup(desired.identity, applied.group, String(BigInt(desired.membershipVersion) + BigInt(changes)));
            else svc.forgetGroup(desired.identity);
            return applied.outcome;
          } catch (err) {
            svc.forgetGroup(desired.identity);
            throw err;
          } finally {
            doneWithCards(found.flat());
          }
        });
      } catch (err) {
        if (fromKept && held() && classifyFailure(err).kind === 'permanent') continue;
        throw err;
      }
      // Record only while still holding the group: otherwise another run may have started.
      assertHeld();
      const recorded = await recordOutcome(deps.db, tenant.appId, guid, desired.desiredVersion, outcome);
      return { kind: 'done', recorded, version: desired.desiredVersion, outcome };
    }
  });
  return result.locked ? result.value : { kind: 'locked' };
}

/** How a run records what it did on Virgil, as it goes (see recordVirgilChange). */
interface ChangeRecorder {
  /** `members`: the uids the step is about (by default those given tickets in `change`). */
  changed(step: VirgilStep, change?: VirgilChange, members?: string[]): Promise<void>;
  /** Cards of participants seen for the first time (nothing changed on Virgil). */
  firstSight(cards: Array<{ uid: string; cardId: string }>): Promise<void>;
}

interface ApplyOptions {
  /** The group as this instance's previous run left it, when nothing changed on Virgil since. */
  kept: VirgilGroup | null;
  /**
   * Whether a membership version of 0 may be taken to mean "never created" (no load before the
   * create). The create then finds a group a run created and died before recording, and the
   * apply starts again without this shortcut.
   */
  trustVersions: boolean;
  /** Every card the run looked up goes here, to be let go of when the run is over. */
  found: VirgilCard[][];
}

async function applyToVirgil(
  svc: ServiceIdentity, tenant: TenantRuntime, desired: DesiredGroup, record: ChangeRecorder, opts: ApplyOptions,
): Promise<{ outcome: GroupOutcome; group: VirgilGroup | null }> {
  const groupId = desired.identity;

  if (desired.deleted) {
    await svc.eThree.deleteGroup(groupId);
    await record.changed('deleted');
    return { outcome: { status: 'deleted', virgilMembers: [], pendingRegistration: [], lastError: null, attempts: 0 }, group: null };
  }

  const uidByIdentity = new Map<string, string>();
  for (const uid of [...desired.virgilMembers, ...desired.desiredMembers]) uidByIdentity.set(tenant.userIdentity(uid), uid);
  const uidsOf = (identities: string[]) => identities.filter((p) => p !== svc.identity).map((p) => uidByIdentity.get(p) ?? p);
  const desiredIdentities = new Set(desired.desiredMembers.map((uid) => tenant.userIdentity(uid)));
  const overCapacity = desired.desiredMembers.length > MAX_GROUP_MEMBERS;
  const batches = await ticketBatcher(svc);
  const cardEntry = (card: VirgilCard) => ({ uid: uidByIdentity.get(card.identity)!, cardId: card.id });
  const stayingIn = (g: VirgilGroup | null) => (g ? g.participants.filter((p) => p !== svc.identity && desiredIdentities.has(p)) : []);

  // The group and the cards of everyone who will hold the tickets (the new epoch of a removal goes
  // to them, and a card newer than the one a member was given the tickets for is a key change).
  // Over capacity, only those already in the group (nobody is added), so the group comes first.
  // Otherwise the search and the load are independent and run at once; the load is skipped when
  // the group is kept from the previous run, or was never created.
  const neverCreated = opts.trustVersions && desired.membershipVersion === '0';
  let group: VirgilGroup | null;
  let cards: Map<string, VirgilCard>;
  if (overCapacity) {
    group = opts.kept ?? await loadOwnGroup(svc, groupId);
    cards = await findMemberCards(svc, stayingIn(group));
  } else if (opts.kept || neverCreated) {
    group = opts.kept;
    cards = await findMemberCards(svc, [...desiredIdentities]);
  } else if (svc.ownCardKnown) {
    [cards, group] = await Promise.all([findMemberCards(svc, [...desiredIdentities]), loadOwnGroup(svc, groupId)]);
  } else {
    // The own card (needed to load) comes with the members' cards, in one search.
    cards = await findMemberCards(svc, [...desiredIdentities]);
    group = await loadOwnGroup(svc, groupId);
  }
  opts.found.push([...cards.values()]);
  const staleBefore = group ? staleIdentities(desired, tenant, group.participants, desiredIdentities) : [];
  const leaving = group ? group.participants.filter((p) => p !== svc.identity && !desiredIdentities.has(p)) : [];
  const staying = stayingIn(group);

  // Members that must go, go in every case: removal never grants access to anyone.
  if (group && leaving.length > 0) {
    await removeMembers(group, leaving, staying.flatMap((identity) => cards.get(identity) ?? []), batches);
    await record.changed('removed', {}, uidsOf(leaving));
  }
  if (staleBefore.length > 0) {
    await revokeAccess(svc, groupId, staleBefore);
    await record.changed('revoked', {}, uidsOf(staleBefore));
  }

  // Key changes: a member who holds the tickets under an older card gets them again for the new
  // one. Only desired members who are participants now: re-adding grants every epoch, including
  // those made to exclude somebody, so nobody the platform removed is ever re-added.
  if (group) {
    const firstSight: Array<{ uid: string; cardId: string }> = [];
    for (const identity of staying) {
      const card = cards.get(identity);
      const uid = uidByIdentity.get(identity);
      if (!card || uid === undefined) continue;
      const held = desired.memberCards.get(uid);
      if (held === undefined) firstSight.push({ uid, cardId: card.id });
      else if (held !== card.id) {
        await reAddMember(group, card);
        await record.changed('readded', { cards: [{ uid, cardId: card.id }], reAdded: 1 });
      }
    }
    await record.firstSight(firstSight);
  }

  let pending: string[] = [];
  let status: GroupStatus;
  if (overCapacity) {
    status = 'over_capacity';
  } else {
    pending = desired.desiredMembers.filter((uid) => !cards.has(tenant.userIdentity(uid)));
    const registeredCards = desired.desiredMembers.map((uid) => cards.get(tenant.userIdentity(uid))).filter((c) => c !== undefined);
    if (!group) {
      // A large group is created with its first batch; addMembers adds the others below.
      const [firstBatch = []] = await batches(registeredCards);
      const made = await createOrLoadOwnGroup(svc, groupId, firstBatch);
      // It existed after all (a run created it and died before recording): start again from it.
      if (!made.created && neverCreated) return applyToVirgil(svc, tenant, desired, record, { ...opts, kept: made.group, trustVersions: false });
      group = made.group;
      if (made.created) await record.changed('created', { cards: firstBatch.map(cardEntry) });
    }
    await addMembers(group, registeredCards, batches, (added) => record.changed('added', { cards: added.map(cardEntry) }));
    status = pending.length > 0 ? 'pending' : 'synced';
  }

  const participants = group ? group.participants.filter((p) => p !== svc.identity) : [];
  const virgilMembers = [...new Set(participants.map((p) => uidByIdentity.get(p)).filter((uid) => uid !== undefined))].sort();
  const samePending = pending.length === desired.pendingRegistration.length && pending.every((uid) => desired.pendingRegistration.includes(uid));
  const outcome: GroupOutcome = {
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
  return { outcome, group };
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

/**
 * Setting a group's whole desired membership as observed at one moment: the platform's member list
 * read at time T (a drift sweep, an import). A snapshot is an addition of every listed member and a
 * removal of every other member the group has a decision about, all made at T, under the ordering
 * rules of desired-state.ts: decisions later than T still win (the list was read before them), older
 * ones lose, and on a tie removal wins. Members never heard of before and not listed stay unknown:
 * an addition older than T that arrives after the snapshot still counts for them (there is no row
 * to hold the snapshot's verdict), so the result is independent of delivery order only over the
 * members known when the snapshot is applied; the next snapshot settles the rest.
 * The group's lifecycle and owner are left alone: a snapshot never revives a deleted group; a group
 * first seen through a snapshot is live until a create or delete says otherwise.
 *
 * One transaction, in the lock order of record-event.ts (the group row first), with the outbox row
 * when the desired state changed, exactly like a webhook event. Applying the same snapshot twice
 * changes nothing the second time.
 */
import type { Db } from '../db/database.js';
import { applyDecisions } from './desired-state.js';
import { lockGroupRegisters, writeGroupRegisters } from './group-repository.js';
import { allMemberDecisions, writeMemberDecisions } from './member-repository.js';
import { requestReconcile } from './outbox-repository.js';

export interface MembershipSnapshot {
  guid: string;
  /** When the list was read (the start of the read, for a list read page by page). */
  at: Date;
  /** Every member at `at`. */
  members: readonly string[];
}

export interface SnapshotResult {
  /** The desired state changed: a reconcile was put in the outbox and should be requested. */
  desiredChanged: boolean;
  /** The group was first seen through this snapshot. */
  created: boolean;
}

export async function applyGroupSnapshot(
  db: Db,
  tenantId: string,
  groupIdentity: (guid: string) => string,
  snapshot: MembershipSnapshot,
): Promise<SnapshotResult> {
  const { guid, at } = snapshot;
  return db.transaction().execute(async (trx) => {
    const { registers, created } = await lockGroupRegisters(trx, tenantId, guid, () => groupIdentity(guid));
    const current = await allMemberDecisions(trx, tenantId, guid);
    const listed = new Set(snapshot.members);
    const members = new Map<string, boolean>();
    for (const uid of current.keys()) if (!listed.has(uid)) members.set(uid, false);
    for (const uid of listed) members.set(uid, true);

    const applied = applyDecisions(registers, current, { members }, at);
    const desiredChanged = applied.desiredChanged || created;
    await writeMemberDecisions(trx, tenantId, guid, applied.memberWrites);
    if (desiredChanged) {
      await writeGroupRegisters(trx, tenantId, guid, applied.group, { desiredChanged, bumpVersion: applied.desiredChanged && !created });
      await requestReconcile(trx, tenantId, guid);
    }
    return { desiredChanged, created };
  });
}

/**
 * Authoritative snapshots: "as of time T, group G has exactly these members (and this owner)", or
 * "as of T, group G is deleted". They come from an operator (admin PUT/DELETE), an import file, or a
 * platform's REST API (CometChat import and drift repair, and any other platform's reader), and
 * adopt groups that existed before the service, or repair groups whose webhooks were lost.
 *
 * A snapshot is applied inside the ordering model of desired-state.ts, with no rule of its own:
 *
 *   - a membership snapshot at T is a `group.created` at T naming the owner and the members: a new
 *     incarnation of the group starts at T, so every member decision older than T stops counting
 *     (a removal at T of every other member, known now or reported later by a late webhook), each
 *     listed member is added at T, and a deleted group whose deletion is older than T is live again;
 *   - a deletion snapshot at T is a `group.deleted` at T.
 *
 * Hence later events still win and older ones still lose, whatever the order of arrival, ties go to
 * the safe side (a removal or deletion at exactly T beats the snapshot; as for a create, a decision
 * at exactly T about an unlisted member counts as made after it, since platform times often have a
 * one-second resolution), and a repeated snapshot changes nothing.
 *
 * Unlike a webhook, a snapshot is not stored as an event: its effect lives in the registers it wins,
 * and whoever sent it (an import) keeps its own record. The desired version is bumped, and a
 * reconcile requested through the outbox, only when the effective desired state changes (deleted
 * flag, owner or the set of desired members) — re-importing an unchanged platform queues nothing.
 */
import type { Transaction } from 'kysely';
import type { Db } from '../db/database.js';
import type { Database } from '../db/schema.js';
import { invalid } from '../lib/errors.js';
import { isValidId, ID_RULE } from '../lib/ids.js';
import { applyDecisions, decisionsOf, desiredMembers, type GroupRegisters, type MemberDecision } from './desired-state.js';
import { groupKey, lockGroupsRegisters, type GroupRegistersWrite } from './group-repository.js';
import { allMemberDecisions } from './member-repository.js';
import { writeDesiredState } from './record-event.js';

/** A snapshot of one group; ids follow src/lib/ids.ts, `asOf` is the platform time it describes. */
export type GroupSnapshot =
  | { guid: string; asOf: Date; deleted?: false; owner: string | null; members: readonly string[] }
  | { guid: string; asOf: Date; deleted: true };

export interface SnapshotOutcome {
  guid: string;
  /** The group was unknown before: its row was created by this snapshot. */
  created: boolean;
  /** The effective desired state changed: a reconcile was put in the outbox and should be requested. */
  desiredChanged: boolean;
}

/** Members one snapshot may list (far above what an encrypted group can hold: 99). */
export const MAX_SNAPSHOT_MEMBERS = 10_000;
/** Snapshots applied in one transaction by applyGroupSnapshots. */
export const MAX_SNAPSHOTS_PER_BATCH = 1_000;
/**
 * How far in the future `asOf` may lie (clock skew between the platform and us). A snapshot dated
 * later would outrank every real event until then, freezing the group.
 */
export const SNAPSHOT_FUTURE_TOLERANCE_MS = 5 * 60_000;

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * Checks a snapshot as received (admin body or import line) and returns it in applicable form.
 * Throws `invalid` DomainErrors with stable codes: SNAPSHOT_AS_OF_INVALID, SNAPSHOT_AS_OF_IN_FUTURE,
 * SNAPSHOT_ID_INVALID, SNAPSHOT_TOO_MANY_MEMBERS.
 */
export function checkSnapshot(
  input: { guid: unknown; asOf: unknown; deleted?: boolean; owner?: unknown; members?: unknown },
  now: number = Date.now(),
): GroupSnapshot {
  if (!isValidId(input.guid)) throw invalid('SNAPSHOT_ID_INVALID', `guid must be ${ID_RULE}`);
  const asOf = typeof input.asOf === 'string' && ISO_8601.test(input.asOf) ? new Date(input.asOf) : null;
  if (asOf === null || Number.isNaN(asOf.getTime())) {
    throw invalid('SNAPSHOT_AS_OF_INVALID', 'asOf must be an ISO-8601 date-time with a time zone, e.g. 2026-05-01T12:00:00Z');
  }
  if (asOf.getTime() > now + SNAPSHOT_FUTURE_TOLERANCE_MS) {
    throw invalid('SNAPSHOT_AS_OF_IN_FUTURE', `asOf lies more than ${SNAPSHOT_FUTURE_TOLERANCE_MS / 60_000} minutes in the future`);
  }
  if (input.deleted === true) return { guid: input.guid, asOf, deleted: true };
  const owner = input.owner ?? null;
  if (owner !== null && !isValidId(owner)) throw invalid('SNAPSHOT_ID_INVALID', `owner must be ${ID_RULE}, or null`);
  if (!Array.isArray(input.members)) throw invalid('SNAPSHOT_ID_INVALID', 'members must be an array of uids');
  if (input.members.length > MAX_SNAPSHOT_MEMBERS) {
    throw invalid('SNAPSHOT_TOO_MANY_MEMBERS', `a snapshot lists at most ${MAX_SNAPSHOT_MEMBERS} members`);
  }
  const members = new Set<string>();
  for (const uid of input.members) {
    if (!isValidId(uid)) throw invalid('SNAPSHOT_ID_INVALID', `every member must be ${ID_RULE}`);
    members.add(uid);
  }
  return { guid: input.guid, asOf, owner, members: [...members] };
}

interface GroupState {
  before: { registers: GroupRegisters; members: ReadonlyMap<string, MemberDecision> };
  registers: GroupRegisters;
  members: Map<string, MemberDecision>;
  memberWrites: Map<string, MemberDecision>;
  created: boolean;
  groupWritten: boolean;
}

function effective(registers: GroupRegisters, members: ReadonlyMap<string, MemberDecision>): string {
  return JSON.stringify([registers.deleted, registers.ownerUid, desiredMembers(registers, members)]);
}

/**
 * Applies snapshots of one tenant's groups inside the caller's transaction (an import commits its
 * checkpoint in the same one), in the order given: several snapshots of one group are applied one
 * after the other. At most MAX_SNAPSHOTS_PER_BATCH. Rows are locked in guid order. Returns one
 * outcome per distinct guid, in order of first appearance. The caller requests reconciles for the
 * outcomes with `desiredChanged` right after the commit (the outbox rows are written here, marked as
 * handed to the queue: see outbox-repository.ts and requestAfterCommit).
 */
export async function applyGroupSnapshots(
  trx: Transaction<Database>,
  tenantId: string,
  groupIdentity: (guid: string) => string,
  snapshots: readonly GroupSnapshot[],
): Promise<SnapshotOutcome[]> {
  if (snapshots.length === 0) return [];
  if (snapshots.length > MAX_SNAPSHOTS_PER_BATCH) throw new Error(`at most ${MAX_SNAPSHOTS_PER_BATCH} snapshots per batch`);
  const guids = [...new Set(snapshots.map((s) => s.guid))];
  const locked = await lockGroupsRegisters(trx, guids.map((guid) => ({ tenantId, guid, identity: () => groupIdentity(guid) })));
  const decisions = await allMemberDecisions(trx, tenantId, guids);

  const states = new Map<string, GroupState>();
  for (const guid of guids) {
    const { registers, created } = locked.get(groupKey({ tenantId, guid }))!;
    const members = decisions.get(guid)!;
    states.set(guid, { before: { registers, members: new Map(members) }, registers, members, memberWrites: new Map(), created, groupWritten: false });
  }

  for (const snapshot of snapshots) {
    const state = states.get(snapshot.guid)!;
    const event = snapshot.deleted
      ? { type: 'group.deleted' as const, owner: null, members: [] }
      : { type: 'group.created' as const, owner: snapshot.owner, members: [...snapshot.members] };
    const applied = applyDecisions(state.registers, state.members, decisionsOf(event), snapshot.asOf);
    state.registers = applied.group;
    state.groupWritten ||= applied.groupWritten;
    for (const [uid, decision] of applied.memberWrites) {
      state.members.set(uid, decision);
      state.memberWrites.set(uid, decision);
    }
  }

  const outcomes: SnapshotOutcome[] = [];
  const registerWrites: GroupRegistersWrite[] = [];
  const memberWrites: Array<{ tenantId: string; guid: string; decisions: ReadonlyMap<string, MemberDecision> }> = [];
  const changed: Array<{ tenant_id: string; guid: string }> = [];
  for (const [guid, state] of states) {
    const effectiveChange = effective(state.before.registers, state.before.members) !== effective(state.registers, state.members);
    const desiredChanged = effectiveChange || state.created;
    if (state.memberWrites.size > 0) memberWrites.push({ tenantId, guid, decisions: state.memberWrites });
    if (state.groupWritten || desiredChanged) {
      registerWrites.push({ tenantId, guid, registers: state.registers, desiredChanged, versionBumps: effectiveChange && !state.created ? 1 : 0 });
    }
    if (desiredChanged) changed.push({ tenant_id: tenantId, guid });
    outcomes.push({ guid, created: state.created, desiredChanged });
  }
  await writeDesiredState(trx, { members: memberWrites, registers: registerWrites, requests: changed, handedToQueue: true });
  return outcomes;
}

/** One snapshot in its own transaction (see applyGroupSnapshots). */
export async function applyGroupSnapshot(
  db: Db,
  tenantId: string,
  groupIdentity: (guid: string) => string,
  snapshot: GroupSnapshot,
): Promise<SnapshotOutcome> {
  const [outcome] = await db.transaction().execute((trx) => applyGroupSnapshots(trx, tenantId, groupIdentity, [snapshot]));
  return outcome;
}

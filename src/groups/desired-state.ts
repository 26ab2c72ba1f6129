/**
 * Desired group state from webhook events, and the rule that makes it independent of the order
 * (and number) of deliveries.
 *
 * A group's desired state is a set of independent registers, each holding one decision stamped
 * with the event time that made it:
 *   - lifecycle (deleted or not)  — group.created → live, group.deleted → deleted;
 *   - owner                       — group.created (when it names one), group.owner_transferred;
 *   - membership, one per uid     — member_added / member_joined / member_scope_changed → member
 *                                   (a scope can only change for a current member, so the event is
 *                                   evidence of membership and repairs a lost "added");
 *                                   member_left / member_kicked / member_banned → not a member;
 *                                   group.created → the owner and initial members are members;
 *                                   group.owner_transferred → the new owner is a member;
 *                                   member_unbanned decides nothing (unbanned is not a member again).
 *
 * Out-of-order rule: last writer wins on event time, per register. A decision replaces the current
 * one only when its event time is later; an older event is still recorded (webhook_events) but
 * changes nothing. Ties on the same time are broken by value, never by arrival: removal beats
 * membership and deletion beats creation (the safe side for encryption: nobody gains access from a
 * tie), and for the owner the lexicographically greater uid wins. Every register therefore ends at
 * the maximum of its decisions under a total order, which is the same whatever the delivery order
 * and however often an event is repeated.
 *
 * Incarnations: a deleted group keeps its member decisions as history. A later-dated group.created
 * revives it as a new incarnation: membership decisions older than the lifecycle time (the latest
 * create) belong to the previous incarnation and do not count, so the revived group holds its
 * owner, its initial members and whatever happened after the create — exactly what applying the
 * events in time order gives when a create starts from an empty member list. Decisions at the same
 * second as the create count (CometChat times have one-second resolution). A deleted group wants
 * no members at all (its Virgil group is to be deleted); its decisions stay stored as history.
 *
 * A group first seen through a membership or owner event is live with lifecycle time NEVER (the
 * epoch), so any real create or delete, whenever it arrives, takes precedence.
 */
import type { GroupEvent } from './group-event.js';

/** Lifecycle time of a group that no create or delete has decided yet. */
export const NEVER = new Date(0);

export interface GroupRegisters {
  deleted: boolean;
  lifecycleAt: Date;
  ownerUid: string | null;
  ownerAt: Date | null;
}

export interface MemberDecision {
  isMember: boolean;
  at: Date;
}

/** What one event decides, independent of the current state. */
export interface EventDecisions {
  /** Lifecycle decision: true = deleted, false = live, undefined = none. */
  deleted?: boolean;
  owner?: string;
  /** uid → is a member. */
  members: Map<string, boolean>;
}

export function decisionsOf(event: Pick<GroupEvent, 'type' | 'owner' | 'members'>): EventDecisions {
  const members = new Map<string, boolean>();
  const mark = (uids: Iterable<string>, isMember: boolean) => { for (const uid of uids) members.set(uid, isMember); };
  switch (event.type) {
    case 'group.created':
      if (event.owner !== null) mark([event.owner], true);
      mark(event.members, true);
      return { deleted: false, ...(event.owner !== null ? { owner: event.owner } : {}), members };
    case 'group.deleted':
      return { deleted: true, members };
    case 'group.member_added':
    case 'group.member_joined':
    case 'group.member_scope_changed':
      mark(event.members, true);
      return { members };
    case 'group.member_left':
    case 'group.member_kicked':
    case 'group.member_banned':
      mark(event.members, false);
      return { members };
    case 'group.member_unbanned':
      return { members };
    case 'group.owner_transferred':
      if (event.owner !== null) mark([event.owner], true);
      return { ...(event.owner !== null ? { owner: event.owner } : {}), members };
  }
}

/** True when an event decides anything (and so needs the group to exist). */
export function decidesAnything(d: EventDecisions): boolean {
  return d.deleted !== undefined || d.owner !== undefined || d.members.size > 0;
}

/**
 * Does `next` replace `current`? Later time wins; on equal time `tieValue` wins (removal for
 * membership: false; deletion for lifecycle: true). Equal time and value: nothing to change.
 */
export function booleanDecisionWins(
  current: { value: boolean; at: Date } | undefined,
  next: { value: boolean; at: Date },
  tieValue: boolean,
): boolean {
  if (current === undefined) return true;
  const diff = next.at.getTime() - current.at.getTime();
  if (diff !== 0) return diff > 0;
  return next.value !== current.value && next.value === tieValue;
}

export function ownerDecisionWins(current: { uid: string | null; at: Date | null }, next: { uid: string; at: Date }): boolean {
  if (current.uid === null || current.at === null) return true;
  const diff = next.at.getTime() - current.at.getTime();
  if (diff !== 0) return diff > 0;
  return next.uid > current.uid;
}

/**
 * Is this decision a desired member now? Only in a live group, and only for its current
 * incarnation (see the top of the file).
 */
export function countsAsMember(member: MemberDecision | undefined, group: Pick<GroupRegisters, 'deleted' | 'lifecycleAt'>): boolean {
  return !group.deleted && member !== undefined && member.isMember && member.at.getTime() >= group.lifecycleAt.getTime();
}

export interface Application {
  group: GroupRegisters;
  /** Whether any group register changed (the row needs writing). */
  groupWritten: boolean;
  /** Member decisions that won: rows to upsert. */
  memberWrites: Map<string, MemberDecision>;
  /** The desired state (deleted flag, incarnation, owner or effective member set) changed. */
  desiredChanged: boolean;
}

/**
 * Applies one event's decisions, made at `at`, to the current registers. `members` must hold the
 * current decision of every uid the event names (absent = never decided).
 */
export function applyDecisions(
  group: GroupRegisters,
  members: ReadonlyMap<string, MemberDecision>,
  decisions: EventDecisions,
  at: Date,
): Application {
  const next: GroupRegisters = { ...group };
  let groupWritten = false;
  let desiredChanged = false;

  if (decisions.deleted !== undefined
    && booleanDecisionWins({ value: group.deleted, at: group.lifecycleAt }, { value: decisions.deleted, at }, true)) {
    next.deleted = decisions.deleted;
    next.lifecycleAt = at;
    groupWritten = true;
    // A new lifecycle time starts a new incarnation even when the flag stays: always a change.
    desiredChanged = true;
  }

  if (decisions.owner !== undefined && ownerDecisionWins({ uid: group.ownerUid, at: group.ownerAt }, { uid: decisions.owner, at })) {
    if (next.ownerUid !== decisions.owner) desiredChanged = true;
    next.ownerUid = decisions.owner;
    next.ownerAt = at;
    groupWritten = true;
  }

  const memberWrites = new Map<string, MemberDecision>();
  for (const [uid, isMember] of decisions.members) {
    const current = members.get(uid);
    const candidate = { isMember, at };
    const wins = booleanDecisionWins(current && { value: current.isMember, at: current.at }, { value: isMember, at }, false);
    if (!wins) continue;
    memberWrites.set(uid, candidate);
    if (countsAsMember(current, group) !== countsAsMember(candidate, next)) desiredChanged = true;
  }

  return { group: next, groupWritten, memberWrites, desiredChanged };
}

/** The desired members of a group (sorted), from every member decision it holds. */
export function desiredMembers(group: Pick<GroupRegisters, 'deleted' | 'lifecycleAt'>, members: Iterable<[string, MemberDecision]>): string[] {
  const result: string[] = [];
  for (const [uid, decision] of members) if (countsAsMember(decision, group)) result.push(uid);
  return result.sort();
}

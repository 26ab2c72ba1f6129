/**
 * Recording group events: storing them and applying them to the desired state happen in ONE
 * transaction, together with the reconcile_outbox rows, so an accepted event is never half applied
 * and a reconcile request survives a crash right after the commit.
 *
 * Several events (of any tenants and groups) are recorded in one transaction of two statements,
 * as one event is: the first stores them all, locks every group they decide about (in one order)
 * and reads the member decisions they touch; the rules are applied in memory event by event (in
 * the order given: events of one group see each other's decisions, exactly as if they had been
 * recorded one after the other); the second writes members, groups and outbox rows. The webhook
 * intake uses that to record the events that arrive together (group commit, see
 * src/webhooks/intake.ts).
 *
 * Concurrency: every writer of a group's desired state locks its `groups` row first (FOR UPDATE),
 * so decisions about one group are applied one at a time on every replica, while different groups
 * proceed in parallel. Rules are in desired-state.ts.
 */
import type { Db } from '../db/database.js';
import { applyDecisions, decidesAnything, decisionsOf, type MemberDecision } from './desired-state.js';
import type { GroupEvent } from './group-event.js';
import { sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { prepared } from '../db/prepared-statements.js';
import { groupKey, groupsLock, groupsRegistersUpdate, groupsSeen, groupsTouch, lockGroupsRegisters, type GroupKey, type GroupRegistersWrite, type LockedGroupRow } from './group-repository.js';
import { memberDecisionsByGroup, memberDecisionsRead, membersDecisions, membersDecisionsUpsert, type MemberDecisionRow } from './member-repository.js';
import { reconcileRequestsUpsert, type OutboxTarget } from './outbox-repository.js';
import { eventKey, webhookEventsInsert, type StoredEventKey } from './webhook-event-repository.js';

export interface RecordResult {
  /** duplicate: the event key was seen before; nothing was changed. */
  status: 'accepted' | 'duplicate';
  /** The desired state changed: a reconcile request is in the outbox. */
  desiredChanged: boolean;
}

export interface RecordedEvents {
  /** One per event, in order. */
  results: RecordResult[];
  /**
   * The groups to ask the queue for a run of (with `enqueuesAfterCommit`): those whose desired
   * state changed, less those whose earlier request is still with the queue (see
   * reconcileRequestsUpsert).
   */
  toRequest: OutboxTarget[];
}

export interface EventToRecord {
  tenantId: string;
  /** The tenant's derivation of the Virgil group id. */
  groupIdentity: (guid: string) => string;
  event: GroupEvent;
}

export interface RecordOptions {
  /**
   * The caller enqueues the groups whose desired state changed right after the commit (their
   * outbox rows are marked as handed to the queue; see outbox-repository.ts).
   */
  enqueuesAfterCommit?: boolean;
}

/**
 * Stores the events (deduplicated on tenant, source and key) and applies them to the desired state,
 * in one transaction.
 */
export async function recordGroupEvents(db: Db, items: readonly EventToRecord[], opts: RecordOptions = {}): Promise<RecordedEvents> {
  if (items.length === 0) return { results: [], toRequest: [] };
  return db.transaction().execute(async (trx) => {
    // The groups events would decide about, and the uids they decide on, whether or not the events
    // turn out to be duplicates: locked and read in the statement that stores the events.
    const groups = new Map<string, GroupKey & { identity: () => string; uids: Set<string> }>();
    const decisionsByItem = items.map((item) => {
      const decisions = decisionsOf(item.event);
      if (!decidesAnything(decisions)) return null;
      const key = groupKey({ tenantId: item.tenantId, guid: item.event.guid });
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { tenantId: item.tenantId, guid: item.event.guid, identity: () => item.groupIdentity(item.event.guid), uids: new Set() }));
      for (const uid of decisions.members.keys()) group.uids.add(uid);
      return decisions;
    });
    const first = await storeEventsAndReadGroups(trx, items, [...groups.values()]);
    const results: RecordResult[] = items.map(() => ({ status: 'duplicate', desiredChanged: false }));

    // Accepted events, each stored key counting once (the first of repeated deliveries).
    const deciding: Array<{ index: number; item: EventToRecord; decisions: MemberDecisions }> = [];
    for (const [index, item] of items.entries()) {
      if (!first.stored.delete(eventKey(item.tenantId, item.event))) continue;
      results[index] = { status: 'accepted', desiredChanged: false };
      const decisions = decisionsByItem[index];
      if (decisions) deciding.push({ index, item, decisions });
    }
    if (deciding.length === 0) return { results, toRequest: [] };

    // The groups of accepted events (rows for new ones inserted and locked now), and the member
    // decisions those events touch as they are under the locks: those the first statement read,
    // where its snapshot saw the version of the row it locked (every writer of a group's decisions
    // gives its row a new version: writeDesiredState); the others read again now.
    const accepted = new Map<string, GroupKey & { identity: () => string; uids: Set<string> }>();
    for (const { item } of deciding) {
      const key = groupKey({ tenantId: item.tenantId, guid: item.event.guid });
      if (!accepted.has(key)) accepted.set(key, groups.get(key)!);
    }
    const locked = await lockGroupsRegisters(trx, [...accepted.values()], first.locked);
    const acceptedGroups = [...accepted.values()];
    const members = memberDecisionsByGroup(acceptedGroups.filter((g) => first.current.has(groupKey(g))), first.members);
    const reread = acceptedGroups.filter((g) => !first.current.has(groupKey(g)));
    for (const [key, decisions] of await membersDecisions(trx, reread)) members.set(key, decisions);

    // The rules, event by event; each group's state carries over to its next event.
    const state = new Map<string, { write: GroupRegistersWrite; written: boolean; created: boolean; members: Map<string, MemberDecision>; memberWrites: Map<string, MemberDecision> }>();
    for (const { index, item, decisions } of deciding) {
      const key = groupKey({ tenantId: item.tenantId, guid: item.event.guid });
      let group = state.get(key);
      if (!group) {
        const { registers, created } = locked.get(key)!;
        group = {
          write: { tenantId: item.tenantId, guid: item.event.guid, registers, desiredChanged: false, versionBumps: 0 },
          written: false, created, members: members.get(key)!, memberWrites: new Map(),
        };
        state.set(key, group);
      }
      const applied = applyDecisions(group.write.registers, group.members, decisions, item.event.occurredAt);
      // The event that inserted the group row changed the desired state (a new group), at version 1.
      const createdHere = group.created;
      group.created = false;
      const desiredChanged = applied.desiredChanged || createdHere;
      group.write.registers = applied.group;
      group.written ||= applied.groupWritten || desiredChanged;
      group.write.desiredChanged ||= desiredChanged;
      if (applied.desiredChanged && !createdHere) group.write.versionBumps++;
      for (const [uid, decision] of applied.memberWrites) {
        group.members.set(uid, decision);
        group.memberWrites.set(uid, decision);
      }
      results[index] = { status: 'accepted', desiredChanged };
    }

    const groupStates = [...state.values()];
    const toRequest = await writeDesiredState(trx, {
      members: groupStates.map((g) => ({ tenantId: g.write.tenantId, guid: g.write.guid, decisions: g.memberWrites })),
      registers: groupStates.filter((g) => g.written).map((g) => g.write),
      requests: groupStates.filter((g) => g.write.desiredChanged).map((g) => ({ tenant_id: g.write.tenantId, guid: g.write.guid })),
      handedToQueue: opts.enqueuesAfterCommit ?? false,
    });
    return { results, toRequest };
  });
}

type MemberDecisions = ReturnType<typeof decisionsOf>;

/**
 * Stores the events, locks the existing rows of `groups`, and reads the member decisions about
 * `groups`' uids, in one statement (one round trip). The events' keys are taken first, then the
 * groups' rows, the order every recording transaction takes them in (the lock waits for the insert:
 * its condition reads the stored rows). The decisions are read with the statement's snapshot, taken
 * before any lock: `current` holds the keys of the groups whose decisions that read got right, those
 * whose locked row version is the one the snapshot saw.
 */
async function storeEventsAndReadGroups(
  trx: Transaction<Database>, items: readonly EventToRecord[], groups: ReadonlyArray<GroupKey & { uids: Set<string> }>,
): Promise<{ stored: Set<string>; locked: LockedGroupRow[]; current: Set<string>; members: MemberDecisionRow[] }> {
  const { rows } = await prepared(sql<{ stored: StoredEventKey[]; locked: LockedGroupRow[]; seen: Array<{ tenant_id: string; guid: string; version: string }>; members: MemberDecisionRow[] }>`
    WITH stored AS (${webhookEventsInsert(items)}),
         locked AS (${groupsLock(groups, sql<boolean>`(SELECT count(*) FROM stored) >= 0`)}),
         seen AS (${groupsSeen(groups)}),
         members AS (${memberDecisionsRead(groups)})
    SELECT (SELECT coalesce(json_agg(stored), '[]') FROM stored) AS stored,
           (SELECT coalesce(json_agg(locked), '[]') FROM locked) AS locked,
           (SELECT coalesce(json_agg(seen), '[]') FROM seen) AS seen,
           (SELECT coalesce(json_agg(members), '[]') FROM members) AS members`).execute(trx);
  const { stored, locked, seen, members } = rows[0]!;
  const rowKey = (r: { tenant_id: string; guid: string }) => groupKey({ tenantId: r.tenant_id, guid: r.guid });
  const seenVersions = new Map(seen.map((r) => [rowKey(r), r.version]));
  return {
    stored: new Set(stored.map((r) => eventKey(r.tenant_id, { source: r.source as GroupEvent['source'], key: r.event_key }))),
    locked,
    current: new Set(locked.filter((r) => seenVersions.get(rowKey(r)) === r.version).map(rowKey)),
    members,
  };
}

/**
 * Writes what applying decisions changed, in one statement (one round trip): member decisions, the
 * groups' registers, and reconcile requests for the groups whose desired state changed
 * (`handedToQueue`: the caller enqueues them right after the commit, see outbox-repository.ts).
 * Every row they touch belongs to a group the caller's transaction has locked. Returns the
 * requested groups whose earlier request is not still with the queue: the ones to enqueue.
 */
export async function writeDesiredState(trx: Transaction<Database>, changes: {
  members: ReadonlyArray<GroupKey & { decisions: ReadonlyMap<string, MemberDecision> }>;
  registers: readonly GroupRegistersWrite[];
  requests: readonly OutboxTarget[];
  handedToQueue: boolean;
}): Promise<OutboxTarget[]> {
  const requests = reconcileRequestsUpsert(changes.requests, changes.handedToQueue);
  // A group whose decisions change gets a new row version even when its registers do not (see
  // membersDecisionsUpsert); each row is updated by one of the two statements only.
  const registered = new Set(changes.registers.map(groupKey));
  const touched = changes.members.filter((m) => m.decisions.size > 0 && !registered.has(groupKey(m)));
  const writes = [membersDecisionsUpsert(changes.members), groupsRegistersUpdate(changes.registers), groupsTouch(touched)].filter((w) => w !== null);
  // The requests last: the statement's rows are theirs.
  const [last, ...before] = requests ? [requests, ...writes.reverse()] : writes.reverse();
  if (!last) return [];
  // A handful of texts (which parts are present): prepared once per connection.
  const { rows } = await prepared(sql<{ tenant_id: string; guid: string; queued_before: boolean }>`${before.length > 0 ? sql`WITH ${sql.join(before.map((w, i) => sql`${sql.raw(`w${i}`)} AS (${w})`))} ` : sql``}${last}`).execute(trx);
  return requests ? rows.filter((r) => !r.queued_before).map((r) => ({ tenant_id: r.tenant_id, guid: r.guid })) : [];
}

/**
 * Every read and write of `group_members`: one membership decision per (group, uid), stamped with
 * the event time that made it (the rules are in desired-state.ts).
 */
import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { prepared } from '../db/prepared-statements.js';
import type { MemberDecision } from './desired-state.js';
import { groupKey, type GroupKey } from './group-repository.js';

export interface MemberDecisionRow { tenant_id: string; guid: string; uid: string; is_member: boolean; changed_at: Date | string }
export type GroupMembersWanted = ReadonlyArray<GroupKey & { uids: Iterable<string> }>;

/**
 * The statement reading the current decisions about some uids of some groups (the function of
 * migration 0017: primary-key lookups whatever the plan cache keeps), to run alone or within a
 * larger statement (recordGroupEvents).
 */
export function memberDecisionsRead(wanted: GroupMembersWanted): RawBuilder<MemberDecisionRow> {
  const keys = wanted.flatMap((g) => [...g.uids].map((uid) => [g.tenantId, g.guid, uid] as const));
  return sql<MemberDecisionRow>`
    SELECT * FROM member_decisions(${sql.val(keys.map((k) => k[0]))}::text[], ${sql.val(keys.map((k) => k[1]))}::text[], ${sql.val(keys.map((k) => k[2]))}::text[])`;
}

/** Rows of memberDecisionsRead by group key (a wanted group without any maps to an empty map). */
export function memberDecisionsByGroup(wanted: GroupMembersWanted, rows: readonly MemberDecisionRow[]): Map<string, Map<string, MemberDecision>> {
  const result = new Map<string, Map<string, MemberDecision>>(wanted.map((g) => [groupKey(g), new Map()]));
  for (const r of rows) result.get(groupKey({ tenantId: r.tenant_id, guid: r.guid }))?.set(r.uid, { isMember: r.is_member, at: new Date(r.changed_at) });
  return result;
}

/** The current decisions about some uids of some groups, by group key (absent: never decided). */
export async function membersDecisions(trx: Transaction<Database>, wanted: GroupMembersWanted): Promise<Map<string, Map<string, MemberDecision>>> {
  if (wanted.length === 0) return new Map();
  const { rows } = await prepared(memberDecisionsRead(wanted)).execute(trx);
  return memberDecisionsByGroup(wanted, rows);
}

/**
 * The statement upserting decisions of several groups (at most one decision per group and uid), or
 * null when there is none (run with other writes: writeDesiredState, which also updates each of
 * those groups' rows: a reader that locked a group tells from the row's version whether a decision
 * was written after its snapshot; see recordGroupEvents).
 */
export function membersDecisionsUpsert(writes: ReadonlyArray<GroupKey & { decisions: ReadonlyMap<string, MemberDecision> }>): RawBuilder<unknown> | null {
  const rows = writes.flatMap((w) => [...w.decisions].map(([uid, d]) => ({ tenantId: w.tenantId, guid: w.guid, uid, d })));
  if (rows.length === 0) return null;
  const col = <T>(f: (r: (typeof rows)[number]) => T) => sql.val(rows.map(f));
  return sql`
    INSERT INTO group_members (tenant_id, guid, uid, is_member, changed_at)
    SELECT * FROM unnest(${col((r) => r.tenantId)}::text[], ${col((r) => r.guid)}::text[], ${col((r) => r.uid)}::text[],
                         ${col((r) => r.d.isMember)}::boolean[], ${col((r) => r.d.at.toISOString())}::timestamptz[])
    ON CONFLICT (tenant_id, guid, uid) DO UPDATE SET is_member = EXCLUDED.is_member, changed_at = EXCLUDED.changed_at, updated_at = now()`;
}

/** Every decision held about each of `guids` (a group never decided about maps to an empty map). */
export async function allMemberDecisions(trx: Transaction<Database>, tenantId: string, guids: readonly string[]): Promise<Map<string, Map<string, MemberDecision>>> {
  const byGroup = new Map<string, Map<string, MemberDecision>>(guids.map((guid) => [guid, new Map()]));
  if (guids.length === 0) return byGroup;
  const rows = await trx.selectFrom('group_members')
    .select(['guid', 'uid', 'is_member', 'changed_at'])
    .where('tenant_id', '=', tenantId)
    .where('guid', '=', sql<string>`ANY(${sql.val([...byGroup.keys()])}::text[])`)
    .execute();
  for (const r of rows) byGroup.get(r.guid)?.set(r.uid, { isMember: r.is_member, at: r.changed_at });
  return byGroup;
}

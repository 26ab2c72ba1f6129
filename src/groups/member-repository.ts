/**
 * Every read and write of `group_members`: one membership decision per (group, uid), stamped with
 * the event time that made it (the rules are in desired-state.ts).
 */
import { sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import type { MemberDecision } from './desired-state.js';

/** The current decisions about `uids` in a group (absent: never decided). */
export async function memberDecisions(trx: Transaction<Database>, tenantId: string, guid: string, uids: string[]): Promise<Map<string, MemberDecision>> {
  const current = new Map<string, MemberDecision>();
  if (uids.length === 0) return current;
  const rows = await trx.selectFrom('group_members')
    .select(['uid', 'is_member', 'changed_at'])
    .where('tenant_id', '=', tenantId).where('guid', '=', guid)
    .where('uid', '=', sql<string>`ANY(${sql.val(uids)}::text[])`)
    .execute();
  for (const r of rows) current.set(r.uid, { isMember: r.is_member, at: r.changed_at });
  return current;
}

export async function writeMemberDecisions(trx: Transaction<Database>, tenantId: string, guid: string, decisions: ReadonlyMap<string, MemberDecision>): Promise<void> {
  if (decisions.size === 0) return;
  await trx.insertInto('group_members')
    .values([...decisions].map(([uid, d]) => ({ tenant_id: tenantId, guid, uid, is_member: d.isMember, changed_at: d.at })))
    .onConflict((oc) => oc.columns(['tenant_id', 'guid', 'uid']).doUpdateSet((eb) => ({
      is_member: eb.ref('excluded.is_member'),
      changed_at: eb.ref('excluded.changed_at'),
      updated_at: sql`now()`,
    })))
    .execute();
}

/** Every uid the group has a decision about, with that decision. */
export async function allMemberDecisions(trx: Transaction<Database>, tenantId: string, guid: string): Promise<Map<string, MemberDecision>> {
  const rows = await trx.selectFrom('group_members')
    .select(['uid', 'is_member', 'changed_at'])
    .where('tenant_id', '=', tenantId).where('guid', '=', guid)
    .execute();
  return new Map(rows.map((r) => [r.uid, { isMember: r.is_member, at: r.changed_at }]));
}

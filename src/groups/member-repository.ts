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

export async function writeMemberDecisions(trx: Transaction<Database>, tenantId: string, guid: string, decisions: ReadonlyMap<string, MemberDecision>): Promise<void> {
  await writeGroupsMemberDecisions(trx, tenantId, new Map([[guid, decisions]]));
}

/** Upserts decisions of many groups of one tenant in one statement (arrays, so any number of rows fits). */
export async function writeGroupsMemberDecisions(
  trx: Transaction<Database>, tenantId: string, byGroup: ReadonlyMap<string, ReadonlyMap<string, MemberDecision>>,
): Promise<void> {
  const guids: string[] = [];
  const uids: string[] = [];
  const isMember: boolean[] = [];
  const at: Date[] = [];
  for (const [guid, decisions] of byGroup) {
    for (const [uid, d] of decisions) {
      guids.push(guid);
      uids.push(uid);
      isMember.push(d.isMember);
      at.push(d.at);
    }
  }
  if (guids.length === 0) return;
  await sql`
    INSERT INTO group_members (tenant_id, guid, uid, is_member, changed_at)
    SELECT ${tenantId}::text, v.guid, v.uid, v.is_member, v.changed_at
      FROM unnest(${sql.val(guids)}::text[], ${sql.val(uids)}::text[], ${sql.val(isMember)}::boolean[], ${sql.val(at)}::timestamptz[])
           AS v(guid, uid, is_member, changed_at)
    ON CONFLICT (tenant_id, guid, uid) DO UPDATE
       SET is_member = excluded.is_member, changed_at = excluded.changed_at, updated_at = now()`.execute(trx);
}


/**
 * Every read and write of `audit_log`. Entries are written after the action happened (an admin
 * request that succeeded, a change the worker made on Virgil), listed newest first, in keyset
 * pages on the entry id, and pruned after AUDIT_RETENTION_DAYS (src/groups/retention.ts). `details` holds what the writer chose (field names, uids, key ids, codes):
 * callers never pass a request body or a credential, and lists are capped so one entry stays small.
 */
import { sql } from 'kysely';
import { deleteOlderThan } from '../db/batched-delete.js';
import type { Db } from '../db/database.js';
import { AUDIT_ACTIONS, auditActionOfVirgilStep, type AuditAction } from './actions.js';

export interface AuditEntryInput {
  actor: string;
  action: AuditAction;
  tenantId?: string | null;
  guid?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditEntry {
  id: string;
  occurredAt: string;
  actor: string;
  action: string;
  tenantId: string | null;
  guid: string | null;
  details: Record<string, unknown>;
}

export interface AuditFilter { tenantId?: string; guid?: string; action?: string }
export interface AuditPage { items: AuditEntry[]; nextCursor: string | null }

/** Entries of a list kept in one entry; E3Kit groups hold at most 100 participants anyway. */
const MAX_LISTED = 100;

export async function recordAudit(db: Db, entry: AuditEntryInput): Promise<void> {
  await db.insertInto('audit_log').values({
    actor: entry.actor,
    action: entry.action,
    tenant_id: entry.tenantId ?? null,
    guid: entry.guid ?? null,
    details: JSON.stringify(entry.details ?? {}),
  }).execute();
}

/**
 * Audits one change the worker made on Virgil (see actions.ts for the steps); false when the step
 * is not one that is audited. `members`: the uids who gained or lost access, when the step has them.
 */
export async function auditVirgilChange(
  db: Db, actor: string, step: string, group: { tenantId: string; guid: string }, members?: readonly string[],
): Promise<boolean> {
  const action = auditActionOfVirgilStep(step);
  if (action === null) return false;
  const details = members === undefined ? {} : listed('members', members);
  await recordAudit(db, { actor, action, tenantId: group.tenantId, guid: group.guid, details });
  return true;
}

/**
 * Audits a member's new card re-added to a group after a key change (E3Kit `group.reAdd`), for code
 * that re-adds outside a reconcile run's steps. Card ids are public; nothing else is recorded.
 */
export async function recordMemberReadded(
  db: Db, actor: string, group: { tenantId: string; guid: string }, uid: string, card: { id: string; previousCardId?: string | null },
): Promise<void> {
  await recordAudit(db, {
    actor, action: AUDIT_ACTIONS.memberReadded, tenantId: group.tenantId, guid: group.guid,
    details: { members: [uid], cardId: card.id, ...(card.previousCardId ? { previousCardId: card.previousCardId } : {}) },
  });
}

/** `{[name]: first MAX_LISTED values, [name + 'Total']: count}` when cut, else just the list. */
export function listed(name: string, values: readonly string[]): Record<string, unknown> {
  if (values.length <= MAX_LISTED) return { [name]: [...values] };
  return { [name]: values.slice(0, MAX_LISTED), [`${name}Total`]: values.length };
}

/** Deletes up to `batchSize` entries older than `retentionDays` (oldest first); returns how many. */
export function pruneAudit(db: Db, retentionDays: number, batchSize: number): Promise<number> {
  return deleteOlderThan(db, 'audit_log', 'occurred_at', sql`now() - make_interval(days => ${retentionDays})`, batchSize);
}

/** Newest first; `cursor` is the id of the last entry of the previous page. */
export async function listAudit(db: Db, filter: AuditFilter, page: { limit: number; cursor?: string }): Promise<AuditPage> {
  let query = db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(page.limit + 1);
  if (filter.tenantId !== undefined) query = query.where('tenant_id', '=', filter.tenantId);
  if (filter.guid !== undefined) query = query.where('guid', '=', filter.guid);
  if (filter.action !== undefined) query = query.where('action', '=', filter.action);
  if (page.cursor !== undefined) query = query.where('id', '<', page.cursor);
  const rows = await query.execute();
  const items = rows.slice(0, page.limit).map((r) => ({
    id: String(r.id),
    occurredAt: r.occurred_at.toISOString(),
    actor: r.actor,
    action: r.action,
    tenantId: r.tenant_id,
    guid: r.guid,
    details: r.details,
  }));
  return { items, nextCursor: rows.length > page.limit ? items[items.length - 1].id : null };
}

/**
 * The `groups` table as the intake and the readers see it: a group's desired-state registers
 * (written by the event intake, under a row lock), the snapshot the worker and the admin view read,
 * and the groups the sweeper and the pending-registration cache look for. What the worker records
 * of its runs is in run-records.ts.
 */
import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { Db } from '../db/database.js';
import type { Database, GroupError, GroupStatus } from '../db/schema.js';
import { NEVER, type GroupRegisters } from './desired-state.js';
import { clearReconcileRequest, type OutboxTarget } from './outbox-repository.js';

type Executor = Db | Transaction<Database>;

/** Sent when a run records members who were not pending before (see pending-registrations.ts). */
export const PENDING_REGISTRATION_CHANNEL = 'pending_registration';

export interface GroupKey { tenantId: string; guid: string }
/** A map key for a group (NUL cannot occur in ids). */
export const groupKey = (g: GroupKey): string => `${g.tenantId}\0${g.guid}`;

/**
 * A group row as locked for the intake: its registers (timestamps as JSON gives them, in a larger
 * statement), and the version of the row (its xmin) it locked.
 */
export interface LockedGroupRow { tenant_id: string; guid: string; deleted: boolean; lifecycle_at: Date | string; owner_uid: string | null; owner_at: Date | string | null; version: string }

const sortedGroups = <G extends GroupKey>(groups: readonly G[]): G[] => [...new Map(groups.map((g) => [groupKey(g), g])).values()]
  .sort((a, b) => (a.tenantId === b.tenantId ? (a.guid < b.guid ? -1 : 1) : a.tenantId < b.tenantId ? -1 : 1));

/**
 * The statement locking the existing rows of `groups`, in one order (tenant, guid) in every
 * transaction, so two batches never wait for each other in a cycle. `after`: a condition the
 * statement evaluates before it locks anything (within a larger statement, the part that must
 * come first; see recordGroupEvents).
 */
export function groupsLock(groups: readonly GroupKey[], after: RawBuilder<boolean> = sql<boolean>`true`): RawBuilder<LockedGroupRow> {
  const targets = sortedGroups(groups);
  return sql<LockedGroupRow>`
    SELECT g.tenant_id, g.guid, g.deleted, g.lifecycle_at, g.owner_uid, g.owner_at, g.xmin::text AS version
      FROM groups g JOIN unnest(${sql.val(targets.map((t) => t.tenantId))}::text[], ${sql.val(targets.map((t) => t.guid))}::text[]) AS k(tenant_id, guid)
        ON g.tenant_id = k.tenant_id AND g.guid = k.guid
     WHERE ${after}
     ORDER BY g.tenant_id, g.guid
       FOR UPDATE OF g`;
}

/**
 * The statement reading the version (xmin) of the groups' rows that the statement's snapshot sees,
 * without locking them: compared with the version groupsLock locked, it tells whether the row
 * changed after the snapshot was taken (the lock waited for a writer that committed meanwhile).
 */
export function groupsSeen(groups: readonly GroupKey[]): RawBuilder<{ tenant_id: string; guid: string; version: string }> {
  return sql`
    SELECT g.tenant_id, g.guid, g.xmin::text AS version
      FROM groups g JOIN unnest(${sql.val(groups.map((t) => t.tenantId))}::text[], ${sql.val(groups.map((t) => t.guid))}::text[]) AS k(tenant_id, guid)
        ON g.tenant_id = k.tenant_id AND g.guid = k.guid`;
}

/**
 * The statement giving the groups' rows a new version without changing anything else (run with
 * other writes: writeDesiredState, for groups whose member decisions change while their registers
 * do not), or null when there is none.
 */
export function groupsTouch(groups: readonly GroupKey[]): RawBuilder<unknown> | null {
  if (groups.length === 0) return null;
  return sql`
    UPDATE groups g SET updated_at = now()
      FROM unnest(${sql.val(groups.map((t) => t.tenantId))}::text[], ${sql.val(groups.map((t) => t.guid))}::text[]) AS t(tenant_id, guid)
     WHERE g.tenant_id = t.tenant_id AND g.guid = t.guid`;
}

/**
 * Locks the groups' rows and returns their registers, inserting the rows first for groups that are
 * new: live groups no create or delete has decided yet. `locked`: rows a larger statement already
 * locked with groupsLock (only the groups missing from it are inserted and locked here). A
 * concurrent first sight waits on our insert, then finds the row and locks it. `created`: this call
 * inserted it.
 */
export async function lockGroupsRegisters(
  trx: Transaction<Database>, groups: ReadonlyArray<GroupKey & { identity: () => string }>, locked?: readonly LockedGroupRow[],
): Promise<Map<string, { registers: GroupRegisters; created: boolean }>> {
  const wanted = sortedGroups(groups);
  const lock = async (targets: readonly GroupKey[]) => (await groupsLock(targets).execute(trx)).rows;
  const result = new Map<string, { registers: GroupRegisters; created: boolean }>();
  const take = (rows: readonly LockedGroupRow[], created: Set<string>) => {
    for (const row of rows) {
      const key = groupKey({ tenantId: row.tenant_id, guid: row.guid });
      result.set(key, {
        registers: { deleted: row.deleted, lifecycleAt: new Date(row.lifecycle_at), ownerUid: row.owner_uid, ownerAt: row.owner_at === null ? null : new Date(row.owner_at) },
        created: created.has(key),
      });
    }
  };
  take(locked ?? await lock(wanted), new Set());
  const missing = wanted.filter((g) => !result.has(groupKey(g)));
  if (missing.length > 0) {
    // Arrays rather than a VALUES row per group: one statement of four parameters for any batch.
    const { rows: inserted } = await sql<{ tenant_id: string; guid: string }>`
      INSERT INTO groups (tenant_id, guid, identity, lifecycle_at)
      SELECT n.tenant_id, n.guid, n.identity, ${NEVER}::timestamptz
        FROM unnest(${sql.val(missing.map((g) => g.tenantId))}::text[], ${sql.val(missing.map((g) => g.guid))}::text[],
                    ${sql.val(missing.map((g) => g.identity()))}::text[]) AS n(tenant_id, guid, identity)
      ON CONFLICT (tenant_id, guid) DO NOTHING
      RETURNING tenant_id, guid`.execute(trx);
    take(await lock(missing), new Set(inserted.map((r) => groupKey({ tenantId: r.tenant_id, guid: r.guid }))));
    if (missing.some((g) => !result.has(groupKey(g)))) throw new Error('group row vanished while being locked');
  }
  return result;
}

export interface GroupRegistersWrite extends GroupKey {
  registers: GroupRegisters;
  /** The group waits for a run again (status pending). */
  desiredChanged: boolean;
  /** Versions the desired state moved on by (a freshly inserted row already carries version 1 for its first state). */
  versionBumps: number;
}

/** The statement writing the registers of several groups, or null when there is none (run with other writes: writeDesiredState). */
export function groupsRegistersUpdate(writes: readonly GroupRegistersWrite[]): RawBuilder<unknown> | null {
  if (writes.length === 0) return null;
  const col = <T>(f: (w: GroupRegistersWrite) => T) => sql.val(writes.map(f));
  return sql`
    UPDATE groups g SET deleted = w.deleted, lifecycle_at = w.lifecycle_at, owner_uid = w.owner_uid, owner_at = w.owner_at,
           updated_at = now(),
           status = CASE WHEN w.desired_changed THEN 'pending' ELSE g.status END,
           desired_version = g.desired_version + w.bumps
      FROM unnest(${col((w) => w.tenantId)}::text[], ${col((w) => w.guid)}::text[], ${col((w) => w.registers.deleted)}::boolean[],
                  ${col((w) => w.registers.lifecycleAt.toISOString())}::timestamptz[], ${col((w) => w.registers.ownerUid)}::text[],
                  ${col((w) => w.registers.ownerAt?.toISOString() ?? null)}::timestamptz[], ${col((w) => w.desiredChanged)}::boolean[],
                  ${col((w) => w.versionBumps)}::bigint[])
           AS w(tenant_id, guid, deleted, lifecycle_at, owner_uid, owner_at, desired_changed, bumps)
     WHERE g.tenant_id = w.tenant_id AND g.guid = w.guid`;
}

/** One group as recorded: its row and the members it desires now, read in one statement. */
export interface GroupSnapshot {
  tenantId: string;
  guid: string;
  identity: string;
  ownerUid: string | null;
  deleted: boolean;
  /**
   * Sorted uids the group desires: member decisions that say "member" and belong to the current
   * incarnation (made at or after the lifecycle time), as in `countsAsMember` of desired-state.ts;
   * none once deleted. Compared in SQL to keep microsecond precision, sorted in JavaScript so the
   * order never depends on the database collation.
   */
  desiredMembers: string[];
  /** The card each desired member was last given the tickets for (absent: none recorded). */
  memberCards: Map<string, string>;
  desiredVersion: string;
  /** What the worker's last run recorded. */
  status: GroupStatus;
  virgilMembers: string[];
  pendingRegistration: string[];
  attempts: number;
  lastError: GroupError | null;
  updatedAt: Date;
  /** +1 for every change the worker made to the Virgil group; clients update when it rises. */
  membershipVersion: string;
  /** Members re-added after a key change, and when that last happened. */
  keyChanges: number;
  lastReAddAt: Date | null;
  /** An operator asked for a run that reads the group from Virgil itself (resync). */
  reload: boolean;
}

/** The group's snapshot (the admin status view and the worker both read through it), or null. */
export async function readGroupSnapshot(db: Executor, tenantId: string, guid: string): Promise<GroupSnapshot | null> {
  const { rows } = await sql<{
    identity: string; owner_uid: string | null; deleted: boolean; desired_version: string; status: GroupStatus;
    virgil_members: string[]; pending_registration: string[]; attempts: number; last_error: GroupError | null;
    updated_at: Date; membership_version: string; key_changes: number; last_readd_at: Date | null; reload: boolean;
    members: Array<{ uid: string; card: string | null }>;
  }>`
    SELECT g.identity, g.owner_uid, g.deleted, g.desired_version, g.status, g.virgil_members, g.pending_registration,
           g.attempts, g.last_error, g.updated_at, g.membership_version, g.key_changes, g.last_readd_at,
           EXISTS (SELECT 1 FROM reconcile_outbox o WHERE o.tenant_id = g.tenant_id AND o.guid = g.guid AND o.reload) AS reload,
           COALESCE((SELECT json_agg(json_build_object('uid', m.uid, 'card', m.card_id)) FROM group_members m
                      WHERE m.tenant_id = g.tenant_id AND m.guid = g.guid
                        AND m.is_member AND m.changed_at >= g.lifecycle_at), '[]') AS members
      FROM groups g
     WHERE g.tenant_id = ${tenantId} AND g.guid = ${guid}`.execute(db);
  const row = rows[0];
  if (!row) return null;
  const members = row.deleted ? [] : row.members;
  return {
    tenantId,
    guid,
    identity: row.identity,
    ownerUid: row.owner_uid,
    deleted: row.deleted,
    desiredMembers: members.map((m) => m.uid).sort(),
    memberCards: new Map(members.flatMap((m) => (m.card === null ? [] : [[m.uid, m.card] as const]))),
    desiredVersion: String(row.desired_version),
    status: row.status,
    virgilMembers: row.virgil_members,
    pendingRegistration: row.pending_registration,
    attempts: row.attempts,
    lastError: row.last_error,
    updatedAt: row.updated_at,
    membershipVersion: String(row.membership_version),
    keyChanges: row.key_changes,
    lastReAddAt: row.last_readd_at,
    reload: row.reload,
  };
}

/** The tenant's distinct uids that some live group awaits (no Virgil card yet), at most `max + 1`. */
export async function pendingUids(db: Executor, tenantId: string, max: number): Promise<string[]> {
  const { rows } = await sql<{ uid: string }>`
    SELECT DISTINCT p.uid FROM groups g, unnest(g.pending_registration) AS p(uid)
    WHERE g.tenant_id = ${tenantId} AND NOT g.deleted AND g.pending_registration <> '{}'
    LIMIT ${max + 1}`.execute(db);
  return rows.map((r) => r.uid);
}

/** Live groups of the tenant that await one of `uids`. */
export async function groupsAwaiting(db: Executor, tenantId: string, uids: string[], limit: number): Promise<string[]> {
  const rows = await db.selectFrom('groups').select('guid')
    .where('tenant_id', '=', tenantId)
    .where('deleted', '=', false)
    .where(sql<boolean>`pending_registration && ${sql.val(uids)}::text[]`)
    .limit(limit)
    .execute();
  return rows.map((r) => r.guid);
}

/**
 * Groups of active tenants the sweeper should enqueue although no outbox row asks for them:
 *  - the desired state has been ahead of the synced one for `staleAfterMs` (`unsynced_since`, kept
 *    by a trigger: see migrations 0010 and 0016), no outbox row asks for the group, and it is not
 *    waiting for a retry time (a request that never reached the queue);
 *  - failed groups whose retry time has come;
 *  - groups with members pending registration, not looked at for `pendingRecheckMs` (in case their
 *    delayed re-check was lost).
 */
export async function groupsDueForSweep(db: Executor, opts: { staleAfterMs: number; pendingRecheckMs: number; limit: number }): Promise<OutboxTarget[]> {
  const { rows } = await sql<OutboxTarget>`
    (SELECT g.tenant_id, g.guid
       FROM groups g JOIN tenants t ON t.app_id = g.tenant_id AND t.status = 'active'
      WHERE ((g.unsynced_since < now() - make_interval(secs => ${opts.staleAfterMs / 1000})
              AND (g.retry_at IS NULL OR g.retry_at <= now())
              AND NOT EXISTS (SELECT 1 FROM reconcile_outbox o WHERE o.tenant_id = g.tenant_id AND o.guid = g.guid))
             OR (g.status = 'failed' AND g.retry_at <= now()))
      ORDER BY COALESCE(g.unsynced_since, g.retry_at) LIMIT ${opts.limit})
    UNION ALL
    (SELECT g.tenant_id, g.guid
       FROM groups g JOIN tenants t ON t.app_id = g.tenant_id AND t.status = 'active'
      WHERE g.status = 'pending' AND g.synced_version >= g.desired_version AND NOT g.deleted
        AND g.updated_at < now() - make_interval(secs => ${opts.pendingRecheckMs / 1000})
      ORDER BY g.updated_at LIMIT ${opts.limit})
  `.execute(db);
  return rows;
}

/** The guids of the tenant's groups that are not deleted, in order. */
export async function liveGroupGuids(db: Executor, tenantId: string): Promise<string[]> {
  const rows = await db.selectFrom('groups').select('guid')
    .where('tenant_id', '=', tenantId).where('deleted', '=', false)
    .orderBy('guid')
    .execute();
  return rows.map((r) => r.guid);
}

/**
 * Periodic drift repair for CometChat tenants (runs in the worker processes; per tenant, off unless
 * `cometchat.driftRepair.intervalSeconds` is set). CometChat retries a webhook twice and then drops
 * it; a lost kick would leave a member able to read the group. Every interval the tenant's groups
 * changed since the last sweep (CometChat's `updatedAt` cursor, cometchat-reader.ts) are read again
 * and applied as authoritative snapshots, so the lost change is made.
 *
 * - A sweep claims its tenant by moving `next_run_at` one interval forward in one statement, so two
 *   workers never sweep one tenant at once; a sweep that fails is recorded (`last_error`) and tried
 *   at the next interval. The cursor is saved as the sweep advances: a sweep cut short resumes there.
 * - The first sweep starts from the beginning (every group with an `updatedAt`); later ones from one
 *   second before the newest `updatedAt` the previous one saw.
 * - A group deleted on CometChat no longer appears in its listings, so a lost `group_deleted` is
 *   found differently, when the tenant turns it on (`driftRepair.deletions`: only for tenants whose
 *   groups all come from CometChat, since a group CometChat does not know is deleted here): after
 *   the changed groups, every group CometChat lists is read (pages of ids
 *   only, `perPage` up to 1000, no members), and each live group of the tenant missing from that
 *   list is asked for once more (`GET /groups/{guid}/members`). Only a 404 for it makes a deletion
 *   snapshot, as of that answer; a group that does exist (created after the listing) is applied as
 *   the snapshot it is. So a listing that is wrong or cut short deletes nothing by itself, and a
 *   listing that fails fails the sweep before anything is deleted.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { GroupSnapshot } from '../groups/snapshot.js';
import { DomainError } from '../lib/errors.js';
import { PollingService } from '../lib/periodic-task.js';
import type { TenantRuntime } from '../tenants/types.js';
import { applyAndRequest, type SnapshotWorkDeps } from './apply.js';
import { liveGroupGuids } from '../groups/group-repository.js';
import type { CometChatRestClient } from '../cometchat/rest-client.js';
import { listAllGroups, listChangedGroups, type KeysetPosition, type PagePosition } from './cometchat-reader.js';

export interface DriftRepairOptions extends SnapshotWorkDeps {
  /** How often due tenants are looked for. */
  pollIntervalMs: number;
  batchSize: number;
}

export interface SweepResult { groupsRead: number; groupsChanged: number; cursor: number }

export interface DriftRepairView {
  enabled: boolean;
  intervalSeconds: number | null;
  /** CometChat updatedAt (unix seconds) the next sweep starts after; null: from the beginning. */
  cursor: number | null;
  lastRunAt: string | null;
  nextRunAt: string | null;
  lastError: { code: string; message: string } | null;
  groupsRead: number;
  groupsChanged: number;
}

/** The tenant's drift repair: settings and where the sweeps got to. */
export async function driftRepairView(db: Db, tenant: Pick<TenantRuntime, 'appId' | 'cometchat'>): Promise<DriftRepairView> {
  const row = await db.selectFrom('cometchat_drift_state').selectAll().where('tenant_id', '=', tenant.appId).executeTakeFirst();
  const intervalSeconds = tenant.cometchat?.driftRepairIntervalSeconds ?? null;
  return {
    enabled: intervalSeconds !== null,
    intervalSeconds,
    cursor: row?.cursor == null ? null : Number(row.cursor),
    lastRunAt: row?.last_run_at?.toISOString() ?? null,
    nextRunAt: intervalSeconds === null ? null : (row?.next_run_at ?? new Date()).toISOString(),
    lastError: row?.last_error ?? null,
    groupsRead: Number(row?.groups_read ?? 0),
    groupsChanged: Number(row?.groups_changed ?? 0),
  };
}

/** An operator's "sweep now": the tenant is due at once (a worker takes it at its next poll). */
export async function requestDriftRepairNow(db: Db, tenantId: string): Promise<void> {
  await sql`
    INSERT INTO cometchat_drift_state (tenant_id, next_run_at) VALUES (${tenantId}, now())
    ON CONFLICT (tenant_id) DO UPDATE SET next_run_at = now()`.execute(db);
}

export class DriftRepair extends PollingService {
  readonly #opts: DriftRepairOptions;

  constructor(opts: DriftRepairOptions) {
    super({ intervalMs: opts.pollIntervalMs, firstDelayMs: Math.min(opts.pollIntervalMs, 1_000), log: opts.log, failure: 'drift repair poll failed' });
    this.#opts = opts;
  }

  protected poll(): Promise<void> {
    return this.sweepDue();
  }

  /** Claims the tenants whose sweep is due and sweeps them one after the other. */
  async sweepDue(): Promise<void> {
    const { rows } = await sql<{ tenant_id: string; cursor: string | null }>`
      WITH due AS (
        SELECT t.app_id, (t.cometchat->>'driftRepairIntervalSeconds')::int AS interval_seconds
          FROM tenants t LEFT JOIN cometchat_drift_state d ON d.tenant_id = t.app_id
         WHERE t.status = 'active' AND t.cometchat_rest_api_key IS NOT NULL
           AND t.cometchat->>'driftRepairIntervalSeconds' IS NOT NULL
           AND (d.next_run_at IS NULL OR d.next_run_at <= now())
         ORDER BY d.next_run_at NULLS FIRST LIMIT 10)
      INSERT INTO cometchat_drift_state (tenant_id, next_run_at)
      SELECT app_id, now() + make_interval(secs => interval_seconds) FROM due
      ON CONFLICT (tenant_id) DO UPDATE SET next_run_at = excluded.next_run_at
       WHERE cometchat_drift_state.next_run_at <= now()
      RETURNING tenant_id, cursor`.execute(this.#opts.db);
    for (const row of rows) {
      if (this.signal.aborted) return;
      await this.#sweepClaimed(row.tenant_id, row.cursor === null ? 0 : Number(row.cursor));
    }
  }

  async #sweepClaimed(tenantId: string, cursor: number): Promise<void> {
    const { db, log } = this.#opts;
    try {
      const result = await this.#opts.locks.withLock(JSON.stringify(['e2ee-drift', tenantId]), { lost: () => new Error('the drift repair lock was lost') },
        () => this.sweep(tenantId, cursor));
      if (!result.locked) return;
      const { groupsRead, groupsChanged } = result.value;
      await db.updateTable('cometchat_drift_state').set((eb) => ({
        last_run_at: sql<Date>`now()`, last_error: null,
        groups_read: eb('groups_read', '+', String(groupsRead)), groups_changed: eb('groups_changed', '+', String(groupsChanged)),
      })).where('tenant_id', '=', tenantId).execute();
      if (groupsChanged > 0) log.info({ tenantId, groupsRead, groupsChanged }, 'drift repaired');
    } catch (err) {
      if (this.signal.aborted) return;
      const error = err instanceof DomainError ? { code: err.code, message: err.message } : { code: 'DRIFT_REPAIR_INTERRUPTED', message: (err as Error).message };
      await db.updateTable('cometchat_drift_state').set({ last_run_at: sql<Date>`now()`, last_error: JSON.stringify(error) })
        .where('tenant_id', '=', tenantId).execute().catch(() => {});
      log.warn({ tenantId, err: error }, 'drift repair failed; tried again at the next interval');
    }
  }

  /** One sweep of a tenant from `cursor` (unix seconds); saves the cursor as it goes. */
  async sweep(tenantId: string, cursor: number): Promise<SweepResult> {
    const { db, cometchat: clients, batchSize } = this.#opts;
    const tenant = await this.#opts.tenants.get(tenantId);
    if (!tenant?.cometchat) return { groupsRead: 0, groupsChanged: 0, cursor };
    const client = clients.client(tenant.cometchat, this.signal);
    let position: KeysetPosition = { cursor, page: 1 };
    let newest = cursor;
    let groupsRead = 0;
    let groupsChanged = 0;
    // Groups read in this sweep at or after the cursor: the overlap of the next page lists them again.
    const seen = new Map<string, number | null>();
    for (;;) {
      if (this.signal.aborted) break;
      const page = await listChangedGroups(client, position, clients.perPage);
      const { next } = page;
      const groups = page.groups.filter((g) => !seen.has(g.guid) || seen.get(g.guid) !== g.updatedAt);
      for (const g of page.groups) seen.set(g.guid, g.updatedAt);
      for (let i = 0; i < groups.length; i += batchSize) {
        const slice = groups.slice(i, i + batchSize);
        const results = await clients.snapshots(client, slice);
        const snapshots = results.filter((r): r is GroupSnapshot => !('code' in r));
        const refused = results.filter((r) => 'code' in r);
        if (refused.length > 0) this.#opts.log.warn({ tenantId, refused: refused.slice(0, 10) }, 'drift repair skipped groups it could not take as snapshots');
        const outcomes = await applyAndRequest(this.#opts, tenant, snapshots);
        groupsRead += slice.length;
        groupsChanged += outcomes.filter((o) => o.desiredChanged).length;
        for (const g of slice) if (g.updatedAt !== null && g.updatedAt > newest) newest = g.updatedAt;
      }
      if (next === null) break;
      position = next;
      for (const [guid, at] of seen) if (at !== null && at <= position.cursor) seen.delete(guid);
      await this.#saveCursor(tenantId, position.cursor);
    }
    // One second back: a group changed within the newest second but listed after this sweep is read next time.
    const final = Math.max(cursor, newest - 1);
    if (this.signal.aborted) return { groupsRead, groupsChanged, cursor: final };
    await this.#saveCursor(tenantId, final);
    if (tenant.cometchat.driftRepairDeletions !== true) return { groupsRead, groupsChanged, cursor: final };
    const deletions = await this.#repairDeletions(tenant, client);
    return { groupsRead: groupsRead + deletions.groupsRead, groupsChanged: groupsChanged + deletions.groupsChanged, cursor: final };
  }

  /** Live groups CometChat no longer lists, confirmed one by one, become deletion snapshots (see the top). */
  async #repairDeletions(tenant: TenantRuntime, client: CometChatRestClient): Promise<{ groupsRead: number; groupsChanged: number }> {
    const { db, cometchat: clients, batchSize, log } = this.#opts;
    const listed = new Set<string>();
    let position: PagePosition | null = { page: 1, total: null };
    while (position !== null) {
      if (this.signal.aborted) return { groupsRead: 0, groupsChanged: 0 };
      const page = await listAllGroups(client, position, clients.perPage);
      for (const g of page.groups) listed.add(g.guid);
      position = page.next;
    }
    const missing = (await liveGroupGuids(db, tenant.appId)).filter((guid) => !listed.has(guid));
    let groupsChanged = 0;
    for (let i = 0; i < missing.length && !this.signal.aborted; i += batchSize) {
      const unlisted = missing.slice(i, i + batchSize).map((guid) => ({ guid, owner: null, createdAt: null, updatedAt: null }));
      const snapshots = (await clients.snapshots(client, unlisted)).filter((r): r is GroupSnapshot => !('code' in r));
      const outcomes = await applyAndRequest(this.#opts, tenant, snapshots);
      groupsChanged += outcomes.filter((o) => o.desiredChanged).length;
      const deleted = snapshots.filter((s) => s.deleted === true).length;
      if (deleted > 0) log.info({ tenantId: tenant.appId, deleted }, 'drift repair deleted groups CometChat no longer knows');
    }
    return { groupsRead: missing.length, groupsChanged };
  }

  async #saveCursor(tenantId: string, cursor: number): Promise<void> {
    await this.#opts.db.updateTable('cometchat_drift_state').set({ cursor })
      .where('tenant_id', '=', tenantId).where((eb) => eb.or([eb('cursor', 'is', null), eb('cursor', '<', String(cursor))]))
      .execute();
  }
}

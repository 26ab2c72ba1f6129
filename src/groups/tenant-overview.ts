/**
 * A tenant at a glance, for operators: its groups per status, the users its groups wait for, how
 * long the oldest change has been waiting for the worker, and its webhook deliveries of the last
 * hour per result. Four indexed statements, run side by side.
 */
import type { Db } from '../db/database.js';
import type { GroupStatus } from '../db/schema.js';
import { countGroupsByStatus, countPendingUsers, oldestUnsyncedChange } from './group-listing.js';
import { countWebhookDeliveriesByResult } from './webhook-delivery-repository.js';

export interface TenantOverview {
  groups: Record<GroupStatus, number> & { total: number };
  /** Distinct users some live group waits for (no Virgil card yet). */
  membersPendingRegistration: number;
  /** When the oldest change the worker has not reconciled yet was recorded; null when none waits. */
  oldestUnsyncedChangeAt: string | null;
  /** Deliveries received in the hour before `now`, per result (accepted, duplicate, ignored, ...). */
  webhookDeliveriesLastHour: Record<string, number>;
}

const HOUR_MS = 3_600_000;

export async function tenantOverview(db: Db, tenantId: string, now: Date = new Date()): Promise<TenantOverview> {
  const [groups, pending, oldest, deliveries] = await Promise.all([
    countGroupsByStatus(db, tenantId),
    countPendingUsers(db, tenantId),
    oldestUnsyncedChange(db, tenantId),
    countWebhookDeliveriesByResult(db, tenantId, new Date(now.getTime() - HOUR_MS)),
  ]);
  const total = Object.values(groups).reduce((sum, n) => sum + n, 0);
  return {
    groups: { ...groups, total },
    membersPendingRegistration: pending,
    oldestUnsyncedChangeAt: oldest?.toISOString() ?? null,
    webhookDeliveriesLastHour: deliveries,
  };
}

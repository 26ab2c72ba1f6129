/**
 * The common tail of both intake formats: make the event durable and applied (one transaction),
 * then ask for a reconcile. The request is best effort: the outbox row written with the change
 * guarantees the sweeper picks the group up if the queue is unreachable.
 */
import type { AppContext } from '../app/context.js';
import { recordGroupEvent } from '../groups/membership-repository.js';
import type { TenantRuntime } from '../tenants/types.js';
import type { GroupEvent } from '../groups/group-event.js';

export interface IntakeResult {
  status: 'accepted' | 'duplicate';
  eventId: string;
}

export async function acceptGroupEvent(
  ctx: Pick<AppContext, 'db' | 'reconcile' | 'log'>,
  tenant: Pick<TenantRuntime, 'appId' | 'groupIdentity'>,
  event: GroupEvent,
): Promise<IntakeResult> {
  const result = await recordGroupEvent(ctx.db, tenant.appId, (guid) => tenant.groupIdentity(guid), event);
  if (result.desiredChanged) {
    try {
      await ctx.reconcile.request(tenant.appId, event.guid);
    } catch (err) {
      ctx.log.warn({ tenant: tenant.appId, err: (err as Error).message }, 'reconcile request failed; the outbox sweeper will retry');
    }
  }
  return { status: result.status, eventId: event.key };
}

/**
 * The common tail of every intake format: make the event durable and applied (one transaction),
 * then ask for a reconcile. The request is best effort: the outbox row written with the change
 * guarantees the sweeper picks the group up if the queue is unreachable.
 */
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import type { GroupEvent } from '../groups/group-event.js';
import { recordGroupEvent } from '../groups/record-event.js';
import { markNotEnqueued } from '../groups/outbox-repository.js';
import type { ReconcileRequester } from '../groups/reconcile-requester.js';

export interface IntakeResult {
  status: 'accepted' | 'duplicate';
  eventId: string;
}

export interface IntakeDeps { db: Db; reconcile: Pick<ReconcileRequester, 'request'>; log: Logger }

export async function acceptGroupEvent(
  deps: IntakeDeps,
  tenant: { appId: string; groupIdentity(guid: string): string },
  event: GroupEvent,
): Promise<IntakeResult> {
  const result = await recordGroupEvent(deps.db, tenant.appId, (guid) => tenant.groupIdentity(guid), event);
  if (result.desiredChanged) {
    try {
      await deps.reconcile.request(tenant.appId, event.guid);
    } catch (err) {
      deps.log.warn({ tenant: tenant.appId, err: (err as Error).message }, 'reconcile request failed; the outbox sweeper will retry');
      await markNotEnqueued(deps.db, [{ tenant_id: tenant.appId, guid: event.guid }]).catch(() => {});
    }
  }
  return { status: result.status, eventId: event.key };
}

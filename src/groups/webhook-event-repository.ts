/**
 * Every read and write of `webhook_events`: each accepted delivery is stored once (the unique
 * (tenant, source, event key) makes a redelivery a no-op), and old rows are pruned.
 */
import { sql, type Transaction } from 'kysely';
import type { Db } from '../db/database.js';
import { deleteOlderThan } from '../db/batched-delete.js';
import type { Database } from '../db/schema.js';
import type { GroupEvent } from './group-event.js';

/** Stores the event; false when the same event was stored before (a duplicate delivery). */
export async function insertWebhookEvent(trx: Transaction<Database>, tenantId: string, event: GroupEvent): Promise<boolean> {
  const inserted = await trx.insertInto('webhook_events')
    .values({
      tenant_id: tenantId,
      source: event.source,
      event_key: event.key,
      type: event.type,
      occurred_at: event.occurredAt,
      payload: event.payload,
    })
    .onConflict((oc) => oc.columns(['tenant_id', 'source', 'event_key']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
}

/** Deletes up to `batchSize` events received more than `retentionDays` ago; returns how many. */
export function pruneWebhookEvents(db: Db, retentionDays: number, batchSize: number): Promise<number> {
  return deleteOlderThan(db, 'webhook_events', 'received_at', sql`now() - make_interval(days => ${retentionDays})`, batchSize);
}

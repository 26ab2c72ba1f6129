/**
 * Every read and write of `webhook_events`: each accepted delivery is stored once (the unique
 * (tenant, source, event key) makes a redelivery a no-op), and old rows are pruned.
 */
import { sql, type Transaction } from 'kysely';
import type { Db } from '../db/database.js';
import { deleteOlderThan } from '../db/batched-delete.js';
import type { Database } from '../db/schema.js';
import type { GroupEvent } from './group-event.js';

/** A map key for a stored event (NUL cannot occur in ids or keys). */
export const eventKey = (tenantId: string, event: Pick<GroupEvent, 'source' | 'key'>): string => `${tenantId}\0${event.source}\0${event.key}`;

/**
 * Stores events in one statement; returns the keys (eventKey) of those stored now. An event stored
 * before, or twice in `events`, is stored once (a duplicate delivery). Rows are inserted in key
 * order, so two batches never wait for each other's events in a cycle.
 */
export async function insertWebhookEvents(trx: Transaction<Database>, events: ReadonlyArray<{ tenantId: string; event: GroupEvent }>): Promise<Set<string>> {
  const unique = new Map(events.map((e) => [eventKey(e.tenantId, e.event), e]));
  if (unique.size === 0) return new Set();
  const rows = [...unique].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, { tenantId, event }]) => ({
    tenant_id: tenantId,
    source: event.source,
    event_key: event.key,
    type: event.type,
    occurred_at: event.occurredAt,
    payload: event.payload,
  }));
  const inserted = await trx.insertInto('webhook_events')
    .values(rows)
    .onConflict((oc) => oc.columns(['tenant_id', 'source', 'event_key']).doNothing())
    .returning(['tenant_id', 'source', 'event_key'])
    .execute();
  return new Set(inserted.map((r) => eventKey(r.tenant_id, { source: r.source as GroupEvent['source'], key: r.event_key })));
}

/** Deletes up to `batchSize` events received more than `retentionDays` ago; returns how many. */
export function pruneWebhookEvents(db: Db, retentionDays: number, batchSize: number): Promise<number> {
  return deleteOlderThan(db, 'webhook_events', 'received_at', sql`now() - make_interval(days => ${retentionDays})`, batchSize);
}

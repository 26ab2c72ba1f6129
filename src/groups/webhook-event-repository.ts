/**
 * Every read and write of `webhook_events`: each accepted delivery is stored once (the unique
 * (tenant, source, event key) makes a redelivery a no-op), and old rows are pruned.
 */
import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../db/database.js';
import { deleteOlderThan } from '../db/batched-delete.js';
import type { GroupEvent } from './group-event.js';

/** A map key for a stored event (NUL cannot occur in ids or keys). */
export const eventKey = (tenantId: string, event: Pick<GroupEvent, 'source' | 'key'>): string => `${tenantId}\0${event.source}\0${event.key}`;

export interface StoredEventKey { tenant_id: string; source: string; event_key: string }

/**
 * The statement storing events, returning the rows stored now (run within a larger statement:
 * recordGroupEvents). An event stored before, or twice in `events`, is stored once (a duplicate
 * delivery). Rows are inserted in key order, so two batches never wait for each other's events in
 * a cycle. The rows travel as one JSON parameter: the text is the same for any batch (it can be a
 * prepared statement), and a payload needs no escaping beyond JSON's (as an element of a text
 * array it would be escaped by the driver and parsed back by the server).
 */
export function webhookEventsInsert(events: ReadonlyArray<{ tenantId: string; event: GroupEvent }>): RawBuilder<StoredEventKey> {
  const rows = [...new Map(events.map((e) => [eventKey(e.tenantId, e.event), e]))]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, { tenantId, event }]) => [tenantId, event.source, event.key, event.type, event.occurredAt.toISOString(), event.payload]);
  return sql<StoredEventKey>`
    INSERT INTO webhook_events (tenant_id, source, event_key, type, occurred_at, payload)
    SELECT e->>0, e->>1, e->>2, e->>3, (e->>4)::timestamptz, e->>5 FROM json_array_elements(${JSON.stringify(rows)}::json) AS e
    ON CONFLICT (tenant_id, source, event_key) DO NOTHING
    RETURNING tenant_id, source, event_key`;
}

/** Deletes up to `batchSize` events received more than `retentionDays` ago; returns how many. */
export function pruneWebhookEvents(db: Db, retentionDays: number, batchSize: number): Promise<number> {
  return deleteOlderThan(db, 'webhook_events', 'received_at', sql`now() - make_interval(days => ${retentionDays})`, batchSize);
}

/**
 * Every read and write of `webhook_deliveries`: one row per webhook delivery to a known tenant,
 * whatever its result, written in batches (src/webhooks/delivery-log.ts), listed newest first for
 * operators, counted per result, and pruned after its retention.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { deleteOlderThan } from '../db/batched-delete.js';

export interface WebhookDelivery {
  tenantId: string;
  /** The route it came in on: cometchat, standard, ... */
  format: string;
  /** The platform's trigger or event type, when the body was parsed that far. */
  trigger: string | null;
  /** accepted, duplicate, ignored, or why it was refused (unauthorized, invalid, ...). */
  result: string;
  statusCode: number;
  /** The webhook-id, or CometChat's content key. */
  eventId: string | null;
  receivedAt: Date;
}

export interface WebhookDeliveryView extends Omit<WebhookDelivery, 'tenantId' | 'receivedAt'> {
  id: string;
  receivedAt: string;
}

/**
 * Writes a batch of deliveries in one statement of seven array parameters, whatever the batch's
 * size: a VALUES row per delivery made the statement (hundreds of rows a flush under load) cost
 * more to build, send and parse than to insert.
 */
export async function insertWebhookDeliveries(db: Db, deliveries: readonly WebhookDelivery[]): Promise<void> {
  if (deliveries.length === 0) return;
  const col = <T>(f: (d: WebhookDelivery) => T) => sql.val(deliveries.map(f));
  await sql`
    INSERT INTO webhook_deliveries (tenant_id, format, trigger, result, status_code, event_id, received_at)
    SELECT * FROM unnest(${col((d) => d.tenantId)}::text[], ${col((d) => d.format)}::text[], ${col((d) => d.trigger)}::text[],
                         ${col((d) => d.result)}::text[], ${col((d) => d.statusCode)}::smallint[], ${col((d) => d.eventId)}::text[],
                         ${col((d) => d.receivedAt.toISOString())}::timestamptz[])`.execute(db);
}

/** The tenant's deliveries, newest first; `cursor` is the id of the last one of the previous page. */
export async function listWebhookDeliveries(db: Db, tenantId: string, opts: { limit: number; cursor?: string }): Promise<{ items: WebhookDeliveryView[]; nextCursor: string | null }> {
  let query = db.selectFrom('webhook_deliveries')
    .select(['id', 'format', 'trigger', 'result', 'status_code', 'event_id', 'received_at'])
    .where('tenant_id', '=', tenantId)
    .orderBy('id', 'desc')
    .limit(opts.limit + 1);
  if (opts.cursor !== undefined) query = query.where('id', '<', opts.cursor);
  const rows = await query.execute();
  const items = rows.slice(0, opts.limit).map((r) => ({
    id: String(r.id),
    format: r.format,
    trigger: r.trigger,
    result: r.result,
    statusCode: r.status_code,
    eventId: r.event_id,
    receivedAt: r.received_at.toISOString(),
  }));
  return { items, nextCursor: rows.length > opts.limit ? items[items.length - 1].id : null };
}

/** The tenant's deliveries received since `since`, per result. */
export async function countWebhookDeliveriesByResult(db: Db, tenantId: string, since: Date): Promise<Record<string, number>> {
  const rows = await db.selectFrom('webhook_deliveries')
    .select(['result', (eb) => eb.fn.countAll<string>().as('count')])
    .where('tenant_id', '=', tenantId).where('received_at', '>=', since)
    .groupBy('result').orderBy('result').execute();
  return Object.fromEntries(rows.map((r) => [r.result, Number(r.count)]));
}

/** Deletes up to `batchSize` deliveries received more than `retentionHours` ago; returns how many. */
export function pruneWebhookDeliveries(db: Db, retentionHours: number, batchSize: number): Promise<number> {
  return deleteOlderThan(db, 'webhook_deliveries', 'received_at', sql`now() - make_interval(hours => ${retentionHours})`, batchSize);
}

/**
 * Retention of the append-only tables, run by the worker every hour, in short batches beside the
 * traffic that writes them (SKIP LOCKED: two workers pruning take different rows):
 *
 *  - `webhook_events`, older than WEBHOOK_EVENT_RETENTION_DAYS: every accepted delivery is stored
 *    (the unique event key makes a redelivery a no-op), so the table would grow with the chat
 *    platform's traffic. Forgetting an old event is safe: the desired state does not read these
 *    rows, and its rules are idempotent (a decision counts only when its event time is later than
 *    the member's last one), so a redelivery arriving after its row was pruned is accepted again and
 *    changes nothing. Standard Webhooks deliveries older than the signature tolerance are refused
 *    before that anyway.
 *  - `webhook_deliveries` (what operators list), older than WEBHOOK_DELIVERY_RETENTION_HOURS.
 *  - `audit_log`, older than AUDIT_RETENTION_DAYS (0: kept for good).
 */
import type { Logger } from 'pino';
import { pruneAudit } from '../audit/audit-log.js';
import { PollingService } from '../lib/periodic-task.js';
import type { Db } from '../db/database.js';
import { pruneWebhookEvents } from './webhook-event-repository.js';
import { pruneWebhookDeliveries } from './webhook-delivery-repository.js';

export interface RetentionOptions {
  db: Db;
  log: Logger;
  webhookEventDays: number;
  /** Absent: the delivery log is not pruned here. */
  webhookDeliveryHours?: number;
  /** Absent or 0: the audit trail is kept for good. */
  auditDays?: number;
  /** Default: hourly, the first run a minute after start. */
  intervalMs?: number;
  /** Rows per DELETE statement: short transactions beside the webhook intake. */
  batchSize?: number;
}

export interface Pruned { webhookEvents: number; webhookDeliveries: number; auditEntries: number }

export class Retention extends PollingService {
  readonly #opts: RetentionOptions & { batchSize: number };

  constructor(opts: RetentionOptions) {
    const intervalMs = opts.intervalMs ?? 3_600_000;
    super({ intervalMs, firstDelayMs: Math.min(intervalMs, 60_000), log: opts.log, failure: 'pruning old rows failed' });
    this.#opts = { ...opts, batchSize: opts.batchSize ?? 5_000 };
  }

  protected poll(): Promise<Pruned> {
    return this.pruneOnce();
  }

  /** Deletes every row older than its table's retention; returns how many of each. */
  async pruneOnce(): Promise<Pruned> {
    const { db, webhookEventDays, webhookDeliveryHours, auditDays } = this.#opts;
    const pruned: Pruned = {
      webhookEvents: await this.#inBatches((batch) => pruneWebhookEvents(db, webhookEventDays, batch)),
      webhookDeliveries: webhookDeliveryHours === undefined ? 0 : await this.#inBatches((batch) => pruneWebhookDeliveries(db, webhookDeliveryHours, batch)),
      auditEntries: !auditDays ? 0 : await this.#inBatches((batch) => pruneAudit(db, auditDays, batch)),
    };
    if (pruned.webhookEvents + pruned.webhookDeliveries + pruned.auditEntries > 0) {
      this.#opts.log.info({ pruned, webhookEventDays, webhookDeliveryHours, auditDays }, 'old rows pruned');
    }
    return pruned;
  }

  async #inBatches(prune: (batchSize: number) => Promise<number>): Promise<number> {
    const { batchSize } = this.#opts;
    let pruned = 0;
    for (;;) {
      const deleted = await prune(batchSize);
      pruned += deleted;
      if (deleted < batchSize) return pruned;
    }
  }
}

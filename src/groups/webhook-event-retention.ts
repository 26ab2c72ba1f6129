/**
 * Retention of `webhook_events`: every accepted delivery is stored (the unique event key makes a
 * redelivery a no-op), and rows older than WEBHOOK_EVENT_RETENTION_DAYS are deleted by the worker
 * every hour, in batches, so the table stops growing with the chat platform's traffic.
 *
 * Forgetting an old event is safe: the desired state does not read these rows, and its rules are
 * idempotent (a decision counts only when its event time is later than the member's last one), so
 * a redelivery arriving after its row was pruned is accepted again and changes nothing.
 * Standard Webhooks deliveries older than the signature tolerance are refused before that anyway.
 *
 * The log of deliveries (`webhook_deliveries`, what operators list) is pruned in the same pass,
 * after its own, shorter retention (WEBHOOK_DELIVERY_RETENTION_HOURS).
 */
import type { Logger } from 'pino';
import { PeriodicTask } from '../lib/periodic-task.js';
import type { Db } from '../db/database.js';
import { pruneWebhookEvents } from './webhook-event-repository.js';
import { pruneWebhookDeliveries } from './webhook-delivery-repository.js';

export interface WebhookEventRetentionOptions {
  db: Db;
  log: Logger;
  retentionDays: number;
  /** Retention of the delivery log; when absent, it is not pruned here. */
  deliveryRetentionHours?: number;
  /** Default: hourly, the first run a minute after start. */
  intervalMs?: number;
  /** Rows per DELETE statement: short transactions beside the webhook intake. */
  batchSize?: number;
}

export class WebhookEventRetention {
  readonly #opts: Required<Omit<WebhookEventRetentionOptions, 'deliveryRetentionHours'>> & Pick<WebhookEventRetentionOptions, 'deliveryRetentionHours'>;
  readonly #task: PeriodicTask;

  constructor(opts: WebhookEventRetentionOptions) {
    this.#opts = { intervalMs: 3_600_000, batchSize: 5_000, ...opts };
    this.#task = new PeriodicTask({
      intervalMs: this.#opts.intervalMs,
      firstDelayMs: Math.min(this.#opts.intervalMs, 60_000),
      run: () => this.pruneOnce(),
      onError: (err) => this.#opts.log.warn({ err: err.message }, 'pruning webhook events failed'),
    });
  }

  start(): void {
    this.#task.start();
  }

  stop(): Promise<void> {
    return this.#task.stop();
  }

  /** Deletes every event received before the retention window (and old delivery log rows); returns how many events. */
  async pruneOnce(): Promise<number> {
    const { db, retentionDays, deliveryRetentionHours } = this.#opts;
    const pruned = await this.#inBatches((batch) => pruneWebhookEvents(db, retentionDays, batch));
    if (pruned > 0) this.#opts.log.info({ pruned, retentionDays }, 'webhook events pruned');
    if (deliveryRetentionHours !== undefined) {
      const deliveries = await this.#inBatches((batch) => pruneWebhookDeliveries(db, deliveryRetentionHours, batch));
      if (deliveries > 0) this.#opts.log.info({ pruned: deliveries, retentionHours: deliveryRetentionHours }, 'webhook delivery log pruned');
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

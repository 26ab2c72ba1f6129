/**
 * The log of webhook deliveries operators list (see webhook-delivery-repository.ts), written off the
 * request path: deliveries are buffered and written with one INSERT every `flushIntervalMs`.
 *
 * The log is for looking, not for correctness (the events themselves are durable before the 2xx),
 * so it trades completeness for a bounded cost: at most `maxPerFlush` rows are kept per interval,
 * and a flush the database refuses is dropped. Both are counted (`onDropped`), so an operator sees
 * when the list is incomplete. A process that crashes loses its last interval's rows.
 */
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { insertWebhookDeliveries, type WebhookDelivery } from '../groups/webhook-delivery-repository.js';

export interface DeliveryLogOptions {
  db: Db;
  log: Logger;
  /** Told how many deliveries were not written. */
  onDropped?: (count: number) => void;
  flushIntervalMs?: number;
  maxPerFlush?: number;
}

export class DeliveryLog {
  readonly #opts: DeliveryLogOptions & Required<Pick<DeliveryLogOptions, 'flushIntervalMs' | 'maxPerFlush'>>;
  #buffer: WebhookDelivery[] = [];
  #dropped = 0;
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(opts: DeliveryLogOptions) {
    this.#opts = { flushIntervalMs: 250, maxPerFlush: 1_000, ...opts };
  }

  record(delivery: WebhookDelivery): void {
    if (this.#closed) return;
    if (this.#buffer.length >= this.#opts.maxPerFlush) {
      this.#dropped++;
      return;
    }
    this.#buffer.push(delivery);
    if (!this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        void this.flush();
      }, this.#opts.flushIntervalMs);
      this.#timer.unref();
    }
  }

  /** Writes what is buffered now (after any write under way). */
  flush(): Promise<void> {
    const batch = this.#buffer;
    const dropped = this.#dropped;
    this.#buffer = [];
    this.#dropped = 0;
    this.#flushing = this.#flushing.then(async () => {
      let lost = dropped;
      try {
        await insertWebhookDeliveries(this.#opts.db, batch);
      } catch (err) {
        lost += batch.length;
        this.#opts.log.warn({ err: (err as Error).message, deliveries: batch.length }, 'webhook deliveries could not be logged');
      }
      if (lost > 0) this.#opts.onDropped?.(lost);
    });
    return this.#flushing;
  }

  /** Writes the rest; later deliveries are not recorded. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.flush();
  }
}

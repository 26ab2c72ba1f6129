/**
 * The safety net between PostgreSQL and the queue. Every few seconds it enqueues:
 *  - reconcile_outbox rows never handed to the queue (it was unreachable), or handed long ago and
 *    still there while the queue holds no job for the group (the job was lost, e.g. Redis restarted
 *    without persistence, or the process died between its commit and the enqueue); a group whose
 *    job is still waiting or running is left alone, so it never runs twice for one request; rows
 *    are deleted when a reconcile succeeds;
 *  - groups whose desired_version is ahead of synced_version (a request that never reached the
 *    queue), and groups whose retries ran out once their retry time (retry_at) has come;
 *  - groups with members pending registration, rarely, in case their delayed re-check was lost.
 * Enqueueing is deduplicated per group, so sweeping a group that already has a job costs nothing.
 * Only active tenants are swept.
 */
import type { Logger } from 'pino';
import { PollingService } from '../lib/periodic-task.js';
import type { Db } from '../db/database.js';
import { groupsDueForSweep } from './group-repository.js';
import { dueOutboxRequests, markEnqueued, type OutboxTarget } from './outbox-repository.js';

export interface OutboxSweeperOptions {
  db: Db;
  log: Logger;
  enqueue(tenantId: string, guid: string): Promise<void>;
  /** Whether the queue holds a waiting, delayed or running job for the group. */
  isQueued(tenantId: string, guid: string): Promise<boolean>;
  intervalMs: number;
  /** An outbox row enqueued this long ago and still present is enqueued again. */
  redeliverAfterMs?: number;
  /** A group with members pending registration is re-checked at least this often. */
  pendingRecheckMs?: number;
  batchSize?: number;
}

interface Target extends OutboxTarget { from_outbox: boolean; redelivery: boolean }

export class OutboxSweeper extends PollingService {
  readonly #opts: Required<OutboxSweeperOptions>;

  constructor(opts: OutboxSweeperOptions) {
    super({ intervalMs: opts.intervalMs, firstDelayMs: Math.min(opts.intervalMs, 1_000), log: opts.log, failure: 'outbox sweep failed' });
    this.#opts = {
      ...opts,
      redeliverAfterMs: opts.redeliverAfterMs ?? 30_000,
      pendingRecheckMs: opts.pendingRecheckMs ?? 10 * 60_000,
      batchSize: opts.batchSize ?? 500,
    };
  }

  protected poll(): Promise<number> {
    return this.sweepOnce();
  }

  /** One pass; returns how many groups were enqueued. */
  async sweepOnce(): Promise<number> {
    const { db, batchSize } = this.#opts;
    const targets = await this.#targets(db, batchSize);
    let enqueued = 0;
    const done: Target[] = [];
    for (const [i, target] of targets.entries()) {
      if (this.signal.aborted) break;
      try {
        // A request handed over before whose job is still in the queue was not missed.
        if (!(target.redelivery && await this.#opts.isQueued(target.tenant_id, target.guid))) {
          await this.#opts.enqueue(target.tenant_id, target.guid);
          enqueued++;
        }
        if (target.from_outbox) done.push(target);
      } catch (err) {
        // The queue is down: stop this pass, the rows stay for the next one.
        this.#opts.log.warn({ err: (err as Error).message, remaining: targets.length - i }, 'outbox sweep could not enqueue; will retry');
        break;
      }
    }
    await markEnqueued(db, done);
    if (enqueued > 0) this.#opts.log.debug({ enqueued }, 'outbox sweep enqueued groups');
    return enqueued;
  }

  async #targets(db: Db, limit: number): Promise<Target[]> {
    const { redeliverAfterMs, pendingRecheckMs, intervalMs } = this.#opts;
    const requested = await dueOutboxRequests(db, { redeliverAfterMs, limit });
    const due = await groupsDueForSweep(db, { staleAfterMs: intervalMs, pendingRecheckMs, limit });
    return [
      ...requested.map((r) => ({ ...r, from_outbox: true })),
      ...due.map((g) => ({ ...g, from_outbox: false, redelivery: false })),
    ];
  }
}

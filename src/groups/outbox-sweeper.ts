/**
 * The safety net between PostgreSQL and the queue. Every few seconds it enqueues:
 *  - reconcile_outbox rows not yet enqueued, or enqueued long ago and still there (the job was
 *    lost, e.g. Redis restarted without persistence); rows are deleted when a reconcile succeeds;
 *  - groups whose desired_version is ahead of synced_version (a request that never reached the
 *    queue), and groups whose retries ran out once their retry time (retry_at) has come;
 *  - groups with members pending registration, rarely, in case their delayed re-check was lost.
 * Enqueueing is deduplicated per group, so sweeping a group that already has a job costs nothing.
 * Only active tenants are swept.
 */
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { PeriodicTask } from '../lib/periodic-task.js';
import type { Db } from '../db/database.js';

export interface OutboxSweeperOptions {
  db: Db;
  log: Logger;
  enqueue(tenantId: string, guid: string): Promise<void>;
  intervalMs: number;
  /** An outbox row enqueued this long ago and still present is enqueued again. */
  redeliverAfterMs?: number;
  /** A group with members pending registration is re-checked at least this often. */
  pendingRecheckMs?: number;
  batchSize?: number;
}

interface Target { tenant_id: string; guid: string; from_outbox: boolean }

export class OutboxSweeper {
  readonly #opts: Required<OutboxSweeperOptions>;
  readonly #task: PeriodicTask;
  #stopped = false;

  constructor(opts: OutboxSweeperOptions) {
    this.#opts = {
      ...opts,
      redeliverAfterMs: opts.redeliverAfterMs ?? 30_000,
      pendingRecheckMs: opts.pendingRecheckMs ?? 10 * 60_000,
      batchSize: opts.batchSize ?? 500,
    };
    this.#task = new PeriodicTask({
      intervalMs: opts.intervalMs,
      firstDelayMs: Math.min(opts.intervalMs, 1_000),
      run: () => this.sweepOnce(),
      onError: (err) => this.#opts.log.warn({ err: err.message }, 'outbox sweep failed'),
    });
  }

  start(): void {
    this.#stopped = false;
    this.#task.start();
  }

  /** One pass; returns how many groups were enqueued. */
  async sweepOnce(): Promise<number> {
    const { db, batchSize } = this.#opts;
    const targets = await this.#targets(db, batchSize);
    let enqueued = 0;
    const done: Target[] = [];
    for (const target of targets) {
      if (this.#stopped) break;
      try {
        await this.#opts.enqueue(target.tenant_id, target.guid);
        enqueued++;
        if (target.from_outbox) done.push(target);
      } catch (err) {
        // The queue is down: stop this pass, the rows stay for the next one.
        this.#opts.log.warn({ err: (err as Error).message, remaining: targets.length - enqueued }, 'outbox sweep could not enqueue; will retry');
        break;
      }
    }
    if (done.length > 0) {
      await db.updateTable('reconcile_outbox').set({ enqueued_at: sql`now()` })
        .where(sql<boolean>`(tenant_id, guid) IN (SELECT * FROM unnest(${sql.val(done.map((d) => d.tenant_id))}::text[], ${sql.val(done.map((d) => d.guid))}::text[]))`)
        .execute();
    }
    if (enqueued > 0) this.#opts.log.debug({ enqueued }, 'outbox sweep enqueued groups');
    return enqueued;
  }

  async #targets(db: Db, limit: number): Promise<Target[]> {
    const { redeliverAfterMs, pendingRecheckMs, intervalMs } = this.#opts;
    const { rows } = await sql<Target>`
      (SELECT o.tenant_id, o.guid, true AS from_outbox
         FROM reconcile_outbox o JOIN tenants t ON t.app_id = o.tenant_id AND t.status = 'active'
        WHERE o.enqueued_at IS NULL OR o.enqueued_at < now() - make_interval(secs => ${redeliverAfterMs / 1000})
        ORDER BY o.requested_at LIMIT ${limit})
      UNION ALL
      (SELECT g.tenant_id, g.guid, false AS from_outbox
         FROM groups g JOIN tenants t ON t.app_id = g.tenant_id AND t.status = 'active'
        WHERE ((g.synced_version < g.desired_version
                AND g.updated_at < now() - make_interval(secs => ${intervalMs / 1000})
                AND (g.retry_at IS NULL OR g.retry_at <= now())
                AND NOT EXISTS (SELECT 1 FROM reconcile_outbox o WHERE o.tenant_id = g.tenant_id AND o.guid = g.guid))
               OR (g.status = 'failed' AND g.retry_at <= now()))
        ORDER BY g.updated_at LIMIT ${limit})
      UNION ALL
      (SELECT g.tenant_id, g.guid, false AS from_outbox
         FROM groups g JOIN tenants t ON t.app_id = g.tenant_id AND t.status = 'active'
        WHERE g.status = 'pending' AND g.synced_version >= g.desired_version AND NOT g.deleted
          AND g.updated_at < now() - make_interval(secs => ${pendingRecheckMs / 1000})
        ORDER BY g.updated_at LIMIT ${limit})
    `.execute(db);
    return rows;
  }

  async stop(): Promise<void> {
    // Also ends a pass in progress early: the rows it did not reach stay for the next start.
    this.#stopped = true;
    await this.#task.stop();
  }
}

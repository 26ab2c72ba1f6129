/**
 * The group-owner worker: a BullMQ worker on the group queue, the outbox sweeper, the retention of
 * stored webhook events, and the tenants' service identities (a bounded set of E3Kit instances).
 * Many jobs run at once (they mostly wait for Virgil), at most a share of them for one tenant
 * (tenant-gate.ts); their group locks share one connection (group-lock.ts). `startWorker` returns a
 * handle whose `close()` shuts down gracefully: no new jobs, the running ones finish (bounded by a
 * timeout), then the E3Kit instances and the lock connection are closed.
 *
 * The caller hands in the ReconcileQueue (the one its API side requests reconciles on, when both
 * run in one process) and closes it after the worker.
 */
import type { AppContext } from '../app/context.js';
import type { WorkerConfig } from '../config/config.js';
import { setServiceCardId } from '../tenants/tenant-repository.js';
import { OutboxSweeper, type OutboxSweeperOptions } from '../groups/outbox-sweeper.js';
import type { ReconcileQueue } from './reconcile-queue.js';
import type { GroupWorker } from './queue-connection.js';
import { cappedExponentialBackoff, DEFAULT_BACKOFF, type BackoffSettings } from './jobs.js';
import { WebhookEventRetention } from '../groups/webhook-event-retention.js';
import { createGroupProcessor, DEFAULT_PENDING_RECHECK_DELAYS_MS } from './processor.js';
import type { VirgilChangeObserver } from './reconcile.js';
import { ServiceIdentities, type ServiceIdentitiesOptions } from '../virgil/service-identities.js';
import { removeStaleGroupCaches } from '../virgil/stale-group-caches.js';
import { GroupLocks } from './group-lock.js';
import { TenantGate } from './tenant-gate.js';

export interface StartWorkerOptions {
  /** Parallel jobs in this process (default: config WORKER_CONCURRENCY). */
  concurrency?: number;
  /** Parallel jobs of one tenant in this process (default: config WORKER_TENANT_CONCURRENCY). */
  tenantConcurrency?: number;
  /** Service identities kept open (default: config WORKER_SERVICE_IDENTITIES). */
  serviceIdentities?: number;
  /** Builds each service identity's E3Kit group store (default: bounded, in memory). */
  groupStore?: ServiceIdentitiesOptions['groupStore'];
  /** The group queue: jobs are taken from it, follow-ups and re-checks are added to it. */
  queue: ReconcileQueue;
  /** Virgil base URL (default: the URL the card publisher uses, i.e. VIRGIL_API_URL or the emulator). */
  virgilApiUrl?: string;
  /** Retry backoff of failing runs (default 1 s doubling up to 60 s). */
  backoff?: BackoffSettings;
  pendingRecheckDelaysMs?: number[];
  lockRetryDelayMs?: number;
  /** BullMQ lock of a running job; a job whose worker died is picked up again after about this long. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  sweeper?: Partial<Pick<OutboxSweeperOptions, 'intervalMs' | 'redeliverAfterMs' | 'pendingRecheckMs'>>;
  /** A group whose retries ran out is retried by the sweeper after this long (default 60 s). */
  failedRetryAfterMs?: number;
  /** A run taking longer than this is abandoned and retried (default 120 s). */
  runTimeoutMs?: number;
  /**
   * How long close() waits for running jobs before abandoning them (they count as stalled and run
   * again on another worker). Default 10 s, within the entry points' 15 s grace period.
   */
  shutdownTimeoutMs?: number;
  /** Also told of every change made on Virgil (after the worker's own log line). */
  observeVirgilChange?: VirgilChangeObserver;
}

export interface RunningWorker {
  readonly worker: GroupWorker;
  readonly queue: ReconcileQueue;
  readonly sweeper: OutboxSweeper;
  /** Graceful stop. `force` abandons running jobs at once (they count as stalled and run again). */
  close(opts?: { force?: boolean }): Promise<void>;
}

export async function startWorker(ctx: AppContext<WorkerConfig>, opts: StartWorkerOptions): Promise<RunningWorker> {
  const log = ctx.log.child({ component: 'worker' });
  const { queue } = opts;
  queue.useDatabase(ctx.db);

  const removed = await removeStaleGroupCaches();
  if (removed > 0) log.info({ removed }, 'removed group-cache folders left by an earlier worker');
  const identities = new ServiceIdentities({
    virgilApiUrl: opts.virgilApiUrl ?? ctx.virgil.apiUrl,
    log,
    onCardPublished: (tenantId, cardId) => setServiceCardId(ctx.db, tenantId, cardId),
    maxInstances: opts.serviceIdentities ?? ctx.config.worker.serviceIdentities,
    groupStore: opts.groupStore,
  });
  const locks = GroupLocks.fromPool(ctx.pool);
  const concurrency = opts.concurrency ?? ctx.config.worker.concurrency;
  const gate = new TenantGate({ perTenant: opts.tenantConcurrency ?? Math.min(ctx.config.worker.tenantConcurrency, concurrency), backoff: opts.backoff });
  const observeVirgilChange: VirgilChangeObserver = async (step, group, uids) => {
    // A re-add names its member (a key change is what an operator investigates); card ids and keys are never logged.
    const detail = step === 'readded' ? { uid: uids[0] } : uids.length > 0 ? { members: uids.length } : {};
    log.info({ tenantId: group.tenantId, guid: group.guid, step, ...detail }, step === 'readded' ? 'member re-added after a key change' : 'virgil group changed');
    await opts.observeVirgilChange?.(step, group, uids);
  };

  const processor = createGroupProcessor({
    db: ctx.db,
    locks,
    gate,
    log,
    tenants: ctx.tenants,
    identities,
    queue,
    observeVirgilChange,
    pendingRecheckDelaysMs: opts.pendingRecheckDelaysMs ?? DEFAULT_PENDING_RECHECK_DELAYS_MS,
    lockRetryDelayMs: opts.lockRetryDelayMs ?? 1_000,
    failedRetryAfterMs: opts.failedRetryAfterMs ?? 60_000,
    runTimeoutMs: opts.runTimeoutMs ?? 120_000,
  });

  const worker = await queue.connection.createWorker(processor, {
    concurrency,
    lockDuration: opts.lockDurationMs ?? 30_000,
    stalledInterval: opts.stalledIntervalMs ?? 30_000,
    // A job whose worker died is retried; only a job that keeps killing workers is given up.
    maxStalledCount: 3,
    settings: { backoffStrategy: cappedExponentialBackoff(opts.backoff ?? DEFAULT_BACKOFF) },
  });
  worker.on('error', (err) => log.warn({ err: err.message }, 'group worker error'));
  worker.on('failed', (job, err) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) log.error({ jobId: job.id, err: err.message }, 'group job gave up');
  });

  const sweeper = new OutboxSweeper({
    db: ctx.db,
    log,
    enqueue: (tenantId, guid) => queue.enqueue(tenantId, guid),
    isQueued: (tenantId, guid) => queue.isQueued(tenantId, guid),
    intervalMs: opts.sweeper?.intervalMs ?? ctx.config.worker.sweepIntervalMs,
    redeliverAfterMs: opts.sweeper?.redeliverAfterMs,
    pendingRecheckMs: opts.sweeper?.pendingRecheckMs,
  });

  const retention = new WebhookEventRetention({ db: ctx.db, log, retentionDays: ctx.config.worker.webhookEventRetentionDays });

  await worker.waitUntilReady();
  sweeper.start();
  retention.start();
  log.info({ backend: queue.connection.kind, concurrency: worker.opts.concurrency, tenantConcurrency: gate.perTenant, webhookEventRetentionDays: ctx.config.worker.webhookEventRetentionDays }, 'group worker started');

  let closing: Promise<void> | null = null;
  const close = (closeOpts: { force?: boolean } = {}) => {
    closing ??= (async () => {
      await Promise.all([sweeper.stop(), retention.stop()]);
      if (closeOpts.force) {
        await worker.close(true).catch(() => {});
      } else {
        const timeoutMs = opts.shutdownTimeoutMs ?? 10_000;
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          worker.close().then(() => false, () => false),
          new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), timeoutMs); }),
        ]).finally(() => clearTimeout(timer));
        if (timedOut) {
          log.warn({ timeoutMs }, 'running group jobs did not finish in time; abandoning them');
          await worker.close(true).catch(() => {});
        }
      }
      await identities.close();
      await locks.close();
      log.info('group worker stopped');
    })();
    return closing;
  };

  return { worker, queue, sweeper, close };
}

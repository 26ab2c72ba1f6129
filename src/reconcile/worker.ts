/**
 * The group-owner worker: a BullMQ worker on the group queue, the outbox sweeper, the retention of
 * stored webhook events, the drift sweep of Twilio tenants, the tenants' service identities (a
 * bounded set of E3Kit instances), the import runner and CometChat drift repair (src/imports). Many
 * jobs run at once (they mostly wait for Virgil), at most a share of them for one tenant
 * (tenant-gate.ts); their group locks, and those of imports and drift repair, share one connection (src/db/session-locks.ts). `startWorker` returns a
 * handle whose `close()` shuts down gracefully: no new jobs, the running ones finish (bounded by a
 * timeout), then the E3Kit instances and the lock connection are closed.
 *
 * The caller hands in the ReconcileQueue (the one its API side requests reconciles on, when both
 * run in one process) and closes it after the worker.
 */
import type { AppContext } from '../app/context.js';
import { workerActor } from '../audit/actions.js';
import { auditVirgilChange } from '../audit/audit-log.js';
import type { WorkerConfig } from '../config/config.js';
import { SessionLocks } from '../db/session-locks.js';
import { setServiceCardId } from '../tenants/tenant-repository.js';
import { OutboxSweeper, type OutboxSweeperOptions } from '../groups/outbox-sweeper.js';
import type { ReconcileQueue } from './reconcile-queue.js';
import type { GroupWorker } from './queue-connection.js';
import { cappedExponentialBackoff, DEFAULT_BACKOFF, type BackoffSettings } from './jobs.js';
import { Retention } from '../groups/retention.js';
import { createGroupProcessor, DEFAULT_PENDING_RECHECK_DELAYS_MS } from './processor.js';
import type { VirgilChangeObserver } from './reconcile.js';
import { ServiceIdentities, type ServiceIdentitiesOptions } from '../virgil/service-identities.js';
import { removeStaleGroupCaches } from '../virgil/stale-group-caches.js';
import { TenantGate } from './tenant-gate.js';
import { TwilioSweeper, type TwilioSweeperOptions } from './twilio-sweeper.js';
import { observeVirgilRequests } from '../virgil/request-observer.js';
import { measuredProcessor } from './run-metrics.js';
import { CometChatClients } from '../imports/cometchat-reader.js';
import { DriftRepair } from '../imports/drift-repair.js';
import { ImportRunner } from '../imports/runner.js';
import type { RetryPolicy } from '../cometchat/rest-client.js';

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
  /** The Twilio drift sweep's polling, failure retry and REST retries (defaults in twilio-sweeper.ts). */
  twilioSweep?: Partial<Pick<TwilioSweeperOptions, 'pollMs' | 'failureRetryMs' | 'retry' | 'sleep' | 'random'>>;
  /** Overrides of the import runner's and drift repair's settings (default: config). */
  imports?: Partial<WorkerConfig['imports'] & { backlogPollMs: number; retryAfterMs: number; cometchatRetry: RetryPolicy }>;
}

export interface RunningWorker {
  readonly worker: GroupWorker;
  readonly queue: ReconcileQueue;
  readonly sweeper: OutboxSweeper;
  readonly twilioSweeper: TwilioSweeper;
  /** Rejects unless the BullMQ worker is running (readiness). */
  probe(): Promise<void>;
  readonly imports: ImportRunner;
  readonly driftRepair: DriftRepair;
  /** Graceful stop. `force` abandons running jobs at once (they count as stalled and run again). */
  close(opts?: { force?: boolean }): Promise<void>;
}

export async function startWorker(ctx: AppContext<WorkerConfig>, opts: StartWorkerOptions): Promise<RunningWorker> {
  const log = ctx.log.child({ component: 'worker' });
  const { queue } = opts;
  queue.useDatabase(ctx.db);

  const virgilApiUrl = opts.virgilApiUrl ?? ctx.virgil.apiUrl;
  const stopCountingVirgil = observeVirgilRequests(virgilApiUrl, (operation, status, seconds) => ctx.metrics.virgilRequest(operation, status, seconds));
  const removed = await removeStaleGroupCaches();
  if (removed > 0) log.info({ removed }, 'removed group-cache folders left by an earlier worker');
  const identities = new ServiceIdentities({
    virgilApiUrl,
    log,
    onCardPublished: (tenantId, cardId) => setServiceCardId(ctx.db, tenantId, cardId),
    maxInstances: opts.serviceIdentities ?? ctx.config.worker.serviceIdentities,
    groupStore: opts.groupStore,
  });
  const locks = SessionLocks.fromPool(ctx.pool);
  const concurrency = opts.concurrency ?? ctx.config.worker.concurrency;
  const gate = new TenantGate({ perTenant: opts.tenantConcurrency ?? Math.min(ctx.config.worker.tenantConcurrency, concurrency), backoff: opts.backoff });
  const actor = workerActor();
  const observeVirgilChange: VirgilChangeObserver = async (step, group, uids) => {
    // A re-add names its member (a key change is what an operator investigates); card ids and keys are never logged.
    const detail = step === 'readded' ? { uid: uids[0] } : uids.length > 0 ? { members: uids.length } : {};
    log.info({ tenantId: group.tenantId, guid: group.guid, step, ...detail }, step === 'readded' ? 'member re-added after a key change' : 'virgil group changed');
    // The change is made: a failed audit write must not undo or repeat it; the log line above stays.
    await auditVirgilChange(ctx.db, actor, step, group, uids).catch((err: unknown) => {
      ctx.metrics.auditWriteFailed();
      log.error({ tenantId: group.tenantId, guid: group.guid, step, err: (err as Error).message }, 'audit entry not written');
    });
    await opts.observeVirgilChange?.(step, group, uids);
  };

  const processor = measuredProcessor(createGroupProcessor({
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
  }), ctx.metrics);

  const worker = await queue.connection.createWorker(processor, {
    concurrency,
    lockDuration: opts.lockDurationMs ?? 30_000,
    stalledInterval: opts.stalledIntervalMs ?? 30_000,
    // A job whose worker died is retried; only a job that keeps killing workers is given up.
    maxStalledCount: 3,
    settings: { backoffStrategy: cappedExponentialBackoff(opts.backoff ?? DEFAULT_BACKOFF) },
  });
  // Once closing, the queue backend's connections are going away (PostgreSQL may be stopping right
  // after): their errors are expected then, and not a sign of trouble.
  worker.on('error', (err) => (closing ? log.debug({ err: err.message }, 'group worker error while closing') : log.warn({ err: err.message }, 'group worker error')));
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

  const retention = new Retention({
    db: ctx.db, log,
    webhookEventDays: ctx.config.worker.webhookEventRetentionDays,
    webhookDeliveryHours: ctx.config.worker.webhookDeliveryRetentionHours,
    auditDays: ctx.config.worker.auditRetentionDays,
  });

  const twilioSweeper = new TwilioSweeper({
    db: ctx.db,
    log,
    tenants: ctx.tenants,
    reconcile: queue,
    apiUrl: ctx.config.twilio.apiUrl,
    intervalMs: ctx.config.twilio.sweepIntervalSeconds * 1000,
    ...opts.twilioSweep,
  });

  const importSettings = { ...ctx.config.imports, ...opts.imports };
  const cometchat = new CometChatClients({
    apiUrl: ctx.config.cometchatApiUrl, perPage: importSettings.cometchatPageSize, concurrency: 4, retry: importSettings.cometchatRetry,
  });
  const snapshotWork = { db: ctx.db, locks, tenants: ctx.tenants, reconcile: queue, cometchat };
  const imports = new ImportRunner({
    ...snapshotWork, log: log.child({ component: 'imports' }),
    batchSize: importSettings.batchSize, maxBacklog: importSettings.maxBacklog, pollIntervalMs: importSettings.pollIntervalMs,
    backlogPollMs: importSettings.backlogPollMs ?? 1_000, concurrency: importSettings.concurrency, retryAfterMs: importSettings.retryAfterMs ?? 30_000,
  });
  const driftRepair = new DriftRepair({
    ...snapshotWork, log: log.child({ component: 'drift-repair' }),
    pollIntervalMs: importSettings.driftRepairPollIntervalMs, batchSize: importSettings.batchSize,
  });

  await worker.waitUntilReady();
  sweeper.start();
  retention.start();
  twilioSweeper.start();
  imports.start();
  driftRepair.start();
  log.info({ backend: queue.connection.kind, concurrency: worker.opts.concurrency, tenantConcurrency: gate.perTenant, webhookEventRetentionDays: ctx.config.worker.webhookEventRetentionDays }, 'group worker started');

  let closing: Promise<void> | null = null;
  const close = (closeOpts: { force?: boolean } = {}) => {
    closing ??= (async () => {
      await Promise.all([sweeper.stop(), retention.stop(), twilioSweeper.stop(), imports.stop(), driftRepair.stop()]);
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
      stopCountingVirgil();
      log.info('group worker stopped');
    })();
    return closing;
  };

  const probe = async () => {
    if (closing || !worker.isRunning()) throw new Error('the group worker is not running');
  };
  return { worker, queue, sweeper, twilioSweeper, imports, driftRepair, probe, close };
}

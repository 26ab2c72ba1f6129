/**
 * The BullMQ processor of the group queue: runs a reconcile, then decides what follows.
 *
 *   wake job                → enqueue the group's reconcile job (deduplicated) and finish;
 *   key-check job           → look up the user's newest card; reconcile each group that gave them
 *                             tickets under another card (the run re-adds them);
 *   tenant at its cap, or   → move the job back to delayed for a moment (tenant-gate.ts: other
 *   backing off after 429     tenants' jobs take the slot);
 *   run postponed (locked)  → move the job back to delayed for a moment;
 *   desired state moved on  → enqueue a follow-up run (kept while this one is active), after a
 *                             success or a permanent failure;
 *   members pending         → schedule a delayed re-check with backoff;
 *   transient failure       → note the reason on the group and throw: BullMQ retries with backoff;
 *                             on the last attempt the group is marked failed, and the sweeper
 *                             tries it again after failedRetryAfterMs;
 *   permanent failure       → mark the group failed with the reason; UnrecoverableError.
 */
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { ReconcileQueue } from './reconcile-queue.js';
import { KEY_CHECK_JOB, RECONCILE_JOB, WAKE_JOB, isKeyCheckJob, isReconcileGroupJob, type GroupJobData } from './jobs.js';
import type { TenantDirectory } from '../tenants/directory.js';
import { classifyFailure } from './failures.js';
import { GroupLockLostError } from './group-lock.js';
import { groupsWithStaleCard, recordFailure, uidsHoldingTickets } from '../groups/run-records.js';
import { doneWithCards, findCards } from '../virgil/group-ops.js';
import { reconcileGroup, type ReconcileDeps, type RunProgress } from './reconcile.js';
import { TenantDeferredError, type TenantGate } from './tenant-gate.js';

export interface ProcessorOptions extends ReconcileDeps {
  log: Logger;
  tenants: Pick<TenantDirectory, 'get'>;
  queue: Pick<ReconcileQueue, 'enqueue' | 'wake'>;
  /** Delays of the re-checks of a group whose members await registration, by attempt. */
  pendingRecheckDelaysMs: number[];
  /** How long a run waits when another run holds the group. */
  lockRetryDelayMs: number;
  /** When retries run out, the sweeper tries the group again after this long. */
  failedRetryAfterMs: number;
  /** Per-tenant concurrency and 429 back-off in this process. */
  gate: TenantGate;
}

export const DEFAULT_PENDING_RECHECK_DELAYS_MS = [5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000];

export function createGroupProcessor(opts: ProcessorOptions) {
  const { log } = opts;

  /**
   * One card search, and only for a user who holds tickets somewhere. Groups where the card they
   * hold tickets for is not their newest are reconciled; the run re-adds them where they are still
   * a desired member and a participant (the rule lives in reconcile.ts alone).
   */
  async function checkKeys(tenantId: string, uid: string): Promise<string> {
    const tenant = await opts.tenants.get(tenantId);
    if (!tenant || tenant.status !== 'active') return 'tenant-unavailable';
    if ((await uidsHoldingTickets(opts.db, tenantId, [uid])).length === 0) return 'no-groups';
    const identity = tenant.userIdentity(uid);
    const found = await opts.identities.use(tenant, (svc) => findCards(svc.eThree, [identity]));
    const cardId = found.get(identity)?.id;
    doneWithCards(found.values());
    if (cardId === undefined) return 'no-card';
    const guids = await groupsWithStaleCard(opts.db, tenantId, uid, cardId);
    for (const guid of guids) await opts.queue.enqueue(tenantId, guid);
    if (guids.length > 0) log.info({ tenantId, uid, groups: guids.length }, 'key change found; groups queued for re-adding');
    return guids.length > 0 ? 'key-changed' : 'unchanged';
  }

  /**
   * Runs `work` in one of the tenant's slots, or sends the job back to the queue for a moment when
   * the tenant has no free slot here or is backing off after a Virgil 429.
   */
  async function inTenantSlot(job: Job<GroupJobData>, token: string | undefined, tenantId: string, work: () => Promise<string>): Promise<string> {
    const admission = opts.gate.enter(tenantId);
    if (!admission.admitted) {
      await job.moveToDelayed(Date.now() + admission.retryInMs, token);
      throw new TenantDeferredError();
    }
    let rateLimited = false;
    try {
      return await work();
    } catch (err) {
      rateLimited = !(err instanceof DelayedError) && classifyFailure(err).error.code === 'VIRGIL_RATE_LIMITED';
      throw err;
    } finally {
      admission.release(rateLimited ? 'rate-limited' : 'done');
    }
  }

  return async function processGroupJob(job: Job<GroupJobData>, token?: string): Promise<string> {
    if (job.name === KEY_CHECK_JOB) {
      if (!isKeyCheckJob(job.data)) throw new UnrecoverableError('malformed job payload');
      const { tenantId, uid } = job.data;
      return inTenantSlot(job, token, tenantId, () => checkKeys(tenantId, uid));
    }
    if (!isReconcileGroupJob(job.data)) throw new UnrecoverableError('malformed job payload');
    const { tenantId, guid } = job.data;

    if (job.name === WAKE_JOB) {
      await opts.queue.enqueue(tenantId, guid);
      return 'woke';
    }
    if (job.name !== RECONCILE_JOB) throw new UnrecoverableError(`unknown job ${job.name}`);
    return inTenantSlot(job, token, tenantId, () => reconcileJob(job, token, tenantId, guid));
  };

  async function reconcileJob(job: Job<GroupJobData>, token: string | undefined, tenantId: string, guid: string): Promise<string> {

    const tenant = await opts.tenants.get(tenantId);
    if (!tenant || tenant.status !== 'active') {
      // Nothing to do for a missing or disabled tenant; the sweeper resumes it when re-enabled.
      log.info({ tenantId, guid }, 'reconcile skipped: tenant missing or disabled');
      return 'tenant-unavailable';
    }

    const progress: RunProgress = { version: null };
    try {
      const result = await reconcileGroup(opts, tenant, guid, progress);
      if (result.kind === 'locked') {
        await job.moveToDelayed(Date.now() + opts.lockRetryDelayMs, token);
        throw new DelayedError();
      }
      if (result.kind === 'missing') return 'missing';
      if (!result.recorded) {
        // A newer desired state arrived during the run: one more run (it reads the newest state).
        await opts.queue.enqueue(tenantId, guid);
        return 'superseded';
      }
      if (result.outcome.status === 'pending') {
        const delays = opts.pendingRecheckDelaysMs;
        const level = Math.max(1, Math.min(result.outcome.attempts, delays.length));
        // One slot per backoff level: a shorter re-check is never hidden behind a longer one.
        await opts.queue.wake(tenantId, guid, `pending-${level}`, delays[level - 1], 'pending-recheck').catch((err) =>
          log.warn({ tenantId, guid, err: (err as Error).message }, 'could not schedule the pending re-check; the sweeper will'));
      }
      log.debug({ tenantId, guid, status: result.outcome.status, version: result.version }, 'group reconciled');
      return result.outcome.status;
    } catch (err) {
      if (err instanceof DelayedError) throw err;
      if (err instanceof GroupLockLostError) {
        // Another run may own the group now: record nothing, let BullMQ retry.
        log.warn({ tenantId, guid }, 'reconcile run lost its group lock; nothing recorded');
        throw err;
      }
      const failure = classifyFailure(err);
      const attempts = job.opts.attempts ?? 1;
      const final = failure.kind === 'permanent' || job.attemptsMade + 1 >= attempts;
      log.warn({ tenantId, guid, code: failure.error.code, kind: failure.kind, attempt: job.attemptsMade + 1, final, err: failure.error.message }, 'reconcile failed');
      const superseded = await recordFailure(opts.db, tenantId, guid, {
        error: failure.error, final, permanent: failure.kind === 'permanent', version: progress.version, retryAfterMs: opts.failedRetryAfterMs,
      })
        .catch((dbErr) => {
          log.warn({ tenantId, guid, err: (dbErr as Error).message }, 'could not record the reconcile failure');
          return false;
        });
      if (failure.kind === 'permanent') {
        // The desired state moved on during the run: the newer state gets its own run (the intake
        // does not enqueue a group whose request is still with the queue).
        if (superseded) await opts.queue.enqueue(tenantId, guid).catch((qErr) => log.warn({ tenantId, guid, err: (qErr as Error).message }, 'could not queue the follow-up run; the sweeper will'));
        throw new UnrecoverableError(`${failure.error.code}: ${failure.error.message}`);
      }
      throw err instanceof Error ? err : new Error(String(err));
    }
  }
}

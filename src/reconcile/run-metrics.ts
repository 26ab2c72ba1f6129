/**
 * Reconcile runs as metrics: the processor is wrapped so every run of a reconcile job is counted
 * by outcome and timed, whatever the processor decided (wake jobs are not runs and are passed
 * through). Outcomes are a fixed set: the group status a run recorded, or what became of the run.
 */
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { ServiceMetrics } from '../metrics/service-metrics.js';
import { isReconcileGroupJob, RECONCILE_JOB, type GroupJobData } from './jobs.js';
import { TenantDeferredError } from './tenant-gate.js';

type GroupProcessor = (job: Job<GroupJobData>, token?: string) => Promise<string>;

/** A run that ended without an exception: the processor's answer (a group status, superseded, missing…). */
export function outcomeOfResult(result: string): string {
  return result.replace(/-/g, '_');
}

/**
 * A run that threw: deferred (the tenant had no free slot here, or was backing off after a 429: the
 * run never started), postponed (another run holds the group), failed (recorded as failed: a
 * permanent error, or the last attempt), or retry (BullMQ tries again after a backoff).
 */
export function outcomeOfError(err: unknown, attemptsMade: number, attempts: number): string {
  if (err instanceof TenantDeferredError) return 'deferred';
  if (err instanceof DelayedError) return 'postponed';
  if (err instanceof UnrecoverableError) return 'failed';
  return attemptsMade + 1 >= attempts ? 'failed' : 'retry';
}

export function measuredProcessor(processor: GroupProcessor, metrics: Pick<ServiceMetrics, 'reconcileRun'>): GroupProcessor {
  return async function measuredGroupJob(job, token) {
    if (job.name !== RECONCILE_JOB) return processor(job, token);
    const tenant = isReconcileGroupJob(job.data) ? job.data.tenantId : '';
    const startedAt = performance.now();
    const seconds = () => (performance.now() - startedAt) / 1000;
    try {
      const result = await processor(job, token);
      metrics.reconcileRun(outcomeOfResult(result), seconds(), tenant);
      return result;
    } catch (err) {
      metrics.reconcileRun(outcomeOfError(err, job.attemptsMade, job.opts.attempts ?? 1), seconds(), tenant);
      throw err;
    }
  };
}

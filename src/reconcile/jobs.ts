/**
 * The typed job registry of the group queue: one queue, two job kinds, deterministic ids.
 *
 * Payloads carry a tenant id and a group id only. Everything else (desired members, credentials)
 * is read from PostgreSQL when the job runs, so a job can be retried, duplicated or replayed and
 * always acts on the newest state, and no secret ever sits in Redis.
 */
import { sha256Hex } from '../lib/sha256.js';
import type { BackoffStrategy, DefaultJobOptions, JobsOptions } from 'bullmq';

export const GROUP_QUEUE_NAME = 'group-reconcile';
export const DEFAULT_QUEUE_PREFIX = 'e2ee';

/** Reconcile one group: make the Virgil group equal the desired membership in PostgreSQL. */
export const RECONCILE_JOB = 'reconcile';
/** A delayed nudge that enqueues a reconcile when it fires (pending members, registrations). */
export const WAKE_JOB = 'wake';
/** Compare a user's newest card with the cards their groups gave them tickets for. */
export const KEY_CHECK_JOB = 'key-check';


export interface ReconcileGroupJob { tenantId: string; guid: string }
export type WakeGroupJob = ReconcileGroupJob & { reason: WakeReason };
export type WakeReason = 'user-active' | 'pending-recheck';
export interface KeyCheckJob { tenantId: string; uid: string }
export type GroupJobData = ReconcileGroupJob | WakeGroupJob | KeyCheckJob;

/** Attempts for transient failures before a group is recorded as failed. */
export const RECONCILE_ATTEMPTS = 10;
export const CAPPED_EXPONENTIAL_BACKOFF = 'capped-exponential';

export interface BackoffSettings { baseMs: number; capMs: number }
export const DEFAULT_BACKOFF: BackoffSettings = { baseMs: 1_000, capMs: 60_000 };

/**
 * base, 2×base, 4×base … capped, with ±20 % jitter so a Virgil outage does not make every group
 * retry in lockstep. Registered on the worker for jobs whose backoff type is
 * CAPPED_EXPONENTIAL_BACKOFF (the built-in "fixed" and "exponential" types are unaffected).
 */
export function cappedExponentialBackoff(settings: BackoffSettings = DEFAULT_BACKOFF): BackoffStrategy {
  return (attemptsMade) => Math.round(cappedDelayMs(attemptsMade, settings) * (0.8 + Math.random() * 0.4));
}

/** The delay after the n-th failure in a row, before jitter: base, 2×base, 4×base … capped. */
export function cappedDelayMs(failures: number, settings: BackoffSettings = DEFAULT_BACKOFF): number {
  return Math.min(settings.capMs, settings.baseMs * 2 ** Math.max(0, failures - 1));
}

export const DEFAULT_JOB_OPTIONS: DefaultJobOptions = {
  attempts: RECONCILE_ATTEMPTS,
  backoff: { type: CAPPED_EXPONENTIAL_BACKOFF },
  // Completed jobs carry no information the database does not have.
  removeOnComplete: true,
  // Failed jobs are kept a while for operators; the group row records the reason anyway.
  removeOnFail: { age: 7 * 24 * 3600, count: 5_000 },
};

/**
 * A stable, separator-free key for a group. BullMQ ids must not contain ":" and tenant ids or
 * guids may, so they are hashed (with a NUL between them, so "a"+"bc" ≠ "ab"+"c").
 */
export function groupJobKey(tenantId: string, guid: string): string {
  return sha256Hex(`${tenantId}\0${guid}`).slice(0, 40);
}

/** The deduplication id shared by every reconcile job of one group. */
export function reconcileDeduplicationId(tenantId: string, guid: string): string {
  return `grp-${groupJobKey(tenantId, guid)}`;
}

/**
 * Options for a reconcile job: at most one waiting and one active job per group. A request that
 * arrives while the group's job is running is kept and becomes exactly one follow-up run.
 */
export function reconcileJobOptions(tenantId: string, guid: string, attempts: number = RECONCILE_ATTEMPTS): JobsOptions {
  return { ...DEFAULT_JOB_OPTIONS, attempts, deduplication: { id: reconcileDeduplicationId(tenantId, guid), keepLastIfActive: true } };
}

/** Wake jobs have one id per group and reason slot: re-adding one that is still delayed is a no-op. */
export function wakeJobId(tenantId: string, guid: string, slot: string): string {
  return `wake-${groupJobKey(tenantId, guid)}-${slot}`;
}

export function wakeJobOptions(tenantId: string, guid: string, slot: string, delayMs: number): JobsOptions {
  return {
    jobId: wakeJobId(tenantId, guid, slot),
    delay: Math.max(0, Math.round(delayMs)),
    attempts: 3,
    backoff: { type: 'fixed', delay: 1_000 },
    removeOnComplete: true,
    removeOnFail: true,
  };
}

/** One waiting key check per user: asking again while one waits adds nothing. */
export function keyCheckJobOptions(tenantId: string, uid: string): JobsOptions {
  return {
    jobId: `keys-${groupJobKey(tenantId, uid)}`,
    attempts: 3,
    backoff: { type: 'fixed', delay: 1_000 },
    removeOnComplete: true,
    removeOnFail: true,
  };
}

export function isKeyCheckJob(data: unknown): data is KeyCheckJob {
  const d = data as Partial<KeyCheckJob> | null;
  return typeof d === 'object' && d !== null && typeof d.tenantId === 'string' && typeof d.uid === 'string';
}

export function isReconcileGroupJob(data: unknown): data is ReconcileGroupJob {
  const d = data as Partial<ReconcileGroupJob> | null;
  return typeof d === 'object' && d !== null && typeof d.tenantId === 'string' && typeof d.guid === 'string';
}

/**
 * How the group layer asks for a group to be reconciled. Declared here, implemented by the queue in
 * src/reconcile (a deduplicated job carrying only tenant id and guid, never a secret), so intake
 * and admin code depend on this contract and not on the queue.
 */
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { markNotEnqueued, type OutboxTarget } from './outbox-repository.js';

export interface ReconcileRequester {
  /**
   * Enqueue a reconcile of one group. Call only after the desired state has committed. Never
   * rejects: when the queue cannot be reached, the group's outbox row is marked as not handed over
   * (see outbox-repository.ts), so the sweeper's next pass enqueues it.
   */
  request(tenantId: string, guid: string): Promise<void>;
  /** request() for several groups at once (one round trip to the queue). */
  requestMany(targets: ReadonlyArray<{ tenant_id: string; guid: string }>): Promise<void>;
  /**
   * A user just asked for a Virgil JWT: groups where they are pending registration get retried
   * soon, and (at most once a minute per user) their card is compared with the cards their groups
   * gave them tickets for, in case their key changed. Must not block or fail the caller (batched in
   * the background).
   */
  userActive(tenantId: string, uid: string): void;
  /**
   * The user says their key changed (a new card): the groups where they hold tickets under an
   * older card are reconciled, which re-adds them. Rejects when the request could not be queued.
   */
  keysChanged(tenantId: string, uid: string): Promise<void>;
  close(): Promise<void>;
}

/** A requester's queue as operators see it: readiness and depth. The queue-backed requester is one. */
export interface QueueProbe {
  /** Rejects unless the queue backend answers promptly. */
  ping(): Promise<void>;
  /** Jobs by state. */
  jobCounts(): Promise<Record<string, number>>;
}

/** The requester's queue, when it has one to look into (tests' recording requesters have none). */
export function queueProbeOf(requester: ReconcileRequester): QueueProbe | null {
  const candidate = requester as ReconcileRequester & Partial<QueueProbe>;
  return typeof candidate.ping === 'function' && typeof candidate.jobCounts === 'function' ? candidate as QueueProbe : null;
}

/**
 * Requests reconciles of groups whose outbox rows were just committed as handed to the queue (see
 * outbox-repository.ts), in one call. Never rejects: a requester that throws (the queue-backed one
 * never does; it marks the rows itself) has its rows marked as not handed over, so the sweeper's
 * next pass enqueues them.
 */
export async function requestAfterCommit(
  deps: { db: Db; reconcile: Pick<ReconcileRequester, 'requestMany'>; log: Logger },
  targets: readonly OutboxTarget[],
): Promise<void> {
  if (targets.length === 0) return;
  try {
    await deps.reconcile.requestMany(targets);
  } catch (err) {
    deps.log.warn({ groups: targets.length, err: (err as Error).message }, 'reconcile request failed; the outbox sweeper will retry');
    await markNotEnqueued(deps.db, targets).catch(() => {});
  }
}

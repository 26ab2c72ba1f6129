/**
 * How the group layer asks for a group to be reconciled. Declared here, implemented by the queue in
 * src/reconcile (a deduplicated job carrying only tenant id and guid, never a secret), so intake
 * and admin code depend on this contract and not on the queue.
 */
export interface ReconcileRequester {
  /** Enqueue a reconcile of one group. Call only after the desired state has committed. */
  request(tenantId: string, guid: string): Promise<void>;
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

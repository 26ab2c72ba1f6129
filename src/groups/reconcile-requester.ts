/**
 * How the group layer asks for a group to be reconciled. Declared here, implemented by the queue in
 * src/reconcile (a deduplicated job carrying only tenant id and guid, never a secret), so intake
 * and admin code depend on this contract and not on the queue.
 */
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

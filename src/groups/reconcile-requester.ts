/**
 * The API side's handle on the group worker. Implementations enqueue a deduplicated reconcile job
 * (jobs carry only tenant id and guid, never secrets).
 */
export interface ReconcileRequester {
  /** Enqueue a reconcile of one group. Call only after the desired state has committed. */
  request(tenantId: string, guid: string): Promise<void>;
  /**
   * A user just asked for a Virgil JWT: groups where they are pending registration get retried
   * soon. Must not block or fail the caller (batched in the background).
   */
  userActive(tenantId: string, uid: string): void;
  close(): Promise<void>;
}

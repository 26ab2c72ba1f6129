import type { ReconcileRequester } from '../../src/groups/reconcile-requester.js';

/** Records reconcile requests instead of queueing them (for tests of the API side only). */
export class RecordingRequester implements ReconcileRequester {
  readonly requests: Array<{ tenantId: string; guid: string }> = [];
  readonly activeUsers: Array<{ tenantId: string; uid: string }> = [];
  async request(tenantId: string, guid: string) { this.requests.push({ tenantId, guid }); }
  async requestMany(targets: ReadonlyArray<{ tenant_id: string; guid: string }>) { for (const t of targets) this.requests.push({ tenantId: t.tenant_id, guid: t.guid }); }
  readonly keyChanges: Array<{ tenantId: string; uid: string }> = [];
  userActive(tenantId: string, uid: string) { this.activeUsers.push({ tenantId, uid }); }
  async keysChanged(tenantId: string, uid: string) { this.keyChanges.push({ tenantId, uid }); }
  async close() {}
}

/** A requester whose queue is down: every request fails (the outbox rows are the guarantee). */
export function failingRequester(): ReconcileRequester {
  const down = async () => { throw new Error('queue unavailable'); };
  return { request: down, requestMany: down, userActive: () => {}, keysChanged: down, close: async () => {} };
}

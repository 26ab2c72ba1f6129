/**
 * The one way imports and drift repair apply snapshots: in one transaction with whatever the caller
 * records beside them (an import's checkpoint), then a reconcile request for each group whose
 * desired state changed (best effort, a chunk of groups per call to the queue: the outbox rows
 * written with the snapshots are the guarantee).
 */
import type { Transaction } from 'kysely';
import type { Db } from '../db/database.js';
import type { Database } from '../db/schema.js';
import type { Logger } from 'pino';
import { requestAfterCommit, type ReconcileRequester } from '../groups/reconcile-requester.js';
import { applyGroupSnapshots, type GroupSnapshot, type SnapshotOutcome } from '../groups/snapshot.js';
import type { SessionLocks } from '../db/session-locks.js';
import type { TenantRuntime } from '../tenants/types.js';
import type { CometChatClients } from './cometchat-reader.js';

/** What the import runner and drift repair share from the worker. */
export interface SnapshotWorkDeps {
  db: Db;
  /** The process's lock connection: an import or a tenant's sweep is worked on by one process at a time. */
  locks: SessionLocks;
  log: Logger;
  tenants: { get(appId: string): Promise<TenantRuntime | null> };
  reconcile: Pick<ReconcileRequester, 'requestMany'>;
  cometchat: CometChatClients;
}

const REQUESTS_AT_ONCE = 100;

export async function applyAndRequest(
  deps: { db: Db; reconcile: Pick<ReconcileRequester, 'requestMany'>; log: Logger },
  tenant: Pick<TenantRuntime, 'appId' | 'groupIdentity'>,
  snapshots: readonly GroupSnapshot[],
  alongside?: (trx: Transaction<Database>, outcomes: SnapshotOutcome[]) => Promise<void>,
): Promise<SnapshotOutcome[]> {
  const outcomes = await deps.db.transaction().execute(async (trx) => {
    const applied = await applyGroupSnapshots(trx, tenant.appId, (guid) => tenant.groupIdentity(guid), snapshots);
    await alongside?.(trx, applied);
    return applied;
  });
  const changed = outcomes.filter((o) => o.desiredChanged).map((o) => ({ tenant_id: tenant.appId, guid: o.guid }));
  for (let i = 0; i < changed.length; i += REQUESTS_AT_ONCE) await requestAfterCommit(deps, changed.slice(i, i + REQUESTS_AT_ONCE));
  return outcomes;
}

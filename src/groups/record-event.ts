/**
 * Recording a group event: storing it and applying it to the desired state happen in ONE
 * transaction, together with the reconcile_outbox row, so an accepted event is never half applied
 * and a reconcile request survives a crash right after the commit.
 *
 * Concurrency: every writer of a group's desired state locks its `groups` row first (FOR UPDATE),
 * so decisions about one group are applied one at a time on every replica, while different groups
 * proceed in parallel. Rules are in desired-state.ts.
 */
import type { Db } from '../db/database.js';
import { applyDecisions, decidesAnything, decisionsOf } from './desired-state.js';
import type { GroupEvent } from './group-event.js';
import { lockGroupRegisters, writeGroupRegisters } from './group-repository.js';
import { memberDecisions, writeMemberDecisions } from './member-repository.js';
import { requestReconcile } from './outbox-repository.js';
import { insertWebhookEvent } from './webhook-event-repository.js';

export interface RecordResult {
  /** duplicate: the event key was seen before; nothing was changed. */
  status: 'accepted' | 'duplicate';
  /** The desired state changed: a reconcile was put in the outbox and should be requested. */
  desiredChanged: boolean;
}

/**
 * Stores the event (deduplicated on tenant, source and key) and applies it to the desired state.
 * `groupIdentity` is the tenant's derivation of the Virgil group id.
 */
export async function recordGroupEvent(
  db: Db,
  tenantId: string,
  groupIdentity: (guid: string) => string,
  event: GroupEvent,
): Promise<RecordResult> {
  return db.transaction().execute(async (trx) => {
    if (!(await insertWebhookEvent(trx, tenantId, event))) return { status: 'duplicate', desiredChanged: false };

    const decisions = decisionsOf(event);
    if (!decidesAnything(decisions)) return { status: 'accepted', desiredChanged: false };

    const { registers, created } = await lockGroupRegisters(trx, tenantId, event.guid, () => groupIdentity(event.guid));
    const current = await memberDecisions(trx, tenantId, event.guid, [...decisions.members.keys()]);
    const applied = applyDecisions(registers, current, decisions, event.occurredAt);
    const desiredChanged = applied.desiredChanged || created;

    await writeMemberDecisions(trx, tenantId, event.guid, applied.memberWrites);
    if (applied.groupWritten || desiredChanged) {
      await writeGroupRegisters(trx, tenantId, event.guid, applied.group, {
        desiredChanged,
        bumpVersion: applied.desiredChanged && !created,
      });
    }
    if (desiredChanged) await requestReconcile(trx, tenantId, event.guid, true);
    return { status: 'accepted', desiredChanged };
  });
}

/**
 * The common tail of every intake format: make the event durable and applied, then ask for a
 * reconcile. The answer waits for the commit (durable before the 2xx); the reconcile request is
 * best effort: the outbox row written with the change guarantees the sweeper picks the group up if
 * the queue is unreachable. A group whose earlier request is still with the queue (its job has not
 * recorded an outcome yet) is not enqueued again: see reconcileRequestsUpsert.
 *
 * Group commit: events that arrive while earlier ones are being recorded are recorded together, in
 * one transaction of a few statements (src/groups/record-event.ts), and their groups are enqueued
 * with one call to the queue. An event arriving at a quiet moment is recorded at once, alone: no
 * waiting for company. One transaction is open at a time, a second one only when a full batch
 * waits (so a slow transaction does not hold everything up); that also bounds what the intake takes
 * of the connection pool. If a shared transaction fails, each of its events is recorded again on
 * its own, so one event can only fail itself.
 */
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import type { GroupEvent } from '../groups/group-event.js';
import type { OutboxTarget } from '../groups/outbox-repository.js';
import { recordGroupEvents, type EventToRecord, type RecordResult } from '../groups/record-event.js';
import { requestAfterCommit, type ReconcileRequester } from '../groups/reconcile-requester.js';

export interface IntakeResult {
  status: 'accepted' | 'duplicate';
  eventId: string;
}

export interface IntakeDeps { db: Db; reconcile: Pick<ReconcileRequester, 'requestMany'>; log: Logger }

/** Transactions the intake of one process keeps open at once. */
const MAX_TRANSACTIONS = 2;
/**
 * A second transaction starts only for at least this many waiting events: the events that arrive
 * during one transaction make the next one's batch, and a lane opened for one event would split
 * every batch in two (twice the statements per event).
 */
const SECOND_LANE_BATCH = 32;
/** Events recorded in one transaction at most. */
const MAX_BATCH = 200;

interface Waiting { item: EventToRecord; resolve(result: RecordResult): void; reject(err: unknown): void }

class GroupCommit {
  #queue: Waiting[] = [];
  #open = 0;

  constructor(private readonly deps: IntakeDeps) {}

  record(item: EventToRecord): Promise<RecordResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#open < MAX_TRANSACTIONS && this.#queue.length > 0 && (this.#open === 0 || this.#queue.length >= SECOND_LANE_BATCH)) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      this.#open++;
      void this.#commit(batch).finally(() => {
        this.#open--;
        this.#pump();
      });
    }
  }

  /** Records the batch (each event alone if together failed); resolves once every event is answered. */
  async #commit(batch: Waiting[]): Promise<void> {
    let results: Array<{ ok: true; result: RecordResult } | { ok: false; err: unknown }>;
    const toRequest: OutboxTarget[] = [];
    try {
      const recorded = await recordGroupEvents(this.deps.db, batch.map((w) => w.item), { enqueuesAfterCommit: true });
      results = recorded.results.map((result) => ({ ok: true, result }));
      toRequest.push(...recorded.toRequest);
    } catch (err) {
      if (batch.length === 1) results = [{ ok: false, err }];
      else {
        this.deps.log.warn({ events: batch.length, err: (err as Error).message }, 'recording events together failed; recording each alone');
        results = await Promise.all(batch.map((w) => recordGroupEvents(this.deps.db, [w.item], { enqueuesAfterCommit: true })
          .then((recorded) => {
            toRequest.push(...recorded.toRequest);
            return { ok: true as const, result: recorded.results[0]! };
          }, (e: unknown) => ({ ok: false as const, err: e }))));
      }
    }
    // The transaction slot is free again; the answers wait for the queue (which never fails them).
    void requestAfterCommit(this.deps, toRequest).finally(() => {
      for (const [i, r] of results.entries()) {
        if (r.ok) batch[i]!.resolve(r.result);
        else batch[i]!.reject(r.err);
      }
    });
  }
}

/** One group commit per intake context (the process's, or a test app's). */
const commits = new WeakMap<IntakeDeps, GroupCommit>();

export async function acceptGroupEvent(
  deps: IntakeDeps,
  tenant: { appId: string; groupIdentity(guid: string): string },
  event: GroupEvent,
): Promise<IntakeResult> {
  let commit = commits.get(deps);
  if (!commit) commits.set(deps, (commit = new GroupCommit(deps)));
  const result = await commit.record({ tenantId: tenant.appId, groupIdentity: (guid) => tenant.groupIdentity(guid), event });
  return { status: result.status, eventId: event.key };
}

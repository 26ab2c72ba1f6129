/**
 * Applies imports (runs in the worker processes). Every `pollIntervalMs` it looks for imports that
 * are queued or running, takes each one it can under a PostgreSQL session lock (so one process at
 * a time works on an import, and a process that dies releases it at once), and applies it batch by
 * batch:
 *
 *  - NDJSON: the spooled lines after the checkpoint, `batchSize` at a time;
 *  - CometChat: the groups page by page (cometchat-reader.ts), members read for `batchSize` groups
 *    at a time.
 *
 * Each batch is one transaction: the snapshots (src/groups/snapshot.ts), their outbox rows and the
 * import's checkpoint and counts. A crash anywhere resumes from the last committed batch; applying
 * a batch twice would change nothing anyway (snapshots are idempotent).
 *
 * Backpressure: before each batch the tenant's reconcile backlog (groups whose desired state the
 * worker has not reconciled yet) is counted; at `maxBacklog` or more the import pauses
 * (`waitingForWorker`) until the worker brings it down to half, so an import of 100,000 groups never
 * puts more than `maxBacklog` plus one batch in front of the worker. Reconciles are requested after
 * each commit (best effort; the outbox rows are the guarantee).
 *
 * Failures: CometChat or the database unavailable leave the import running with `lastError` and
 * retry it after `retryAfterMs`; anything else (a REST key CometChat refuses, settings removed)
 * fails the import. Imports of disabled tenants wait.
 */
import type { AssertLockHeld } from '../db/session-locks.js';
import type { GroupSnapshot } from '../groups/snapshot.js';
import { DomainError, isTransient, unprocessable } from '../lib/errors.js';
import { PollingService } from '../lib/periodic-task.js';
import type { TenantRuntime } from '../tenants/types.js';
import { applyAndRequest, type SnapshotWorkDeps } from './apply.js';
import { listAllGroups } from './cometchat-reader.js';
import {
  findImport, insertImportErrors, markImport, nextImportLines, reconcileBacklog, recordBatch, runnableImports, type ImportError, type ImportRecord,
} from './import-repository.js';
import { snapshotFromStored } from './ndjson.js';

export interface ImportRunnerOptions extends SnapshotWorkDeps {
  /** Snapshots per transaction (at most 1,000). */
  batchSize: number;
  /** The tenant's reconcile backlog at which an import pauses. */
  maxBacklog: number;
  pollIntervalMs: number;
  /** How often a paused import counts the backlog again. */
  backlogPollMs: number;
  /** Imports this process applies at once. */
  concurrency: number;
  /** After a transient failure, the import is tried again this much later. */
  retryAfterMs: number;
}

class Stopped extends Error {}

const sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
});

const isError = (r: GroupSnapshot | ImportError): r is ImportError => 'code' in r;

export class ImportRunner extends PollingService {
  readonly #opts: ImportRunnerOptions;
  readonly #running = new Map<string, Promise<void>>();

  constructor(opts: ImportRunnerOptions) {
    super({ intervalMs: opts.pollIntervalMs, firstDelayMs: Math.min(opts.pollIntervalMs, 200), log: opts.log, failure: 'import poll failed' });
    this.#opts = opts;
  }

  /** Starts the imports that are due, up to the concurrency. */
  async poll(): Promise<void> {
    if (this.signal.aborted) return;
    const free = this.#opts.concurrency - this.#running.size;
    if (free <= 0) return;
    for (const id of await runnableImports(this.#opts.db, free + this.#running.size)) {
      if (this.#running.size >= this.#opts.concurrency) break;
      if (this.#running.has(id)) continue;
      const run = this.#run(id).catch((err: Error) => this.#opts.log.error({ importId: id, err: err.message }, 'import run failed'))
        .finally(() => this.#running.delete(id));
      this.#running.set(id, run);
    }
  }

  /** Stops taking imports, interrupts the running ones between batches (they resume later). */
  override async stop(): Promise<void> {
    await super.stop();
    await Promise.all(this.#running.values());
  }

  async #run(id: string): Promise<void> {
    const { db, locks } = this.#opts;
    await locks.withLock(JSON.stringify(['e2ee-import', id]), { lost: () => new Stopped('the import lock was lost') }, async (assertHeld) => {
      const record = await findImport(db, id);
      if (!record || (record.status !== 'queued' && record.status !== 'running')) return;
      const tenant = await this.#opts.tenants.get(record.tenantId);
      if (!tenant || tenant.status !== 'active') return;
      await markImport(db, id, { status: 'running', started: true });
      const log = this.#opts.log.child({ importId: id, tenantId: record.tenantId, source: record.source });
      try {
        if (record.source === 'ndjson') await this.#applyNdjson(record, tenant, assertHeld);
        else await this.#applyCometChat(record, tenant, assertHeld);
        await markImport(db, id, { status: 'completed', completed: true, lastError: null });
        log.info('import completed');
      } catch (err) {
        // Stopping (a shutdown aborts CometChat waits too): the import resumes in the next process.
        if (err instanceof Stopped || this.signal.aborted) return;
        const error = err instanceof DomainError ? { code: err.code, message: err.message } : { code: 'IMPORT_INTERRUPTED', message: (err as Error).message };
        const transient = !(err instanceof DomainError) || isTransient(err);
        await markImport(db, id, transient
          ? { lastError: error, retryAfterMs: this.#opts.retryAfterMs, waitingForWorker: false }
          : { status: 'failed', lastError: error, waitingForWorker: false, completed: true });
        log.warn({ err: error, retry: transient }, transient ? 'import interrupted; it will resume' : 'import failed');
      }
    });
  }

  #checkStopped(): void {
    if (this.signal.aborted) throw new Stopped('stopping');
  }

  /** Waits while the tenant's reconcile backlog is full (see the top of the file). */
  async #backpressure(record: ImportRecord): Promise<void> {
    const { db, maxBacklog, backlogPollMs } = this.#opts;
    if (await reconcileBacklog(db, record.tenantId, maxBacklog) < maxBacklog) return;
    await markImport(db, record.id, { waitingForWorker: true });
    for (;;) {
      await sleep(backlogPollMs, this.signal);
      this.#checkStopped();
      if (await reconcileBacklog(db, record.tenantId, maxBacklog) <= Math.floor(maxBacklog / 2)) break;
    }
    await markImport(db, record.id, { waitingForWorker: false });
  }

  /** One batch and its checkpoint in one transaction; then reconciles are requested for what changed. */
  async #apply(
    record: ImportRecord, tenant: TenantRuntime, assertHeld: AssertLockHeld,
    results: Array<GroupSnapshot | ImportError>, checkpoint: { processed: number; cursor?: Record<string, unknown> },
  ): Promise<void> {
    const snapshots = results.filter((r): r is GroupSnapshot => !isError(r));
    const errors = results.filter(isError);
    assertHeld();
    await applyAndRequest(this.#opts, tenant, snapshots, async (trx, applied) => {
      const counted = await findImport(trx, record.id);
      await insertImportErrors(trx, record.id, errors, counted?.errorCount ?? 0);
      await recordBatch(trx, record.id, {
        ...checkpoint,
        applied: snapshots.length,
        changed: applied.filter((o) => o.desiredChanged).length,
        created: applied.filter((o) => o.created).length,
        errors: errors.length,
      });
    });
  }

  async #applyNdjson(record: ImportRecord, tenant: TenantRuntime, assertHeld: AssertLockHeld): Promise<void> {
    let processed = record.processed;
    for (;;) {
      this.#checkStopped();
      await this.#backpressure(record);
      const lines = await nextImportLines(this.#opts.db, record.id, processed, this.#opts.batchSize);
      if (lines.length === 0) {
        // Every spooled line is applied: the checkpoint covers the whole file (refused lines included).
        const final = (await findImport(this.#opts.db, record.id))!;
        if (final.processed < final.receivedLines) await this.#apply(record, tenant, assertHeld, [], { processed: final.receivedLines });
        return;
      }
      processed = lines[lines.length - 1].line;
      await this.#apply(record, tenant, assertHeld, lines.map((l) => snapshotFromStored(l.snapshot)), { processed });
    }
  }

  async #applyCometChat(record: ImportRecord, tenant: TenantRuntime, assertHeld: AssertLockHeld): Promise<void> {
    const cc = tenant.cometchat;
    if (cc === null) throw unprocessable('COMETCHAT_NOT_CONFIGURED', 'the tenant has no cometchat settings (region and REST API key)');
    const { cometchat: clients, batchSize } = this.#opts;
    const client = clients.client(cc, this.signal);
    const start = record.cursor as { page?: number; total?: number | null; index?: number } | null;
    let position = { page: start?.page ?? 1, total: start?.total ?? null };
    let index = start?.index ?? 0;
    let processed = record.processed;
    for (;;) {
      this.#checkStopped();
      const { groups, skipped, next, total } = await listAllGroups(client, position, clients.perPage);
      const unusable: ImportError[] = index === 0 && skipped > 0
        ? [{ line: null, guid: null, code: 'COMETCHAT_GROUP_UNUSABLE', message: `${skipped} groups of page ${position.page} had no guid` }]
        : [];
      if (groups.length === 0 || index >= groups.length) {
        const cursor = next ? { page: next.page, total: next.total, index: 0 } : { page: position.page, total, index: groups.length, done: true };
        await this.#apply(record, tenant, assertHeld, unusable, { processed, cursor });
      }
      for (let i = index; i < groups.length; i += batchSize) {
        this.#checkStopped();
        await this.#backpressure(record);
        const slice = groups.slice(i, i + batchSize);
        const results = await clients.snapshots(client, slice);
        const end = i + slice.length;
        processed += slice.length;
        const cursor = end < groups.length
          ? { page: position.page, total, index: end }
          : next ? { page: next.page, total: next.total, index: 0 } : { page: position.page, total, index: end, done: true };
        await this.#apply(record, tenant, assertHeld, i === index ? [...unusable, ...results] : results, { processed, cursor });
      }
      if (next === null) return;
      position = next;
      index = 0;
    }
  }
}

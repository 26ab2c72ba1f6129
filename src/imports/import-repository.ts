/**
 * Every read and write of `imports`, `import_lines` and `import_errors` (migrations/0012_imports.sql).
 */
import { sql, type Transaction } from 'kysely';
import type { Db } from '../db/database.js';
import type { Database, GroupError, ImportSource, ImportStatus } from '../db/schema.js';

type Executor = Db | Transaction<Database>;

/** Errors kept per import (all are counted). */
export const MAX_STORED_ERRORS = 10_000;

export interface ImportError { line: number | null; guid: string | null; code: string; message: string }

export interface ImportRecord {
  id: string;
  tenantId: string;
  source: ImportSource;
  status: ImportStatus;
  receivedBytes: number;
  receivedLines: number;
  tail: Buffer;
  tailDiscarding: boolean;
  processed: number;
  cursor: Record<string, unknown> | null;
  groupsApplied: number;
  groupsChanged: number;
  groupsCreated: number;
  errorCount: number;
  waitingForWorker: boolean;
  lastError: GroupError | null;
  createdAt: Date;
  startedAt: Date | null;
  updatedAt: Date;
  completedAt: Date | null;
}

function toRecord(r: Awaited<ReturnType<typeof selectImport>>): ImportRecord | null {
  if (!r) return null;
  return {
    id: r.id, tenantId: r.tenant_id, source: r.source, status: r.status,
    receivedBytes: Number(r.received_bytes), receivedLines: Number(r.received_lines),
    tail: r.tail, tailDiscarding: r.tail_discarding, processed: Number(r.processed), cursor: r.cursor,
    groupsApplied: Number(r.groups_applied), groupsChanged: Number(r.groups_changed), groupsCreated: Number(r.groups_created),
    errorCount: Number(r.error_count), waitingForWorker: r.waiting_for_worker, lastError: r.last_error,
    createdAt: r.created_at, startedAt: r.started_at, updatedAt: r.updated_at, completedAt: r.completed_at,
  };
}

function selectImport(db: Executor, id: string, forUpdate = false) {
  const query = db.selectFrom('imports').selectAll().where('id', '=', id);
  return (forUpdate ? query.forUpdate() : query).executeTakeFirst();
}

export async function findImport(db: Executor, id: string, opts: { forUpdate?: boolean } = {}): Promise<ImportRecord | null> {
  return toRecord(await selectImport(db, id, opts.forUpdate));
}

export async function insertImport(trx: Executor, values: { id: string; tenantId: string; source: ImportSource; status: ImportStatus }): Promise<void> {
  await trx.insertInto('imports').values({ id: values.id, tenant_id: values.tenantId, source: values.source, status: values.status }).execute();
}

/** After a part of an upload: what was received, where the splitting got to, the new status. */
export async function recordUploadPart(trx: Transaction<Database>, id: string, part: {
  receivedBytes: number; receivedLines: number; tail: Buffer; tailDiscarding: boolean; errors: number; status: ImportStatus;
}): Promise<void> {
  await trx.updateTable('imports').set((eb) => ({
    received_bytes: part.receivedBytes,
    received_lines: part.receivedLines,
    tail: part.tail,
    tail_discarding: part.tailDiscarding,
    error_count: eb('error_count', '+', String(part.errors)),
    status: part.status,
    updated_at: sql`now()`,
  })).where('id', '=', id).execute();
}

/** Checked snapshots waiting to be applied, by line number. */
export async function insertImportLines(trx: Transaction<Database>, id: string, lines: Array<{ line: number; snapshot: Record<string, unknown> }>): Promise<void> {
  if (lines.length === 0) return;
  await sql`
    INSERT INTO import_lines (import_id, line, snapshot)
    SELECT ${id}::text, l.line, l.snapshot
      FROM unnest(${sql.val(lines.map((l) => l.line))}::bigint[], ${sql.val(lines.map((l) => JSON.stringify(l.snapshot)))}::jsonb[]) AS l(line, snapshot)
    ON CONFLICT (import_id, line) DO NOTHING`.execute(trx);
}

/** Keeps the first MAX_STORED_ERRORS errors of an import (`alreadyCounted`: errors counted before these). */
export async function insertImportErrors(trx: Transaction<Database>, id: string, errors: ImportError[], alreadyCounted: number): Promise<void> {
  const room = Math.max(0, MAX_STORED_ERRORS - alreadyCounted);
  const kept = errors.slice(0, room);
  if (kept.length === 0) return;
  await trx.insertInto('import_errors')
    .values(kept.map((e) => ({ import_id: id, line: e.line, guid: e.guid, code: e.code, message: e.message.slice(0, 500) })))
    .execute();
}

export async function importErrors(db: Executor, id: string, limit: number): Promise<ImportError[]> {
  const rows = await db.selectFrom('import_errors').select(['line', 'guid', 'code', 'message'])
    .where('import_id', '=', id).orderBy('id').limit(limit).execute();
  return rows.map((r) => ({ line: r.line === null ? null : Number(r.line), guid: r.guid, code: r.code, message: r.message }));
}

/** The next spooled lines after `afterLine`. */
export async function nextImportLines(db: Executor, id: string, afterLine: number, limit: number): Promise<Array<{ line: number; snapshot: Record<string, unknown> }>> {
  const rows = await db.selectFrom('import_lines').select(['line', 'snapshot'])
    .where('import_id', '=', id).where('line', '>', String(afterLine))
    .orderBy('line').limit(limit).execute();
  return rows.map((r) => ({ line: Number(r.line), snapshot: r.snapshot }));
}

/**
 * A batch applied: its checkpoint and counts, in the transaction that applied it. NDJSON batches
 * also drop their spooled lines.
 */
export async function recordBatch(trx: Transaction<Database>, id: string, batch: {
  processed: number; cursor?: Record<string, unknown>; applied: number; changed: number; created: number; errors: number;
}): Promise<void> {
  await trx.updateTable('imports').set((eb) => ({
    processed: batch.processed,
    ...(batch.cursor !== undefined ? { cursor: JSON.stringify(batch.cursor) } : {}),
    groups_applied: eb('groups_applied', '+', String(batch.applied)),
    groups_changed: eb('groups_changed', '+', String(batch.changed)),
    groups_created: eb('groups_created', '+', String(batch.created)),
    error_count: eb('error_count', '+', String(batch.errors)),
    last_error: null,
    retry_at: null,
    updated_at: sql`now()`,
  })).where('id', '=', id).execute();
  await trx.deleteFrom('import_lines').where('import_id', '=', id).where('line', '<=', String(batch.processed)).execute();
}

export async function markImport(db: Executor, id: string, fields: {
  status?: ImportStatus; waitingForWorker?: boolean; lastError?: GroupError | null; retryAfterMs?: number; started?: boolean; completed?: boolean;
}): Promise<void> {
  await db.updateTable('imports').set({
    ...(fields.status !== undefined ? { status: fields.status } : {}),
    ...(fields.waitingForWorker !== undefined ? { waiting_for_worker: fields.waitingForWorker } : {}),
    ...(fields.lastError !== undefined ? { last_error: fields.lastError === null ? null : JSON.stringify(fields.lastError) } : {}),
    ...(fields.retryAfterMs !== undefined ? { retry_at: sql<Date>`now() + make_interval(secs => ${fields.retryAfterMs / 1000})` } : {}),
    ...(fields.started ? { started_at: sql<Date>`coalesce(started_at, now())` } : {}),
    ...(fields.completed ? { completed_at: sql<Date>`now()`, waiting_for_worker: false } : {}),
    updated_at: sql`now()`,
  }).where('id', '=', id).execute();
  if (fields.completed) await db.deleteFrom('import_lines').where('import_id', '=', id).execute();
}

/** Imports of active tenants ready to run (queued or running, not waiting for a retry time), oldest first. */
export async function runnableImports(db: Executor, limit: number): Promise<string[]> {
  const rows = await db.selectFrom('imports as i').innerJoin('tenants as t', 't.app_id', 'i.tenant_id')
    .select('i.id')
    .where('i.status', 'in', ['queued', 'running'])
    .where('t.status', '=', 'active')
    .where((eb) => eb.or([eb('i.retry_at', 'is', null), eb('i.retry_at', '<=', sql<Date>`now()`)]))
    .orderBy('i.created_at').limit(limit).execute();
  return rows.map((r) => r.id);
}

/**
 * The tenant's reconcile backlog, counted up to `limit`: groups whose desired state the worker has
 * not reconciled yet (`unsynced_since` is set exactly for those, by a trigger; see
 * migrations/0010_operations.sql). Imports wait while it is full.
 */
export async function reconcileBacklog(db: Executor, tenantId: string, limit: number): Promise<number> {
  const { rows } = await sql<{ n: string }>`
    SELECT count(*) AS n FROM (SELECT 1 FROM groups WHERE tenant_id = ${tenantId} AND unsynced_since IS NOT NULL LIMIT ${limit}) b`.execute(db);
  return Number(rows[0].n);
}

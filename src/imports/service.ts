/**
 * Imports as the admin API sees them: starting a CometChat import, and the progress view of any
 * import (counts, the first errors with their line numbers and codes).
 */
import type { Db } from '../db/database.js';
import type { GroupError, ImportSource, ImportStatus } from '../db/schema.js';
import { conflict, notFound, unprocessable } from '../lib/errors.js';
import type { TenantRuntime } from '../tenants/types.js';
import { findImport, importErrors, insertImport, type ImportError, type ImportRecord } from './import-repository.js';
import { newImportId } from './upload.js';

export interface ImportView {
  id: string;
  source: ImportSource;
  status: ImportStatus;
  /** Paused because the tenant's reconcile backlog is full (backpressure). */
  waitingForWorker: boolean;
  /** NDJSON: what was received. */
  upload: { receivedBytes: number; receivedLines: number; complete: boolean } | null;
  progress: {
    /** NDJSON: lines applied (refused ones included); CometChat: groups read. */
    processed: number;
    /** NDJSON: lines in the file once it is complete; CometChat: null (known at the end). */
    total: number | null;
    groupsApplied: number;
    groupsChanged: number;
    groupsCreated: number;
  };
  errors: { count: number; items: ImportError[] };
  lastError: GroupError | null;
  createdAt: string;
  startedAt: string | null;
  updatedAt: string;
  completedAt: string | null;
}

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

export function toImportView(record: ImportRecord, errors: ImportError[]): ImportView {
  const ndjson = record.source === 'ndjson';
  const complete = record.status !== 'receiving';
  return {
    id: record.id,
    source: record.source,
    status: record.status,
    waitingForWorker: record.waitingForWorker,
    upload: ndjson ? { receivedBytes: record.receivedBytes, receivedLines: record.receivedLines, complete } : null,
    progress: {
      processed: record.processed,
      total: ndjson && complete ? record.receivedLines : record.status === 'completed' ? record.processed : null,
      groupsApplied: record.groupsApplied,
      groupsChanged: record.groupsChanged,
      groupsCreated: record.groupsCreated,
    },
    errors: { count: record.errorCount, items: errors },
    lastError: record.lastError,
    createdAt: record.createdAt.toISOString(),
    startedAt: iso(record.startedAt),
    updatedAt: record.updatedAt.toISOString(),
    completedAt: iso(record.completedAt),
  };
}

export async function getImportView(db: Db, tenantId: string, id: string, errorLimit: number): Promise<ImportView> {
  const record = await findImport(db, id);
  if (!record || record.tenantId !== tenantId) throw notFound('IMPORT_NOT_FOUND', `Import ${id} does not exist for tenant ${tenantId}`);
  return toImportView(record, await importErrors(db, id, errorLimit));
}

/** Queues an import of every group of the tenant's CometChat app; one at a time per tenant. */
export async function startCometChatImport(db: Db, tenant: TenantRuntime): Promise<ImportView> {
  if (tenant.cometchat === null) throw unprocessable('COMETCHAT_NOT_CONFIGURED', 'set the tenant\'s cometchat settings (region and REST API key) first');
  const id = newImportId();
  await db.transaction().execute(async (trx) => {
    // Serialises concurrent starts for one tenant.
    await trx.selectFrom('tenants').select('app_id').where('app_id', '=', tenant.appId).forUpdate().execute();
    const open = await trx.selectFrom('imports').select('id')
      .where('tenant_id', '=', tenant.appId).where('source', '=', 'cometchat').where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    if (open) throw conflict('IMPORT_ALREADY_RUNNING', `CometChat import ${open.id} of this tenant is still running`);
    await insertImport(trx, { id, tenantId: tenant.appId, source: 'cometchat', status: 'queued' });
  });
  return toImportView((await findImport(db, id))!, []);
}

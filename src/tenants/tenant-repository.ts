/**
 * Every read and write of the `tenants` table. Writes send `NOTIFY tenant_changed, '<appId>'` in
 * their transaction, so every process's tenant directory drops its copy when the change commits.
 */
import { sql, type Transaction } from 'kysely';
import type { Db } from '../db/database.js';
import type { Database, TenantRow, TenantUpdate } from '../db/schema.js';
import type { Insertable } from 'kysely';
import type { TenantsTable } from '../db/schema.js';

export const TENANT_CHANGED_CHANNEL = 'tenant_changed';

type Executor = Db | Transaction<Database>;

export async function findTenant(db: Executor, appId: string, opts: { forUpdate?: boolean } = {}): Promise<TenantRow | undefined> {
  const query = db.selectFrom('tenants').selectAll().where('app_id', '=', appId);
  return (opts.forUpdate ? query.forUpdate() : query).executeTakeFirst();
}

export async function tenantExists(db: Executor, appId: string): Promise<boolean> {
  return (await db.selectFrom('tenants').select('app_id').where('app_id', '=', appId).executeTakeFirst()) !== undefined;
}

/** Every app id, in order (for commands that visit each tenant). */
export async function listTenantIds(db: Executor): Promise<string[]> {
  return (await db.selectFrom('tenants').select('app_id').orderBy('app_id').execute()).map((r) => r.app_id);
}

/** A keyset page ordered by app id; one row more than `limit` tells whether another page follows. */
export async function listTenants(db: Executor, opts: { limit: number; after?: string }): Promise<TenantRow[]> {
  let query = db.selectFrom('tenants').selectAll().orderBy('app_id').limit(opts.limit + 1);
  if (opts.after) query = query.where('app_id', '>', opts.after);
  return query.execute();
}

/** Inserts a tenant; null when the app id is taken. */
export async function insertTenant(db: Db, values: Insertable<TenantsTable>): Promise<TenantRow | null> {
  return db.transaction().execute(async (trx) => {
    const inserted = await trx.insertInto('tenants').values(values)
      .onConflict((oc) => oc.column('app_id').doNothing()).returningAll().executeTakeFirst();
    if (!inserted) return null;
    await notifyTenantChanged(trx, values.app_id);
    return inserted;
  });
}

/** Applies a settings change and bumps config_version; null when the tenant does not exist. */
export async function updateTenant(db: Executor, appId: string, patch: TenantUpdate): Promise<TenantRow | null> {
  const write = async (trx: Transaction<Database>) => {
    const updated = await trx.updateTable('tenants')
      .set({ ...patch, config_version: sql`config_version + 1`, updated_at: sql`now()` })
      .where('app_id', '=', appId).returningAll().executeTakeFirst();
    if (!updated) return null;
    await notifyTenantChanged(trx, appId);
    return updated;
  };
  return db.isTransaction ? write(db as Transaction<Database>) : (db as Db).transaction().execute(write);
}

/**
 * Re-sealed values of the same secrets: no config_version bump (nothing a tenant configured
 * changed), but every process must reload them.
 */
export async function replaceSealedValues(trx: Transaction<Database>, appId: string, patch: TenantUpdate): Promise<void> {
  await trx.updateTable('tenants').set(patch).where('app_id', '=', appId).execute();
  await notifyTenantChanged(trx, appId);
}

/** Records the service card id after the worker (re)published it. */
export async function setServiceCardId(db: Executor, appId: string, cardId: string): Promise<void> {
  await db.updateTable('tenants').set({ service_card_id: cardId }).where('app_id', '=', appId).execute();
}

/** Delivered to every listening process when the transaction commits. */
async function notifyTenantChanged(trx: Transaction<Database>, appId: string): Promise<void> {
  await sql`SELECT pg_notify(${TENANT_CHANGED_CHANNEL}, ${appId})`.execute(trx);
}

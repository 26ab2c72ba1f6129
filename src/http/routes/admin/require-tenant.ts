/**
 * The tenant an admin route is about, or 404 TENANT_NOT_FOUND.
 */
import type { Db } from '../../../db/database.js';
import type { TenantRow } from '../../../db/schema.js';
import { notFound } from '../../../lib/errors.js';
import { findTenant } from '../../../tenants/tenant-repository.js';

export async function requireTenant(db: Db, appId: string): Promise<TenantRow> {
  const tenant = await findTenant(db, appId);
  if (!tenant) throw notFound('TENANT_NOT_FOUND', `Tenant ${appId} does not exist`);
  return tenant;
}

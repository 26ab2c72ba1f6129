/**
 * The one way an HTTP request finds its tenant, whether it names it in the `appId` header (the
 * extension API) or in the path (webhooks): the id rule, the directory's cache, and the same
 * answers for unknown, disabled and unreachable tenants.
 *
 * Cache hits are answered synchronously (a callback, no promise): they make up nearly every lookup
 * of the hot path, and the database is read only on a miss. The directory also remembers unknown
 * ids briefly, so a flood of made-up ids does not reach the database.
 */
import type { FastifyBaseLogger } from 'fastify';
import { isValidAppId } from '../lib/ids.js';
import type { TenantDirectory } from '../tenants/directory.js';
import type { TenantRuntime } from '../tenants/types.js';
import { ApiError } from './errors.js';

export type TenantCallback = (err: ApiError | null, tenant?: TenantRuntime) => void;

const appIdMissing = () => new ApiError(400, 'APP_ID_MISSING', 'The appId header is required');
const appIdInvalid = () => new ApiError(400, 'APP_ID_INVALID', 'The appId header is not a valid app id');
const tenantNotFound = () => new ApiError(404, 'TENANT_NOT_FOUND', 'No app is registered under this appId');
const tenantDisabled = () => new ApiError(403, 'TENANT_DISABLED', 'This app is disabled');
const lookupFailed = () => new ApiError(503, 'TENANT_LOOKUP_FAILED', 'The app could not be looked up; try again shortly');

export interface ResolveOptions {
  /**
   * How a missing or malformed id is answered: a header is the caller's mistake (400), while an id
   * in the path names a resource that does not exist (404).
   */
  from: 'header' | 'path';
  log: FastifyBaseLogger;
}

function admit(tenant: TenantRuntime | null, done: TenantCallback): void {
  if (tenant === null) return done(tenantNotFound());
  if (tenant.status !== 'active') return done(tenantDisabled());
  done(null, tenant);
}

export function resolveTenant(directory: TenantDirectory, appId: unknown, opts: ResolveOptions, done: TenantCallback): void {
  const cached = typeof appId === 'string' ? directory.peek(appId) : undefined;
  // A registered tenant's id passed the same rule at onboarding: a hit needs no pattern check.
  if (cached) return admit(cached, done);
  if (!isValidAppId(appId)) {
    if (opts.from === 'path') return done(tenantNotFound());
    return done(appId === undefined || appId === '' ? appIdMissing() : appIdInvalid());
  }
  if (cached === null) return done(tenantNotFound());
  directory.get(appId).then((tenant) => admit(tenant, done), (err: unknown) => {
    opts.log.error({ tenant: appId, err: (err as Error).message }, 'tenant lookup failed');
    done(lookupFailed());
  });
}

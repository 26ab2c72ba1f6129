/**
 * The one way an HTTP request finds its tenant, whether it names it in the `appId` header (the
 * extension API) or in the path (webhooks): the id rule, the directory's cache, and the same
 * answers for unknown, disabled and unreachable tenants.
 *
 * Cache hits are answered synchronously (a callback, no promise): they make up nearly every lookup
 * of the hot path, and the database is read only on a miss. Unknown ids are answered from the
 * directory's set of every app id, also synchronously, so a flood of made-up ids costs no query.
 *
 * The lookups a miss still needs (a tenant not cached, or any id while the set is not loaded) are
 * counted per client network (an IPv4 address, or an IPv6 /64, which one party holds whole); over the budget the answer is 429 TENANT_LOOKUP_RATE_LIMITED with
 * Retry-After, not 503: the refusal is about this caller's volume, not the service's health, so it
 * must not look like an outage to monitoring or load balancers, and it tells the caller when to retry.
 */
import type { FastifyBaseLogger } from 'fastify';
import { DomainError } from '../lib/errors.js';
import { isValidAppId } from '../lib/ids.js';
import type { TenantDirectory } from '../tenants/directory.js';
import type { TenantRuntime } from '../tenants/types.js';
import { ApiError } from './errors.js';
import { networkOf } from './client-network.js';

export type TenantCallback = (err: ApiError | null, tenant?: TenantRuntime) => void;

const appIdMissing = () => new ApiError(400, 'APP_ID_MISSING', 'The appId header is required');
const appIdInvalid = () => new ApiError(400, 'APP_ID_INVALID', 'The appId header is not a valid app id');
const tenantNotFound = () => new ApiError(404, 'TENANT_NOT_FOUND', 'No app is registered under this appId');
const tenantDisabled = () => new ApiError(403, 'TENANT_DISABLED', 'This app is disabled');
const lookupFailed = () => new ApiError(503, 'TENANT_LOOKUP_FAILED', 'The app could not be looked up; try again shortly');

function lookupRateLimited(err: DomainError): ApiError {
  const retryAfterSeconds = Number(err.details?.retryAfterSeconds ?? 1);
  return new ApiError(429, err.code, err.message, { retryAfterSeconds }, { 'retry-after': String(retryAfterSeconds) });
}

/**
 * How a missing or malformed id is answered: a header is the caller's mistake (400), while an id in
 * the path names a resource that does not exist (404).
 */
export type AppIdSource = 'header' | 'path';

/** What the resolver reads from the request, and only on a miss (request.ip is a computed getter). */
export interface TenantRequest {
  /** The caller's address: database lookups are budgeted per network of it. */
  readonly ip: string;
  readonly log: FastifyBaseLogger;
}

function admit(tenant: TenantRuntime | null, done: TenantCallback): void {
  if (tenant === null) return done(tenantNotFound());
  if (tenant.status !== 'active') return done(tenantDisabled());
  done(null, tenant);
}

export function resolveTenant(directory: TenantDirectory, appId: unknown, from: AppIdSource, request: TenantRequest, done: TenantCallback): void {
  const cached = typeof appId === 'string' ? directory.peek(appId) : undefined;
  // A registered tenant's id passed the same rule at onboarding: a hit needs no pattern check.
  if (cached) return admit(cached, done);
  if (!isValidAppId(appId)) {
    if (from === 'path') return done(tenantNotFound());
    return done(appId === undefined || appId === '' ? appIdMissing() : appIdInvalid());
  }
  if (cached === null) return done(tenantNotFound());
  directory.get(appId, networkOf(request.ip)).then((tenant) => admit(tenant, done), (err: unknown) => {
    if (err instanceof DomainError && err.kind === 'rate_limited') return done(lookupRateLimited(err));
    request.log.error({ tenant: appId, err: (err as Error).message }, 'tenant lookup failed');
    done(lookupFailed());
  });
}

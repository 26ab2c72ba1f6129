/**
 * Resolves the tenant named by the `appId` header (CometChat SDKs send it on every extension call)
 * before anything else runs, so authentication and rate limits always know whose rules apply.
 *
 * missing → 400 APP_ID_MISSING, malformed → 400 APP_ID_INVALID, unknown → 404 TENANT_NOT_FOUND,
 * disabled → 403 TENANT_DISABLED. Lookups go through the tenant directory's cache, which also
 * remembers unknown ids briefly, so a flood of made-up ids does not reach the database.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import type { AppContext } from '../../app/context.js';
import { AppIdParam } from '../routes/admin/tenant-schemas.js';
import type { TenantRuntime } from '../../tenants/types.js';
import { ApiError } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant of an extension API request; set by the tenant plugin before any handler runs. */
    tenant: TenantRuntime | null;
  }
}

/** The same rule as the admin API's app ids: a malformed header never costs a lookup. */
const APP_ID_PATTERN = new RegExp(AppIdParam.pattern!);
const APP_ID_MAX_LENGTH = AppIdParam.maxLength!;

const appIdMissing = () => new ApiError(400, 'APP_ID_MISSING', 'The appId header is required');
const appIdInvalid = () => new ApiError(400, 'APP_ID_INVALID', 'The appId header is not a valid app id');
const tenantNotFound = () => new ApiError(404, 'TENANT_NOT_FOUND', 'No app is registered under this appId');
const tenantDisabled = () => new ApiError(403, 'TENANT_DISABLED', 'This app is disabled');
const lookupFailed = () => new ApiError(503, 'TENANT_LOOKUP_FAILED', 'The app could not be looked up; try again shortly');

/** Accepts an active tenant, or answers why the request cannot go on. */
function admit(request: FastifyRequest, tenant: TenantRuntime | null, done: HookHandlerDoneFunction) {
  if (tenant === null) return done(tenantNotFound());
  if (tenant.status !== 'active') return done(tenantDisabled());
  request.tenant = tenant;
  done();
}

const tenantPlugin: FastifyPluginAsync<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.decorateRequest('tenant', null);
  const { tenants } = ctx;

  // A callback hook that answers from the directory's cache synchronously: an async hook would cost
  // a promise and a microtask turn on every request, although the database is only read on a miss.
  app.addHook('onRequest', function resolveTenant(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    const appId = request.headers.appid;
    const cached = typeof appId === 'string' ? tenants.peek(appId) : undefined;
    // A registered tenant's id passed the same rule at onboarding: a hit needs no pattern check.
    if (cached) return admit(request, cached, done);
    if (appId === undefined || appId === '') return done(appIdMissing());
    if (typeof appId !== 'string' || appId.length > APP_ID_MAX_LENGTH || !APP_ID_PATTERN.test(appId)) return done(appIdInvalid());
    if (cached === null) return done(tenantNotFound());
    tenants.get(appId).then((tenant) => admit(request, tenant, done), (err: unknown) => {
      request.log.error({ tenant: appId, err: (err as Error).message }, 'tenant lookup failed');
      done(lookupFailed());
    });
  });
};

export default fp(tenantPlugin, { name: 'e2ee-tenant', fastify: '5.x' });

/**
 * Resolves the tenant named by the `appId` header (CometChat SDKs send it on every extension call)
 * before anything else runs, so authentication and rate limits always know whose rules apply.
 *
 * missing → 400 APP_ID_MISSING, malformed → 400 APP_ID_INVALID, unknown → 404 TENANT_NOT_FOUND,
 * disabled → 403 TENANT_DISABLED. Lookups go through the tenant directory's cache, which also
 * remembers unknown ids briefly, so a flood of made-up ids does not reach the database.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { AppContext } from '../../app/context.js';
import { AppIdParam } from '../../tenants/schemas.js';
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

const tenantPlugin: FastifyPluginAsync<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.decorateRequest('tenant', null);

  app.addHook('onRequest', async function resolveTenant(request: FastifyRequest, _reply: FastifyReply) {
    const appId = request.headers.appid;
    if (appId === undefined || appId === '') throw appIdMissing();
    if (typeof appId !== 'string' || appId.length > APP_ID_MAX_LENGTH || !APP_ID_PATTERN.test(appId)) throw appIdInvalid();
    let tenant: TenantRuntime | null;
    try {
      tenant = await ctx.tenants.get(appId);
    } catch (err) {
      request.log.error({ tenant: appId, err: (err as Error).message }, 'tenant lookup failed');
      throw lookupFailed();
    }
    if (tenant === null) throw tenantNotFound();
    if (tenant.status !== 'active') throw tenantDisabled();
    request.tenant = tenant;
  });
};

export default fp(tenantPlugin, { name: 'e2ee-tenant', fastify: '5.x' });

/**
 * Resolves the tenant named by the `appId` header (CometChat SDKs send it on every extension call)
 * before anything else runs, so authentication and rate limits always know whose rules apply.
 *
 * missing → 400 APP_ID_MISSING, malformed → 400 APP_ID_INVALID, unknown → 404 TENANT_NOT_FOUND,
 * disabled → 403 TENANT_DISABLED, too many lookups from one address → 429 TENANT_LOOKUP_RATE_LIMITED
 * (see ../tenant-resolver.ts).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import type { ApiContext } from '../../app/context.js';
import type { TenantRuntime } from '../../tenants/types.js';
import { resolveTenant } from '../tenant-resolver.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant of an extension API request; set by the tenant plugin before any handler runs. */
    tenant: TenantRuntime | null;
  }
}

const tenantPlugin: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.decorateRequest('tenant', null);
  const { tenants } = ctx;
  // Before the first request, so unknown ids are answered from memory from the start; the context
  // already listens for tenant notifications, so no write after this read goes unnoticed.
  const onError = (err: Error) => ctx.log.warn({ err: err.message }, 'app ids could not be loaded; looking tenants up one by one');
  await tenants.loadKnownIds({ onError }).catch(onError);

  // A callback hook: an async hook would cost a promise and a microtask turn on every request.
  app.addHook('onRequest', function resolveHeaderTenant(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    resolveTenant(tenants, request.headers.appid, 'header', request, (err, tenant) => {
      if (err) return done(err);
      request.tenant = tenant!;
      done();
    });
  });
};

export default fp(tenantPlugin, { name: 'e2ee-tenant', fastify: '5.x' });

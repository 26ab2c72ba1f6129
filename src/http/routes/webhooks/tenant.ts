/**
 * Webhook tenants are named by the path (`/v1/webhooks/{appId}...`): resolved in an onRequest hook
 * (../../tenant-resolver.ts), before any body byte is read, so unknown or disabled apps cost no
 * parsing.
 */
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { ApiContext } from '../../../app/context.js';
import type { TenantRuntime } from '../../../tenants/types.js';
import { ApiError } from '../../errors.js';
import { resolveTenant } from '../../tenant-resolver.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant a webhook was sent to; set before the body is read. */
    webhookTenant: TenantRuntime | null;
  }
}

export function resolveWebhookTenant(ctx: ApiContext) {
  // Usually loaded already by the extension API's tenant plugin; joins or repeats that load if not.
  ctx.tenants.loadKnownIds().catch((err: Error) => ctx.log.warn({ err: err.message }, 'app ids could not be loaded; looking tenants up one by one'));
  return function resolvePathTenant(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const { appId } = request.params as { appId?: string };
    resolveTenant(ctx.tenants, appId, 'path', request, (err, tenant) => {
      if (err) return done(err);
      request.webhookTenant = tenant!;
      done();
    });
  };
}

export const webhookNotConfigured = (what: string) =>
  new ApiError(403, 'WEBHOOK_NOT_CONFIGURED', `This app has no ${what} configured for this webhook endpoint`);

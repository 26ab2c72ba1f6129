/**
 * Webhook tenants are named by the path (`/v1/webhooks/{appId}...`): resolved in an onRequest hook,
 * before any body byte is read, so unknown or disabled apps cost no parsing.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../../app/context.js';
import type { TenantRuntime } from '../../../tenants/types.js';
import { ApiError } from '../../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant a webhook was sent to; set before the body is read. */
    webhookTenant: TenantRuntime | null;
  }
}

/** The rule of tenant app ids (src/tenants/schemas.ts AppIdParam). */
const APP_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const tenantNotFound = () => new ApiError(404, 'TENANT_NOT_FOUND', 'No app is registered under this appId');

export function resolveWebhookTenant(ctx: AppContext) {
  return async function resolveTenant(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const { appId } = request.params as { appId?: string };
    if (typeof appId !== 'string' || !APP_ID_PATTERN.test(appId)) throw tenantNotFound();
    let tenant: TenantRuntime | null;
    try {
      tenant = await ctx.tenants.get(appId);
    } catch (err) {
      request.log.error({ tenant: appId, err: (err as Error).message }, 'tenant lookup failed');
      throw new ApiError(503, 'TENANT_LOOKUP_FAILED', 'The app could not be looked up; try again shortly');
    }
    if (tenant === null) throw tenantNotFound();
    if (tenant.status !== 'active') throw new ApiError(403, 'TENANT_DISABLED', 'This app is disabled');
    request.webhookTenant = tenant;
  };
}

export const webhookNotConfigured = (what: string) =>
  new ApiError(403, 'WEBHOOK_NOT_CONFIGURED', `This app has no ${what} configured for this webhook endpoint`);

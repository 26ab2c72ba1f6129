/**
 * /admin/v1/*: tenant, group, listing, audit, import and Twilio sweep routes, and /admin/openapi.json (the
 * whole API document). Registered inside a scope that authenticates admin tokens first (see app.ts),
 * which also holds /metrics when it shares the public port.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../../../app/context.js';
import { ADMIN_AUTH_PLUGIN } from '../../plugins/admin-auth.js';
import { openApiRoute } from '../ops.js';
import tenantRoutes from './tenants.js';
import groupRoutes from './groups.js';
import twilioAdminRoutes from './twilio.js';
import listingRoutes from './listings.js';
import auditRoutes from './audit.js';
import importRoutes from './imports.js';

const adminRoutes: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  if (!app.hasPlugin(ADMIN_AUTH_PLUGIN)) throw new Error('the admin routes must be registered behind the admin-auth plugin');
  // JSON only: a text/plain body is a 415, not a schema failure.
  app.removeContentTypeParser('text/plain');
  await app.register(tenantRoutes, { ctx, prefix: '/v1/tenants' });
  await app.register(groupRoutes, { ctx, prefix: '/v1/tenants' });
  await app.register(twilioAdminRoutes, { ctx, prefix: '/v1/tenants' });
  await app.register(listingRoutes, { ctx, prefix: '/v1/tenants' });
  await app.register(auditRoutes, { ctx, prefix: '/v1/audit' });
  await app.register(openApiRoute, { whole: true });
  await app.register(importRoutes, { ctx, prefix: '/v1/tenants' });
};
export default adminRoutes;

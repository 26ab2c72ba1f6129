/**
 * /admin/v1/*: bearer admin tokens (compared in constant time), then tenant, group and Twilio sweep routes.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../../../app/context.js';
import adminAuth from '../../plugins/admin-auth.js';
import tenantRoutes from './tenants.js';
import groupRoutes from './groups.js';
import twilioAdminRoutes from './twilio.js';

const adminRoutes: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  // JSON only: a text/plain body is a 415, not a schema failure.
  app.removeContentTypeParser('text/plain');
  await app.register(adminAuth, { ctx });
  await app.register(tenantRoutes, { ctx, prefix: '/v1/tenants' });
  await app.register(groupRoutes, { ctx, prefix: '/v1/tenants' });
  await app.register(twilioAdminRoutes, { ctx, prefix: '/v1/tenants' });
};
export default adminRoutes;

/**
 * The extension API under /v1 (CometChat-compatible). Order matters: the tenant is resolved from the
 * `appId` header, then the caller's token is verified with that tenant's settings, then the tenant
 * and user rate limits apply, and only then is a body parsed or a route run. Webhooks live in a
 * sibling plugin and are not affected by these hooks.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../../../app/context.js';
import tenantPlugin from '../../plugins/tenant.js';
import userAuthPlugin from '../../plugins/user-auth.js';
import rateLimitPlugin from '../../plugins/rate-limit.js';
import virgilJwtRoute from './virgil-jwt.js';
import getIdentitiesRoute from './get-identities.js';
import groupsRoute from './groups.js';
import keysChangedRoute from './keys-changed.js';
import twilioTokenRoute from './twilio-token.js';

const extensionRoutes: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  // Bodies are JSON only: anything else is 415 UNSUPPORTED_MEDIA_TYPE, not a schema error.
  app.removeContentTypeParser('text/plain');
  await app.register(tenantPlugin, { ctx });
  await app.register(userAuthPlugin, { ctx });
  await app.register(rateLimitPlugin, { ctx });
  await app.register(virgilJwtRoute, { ctx });
  await app.register(getIdentitiesRoute, { ctx });
  await app.register(groupsRoute, { ctx });
  await app.register(keysChangedRoute, { ctx });
  await app.register(twilioTokenRoute, { ctx });
};

export default extensionRoutes;

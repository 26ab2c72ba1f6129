/**
 * Admin API authentication and rate limiting.
 *
 * `Authorization: Bearer <token>` is compared with every configured admin token in constant time
 * (src/lib/constant-time.ts): timing reveals neither which token matched nor how much of one did.
 * Failure: 401 ADMIN_UNAUTHORIZED.
 *
 * Rate limits (admin-limiter.ts): a valid token is counted only against itself, so an operator is
 * never refused because of other people's failures; failures are counted per client network and
 * against a budget shared by all sources. Over a limit: 429 RATE_LIMITED with Retry-After. The
 * token is checked before any limit so that the two kinds of request never share a counter; a right
 * guess is therefore answered even while the failure budget is spent, which is why admin tokens must
 * be long random values (the limits slow guessing down, the token's entropy is what makes it hopeless).
 * With REDIS_URL the counts are shared by every replica (shared-window.ts).
 *
 * An authenticated request knows its actor for the audit trail: `admin:` and a fingerprint of the
 * token (a digest of its digest, the same value that names its rate-limit counter), so entries say
 * which token acted without holding anything that leads back to it. Routes in this scope are marked
 * `config.adminAuth` for the OpenAPI document.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import type { ApiContext } from '../../app/context.js';
import { matchSecret } from '../../lib/constant-time.js';
import { sha256 } from '../../lib/sha256.js';
import { ApiError } from '../errors.js';
import { bearerToken } from './user-auth.js';
import { AdminLimiter } from './admin-limiter.js';
import { networkOf } from '../client-network.js';
import { FixedWindowCounter } from '../../lib/fixed-window.js';
import { rateLimited } from './rate-limit.js';
import { SharedWindowStore } from './shared-window.js';
import { adminActor } from '../../audit/actions.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who made an authenticated admin request, for the audit trail (never the token itself). */
    adminActor: string | null;
  }
}

/** Characters of the token id kept in the actor's name: 48 bits tell tokens apart. */
const ACTOR_FINGERPRINT_LENGTH = 12;

const unauthorized = () => new ApiError(401, 'ADMIN_UNAUTHORIZED', 'A valid admin bearer token is required', undefined, {
  'www-authenticate': 'Bearer realm="e2ee-extension-admin"',
});

const adminAuth: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const tokenHashes = ctx.config.adminTokens.map(sha256);
  // Named by a digest of the token, not its position, so replicas listing the tokens in another
  // order still share each token's count; a digest of the digest keeps the comparison input out of Redis.
  const tokenIds = tokenHashes.map((h: Buffer) => sha256(h).toString('hex').slice(0, 32));
  const { adminPerMinute, adminFailuresPerMinute, syncIntervalMs } = ctx.config.rateLimit;
  const store = ctx.config.redisUrl
    ? new SharedWindowStore({ redisUrl: ctx.config.redisUrl, prefix: 'e2ee:rl:admin', log: ctx.log, syncIntervalMs })
    : new FixedWindowCounter();
  const limiter = new AdminLimiter(store, { perMinute: adminPerMinute, failuresPerMinute: adminFailuresPerMinute });
  const actors = tokenIds.map((id: string) => adminActor(id.slice(0, ACTOR_FINGERPRINT_LENGTH)));
  app.addHook('onClose', async () => limiter.close());
  app.decorateRequest('adminActor', null);
  app.addHook('onRoute', (route: RouteOptions) => {
    route.config = { ...route.config, adminAuth: true };
  });

  app.addHook('onRequest', function authenticateAdmin(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    const token = bearerToken(request.headers.authorization);
    const match = token === null ? -1 : matchSecret(token, tokenHashes);
    const wait = match >= 0 ? limiter.valid(tokenIds[match]) : limiter.failed(networkOf(request.ip));
    const decide = (seconds: number) => {
      if (seconds > 0) return done(rateLimited(seconds));
      if (match < 0) return done(unauthorized());
      request.adminActor = actors[match];
      done();
    };
    if (typeof wait === 'number') return decide(wait);
    wait.then(decide, () => decide(0));
  });
};

export const ADMIN_AUTH_PLUGIN = 'e2ee-admin-auth';
export default fp(adminAuth, { name: ADMIN_AUTH_PLUGIN, fastify: '5.x' });

/**
 * Rate limits of the extension API, per tenant and per user, counted after authentication (a
 * request is attributed to a uid only once its token verified). Global defaults come from
 * RATE_LIMIT_TENANT_PER_MINUTE / RATE_LIMIT_USER_PER_MINUTE; a tenant's `rateLimits` overrides them.
 * Over the limit: 429 RATE_LIMITED with `Retry-After`. Counters are in memory, per replica
 * (src/lib/fixed-window.ts), or shared by every replica through Redis when REDIS_URL is set
 * (shared-window.ts: decided locally, synced every RATE_LIMIT_SYNC_INTERVAL_MS).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import type { ApiContext } from '../../app/context.js';
import { ApiError } from '../errors.js';
import { TenantUserWindowCounter } from '../../lib/fixed-window.js';
import { SharedTenantUserCounter, SharedWindowStore } from './shared-window.js';

export function rateLimited(retryAfterSeconds: number): ApiError {
  return new ApiError(429, 'RATE_LIMITED', 'Too many requests; retry later', { retryAfterSeconds }, { 'retry-after': String(retryAfterSeconds) });
}

const rateLimitPlugin: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const defaults = ctx.config.rateLimit;
  const counter = ctx.config.redisUrl
    ? new SharedTenantUserCounter(new SharedWindowStore({ redisUrl: ctx.config.redisUrl, prefix: 'e2ee:rl:api', log: ctx.log, syncIntervalMs: defaults.syncIntervalMs }))
    : new TenantUserWindowCounter();
  app.addHook('onClose', async () => counter.close());

  app.addHook('onRequest', function limit(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    const tenant = request.tenant!;
    const overrides = tenant.rateLimits;
    const wait = counter.consume(
      tenant.appId,
      request.callerUid!,
      overrides?.tenantPerMinute ?? defaults.tenantPerMinute,
      overrides?.userPerMinute ?? defaults.userPerMinute,
    );
    if (wait === 0) return done();
    if (typeof wait === 'number') return done(rateLimited(wait));
    // Only the first request of a key in a window per process waits (for the fleet's count).
    wait.then((w) => (w === 0 ? done() : done(rateLimited(w))), () => done());
  });
};

export default fp(rateLimitPlugin, { name: 'e2ee-rate-limit', fastify: '5.x', dependencies: ['e2ee-user-auth'] });

/**
 * Admin API authentication and rate limiting.
 *
 * `Authorization: Bearer <token>` is compared with every configured admin token in constant time
 * (src/lib/constant-time.ts): timing reveals neither which token matched nor how much of one did.
 * Failure: 401 ADMIN_UNAUTHORIZED.
 *
 * Rate limit (RATE_LIMIT_ADMIN_PER_MINUTE, per replica): counted per token for authenticated calls,
 * and per client IP for failed ones, so guessing tokens is slowed down without letting one noisy
 * address lock out an operator who holds a valid token.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import type { ApiContext } from '../../app/context.js';
import { matchSecret, sha256 } from '../../lib/constant-time.js';
import { ApiError } from '../errors.js';
import { bearerToken } from './user-auth.js';
import { FixedWindowCounter } from './fixed-window.js';
import { rateLimited } from './rate-limit.js';

const unauthorized = () => new ApiError(401, 'ADMIN_UNAUTHORIZED', 'A valid admin bearer token is required', undefined, {
  'www-authenticate': 'Bearer realm="e2ee-extension-admin"',
});

const adminAuth: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const tokenHashes = ctx.config.adminTokens.map(sha256);
  const tokenKeys = tokenHashes.map((_: Buffer, i: number) => `token:${i}`);
  const limit = ctx.config.rateLimit.adminPerMinute;
  const counter = new FixedWindowCounter();
  app.addHook('onClose', async () => counter.close());

  app.addHook('onRequest', function authenticateAdmin(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    const token = bearerToken(request.headers.authorization);
    const match = token === null ? -1 : matchSecret(token, tokenHashes);
    const wait = counter.consume(match >= 0 ? tokenKeys[match] : `ip:${request.ip}`, limit);
    if (wait > 0) return done(rateLimited(wait));
    if (match < 0) return done(unauthorized());
    done();
  });
};

export default fp(adminAuth, { name: 'e2ee-admin-auth', fastify: '5.x' });

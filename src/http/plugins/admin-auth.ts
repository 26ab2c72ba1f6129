/**
 * Admin API authentication and rate limiting.
 *
 * `Authorization: Bearer <token>` is compared with every configured admin token in constant time:
 * both sides are hashed with SHA-256 (equal lengths for timingSafeEqual, and no length leak) and all
 * tokens are always compared, so timing reveals neither which token matched nor how much of one did.
 * Failure: 401 ADMIN_UNAUTHORIZED.
 *
 * Rate limit (RATE_LIMIT_ADMIN_PER_MINUTE, per replica): counted per token for authenticated calls,
 * and per client IP for failed ones, so guessing tokens is slowed down without letting one noisy
 * address lock out an operator who holds a valid token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import type { AppContext } from '../../app/context.js';
import { ApiError } from '../errors.js';
import { bearerToken } from './user-auth.js';
import { FixedWindowCounter } from './fixed-window.js';
import { rateLimited } from './rate-limit.js';

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Index of the matching token, or -1. Runs in time independent of the presented value. */
export function matchAdminToken(presented: string, tokenHashes: readonly Buffer[]): number {
  const digest = sha256(presented);
  let match = -1;
  for (let i = 0; i < tokenHashes.length; i++) {
    // No early exit: every configured token is compared.
    if (timingSafeEqual(digest, tokenHashes[i])) match = i;
  }
  return match;
}

const unauthorized = () => new ApiError(401, 'ADMIN_UNAUTHORIZED', 'A valid admin bearer token is required', undefined, {
  'www-authenticate': 'Bearer realm="e2ee-extension-admin"',
});

const adminAuth: FastifyPluginAsync<{ ctx: AppContext }> = async (app, { ctx }) => {
  const tokenHashes = ctx.config.adminTokens.map(sha256);
  const tokenKeys = tokenHashes.map((_, i) => `token:${i}`);
  const limit = ctx.config.rateLimit.adminPerMinute;
  const counter = new FixedWindowCounter();
  app.addHook('onClose', async () => counter.close());

  app.addHook('onRequest', function authenticateAdmin(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    const token = bearerToken(request.headers.authorization);
    const match = token === null ? -1 : matchAdminToken(token, tokenHashes);
    const wait = counter.consume(match >= 0 ? tokenKeys[match] : `ip:${request.ip}`, limit);
    if (wait > 0) return done(rateLimited(wait));
    if (match < 0) return done(unauthorized());
    done();
  });
};

export default fp(adminAuth, { name: 'e2ee-admin-auth', fastify: '5.x' });

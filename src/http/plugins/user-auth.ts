/**
 * Authenticates the caller of the extension API with `Authorization: Bearer <JWT>` issued by the
 * tenant's own backend (see src/auth/caller-token.ts for what is checked). Runs after the tenant
 * plugin; the verifier is built once per tenant runtime, never per request.
 *
 * Failures are 401 with a stable code (TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED) and an RFC 6750
 * `WWW-Authenticate` challenge. The token itself never appears in a response or a log line.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { callerTokenVerifierFor, type CallerTokenFailure } from '../../auth/caller-token.js';
import { ApiError } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller's uid (from the configured claim of their token). */
    callerUid: string | null;
  }
}

const REALM = 'Bearer realm="e2ee-extension"';
const MISSING_CHALLENGE = { 'www-authenticate': REALM };
const INVALID_CHALLENGE = { 'www-authenticate': `${REALM}, error="invalid_token"` };
const EXPIRED_CHALLENGE = { 'www-authenticate': `${REALM}, error="invalid_token", error_description="The token has expired"` };

function tokenMissing(): ApiError {
  return new ApiError(401, 'TOKEN_MISSING', 'Send the caller token as "Authorization: Bearer <JWT>"', undefined, MISSING_CHALLENGE);
}

function rejected(f: CallerTokenFailure): ApiError {
  if (f.code === 'AUTH_MISCONFIGURED') return new ApiError(503, 'TENANT_AUTH_MISCONFIGURED', f.message);
  return new ApiError(401, f.code, f.message, undefined, f.code === 'TOKEN_EXPIRED' ? EXPIRED_CHALLENGE : INVALID_CHALLENGE);
}

/** The token of a `Bearer` authorization header (scheme case-insensitive), or null. */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined || header.length < 8 || header.charCodeAt(6) !== 32) return null;
  // The common spelling first: no lower-casing copy on the hot path.
  if (!header.startsWith('Bearer') && header.slice(0, 6).toLowerCase() !== 'bearer') return null;
  const padded = header.charCodeAt(7) <= 32 || header.charCodeAt(header.length - 1) <= 32;
  const token = padded ? header.slice(7).trim() : header.slice(7);
  return token === '' ? null : token;
}

// A callback hook: no promise per request on the hot path.
function authenticate(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
  const token = bearerToken(request.headers.authorization);
  if (token === null) return done(tokenMissing());
  const result = callerTokenVerifierFor(request.tenant!)(token);
  if (typeof result !== 'string') return done(rejected(result));
  request.callerUid = result;
  done();
}

const userAuthPlugin: FastifyPluginAsync = async (app) => {
  app.decorateRequest('callerUid', null);
  app.addHook('onRequest', authenticate);
};

export default fp(userAuthPlugin, { name: 'e2ee-user-auth', fastify: '5.x', dependencies: ['e2ee-tenant'] });

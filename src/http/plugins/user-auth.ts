/**
 * Authenticates the caller of the extension API in the tenant's mode (src/auth/caller-auth.ts):
 * `Authorization: Bearer <JWT>` signed with a configured key (jwt) or by an identity provider
 * (jwks), or CometChat's `authtoken` header (cometchat). Runs after the tenant plugin.
 *
 * Failures are 401 with a stable code (TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED) and an RFC 6750
 * `WWW-Authenticate` challenge; a provider that cannot be reached is 503 JWKS_UNAVAILABLE or
 * COMETCHAT_UNAVAILABLE with `Retry-After`, never a pass. The token itself never appears in a
 * response or a log line.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import type { ApiContext } from '../../app/context.js';
import type { CallerResult } from '../../auth/caller-auth.js';
import type { CallerTokenFailure } from '../../auth/caller-token.js';
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
const RETRY_SOON = { 'retry-after': '5' };

function rejected(f: CallerTokenFailure): ApiError {
  switch (f.code) {
    case 'AUTH_MISCONFIGURED': return new ApiError(503, 'TENANT_AUTH_MISCONFIGURED', f.message);
    case 'JWKS_UNAVAILABLE':
    case 'COMETCHAT_UNAVAILABLE': return new ApiError(503, f.code, f.message, undefined, RETRY_SOON);
    case 'TOKEN_MISSING': return new ApiError(401, f.code, f.message, undefined, MISSING_CHALLENGE);
    case 'TOKEN_EXPIRED': return new ApiError(401, f.code, f.message, undefined, EXPIRED_CHALLENGE);
    default: return new ApiError(401, f.code, f.message, undefined, INVALID_CHALLENGE);
  }
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

const single = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

const userAuthPlugin: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.decorateRequest('callerUid', null);

  function settle(request: FastifyRequest, result: CallerResult, done: HookHandlerDoneFunction) {
    if (typeof result !== 'string') return done(rejected(result));
    request.callerUid = result;
    done();
  }

  // A callback hook: no promise per request on the hot path (the jwt mode answers synchronously).
  app.addHook('onRequest', function authenticate(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    const { headers } = request;
    const result = ctx.callerAuth.authenticate(request.tenant!, {
      bearer: bearerToken(headers.authorization),
      authToken: single(headers.authtoken),
      uid: single(headers.uid),
    });
    if (typeof result === 'string' || !('then' in result)) return settle(request, result, done);
    result.then((r) => settle(request, r, done), done);
  });
};

export default fp(userAuthPlugin, { name: 'e2ee-user-auth', fastify: '5.x', dependencies: ['e2ee-tenant'] });

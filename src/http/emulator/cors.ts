/**
 * CORS on the Virgil routes, so that a web page running `@virgilsecurity/e3kit-browser` can use the
 * emulator directly, from its own origin, as it would use Virgil Cloud.
 *
 * E3Kit's requests always need a preflight (they send `Authorization`, `Virgil-Agent` and JSON). A
 * preflight carries no credentials, so it is answered here, before the Virgil JWT check, and before
 * fault injection, which stands for a failing service, not for a gateway that refuses preflights.
 * Every other answer of a Virgil route (errors included) lets the page read it and the two headers
 * the clients need: `Virgil-Keyknox-Hash`, without which the next Keyknox write carries no previous
 * hash (and `changePassword` fails with "`Virgil-Keyknox-Previous-Hash` header is invalid"), and
 * `X-Virgil-Is-Superseeded`. Any origin is allowed: callers authenticate with a bearer token, never
 * a cookie.
 *
 * The management API (`/_emulator/*`) answers no CORS at all: a page must not be able to drive it.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ADMIN_PREFIX } from './admin.js';

export const VIRGIL_CORS_ALLOWED_HEADERS = ['authorization', 'content-type', 'virgil-agent', 'virgil-keyknox-previous-hash'];
export const VIRGIL_CORS_EXPOSED_HEADERS = ['virgil-keyknox-hash', 'x-virgil-is-superseeded'];
const METHODS = 'GET, POST, PUT';
const PREFLIGHT_MAX_AGE_SECONDS = '600';

const ALLOWED = VIRGIL_CORS_ALLOWED_HEADERS.join(', ');
const EXPOSED = VIRGIL_CORS_EXPOSED_HEADERS.join(', ');

/** `/_emulator`, `/_emulator/…` and `/_emulator?…`, never a Virgil route. */
export function isManagementPath(url: string): boolean {
  return url.startsWith(ADMIN_PREFIX) && (url.length === ADMIN_PREFIX.length || url[ADMIN_PREFIX.length] === '/' || url[ADMIN_PREFIX.length] === '?');
}

function isPreflight(request: FastifyRequest): boolean {
  return request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;
}

async function virgilCors(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  if (isManagementPath(request.url)) return undefined;
  reply.header('access-control-allow-origin', '*');
  if (isPreflight(request)) {
    return reply.code(204)
      .header('access-control-allow-methods', METHODS)
      .header('access-control-allow-headers', ALLOWED)
      .header('access-control-max-age', PREFLIGHT_MAX_AGE_SECONDS)
      .send();
  }
  reply.header('access-control-expose-headers', EXPOSED);
  return undefined;
}

/** Must be the first `onRequest` hook: it runs before fault injection and authentication. */
export function registerVirgilCors(app: FastifyInstance): void {
  app.addHook('onRequest', virgilCors);
}

/**
 * CORS for browser clients (CometChat's web SDK calls the extension API from the page's origin).
 *
 * Any origin is allowed by default: the API is authenticated by a bearer token in a header, never by
 * cookies, so a foreign page cannot ride on a user's ambient credentials (credentials mode stays
 * off). Deployments that want to restrict origins pass `origins` when registering the plugin.
 * Allowed request headers are the ones CometChat SDKs send; preflights are cached for 10 minutes;
 * `Retry-After` and `WWW-Authenticate` are readable by the page.
 *
 * With the default `*`, the headers of actual requests are constant, so `Access-Control-Allow-Origin`
 * is set from a constant, and @fastify/cors runs in an encapsulated scope whose only route is its
 * `OPTIONS *` preflight handler: the hot path does not pay for its per-request option merging.
 * `Access-Control-Expose-Headers` is then sent only by the answers that carry one of those headers
 * (see exposeToPage, used by the error handler): browsers read it per response, so on the others
 * it would be bytes without effect.
 */
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';

export const CORS_ALLOWED_HEADERS = ['appid', 'authtoken', 'uid', 'resource', 'sdk', 'chatapiversion', 'authorization', 'content-type'];
export const CORS_METHODS = ['GET', 'POST', 'OPTIONS'];
export const CORS_EXPOSED_HEADERS = ['retry-after', 'www-authenticate'];
const PREFLIGHT_MAX_AGE_SECONDS = 600;

export interface CorsOptions {
  /** `*` (default) or an explicit list of allowed origins. */
  origins?: '*' | string[];
}

const EXPOSED = CORS_EXPOSED_HEADERS.join(', ');

function addAnyOriginHeader(_request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
  reply.header('access-control-allow-origin', '*');
  done();
}

/**
 * Lets the page read the headers of `headers` that are meant for it (Retry-After, WWW-Authenticate)
 * on this answer. With a restricted origin list, @fastify/cors has already exposed them all.
 */
export function exposeToPage(reply: FastifyReply, headers: Readonly<Record<string, string>>): void {
  if (reply.hasHeader('access-control-expose-headers')) return;
  const names = CORS_EXPOSED_HEADERS.filter((name) => Object.hasOwn(headers, name));
  if (names.length > 0) reply.header('access-control-expose-headers', names.join(', '));
}

const corsPlugin: FastifyPluginAsync<CorsOptions> = async (app, opts) => {
  const origins = opts.origins ?? '*';
  const options: FastifyCorsOptions = {
    origin: origins,
    methods: CORS_METHODS,
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: EXPOSED,
    credentials: false,
    maxAge: PREFLIGHT_MAX_AGE_SECONDS,
    // An OPTIONS request without Origin is not a browser's preflight; answering it like one is
    // harmless, while the strict mode would answer a text/plain 400 outside our error envelope.
    strictPreflight: false,
  };
  if (origins !== '*') {
    // The answer depends on the request's Origin: let @fastify/cors decide on every request.
    await app.register(cors, options);
    return;
  }
  app.addHook('onRequest', addAnyOriginHeader);
  await app.register(async (preflightScope) => {
    await preflightScope.register(cors, options);
  });
};

export default fp(corsPlugin, { name: 'e2ee-cors', fastify: '5.x' });

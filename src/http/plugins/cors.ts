/**
 * CORS for browser clients (CometChat's web SDK calls the extension API from the page's origin).
 *
 * Any origin is allowed by default: the API is authenticated by a bearer token in a header, never by
 * cookies, so a foreign page cannot ride on a user's ambient credentials (credentials mode stays
 * off). Deployments that want to restrict origins pass `origins` when registering the plugin.
 * Allowed request headers are the ones CometChat SDKs send; preflights are cached for 10 minutes;
 * `Retry-After` and `WWW-Authenticate` are readable by the page.
 *
 * With the default `*`, the headers of actual requests are constant, so they are set from a
 * precomputed list, and @fastify/cors runs in an encapsulated scope whose only route is its
 * `OPTIONS *` preflight handler: the hot path does not pay for its per-request option merging.
 */
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';

export const CORS_ALLOWED_HEADERS = ['appid', 'authtoken', 'resource', 'sdk', 'chatapiversion', 'authorization', 'content-type'];
export const CORS_METHODS = ['GET', 'POST', 'OPTIONS'];
export const CORS_EXPOSED_HEADERS = ['retry-after', 'www-authenticate'];
const PREFLIGHT_MAX_AGE_SECONDS = 600;

export interface CorsOptions {
  /** `*` (default) or an explicit list of allowed origins. */
  origins?: '*' | string[];
}

const EXPOSED = CORS_EXPOSED_HEADERS.join(', ');

function addAnyOriginHeaders(_request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
  reply.header('access-control-allow-origin', '*');
  reply.header('access-control-expose-headers', EXPOSED);
  done();
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
  app.addHook('onRequest', addAnyOriginHeaders);
  await app.register(async (preflightScope) => {
    await preflightScope.register(cors, options);
  });
};

export default fp(corsPlugin, { name: 'e2ee-cors', fastify: '5.x' });

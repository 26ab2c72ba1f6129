/**
 * Security headers on every response (successes, errors, 404s, preflights): the set OWASP's REST
 * Security Cheat Sheet asks of API responses. The API serves JSON only, so the policy is the
 * strictest one: nothing may be framed, embedded, sniffed or cached. Headers that only govern HTML
 * documents (Referrer-Policy, Permissions-Policy, ...) are left out: a JSON answer has no links or
 * subresources for them to act on, and every byte is paid on the hottest route. The values are
 * constant, so one onRequest hook copies a precomputed list instead of running helmet's
 * per-request middleware chain.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';

export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
});

const NAMES = Object.keys(SECURITY_HEADERS);
const VALUES = NAMES.map((name) => SECURITY_HEADERS[name]);

function setSecurityHeaders(_request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
  for (let i = 0; i < NAMES.length; i++) reply.header(NAMES[i], VALUES[i]);
  done();
}

const securityHeaders: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', setSecurityHeaders);
};

export default fp(securityHeaders, { name: 'e2ee-security-headers', fastify: '5.x' });

/**
 * HTTP latency for the metrics: one onResponse hook observes every answer by method, route
 * template (Fastify's, e.g. `/admin/v1/tenants/:appId`, so paths never become labels) and status.
 * Requests no route matched count as route "unmatched". The duration is Fastify's own
 * `reply.elapsedTime` (from the start of the request), so no clock is read on the way in.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import type { ServiceMetrics } from '../../metrics/service-metrics.js';

export const UNMATCHED_ROUTE = 'unmatched';

const httpMetrics: FastifyPluginAsync<{ metrics: ServiceMetrics }> = async (app, { metrics }) => {
  app.addHook('onResponse', function observeHttpRequest(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    const route = request.is404 ? UNMATCHED_ROUTE : (request.routeOptions.url ?? UNMATCHED_ROUTE);
    metrics.httpRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
};

export default fp(httpMetrics, { name: 'e2ee-http-metrics', fastify: '5.x' });

/**
 * The HTTP applications. `buildApp` never listens; entry points and tests decide that.
 * The admin API (with the console and, on this port, /metrics behind the admin token) is mounted
 * under /admin on the public app unless it runs on its own port, where /metrics is open: that port
 * is meant for the operators' network only. The worker serves /health, /ready and /metrics on its
 * own port (`buildWorkerOpsApp`).
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ApiContext } from '../app/context.js';
import { readinessProbe, serviceChecks, type ReadinessReport } from '../app/readiness.js';
import type { ServiceMetrics } from '../metrics/service-metrics.js';
import { clientErrorHandler, frameworkErrorHandler, registerErrorHandling } from './errors.js';
import securityHeaders from './plugins/security-headers.js';
import cors from './plugins/cors.js';
import { fastifyTrustProxy } from './client-network.js';
import { lazyChildLoggerFactory } from './request-logger.js';
import extensionRoutes from './routes/extension/index.js';
import webhookRoutes from './routes/webhooks/index.js';
import adminRoutes from './routes/admin/index.js';
import adminAuth from './plugins/admin-auth.js';
import httpMetrics from './plugins/http-metrics.js';
import openapi from './plugins/openapi.js';
import { healthRoutes, metricsRoute, openApiRoute } from './routes/ops.js';
import { consolePages, docsPages } from './routes/web-pages.js';

export interface BuildAppOptions {
  /** Mount the admin API under /admin (default true). False when it listens on ADMIN_PORT. */
  mountAdmin?: boolean;
}

/**
 * How often Node looks for connections past their header or request deadline. Its default (30 s)
 * would let a slow client live up to 30 s beyond either deadline; a pass over the open connections
 * once a second costs next to nothing.
 */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

function baseFastify(ctx: ApiContext): FastifyInstance {
  const timeouts = ctx.config.httpTimeouts;
  return Fastify({
    loggerInstance: ctx.log as unknown as FastifyBaseLogger,
    bodyLimit: ctx.config.bodyLimitBytes,
    trustProxy: fastifyTrustProxy(ctx.config.trustProxy),
    // Without deadlines a client that trickles its headers or body holds its socket and buffers forever.
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    http: {
      requestTimeout: timeouts.requestMs,
      headersTimeout: timeouts.headersMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    },
    clientErrorHandler: clientErrorHandler(ctx.log as unknown as FastifyBaseLogger),
    frameworkErrors: (err, request, reply) => frameworkErrorHandler(err, request as FastifyRequest, reply as FastifyReply),
    // CometChat SDKs paste the path after a slash: `//v1/virgil-jwt` must route like `/v1/virgil-jwt`.
    routerOptions: { ignoreDuplicateSlashes: true, ignoreTrailingSlash: true, maxParamLength: 512 },
    // Strict JSON schema: no coercion, no silent removal of unknown fields (schemas decide).
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    // Draining is answered by registerErrorHandling, in the envelope.
    return503OnClosing: false,
    // Per-request lines only at debug/trace: at info they would double the hot path's cost.
    logController: new LogController({ disableRequestLogging: ctx.config.logLevel !== 'debug' && ctx.config.logLevel !== 'trace' }),
    // So a request that logs nothing does not pay for a pino child (see request-logger.ts).
    childLoggerFactory: lazyChildLoggerFactory,
  });
}

/** What every app has first: the error envelope, the route inventory and OpenAPI (before any route), metrics, headers. */
async function foundations(app: FastifyInstance, metrics: ServiceMetrics): Promise<void> {
  registerErrorHandling(app);
  await app.register(openapi);
  await app.register(httpMetrics, { metrics });
  await app.register(securityHeaders);
}

/** Everything behind the admin token: the admin API, the whole OpenAPI document, and /metrics when asked. */
const operatorScope: FastifyPluginAsync<{ ctx: ApiContext; metrics: boolean }> = async (scope, { ctx, metrics }) => {
  await scope.register(adminAuth, { ctx });
  await scope.register(adminRoutes, { ctx, prefix: '/admin' });
  if (metrics) await scope.register(metricsRoute, { metrics: ctx.metrics });
};

export async function buildApp(ctx: ApiContext, opts: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = baseFastify(ctx);
  await foundations(app, ctx.metrics);
  await app.register(cors);
  await app.register(healthRoutes, { ready: readinessProbe(() => serviceChecks(ctx)) });
  await app.register(openApiRoute, { whole: false });
  await app.register(docsPages);
  await app.register(extensionRoutes, { ctx, prefix: '/v1' });
  await app.register(webhookRoutes, { ctx, prefix: '/v1/webhooks' });
  if (opts.mountAdmin ?? true) {
    await app.register(consolePages);
    await app.register(operatorScope, { ctx, metrics: true });
  }
  return app;
}

/** The admin API alone, for ADMIN_PORT: with the console, the docs, and /metrics without a token. */
export async function buildAdminApp(ctx: ApiContext): Promise<FastifyInstance> {
  const app = baseFastify(ctx);
  await foundations(app, ctx.metrics);
  await app.register(healthRoutes, { ready: readinessProbe(() => serviceChecks(ctx)) });
  await app.register(openApiRoute, { whole: false });
  await app.register(docsPages);
  await app.register(consolePages);
  await app.register(metricsRoute, { metrics: ctx.metrics });
  await app.register(operatorScope, { ctx, metrics: false });
  return app;
}

/** The worker process's port (WORKER_OPS_PORT): /health, /ready (its checks) and /metrics. */
export async function buildWorkerOpsApp(opts: { log: Logger; metrics: ServiceMetrics; ready: () => Promise<ReadinessReport> }): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.log as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: false,
  });
  await foundations(app, opts.metrics);
  await app.register(healthRoutes, { ready: opts.ready });
  await app.register(metricsRoute, { metrics: opts.metrics });
  return app;
}

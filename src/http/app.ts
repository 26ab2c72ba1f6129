/**
 * The HTTP applications. `buildApp` never listens; entry points and tests decide that.
 * The admin API is mounted under /admin on the public app unless it runs on its own port.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ApiContext } from '../app/context.js';
import { clientErrorHandler, frameworkErrorHandler, registerErrorHandling } from './errors.js';
import securityHeaders from './plugins/security-headers.js';
import cors from './plugins/cors.js';
import { fastifyTrustProxy } from './client-network.js';
import { lazyChildLoggerFactory } from './request-logger.js';
import extensionRoutes from './routes/extension/index.js';
import webhookRoutes from './routes/webhooks/index.js';
import adminRoutes from './routes/admin/index.js';

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

export async function buildApp(ctx: ApiContext, opts: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = baseFastify(ctx);
  registerErrorHandling(app);
  await app.register(securityHeaders);
  await app.register(cors);
  app.get('/health', async () => ({ data: { status: 'ok' } }));
  await app.register(extensionRoutes, { ctx, prefix: '/v1' });
  await app.register(webhookRoutes, { ctx, prefix: '/v1/webhooks' });
  if (opts.mountAdmin ?? true) await app.register(adminRoutes, { ctx, prefix: '/admin' });
  return app;
}

/** The admin API alone, for ADMIN_PORT. */
export async function buildAdminApp(ctx: ApiContext): Promise<FastifyInstance> {
  const app = baseFastify(ctx);
  registerErrorHandling(app);
  await app.register(securityHeaders);
  app.get('/health', async () => ({ data: { status: 'ok' } }));
  await app.register(adminRoutes, { ctx, prefix: '/admin' });
  return app;
}

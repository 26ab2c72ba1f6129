/**
 * Builds the emulator's Fastify app: Virgil routes behind JWT auth and open to web pages (CORS), the
 * management API under `/_emulator`, fault injection, JSON-only error bodies (never a 5xx for bad
 * input).
 */
import fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { ADMIN_PREFIX, registerAdminRoutes } from './admin.js';
import { AppRegistry } from '../../emulator/apps.js';
import { authenticateVirgilRequest } from '../../emulator/auth.js';
import { warmUpCardCrypto } from '../../emulator/card-signatures.js';
import { registerCardRoutes } from './cards.js';
import { setCaller, type EmulatorContext } from './context.js';
import { isManagementPath, registerVirgilCors } from './cors.js';
import { EmulatorError, ErrorCode, type VirgilErrorBody } from '../../emulator/errors.js';
import { FaultInjector } from '../../emulator/faults.js';
import { registerKeyknoxV1Routes } from './keyknox-v1.js';
import { registerKeyknoxV2Routes } from './keyknox-v2.js';
import { PythiaTransformer } from '../../emulator/pythia.js';
import { registerPythiaRoutes } from './pythia.js';
import { EmulatorStore } from '../../emulator/store.js';

export interface EmulatorAppOptions {
  /** JSON file to load state from and persist it to; in-memory only when absent. */
  dataFile?: string;
  /**
   * Require `Authorization: Bearer <token>` on `/_emulator/*`; it then also opens the management API
   * to any Host and peer, and lets `POST /_emulator/apps` add keys to existing apps.
   */
  adminToken?: string;
  logger?: FastifyServerOptions['logger'];
  /** Accepted clock difference for token expiry (default 30 s). */
  clockLeewaySeconds?: number;
  /** Maximum request body size in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Unix seconds; override to test expiry. */
  now?: () => number;
}

export interface EmulatorApp {
  app: FastifyInstance;
  context: EmulatorContext;
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;
const DEFAULT_CLOCK_LEEWAY_SECONDS = 30;

export async function buildEmulatorApp(options: EmulatorAppOptions = {}): Promise<EmulatorApp> {
  const store = await EmulatorStore.open(options.dataFile);
  const [pythia] = await Promise.all([PythiaTransformer.create(store.state.pythia), warmUpCardCrypto()]);
  const context: EmulatorContext = {
    store,
    apps: new AppRegistry(store),
    faults: new FaultInjector(),
    pythia,
    clockLeewaySeconds: options.clockLeewaySeconds ?? DEFAULT_CLOCK_LEEWAY_SECONDS,
    now: options.now ?? (() => Math.floor(Date.now() / 1000)),
    ...(options.adminToken ? { adminToken: options.adminToken } : {}),
  };

  const app = fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // A client configured with a trailing slash in apiUrl requests `//card/v5/...`.
    rewriteUrl: (request) => (request.url ?? '/').replace(/^\/{2,}/, '/'),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
  });

  acceptEmptyJsonBodies(app);
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { status, body } = toErrorResponse(error);
    if (status >= 500) request.log.error({ err: error }, 'emulator request failed');
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ code: ErrorCode.ROUTE_NOT_FOUND, message: `Route ${request.method} ${request.url.split('?')[0]} not found.` }),
  );

  registerVirgilCors(app);
  app.addHook('onRequest', async (request, reply) => {
    if (isManagementPath(request.url)) return;
    const fault = await context.faults.apply(request.method, request.url.split('?')[0]);
    if (fault) return reply.code(fault.status).send(fault.body);
  });

  await app.register(async (admin) => registerAdminRoutes(admin, context), { prefix: ADMIN_PREFIX });
  await app.register(async (virgil) => {
    virgil.addHook('onRequest', async (request) => {
      const caller = authenticateVirgilRequest(request.headers.authorization, context.apps, {
        nowSeconds: context.now(),
        leewaySeconds: context.clockLeewaySeconds,
      });
      setCaller(request, caller);
    });
    registerCardRoutes(virgil, context);
    registerKeyknoxV1Routes(virgil, context);
    registerKeyknoxV2Routes(virgil, context);
    registerPythiaRoutes(virgil, context);
  });

  app.addHook('onClose', async () => store.flush());
  return { app, context };
}

/**
 * `POST /keyknox/v1/reset` and card revoke may arrive with no body at all; Fastify's default parser
 * rejects an empty JSON body. Non-empty JSON goes to the default (prototype-safe) parser.
 */
function acceptEmptyJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // Fastify would hand text/plain bodies to the routes as strings; the Virgil API is JSON only.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    parseJson(request, text, done);
  });
  // axios sends `application/x-www-form-urlencoded` on a body-less POST; only real bodies of other
  // types are refused.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    if (body.length === 0) {
      done(null, undefined);
      return;
    }
    done(new EmulatorError(415, ErrorCode.MEDIA_TYPE_UNSUPPORTED, 'Request bodies must be application/json.'), undefined);
  });
}

const FASTIFY_ERRORS: Record<string, { status: number; code: number }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: ErrorCode.BODY_TOO_LARGE },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: ErrorCode.MEDIA_TYPE_UNSUPPORTED },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: ErrorCode.JSON_INVALID },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: ErrorCode.JSON_INVALID },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: ErrorCode.BODY_INVALID },
};

export function toErrorResponse(error: FastifyError | Error): { status: number; body: VirgilErrorBody } {
  if (error instanceof EmulatorError) return { status: error.status, body: error.toBody() };
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    return { status: 400, body: { code: ErrorCode.BODY_INVALID, message: fastifyError.message || 'Request is invalid.' } };
  }
  const known = fastifyError.code ? FASTIFY_ERRORS[fastifyError.code] : undefined;
  if (known) return { status: known.status, body: { code: known.code, message: fastifyError.message || 'Request is invalid.' } };
  if (error instanceof SyntaxError) return { status: 400, body: { code: ErrorCode.JSON_INVALID, message: 'Request body is not valid JSON.' } };
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return { status, body: { code: ErrorCode.BODY_INVALID, message: fastifyError.message || 'Request is invalid.' } };
  }
  return { status: 500, body: { code: ErrorCode.INTERNAL, message: 'Internal emulator error.' } };
}

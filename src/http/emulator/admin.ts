/**
 * Management API under `/_emulator/*`, standing in for the Virgil dashboard: create/register apps,
 * health, fault injection, reset. A Virgil JWT never opens it. With an admin token configured it
 * requires `Authorization: Bearer <token>`; without one it answers loopback clients only, and only
 * when the Host header is a loopback name, so a page whose own name resolves to 127.0.0.1 (DNS
 * rebinding) is refused. Every mutation needs `content-type: application/json`, which no web page
 * can send cross-origin without a preflight, and no CORS answer is ever given here.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { secretsEqual } from '../../lib/constant-time.js';
import type { EmulatorContext } from './context.js';
import { EmulatorError, ErrorCode, forbidden, unauthorized } from '../../emulator/errors.js';
import { parseFaultRules } from '../../emulator/faults.js';
import {
  assertEmptyManagementBody,
  isEmptyManagementBody,
  isJsonContentType,
  isLoopbackAddress,
  isLoopbackHost,
  isMutation,
  parseResetBody,
} from '../../emulator/management.js';

export const ADMIN_PREFIX = '/_emulator';

function authorizeAdmin(request: FastifyRequest, adminToken: string | undefined): void {
  const authorization = request.headers.authorization ?? '';
  if (authorization.startsWith('Virgil ')) {
    throw forbidden(ErrorCode.ADMIN_FORBIDDEN, 'The management API does not accept Virgil access tokens.');
  }
  if (adminToken !== undefined) {
    const presented = authorization.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : '';
    if (!secretsEqual(presented, adminToken)) {
      throw unauthorized(ErrorCode.ADMIN_UNAUTHORIZED, 'Management API requires "Authorization: Bearer <admin token>".');
    }
    // A page cannot know the token, so with it any Host and peer may manage (e.g. a shared emulator).
    return;
  }
  if (!isLoopbackAddress(request.socket.remoteAddress)) throw forbidden(ErrorCode.ADMIN_FORBIDDEN, 'The management API answers loopback clients only.');
  if (!isLoopbackHost(request.headers.host)) {
    throw forbidden(ErrorCode.ADMIN_HOST_FORBIDDEN, 'The management API answers only requests addressed to localhost, 127.0.0.0/8 or [::1] (or with the admin token).');
  }
}

function requireJsonContentType(request: FastifyRequest): void {
  if (isMutation(request.method) && !isJsonContentType(request.headers['content-type'])) {
    throw new EmulatorError(415, ErrorCode.JSON_CONTENT_TYPE_REQUIRED, 'Management requests that change state require "content-type: application/json", with or without a body.');
  }
}

export async function registerAdminRoutes(app: FastifyInstance, context: EmulatorContext): Promise<void> {
  app.addHook('onRequest', async (request) => {
    authorizeAdmin(request, context.adminToken);
    requireJsonContentType(request);
  });

  app.get('/health', async () => ({
    status: 'ok',
    apps: context.store.state.apps.size,
    faults: context.faults.list().length,
  }));

  app.get('/apps', async () => ({ apps: context.apps.list() }));

  // Empty body: create an app like the dashboard does. {appId, appKeyId, appPublicKey}: register one.
  app.post('/apps', async (request, reply) => {
    const body = request.body;
    if (isEmptyManagementBody(body)) return reply.code(201).send(context.apps.create());
    const { appId, appKeyId, appPublicKey } = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    if (typeof appId !== 'string' || typeof appKeyId !== 'string' || typeof appPublicKey !== 'string') {
      throw new EmulatorError(400, ErrorCode.BODY_INVALID, 'Send an empty body to create an app, or {"appId","appKeyId","appPublicKey"} to register one.');
    }
    // Creating an app grants nothing over others; a key added to an existing app would let its
    // holder act as that app's service identity, so that takes the admin token.
    const { created } = context.apps.register({ appId, appKeyId, appPublicKey }, { addKeyToExistingApp: context.adminToken !== undefined });
    return reply.code(created ? 201 : 200).send({ appId, appKeyId });
  });

  app.get('/faults', async () => ({ rules: context.faults.list() }));

  app.put('/faults', async (request) => {
    const rules = parseFaultRules(request.body);
    context.faults.set(rules);
    return { rules };
  });

  app.delete('/faults', async (request, reply) => {
    assertEmptyManagementBody(request.body);
    context.faults.clear();
    return reply.code(204).send();
  });

  // {"apps": true} also forgets the apps; the Pythia secret is kept either way.
  app.post('/reset', async (request) => {
    const { apps: withApps } = parseResetBody(request.body);
    context.store.reset({ apps: withApps });
    context.apps.clearCache();
    context.faults.clear();
    return { status: 'reset', apps: withApps };
  });
}

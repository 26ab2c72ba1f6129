/**
 * Management API under `/_emulator/*`, standing in for the Virgil dashboard: create/register apps,
 * health, fault injection, reset. A Virgil JWT never opens it. With an admin token configured it
 * requires `Authorization: Bearer <token>`; without one it answers loopback clients only.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { secretsEqual } from '../../lib/constant-time.js';
import type { EmulatorContext } from './context.js';
import { EmulatorError, ErrorCode, forbidden, unauthorized } from '../../emulator/errors.js';
import { parseFaultRules } from '../../emulator/faults.js';

export const ADMIN_PREFIX = '/_emulator';


function isLoopback(address: string | undefined): boolean {
  return address !== undefined && (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));
}

function authorizeAdmin(request: FastifyRequest, adminToken: string | undefined): void {
  const authorization = request.headers.authorization ?? '';
  if (authorization.startsWith('Virgil ')) {
    throw forbidden(ErrorCode.ADMIN_FORBIDDEN, 'The management API does not accept Virgil access tokens.');
  }
  if (adminToken === undefined) {
    if (!isLoopback(request.socket.remoteAddress)) throw forbidden(ErrorCode.ADMIN_FORBIDDEN, 'The management API answers loopback clients only.');
    return;
  }
  const presented = authorization.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : '';
  if (!secretsEqual(presented, adminToken)) {
    throw unauthorized(ErrorCode.ADMIN_UNAUTHORIZED, 'Management API requires "Authorization: Bearer <admin token>".');
  }
}

function isEmptyBody(body: unknown): boolean {
  return body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0);
}

export async function registerAdminRoutes(app: FastifyInstance, context: EmulatorContext): Promise<void> {
  app.addHook('onRequest', async (request) => authorizeAdmin(request, context.adminToken));

  app.get('/health', async () => ({
    status: 'ok',
    apps: context.store.state.apps.size,
    faults: context.faults.list().length,
  }));

  app.get('/apps', async () => ({ apps: context.apps.list() }));

  // Empty body: create an app like the dashboard does. {appId, appKeyId, appPublicKey}: register one.
  app.post('/apps', async (request, reply) => {
    const body = request.body;
    if (isEmptyBody(body)) return reply.code(201).send(context.apps.create());
    const { appId, appKeyId, appPublicKey } = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    if (typeof appId !== 'string' || typeof appKeyId !== 'string' || typeof appPublicKey !== 'string') {
      throw new EmulatorError(400, ErrorCode.BODY_INVALID, 'Send an empty body to create an app, or {"appId","appKeyId","appPublicKey"} to register one.');
    }
    const { created } = context.apps.register({ appId, appKeyId, appPublicKey });
    return reply.code(created ? 201 : 200).send({ appId, appKeyId });
  });

  app.get('/faults', async () => ({ rules: context.faults.list() }));

  app.put('/faults', async (request) => {
    const rules = parseFaultRules(request.body);
    context.faults.set(rules);
    return { rules };
  });

  app.delete('/faults', async (_request, reply) => {
    context.faults.clear();
    return reply.code(204).send();
  });

  // {"apps": true} also forgets the apps; the Pythia secret is kept either way.
  app.post('/reset', async (request) => {
    const withApps = (request.body as { apps?: unknown } | undefined)?.apps === true;
    context.store.reset({ apps: withApps });
    context.apps.clearCache();
    context.faults.clear();
    return { status: 'reset', apps: withApps };
  });
}

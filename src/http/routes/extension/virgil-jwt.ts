/**
 * GET /v1/virgil-jwt: a Virgil JWT for the authenticated caller, signed with the tenant's APP_KEY.
 * Also tells the group worker that this user is active, so groups waiting for their Virgil card are
 * retried promptly (fire and forget: it never delays or fails the answer).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../../app/context.js';

const JSON_TYPE = 'application/json; charset=utf-8';

const virgilJwtRoute: FastifyPluginAsync<{ ctx: AppContext }> = async (app, { ctx }) => {
  const { reconcile, log } = ctx;

  // The hottest route: the body is built here and serialized with JSON.stringify (four strings of
  // our own making), which is cheaper than a schema serializer's per-character escaping checks.
  app.get('/virgil-jwt', function virgilJwt(request: FastifyRequest, reply: FastifyReply) {
    const tenant = request.tenant!;
    const uid = request.callerUid!;
    const identity = tenant.userIdentity(uid);
    const { token, expiresAt } = tenant.jwtSigner.sign(identity);
    const body = { data: { virgilToken: token, identity, expiresAt: expiresAt.toISOString(), groupOwnerIdentity: tenant.serviceIdentity } };
    reply.type(JSON_TYPE).send(JSON.stringify(body));
    try {
      reconcile.userActive(tenant.appId, uid);
    } catch (err) {
      log.warn({ tenant: tenant.appId, err: (err as Error).message }, 'could not note an active user for pending groups');
    }
  });
};

export default virgilJwtRoute;

/**
 * GET /v1/virgil-jwt: a Virgil JWT for the authenticated caller, signed with the tenant's APP_KEY.
 * Also tells the group worker that this user is active, so groups waiting for their Virgil card are
 * retried promptly (fire and forget: it never delays or fails the answer).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext } from '../../../app/context.js';
import { VirgilJwtAnswer } from './schemas.js';

const JSON_TYPE = 'application/json; charset=utf-8';

const virgilJwtRoute: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const { reconcile, log } = ctx;

  // The hottest route, so the body is written as text: the token is base64url segments joined by
  // dots, the identity is hex and the expiry an ISO date, none of which JSON escapes, so quoting is
  // all they need. JSON.stringify of the same object would scan the ~600-character token for
  // characters to escape on every request (about twice the cost), a schema serializer more still.
  app.get('/virgil-jwt', {
    schema: { description: 'A Virgil JWT for the authenticated caller (a user of the tenant named by the appId header).', response: { 200: VirgilJwtAnswer } },
  }, function virgilJwt(request: FastifyRequest, reply: FastifyReply) {
    const tenant = request.tenant!;
    const uid = request.callerUid!;
    const identity = tenant.userIdentity(uid);
    const { token, expiresAt } = tenant.jwtSigner.sign(identity);
    reply.type(JSON_TYPE).send(`{"data":{"virgilToken":"${token}","identity":"${identity}","expiresAt":"${expiresAt.toISOString()}",`
      + `"groupOwnerIdentity":${JSON.stringify(tenant.serviceIdentity)}}}`);
    try {
      reconcile.userActive(tenant.appId, uid);
    } catch (err) {
      log.warn({ tenant: tenant.appId, err: (err as Error).message }, 'could not note an active user for pending groups');
    }
  });
};

export default virgilJwtRoute;

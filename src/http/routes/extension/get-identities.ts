/**
 * POST /v1/get-identities: the Virgil identities of uids and guids, as CometChat's clients expect —
 * one single-key object per requested id, in request order; a missing list answers `[]`.
 * Identities are derived (HMAC), so unknown ids get an identity too: nothing reveals which users or
 * groups exist.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { ApiContext } from '../../../app/context.js';
import { ApiError } from '../../errors.js';
import { GetIdentitiesAnswer, GetIdentitiesBody, MAX_IDS_PER_REQUEST } from './schemas.js';

const lengthOf = (list: unknown) => (Array.isArray(list) ? list.length : 0);

/** Runs before schema validation, so an oversized list is refused without checking every entry. */
function checkIdCount(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
  const body = request.body as { uids?: unknown; guids?: unknown } | null;
  if (body !== null && typeof body === 'object') {
    const total = lengthOf(body.uids) + lengthOf(body.guids);
    if (total > MAX_IDS_PER_REQUEST) {
      return done(new ApiError(413, 'TOO_MANY_IDS', `At most ${MAX_IDS_PER_REQUEST} uids and guids together per request`, { max: MAX_IDS_PER_REQUEST, received: total }));
    }
  }
  done();
}

/**
 * The JSON array `[{"<id>":"<identity>"}, ...]`, written directly: one object per id with the id as
 * its key would give V8 a new hidden class per distinct id (slow, and churn for the GC), and the
 * ids are already validated, so JSON.stringify of each string is all the escaping needed.
 */
function identitiesJson(ids: string[] | undefined, derive: (id: string) => string): string {
  if (ids === undefined || ids.length === 0) return '[]';
  let json = '[';
  for (let i = 0; i < ids.length; i++) {
    json += `${i === 0 ? '' : ','}{${JSON.stringify(ids[i])}:${JSON.stringify(derive(ids[i]))}}`;
  }
  return `${json}]`;
}

const getIdentitiesRoute: FastifyPluginAsync<{ ctx: ApiContext }> = async (app) => {
  app.post<{ Body: GetIdentitiesBody }>('/get-identities', {
    schema: { description: 'The Virgil identities of uids and guids (derived: unknown ids get one too).', body: GetIdentitiesBody, response: { 200: GetIdentitiesAnswer } },
    preValidation: checkIdCount,
  }, function getIdentities(request, reply) {
    const tenant = request.tenant!;
    const { uids, guids } = request.body;
    const users = identitiesJson(uids, (uid) => tenant.userIdentity(uid));
    const groups = identitiesJson(guids, (guid) => tenant.groupIdentity(guid));
    reply.type('application/json; charset=utf-8').send(`{"data":{"userIdentities":${users},"groupIdentities":${groups}}}`);
  });
};

export default getIdentitiesRoute;

/**
 * POST /v1/keys/changed (no body) → 202: the caller says their key changed (after
 * `rotatePrivateKey()` or registering again). The worker compares their newest card with the cards
 * their groups gave them tickets for and re-adds them where they are still a member. The same check
 * also runs after a Virgil JWT fetch (at most once a minute per user) and on every reconcile of a
 * group; this only makes it prompt.
 */
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../../../app/context.js';
import { unavailable } from '../../../lib/errors.js';

const Accepted = Type.Object({ data: Type.Object({ status: Type.Literal('queued') }) });

const keysChangedRoute: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.post('/keys/changed', { schema: { response: { 202: Accepted } } }, async (request, reply) => {
    const tenant = request.tenant!;
    const uid = request.callerUid!;
    try {
      await ctx.reconcile.keysChanged(tenant.appId, uid);
    } catch (err) {
      ctx.log.warn({ tenant: tenant.appId, err: (err as Error).message }, 'could not queue a key check');
      throw unavailable('QUEUE_UNAVAILABLE', 'The key check could not be queued; try again shortly');
    }
    return reply.code(202).send({ data: { status: 'queued' as const } });
  });
};

export default keysChangedRoute;

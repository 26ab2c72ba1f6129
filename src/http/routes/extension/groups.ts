/**
 * GET /v1/groups/:guid — what a member's client needs to keep its cached E3Kit group current:
 * `membershipVersion` rises every time the worker changes the Virgil group (add, remove, re-add,
 * recreate), so a client that remembers the version it last called `group.update()` at knows when
 * it must update before encrypting. Only a desired member gets an answer; anyone else gets the same
 * 404 as for a group that does not exist, so a group's existence does not leak.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../../../app/context.js';
import { getMemberGroupView } from '../../../groups/group-status.js';
import { notFound } from '../../../lib/errors.js';
import { CallerId } from './schemas.js';

const Params = Type.Object({ guid: CallerId });
const MemberGroupBody = Type.Object({
  data: Type.Object({
    guid: Type.String(),
    identity: Type.String(),
    groupOwnerIdentity: Type.String(),
    membershipVersion: Type.Integer(),
    status: Type.String(),
    updatedAt: Type.String(),
  }),
});

const groupsRoute: FastifyPluginAsync<{ ctx: ApiContext }> = async (fastify, { ctx }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/groups/:guid', { schema: { params: Params, response: { 200: MemberGroupBody } } }, async (request) => {
    const tenant = request.tenant!;
    const view = await getMemberGroupView(ctx.db, tenant.appId, request.params.guid, request.callerUid!);
    if (!view) throw notFound('GROUP_NOT_FOUND', 'No such group among the caller\'s groups');
    return { data: { ...view, groupOwnerIdentity: tenant.serviceIdentity } };
  });
};

export default groupsRoute;

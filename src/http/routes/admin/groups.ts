/**
 * Group sync status for operators (behind admin auth, under /admin/v1/tenants):
 *   GET  /:appId/groups/:guid         → the desired and the Virgil membership, status, last error;
 *   POST /:appId/groups/:guid/resync  → 202; the group is reconciled now (the request is recorded in
 *                                       the outbox first, so it survives a queue outage).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../../../app/context.js';
import { getGroupStatus } from '../../../groups/group-status.js';
import { requestResync } from '../../../groups/outbox-repository.js';
import { conflict, notFound } from '../../../lib/errors.js';
import { ID_PATTERN } from '../../../lib/ids.js';
import { findTenant } from '../../../tenants/tenant-repository.js';
import { AppIdParam } from './tenant-schemas.js';

/** The guid rule of every entry point (src/lib/ids.ts). */
const Guid = Type.String({ pattern: ID_PATTERN.source });
const Params = Type.Object({ appId: AppIdParam, guid: Guid });

const Uids = Type.Array(Type.String());
const GroupStatusBody = Type.Object({
  data: Type.Object({
    guid: Type.String(),
    identity: Type.String(),
    status: Type.Union([Type.Literal('synced'), Type.Literal('pending'), Type.Literal('failed'), Type.Literal('over_capacity'), Type.Literal('deleted')]),
    desiredMembers: Uids,
    virgilMembers: Uids,
    pendingRegistration: Uids,
    lastError: Type.Union([Type.Null(), Type.Object({ code: Type.String(), message: Type.String() })]),
    updatedAt: Type.String(),
    membershipVersion: Type.Integer(),
    keyChanges: Type.Integer(),
    lastReAddAt: Type.Union([Type.Null(), Type.String()]),
  }),
});
const ResyncBody = Type.Object({ data: Type.Object({ guid: Type.String(), status: Type.Literal('queued') }) });

const groupRoutes: FastifyPluginAsync<{ ctx: ApiContext }> = async (fastify, { ctx }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  async function requireTenant(appId: string) {
    const tenant = await findTenant(ctx.db, appId);
    if (!tenant) throw notFound('TENANT_NOT_FOUND', `Tenant ${appId} does not exist`);
    return tenant;
  }

  app.get('/:appId/groups/:guid', {
    schema: { params: Params, response: { 200: GroupStatusBody } },
  }, async (request) => {
    const { appId, guid } = request.params;
    await requireTenant(appId);
    const status = await getGroupStatus(ctx.db, appId, guid);
    if (!status) throw notFound('GROUP_NOT_FOUND', `Group ${guid} is not known for tenant ${appId}`);
    return { data: status };
  });

  app.post('/:appId/groups/:guid/resync', {
    schema: { params: Params, response: { 202: ResyncBody } },
  }, async (request, reply) => {
    const { appId, guid } = request.params;
    const tenant = await requireTenant(appId);
    if (tenant.status !== 'active') throw conflict('TENANT_DISABLED', `Tenant ${appId} is disabled; its groups are not reconciled`);
    if (!(await requestResync(ctx.db, appId, guid, true))) throw notFound('GROUP_NOT_FOUND', `Group ${guid} is not known for tenant ${appId}`);
    // Best effort: if the queue is unreachable, the outbox sweeper enqueues it shortly.
    await ctx.reconcile.request(appId, guid);
    return reply.code(202).send({ data: { guid, status: 'queued' as const } });
  });
};

export default groupRoutes;

/**
 * Groups for operators (behind admin auth, under /admin/v1/tenants):
 *   GET    /:appId/groups/:guid         → the desired and the Virgil membership, status, last error;
 *   PUT    /:appId/groups/:guid         → an authoritative snapshot {owner?, members, asOf}: the whole
 *                                         membership as of asOf (src/groups/snapshot.ts);
 *   DELETE /:appId/groups/:guid?asOf=   → the group is deleted as of asOf;
 *   POST   /:appId/groups/:guid/resync  → 202; the group is reconciled now (the request is recorded in
 *                                         the outbox first, so it survives a queue outage).
 * Snapshots answer with the group's status view and whether the desired state changed; a reconcile
 * is requested after the commit when it did (best effort: the outbox row guarantees it).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../../../app/context.js';
import { getGroupStatus } from '../../../groups/group-status.js';
import { requestResync } from '../../../groups/outbox-repository.js';
import { requestAfterCommit } from '../../../groups/reconcile-requester.js';
import { AUDIT_ACTIONS } from '../../../audit/actions.js';
import { applyGroupSnapshot, checkSnapshot, MAX_SNAPSHOT_MEMBERS, type GroupSnapshot } from '../../../groups/snapshot.js';
import { conflict, notFound } from '../../../lib/errors.js';
import { ID_PATTERN } from '../../../lib/ids.js';
import { AppIdParam } from './tenant-schemas.js';
import { recordAdminAction } from './audit.js';
import { requireTenant as findRequiredTenant } from './require-tenant.js';

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
const SnapshotBody = Type.Object({
  owner: Type.Optional(Type.Union([Guid, Type.Null()])),
  members: Type.Array(Guid, { maxItems: MAX_SNAPSHOT_MEMBERS }),
  asOf: Type.String({ maxLength: 64 }),
}, { additionalProperties: false });
const AsOfQuery = Type.Object({ asOf: Type.String({ maxLength: 64 }) }, { additionalProperties: false });
const SnapshotAnswer = Type.Object({
  data: Type.Object({
    guid: Type.String(),
    created: Type.Boolean(),
    desiredChanged: Type.Boolean(),
    group: GroupStatusBody.properties.data,
  }),
});
const ResyncBody = Type.Object({ data: Type.Object({ guid: Type.String(), status: Type.Literal('queued') }) });

const groupRoutes: FastifyPluginAsync<{ ctx: ApiContext }> = async (fastify, { ctx }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  const requireTenant = (appId: string) => findRequiredTenant(ctx.db, appId);

  app.get('/:appId/groups/:guid', {
    schema: { description: 'A group: desired and Virgil members, members pending registration, status, last error.', params: Params, response: { 200: GroupStatusBody } },
  }, async (request) => {
    const { appId, guid } = request.params;
    await requireTenant(appId);
    const status = await getGroupStatus(ctx.db, appId, guid);
    if (!status) throw notFound('GROUP_NOT_FOUND', `Group ${guid} is not known for tenant ${appId}`);
    return { data: status };
  });

  async function applySnapshot(appId: string, snapshot: GroupSnapshot) {
    const tenant = await ctx.tenants.get(appId);
    if (!tenant) throw notFound('TENANT_NOT_FOUND', `Tenant ${appId} does not exist`);
    const outcome = await applyGroupSnapshot(ctx.db, appId, (guid) => tenant.groupIdentity(guid), snapshot);
    if (outcome.desiredChanged) await requestAfterCommit(ctx, [{ tenant_id: appId, guid: snapshot.guid }]);
    const group = await getGroupStatus(ctx.db, appId, snapshot.guid);
    return { data: { guid: snapshot.guid, created: outcome.created, desiredChanged: outcome.desiredChanged, group: group! } };
  }

  app.put('/:appId/groups/:guid', {
    schema: { params: Params, body: SnapshotBody, response: { 200: SnapshotAnswer } },
  }, async (request) => {
    const { appId, guid } = request.params;
    return applySnapshot(appId, checkSnapshot({ guid, ...request.body }));
  });

  app.delete('/:appId/groups/:guid', {
    schema: { params: Params, querystring: AsOfQuery, response: { 200: SnapshotAnswer } },
  }, async (request) => {
    const { appId, guid } = request.params;
    return applySnapshot(appId, checkSnapshot({ guid, asOf: request.query.asOf, deleted: true }));
  });

  app.post('/:appId/groups/:guid/resync', {
    schema: { description: 'Reconcile the group now (recorded in the outbox first).', params: Params, response: { 202: ResyncBody } },
  }, async (request, reply) => {
    const { appId, guid } = request.params;
    const tenant = await requireTenant(appId);
    if (tenant.status !== 'active') throw conflict('TENANT_DISABLED', `Tenant ${appId} is disabled; its groups are not reconciled`);
    if (!(await requestResync(ctx.db, appId, guid, true))) throw notFound('GROUP_NOT_FOUND', `Group ${guid} is not known for tenant ${appId}`);
    // Best effort: if the queue is unreachable, the outbox sweeper enqueues it shortly.
    await requestAfterCommit(ctx, [{ tenant_id: appId, guid }]);
    await recordAdminAction(ctx, request, { action: AUDIT_ACTIONS.groupResyncRequested, tenantId: appId, guid });
    return reply.code(202).send({ data: { guid, status: 'queued' as const } });
  });
};

export default groupRoutes;

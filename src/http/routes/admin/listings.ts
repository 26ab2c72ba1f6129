/**
 * Operators' views of one tenant (behind admin auth, under /admin/v1/tenants):
 *   GET /:appId/summary             groups per status, users pending registration, the oldest change
 *                                   waiting for the worker, webhook deliveries of the last hour;
 *   GET /:appId/groups              groups in guid order, `?status=` to keep one status, with lastError;
 *   GET /:appId/pending-users       users some live group waits for, in uid order;
 *   GET /:appId/webhook-deliveries  recent deliveries, newest first: format, trigger, result, time.
 * Lists are keyset pages (pagination.ts). Nothing here holds a secret or a webhook payload.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../../../app/context.js';
import { GROUP_STATUSES, listGroups, listPendingUsers } from '../../../groups/group-listing.js';
import { tenantOverview } from '../../../groups/tenant-overview.js';
import { listWebhookDeliveries } from '../../../groups/webhook-delivery-repository.js';
import { ID_PATTERN } from '../../../lib/ids.js';
import { AppIdParam } from './tenant-schemas.js';
import { IdCursorParam, LimitParam, PageEnvelope, pageLimit } from './pagination.js';
import { requireTenant } from './require-tenant.js';

const strict = { additionalProperties: false } as const;
const Params = Type.Object({ appId: AppIdParam }, strict);
type Params = Static<typeof Params>;
const Id = Type.String({ pattern: ID_PATTERN.source });
const Status = Type.Union(GROUP_STATUSES.map((s) => Type.Literal(s)));
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Time = Type.String({ format: 'date-time' });

const GroupsQuery = Type.Object({ status: Type.Optional(Status), limit: Type.Optional(LimitParam), cursor: Type.Optional(Id) }, strict);
const UidPageQuery = Type.Object({ limit: Type.Optional(LimitParam), cursor: Type.Optional(Id) }, strict);
const IdPageQuery = Type.Object({ limit: Type.Optional(LimitParam), cursor: Type.Optional(IdCursorParam) }, strict);

const GroupItem = Type.Object({
  guid: Type.String(),
  status: Status,
  lastError: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
  virgilMemberCount: Type.Integer(),
  pendingRegistrationCount: Type.Integer(),
  unsyncedSince: Nullable(Time),
  updatedAt: Time,
});
const PendingUser = Type.Object({ uid: Type.String(), groups: Type.Integer({ description: 'Live groups waiting for this user' }) });
const Delivery = Type.Object({
  id: Type.String(),
  format: Type.String(),
  trigger: Nullable(Type.String()),
  result: Type.String({ description: 'accepted, duplicate, ignored, unauthorized, forbidden, invalid, too_large, rate_limited, unavailable, error' }),
  statusCode: Type.Integer(),
  eventId: Nullable(Type.String()),
  receivedAt: Time,
});
const Counts = Type.Record(Type.String(), Type.Integer());
const Summary = Type.Object({
  data: Type.Object({
    appId: Type.String(),
    status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
    groups: Counts,
    membersPendingRegistration: Type.Integer(),
    oldestUnsyncedChangeAt: Nullable(Time),
    webhookDeliveriesLastHour: Counts,
  }),
});

const listingRoutes: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const { db } = ctx;

  app.get<{ Params: Params }>('/:appId/summary', {
    schema: { description: 'The tenant at a glance.', params: Params, response: { 200: Summary } },
  }, async (request) => {
    const tenant = await requireTenant(db, request.params.appId);
    return { data: { appId: tenant.app_id, status: tenant.status, ...(await tenantOverview(db, tenant.app_id)) } };
  });

  app.get<{ Params: Params; Querystring: Static<typeof GroupsQuery> }>('/:appId/groups', {
    schema: { description: "The tenant's groups in guid order; `status` keeps one status.", params: Params, querystring: GroupsQuery, response: { 200: PageEnvelope(GroupItem) } },
  }, async (request) => {
    const { status, limit, cursor } = request.query;
    await requireTenant(db, request.params.appId);
    return { data: await listGroups(db, request.params.appId, { status, limit: pageLimit(limit), cursor }) };
  });

  app.get<{ Params: Params; Querystring: Static<typeof UidPageQuery> }>('/:appId/pending-users', {
    schema: { description: 'Users some live group waits for (no Virgil card yet), in uid order.', params: Params, querystring: UidPageQuery, response: { 200: PageEnvelope(PendingUser) } },
  }, async (request) => {
    await requireTenant(db, request.params.appId);
    return { data: await listPendingUsers(db, request.params.appId, { limit: pageLimit(request.query.limit), cursor: request.query.cursor }) };
  });

  app.get<{ Params: Params; Querystring: Static<typeof IdPageQuery> }>('/:appId/webhook-deliveries', {
    schema: { description: 'Recent webhook deliveries, newest first (kept WEBHOOK_DELIVERY_RETENTION_HOURS). Never a payload.', params: Params, querystring: IdPageQuery, response: { 200: PageEnvelope(Delivery) } },
  }, async (request) => {
    await requireTenant(db, request.params.appId);
    return { data: await listWebhookDeliveries(db, request.params.appId, { limit: pageLimit(request.query.limit), cursor: request.query.cursor }) };
  });
};

export default listingRoutes;

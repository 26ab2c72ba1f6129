/**
 * /admin/v1/tenants: onboarding and administration of tenants. Thin on purpose: schemas reject
 * unknown or malformed fields (400), the tenant service does the semantic checks (422), the writes
 * and the cache invalidation of every replica. Responses are TenantViews, which hold no secret.
 *
 * After a write, this process's tenant cache entry is dropped before answering, so the change
 * applies to the very next request here; other replicas drop theirs when the database notification
 * of the write reaches them (milliseconds later).
 *
 * List pagination: `?limit=1..100` (default 50) and `?cursor=<appId>` from the previous page's
 * `nextCursor` (keyset on appId, so pages stay stable while tenants are added).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../../../app/context.js';
import { AppIdParam, OnboardTenantBody, TenantViewSchema, UpdateTenantBody } from './tenant-schemas.js';

const AppIdParams = Type.Object({ appId: AppIdParam }, { additionalProperties: false });
type AppIdParams = Static<typeof AppIdParams>;

// Query strings are text: the limit is matched as digits and converted here (the app never coerces).
const ListQuery = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^(?:[1-9]|[1-9][0-9]|100)$' })),
  cursor: Type.Optional(AppIdParam),
}, { additionalProperties: false });
type ListQuery = Static<typeof ListQuery>;

const DEFAULT_PAGE_SIZE = 50;

const TenantEnvelope = Type.Object({ data: TenantViewSchema });
const TenantPageEnvelope = Type.Object({
  data: Type.Object({ items: Type.Array(TenantViewSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
});

const tenantRoutes: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const service = ctx.tenantService;
  const applied = <T extends { appId: string }>(view: T): T => {
    ctx.tenants.invalidate(view.appId);
    return view;
  };

  app.post<{ Body: OnboardTenantBody }>('/', {
    schema: { body: OnboardTenantBody, response: { 201: TenantEnvelope } },
  }, async (request, reply) => {
    const view = applied(await service.onboard(request.body));
    return reply.code(201).send({ data: view });
  });

  app.get<{ Querystring: ListQuery }>('/', {
    schema: { querystring: ListQuery, response: { 200: TenantPageEnvelope } },
  }, async (request) => {
    const limit = request.query.limit === undefined ? DEFAULT_PAGE_SIZE : Number(request.query.limit);
    return { data: await service.list({ limit, cursor: request.query.cursor }) };
  });

  app.get<{ Params: AppIdParams }>('/:appId', {
    schema: { params: AppIdParams, response: { 200: TenantEnvelope } },
  }, async (request) => ({ data: await service.get(request.params.appId) }));

  app.patch<{ Params: AppIdParams; Body: UpdateTenantBody }>('/:appId', {
    schema: { params: AppIdParams, body: UpdateTenantBody, response: { 200: TenantEnvelope } },
  }, async (request) => ({ data: applied(await service.update(request.params.appId, request.body)) }));

  // Disabling keeps every secret, card and group: PATCH {"status":"active"} brings the tenant back.
  app.delete<{ Params: AppIdParams }>('/:appId', {
    schema: { params: AppIdParams, response: { 200: TenantEnvelope } },
  }, async (request) => ({ data: applied(await service.disable(request.params.appId)) }));
};

export default tenantRoutes;

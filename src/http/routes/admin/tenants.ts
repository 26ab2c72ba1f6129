/**
 * /admin/v1/tenants: onboarding and administration of tenants. Thin on purpose: schemas reject
 * unknown or malformed fields (400), the tenant service does the semantic checks (422), the writes
 * and the cache invalidation of every replica. Responses are TenantViews, which hold no secret.
 *
 * After a write, this process's tenant cache entry is dropped before answering, so the change
 * applies to the very next request here; other replicas drop theirs when the database notification
 * of the write reaches them (milliseconds later).
 *
 * List pagination (pagination.ts): keyset on appId, so pages stay stable while tenants are added.
 *
 * Each change is recorded in the audit trail (audit.ts) once it succeeded.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../../../app/context.js';
import { AUDIT_ACTIONS } from '../../../audit/actions.js';
import { AppIdParam, OnboardTenantBody, TenantViewSchema, UpdateTenantBody } from './tenant-schemas.js';
import { LimitParam, PageEnvelope, pageLimit } from './pagination.js';
import { auditedTenantChanges, recordAdminAction } from './audit.js';

const AppIdParams = Type.Object({ appId: AppIdParam }, { additionalProperties: false });
type AppIdParams = Static<typeof AppIdParams>;

const ListQuery = Type.Object({ limit: Type.Optional(LimitParam), cursor: Type.Optional(AppIdParam) }, { additionalProperties: false });
type ListQuery = Static<typeof ListQuery>;

const TenantEnvelope = Type.Object({ data: TenantViewSchema });
const TenantPageEnvelope = PageEnvelope(TenantViewSchema);

const tenantRoutes: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const service = ctx.tenantService;
  const applied = <T extends { appId: string }>(view: T): T => {
    ctx.tenants.invalidate(view.appId);
    return view;
  };

  app.post<{ Body: OnboardTenantBody }>('/', {
    schema: { description: 'Onboard a tenant: checks its keys, publishes its service identity card on Virgil, seals every secret.', body: OnboardTenantBody, response: { 201: TenantEnvelope } },
  }, async (request, reply) => {
    const view = applied(await service.onboard(request.body));
    await recordAdminAction(ctx, request, {
      action: AUDIT_ACTIONS.tenantOnboarded, tenantId: view.appId,
      details: { virgilAppId: view.virgil.appId, appKeyId: view.virgil.appKeyId, ...('algorithm' in view.userAuth ? { userAuthAlgorithm: view.userAuth.algorithm } : { userAuthType: view.userAuth.type }) },
    });
    return reply.code(201).send({ data: view });
  });

  app.get<{ Querystring: ListQuery }>('/', {
    schema: { description: 'Tenants in appId order (keyset pages).', querystring: ListQuery, response: { 200: TenantPageEnvelope } },
  }, async (request) => {
    return { data: await service.list({ limit: pageLimit(request.query.limit), cursor: request.query.cursor }) };
  });

  app.get<{ Params: AppIdParams }>('/:appId', {
    schema: { description: 'One tenant (never a secret).', params: AppIdParams, response: { 200: TenantEnvelope } },
  }, async (request) => ({ data: await service.get(request.params.appId) }));

  app.patch<{ Params: AppIdParams; Body: UpdateTenantBody }>('/:appId', {
    schema: { description: 'Rotate the Virgil APP_KEY, replace caller auth or webhook credentials, change TTL, rate limits or status.', params: AppIdParams, body: UpdateTenantBody, response: { 200: TenantEnvelope } },
  }, async (request) => {
    const view = applied(await service.update(request.params.appId, request.body));
    for (const change of auditedTenantChanges(request.body, view)) await recordAdminAction(ctx, request, { ...change, tenantId: view.appId });
    return { data: view };
  });

  // Disabling keeps every secret, card and group: PATCH {"status":"active"} brings the tenant back.
  app.delete<{ Params: AppIdParams }>('/:appId', {
    schema: { description: 'Disable a tenant: its API and webhooks answer 403; PATCH {"status":"active"} brings it back.', params: AppIdParams, response: { 200: TenantEnvelope } },
  }, async (request) => {
    const view = applied(await service.disable(request.params.appId));
    await recordAdminAction(ctx, request, { action: AUDIT_ACTIONS.tenantDisabled, tenantId: view.appId });
    return { data: view };
  });
};

export default tenantRoutes;

/**
 * The audit trail in the admin API:
 *   GET /admin/v1/audit?appId=&guid=&action=&limit=&cursor=   entries newest first (keyset on id);
 * and how admin routes record what they did (`recordAdminAction`), after it succeeded, with the
 * token's fingerprint as actor and the client address. What goes in `details` is chosen here and in
 * the routes: names of changed fields, key ids, never a value from a request body.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ApiContext } from '../../../app/context.js';
import { AUDIT_ACTIONS, AUDIT_ACTION_NAMES } from '../../../audit/actions.js';
import { listAudit, recordAudit, type AuditEntryInput } from '../../../audit/audit-log.js';
import type { TenantView, UpdateTenantInput } from '../../../tenants/types.js';
import { invalid } from '../../../lib/errors.js';
import { ID_PATTERN } from '../../../lib/ids.js';
import { AppIdParam } from './tenant-schemas.js';
import { IdCursorParam, LimitParam, PageEnvelope, pageLimit } from './pagination.js';

type AdminAction = Omit<AuditEntryInput, 'actor'>;

/** Records an admin action; a failed write is logged and counted, and never fails the request (the action is done). */
export async function recordAdminAction(ctx: ApiContext, request: FastifyRequest, entry: AdminAction): Promise<void> {
  const actor = request.adminActor ?? 'admin:unknown';
  try {
    await recordAudit(ctx.db, { ...entry, actor, details: { ...entry.details, ip: request.ip } });
  } catch (err) {
    ctx.metrics.auditWriteFailed();
    request.log.error({ action: entry.action, tenant: entry.tenantId, guid: entry.guid, actor, err: (err as Error).message }, 'audit entry not written');
  }
}

/** What a tenant PATCH did, as audit entries: a key rotation, a status change, other settings (by field name). */
export function auditedTenantChanges(body: UpdateTenantInput, view: Pick<TenantView, 'virgil'>): AdminAction[] {
  const actions: AdminAction[] = [];
  if (body.virgil?.appKey !== undefined || body.virgil?.appKeyId !== undefined) {
    actions.push({ action: AUDIT_ACTIONS.tenantKeyRotated, details: { appKeyId: view.virgil.appKeyId } });
  }
  if (body.status !== undefined) {
    actions.push({ action: body.status === 'disabled' ? AUDIT_ACTIONS.tenantDisabled : AUDIT_ACTIONS.tenantEnabled });
  }
  const fields = Object.keys(body).filter((field) => field !== 'status' && field !== 'virgil').sort();
  if (fields.length > 0) actions.push({ action: AUDIT_ACTIONS.tenantUpdated, details: { fields } });
  return actions;
}

const AuditQuery = Type.Object({
  appId: Type.Optional(AppIdParam),
  guid: Type.Optional(Type.String({ pattern: ID_PATTERN.source })),
  action: Type.Optional(Type.Union(AUDIT_ACTION_NAMES.map((name) => Type.Literal(name)))),
  limit: Type.Optional(LimitParam),
  cursor: Type.Optional(IdCursorParam),
}, { additionalProperties: false });

const AuditEntrySchema = Type.Object({
  id: Type.String(),
  occurredAt: Type.String({ format: 'date-time' }),
  actor: Type.String({ description: 'admin:<token fingerprint> or worker:<host>/<pid>' }),
  action: Type.String(),
  tenantId: Type.Union([Type.String(), Type.Null()]),
  guid: Type.Union([Type.String(), Type.Null()]),
  details: Type.Record(Type.String(), Type.Unknown()),
});

const auditRoutes: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.get<{ Querystring: Static<typeof AuditQuery> }>('/', {
    schema: {
      description: 'The audit trail, newest first: admin actions and the changes the worker made on Virgil. `guid` needs `appId`.',
      querystring: AuditQuery,
      response: { 200: PageEnvelope(AuditEntrySchema) },
    },
  }, async (request) => {
    const { appId, guid, action, limit, cursor } = request.query;
    if (guid !== undefined && appId === undefined) throw invalid('GUID_WITHOUT_APP_ID', 'A guid names a group only within a tenant: give appId too');
    const filter = { tenantId: appId, guid, action };
    return { data: await listAudit(ctx.db, filter, { limit: pageLimit(limit), cursor }) };
  });
};

export default auditRoutes;

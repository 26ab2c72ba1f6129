/**
 * The Twilio drift sweep for operators (behind admin auth, under /admin/v1/tenants):
 *   GET  /:appId/twilio/sweep   → when the tenant's conversations were last read, what changed, the
 *                                 last error, when the next sweep is due;
 *   POST /:appId/twilio/import  → 202; a worker reads every conversation of the tenant's service
 *                                 now (an import of existing conversations; also what the first
 *                                 sweep after Twilio settings are added does).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../../../app/context.js';
import { conflict, notFound } from '../../../lib/errors.js';
import { readTwilioSweep, requestTwilioImport } from '../../../reconcile/twilio-sweep-repository.js';
import { findTenant } from '../../../tenants/tenant-repository.js';
import { AppIdParam } from './tenant-schemas.js';

const Params = Type.Object({ appId: AppIdParam });
const Time = Type.Union([Type.String(), Type.Null()]);
const SweepBody = Type.Object({
  data: Type.Object({
    nextSweepAt: Time,
    fullRequested: Type.Boolean(),
    startedAt: Time,
    finishedAt: Time,
    fullFinishedAt: Time,
    result: Type.Union([Type.Null(), Type.Object({
      full: Type.Boolean(), conversations: Type.Integer(), changed: Type.Integer(), missing: Type.Integer(), skippedIdentities: Type.Integer(),
    })]),
    lastError: Type.Union([Type.Null(), Type.Object({ code: Type.String(), message: Type.String() })]),
  }),
});
const ImportBody = Type.Object({ data: Type.Object({ status: Type.Literal('queued') }) });

const twilioAdminRoutes: FastifyPluginAsync<{ ctx: ApiContext }> = async (fastify, { ctx }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  async function requireTwilioTenant(appId: string) {
    const tenant = await findTenant(ctx.db, appId);
    if (!tenant) throw notFound('TENANT_NOT_FOUND', `Tenant ${appId} does not exist`);
    if (tenant.twilio === null) throw conflict('TWILIO_NOT_CONFIGURED', `Tenant ${appId} has no Twilio settings`);
    return tenant;
  }

  app.get('/:appId/twilio/sweep', { schema: { params: Params, response: { 200: SweepBody } } }, async (request) => {
    await requireTwilioTenant(request.params.appId);
    return { data: await readTwilioSweep(ctx.db, request.params.appId) };
  });

  app.post('/:appId/twilio/import', { schema: { params: Params, response: { 202: ImportBody } } }, async (request, reply) => {
    const tenant = await requireTwilioTenant(request.params.appId);
    if (tenant.status !== 'active') throw conflict('TENANT_DISABLED', `Tenant ${tenant.app_id} is disabled; its conversations are not read`);
    await requestTwilioImport(ctx.db, tenant.app_id);
    return reply.code(202).send({ data: { status: 'queued' as const } });
  });
};

export default twilioAdminRoutes;

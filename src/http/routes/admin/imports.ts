/**
 * Imports of authoritative group snapshots (behind admin auth, under /admin/v1/tenants):
 *   POST /:appId/imports                      NDJSON body (content-type application/x-ndjson): the
 *                                             file, or its first part with ?complete=false → 201;
 *                                             JSON {"source": "cometchat"} → 201, every group of
 *                                             the tenant's CometChat app;
 *   POST /:appId/imports/:id/parts?offset=N   the next part of an NDJSON upload (&complete=true on
 *                                             the last) → 200; a wrong offset is 409 with the
 *                                             server's receivedBytes, to resume from;
 *   GET  /:appId/imports/:id?errors=N         progress, counts and the first N (100) errors;
 *   GET  /:appId/drift-repair                 CometChat drift repair: settings, cursor, last sweep;
 *   POST /:appId/drift-repair                 → 202: sweep now (the worker takes it at its next poll).
 * NDJSON bodies are streamed (src/imports/upload.ts), never buffered whole; the worker applies the
 * import (src/imports/runner.ts).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { Readable } from 'node:stream';
import type { ApiContext } from '../../../app/context.js';
import { getImportView, startCometChatImport, toImportView } from '../../../imports/service.js';
import { receiveNdjsonPart } from '../../../imports/upload.js';
import { invalid, notFound, unprocessable } from '../../../lib/errors.js';
import { driftRepairView, requestDriftRepairNow } from '../../../imports/drift-repair.js';
import { AppIdParam } from './tenant-schemas.js';

const NDJSON = 'application/x-ndjson';
const strict = { additionalProperties: false } as const;

const ImportId = Type.String({ pattern: '^imp_[0-9a-f]{24}$' });
const TenantParams = Type.Object({ appId: AppIdParam }, strict);
const ImportParams = Type.Object({ appId: AppIdParam, id: ImportId }, strict);
const Bool = Type.Union([Type.Literal('true'), Type.Literal('false')]);
const CreateQuery = Type.Object({ complete: Type.Optional(Bool) }, strict);
const PartQuery = Type.Object({ offset: Type.String({ pattern: '^(0|[1-9][0-9]{0,15})$' }), complete: Type.Optional(Bool) }, strict);
const ViewQuery = Type.Object({ errors: Type.Optional(Type.String({ pattern: '^(0|[1-9][0-9]{0,2}|1000)$' })) }, strict);

const isNdjson = (contentType: string | undefined) => contentType?.split(';')[0].trim().toLowerCase() === NDJSON;
const isCometChatRequest = (body: unknown) => typeof body === 'object' && body !== null && !Array.isArray(body)
  && Object.keys(body).length === 1 && (body as { source?: unknown }).source === 'cometchat';

const ImportErrorSchema = Type.Object({
  line: Type.Union([Type.Integer(), Type.Null()]), guid: Type.Union([Type.String(), Type.Null()]), code: Type.String(), message: Type.String(),
});
const ImportViewSchema = Type.Object({
  id: Type.String(),
  source: Type.String(),
  status: Type.String(),
  waitingForWorker: Type.Boolean(),
  upload: Type.Union([Type.Object({ receivedBytes: Type.Integer(), receivedLines: Type.Integer(), complete: Type.Boolean() }), Type.Null()]),
  progress: Type.Object({
    processed: Type.Integer(), total: Type.Union([Type.Integer(), Type.Null()]),
    groupsApplied: Type.Integer(), groupsChanged: Type.Integer(), groupsCreated: Type.Integer(),
  }),
  errors: Type.Object({ count: Type.Integer(), items: Type.Array(ImportErrorSchema) }),
  lastError: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  createdAt: Type.String(),
  startedAt: Type.Union([Type.String(), Type.Null()]),
  updatedAt: Type.String(),
  completedAt: Type.Union([Type.String(), Type.Null()]),
});
const ImportEnvelope = Type.Object({ data: ImportViewSchema });
const DriftEnvelope = Type.Object({
  data: Type.Object({
    enabled: Type.Boolean(),
    intervalSeconds: Type.Union([Type.Integer(), Type.Null()]),
    cursor: Type.Union([Type.Integer(), Type.Null()]),
    lastRunAt: Type.Union([Type.String(), Type.Null()]),
    nextRunAt: Type.Union([Type.String(), Type.Null()]),
    lastError: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
    groupsRead: Type.Integer(),
    groupsChanged: Type.Integer(),
  }),
});

const importRoutes: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  // The stream itself, unread: upload.ts reads it line by line.
  app.addContentTypeParser(NDJSON, (_request, payload, done) => done(null, payload));

  async function tenantOf(appId: string) {
    const tenant = await ctx.tenants.get(appId);
    if (!tenant) throw notFound('TENANT_NOT_FOUND', `Tenant ${appId} does not exist`);
    return tenant;
  }

  app.post<{ Params: Static<typeof TenantParams>; Querystring: Static<typeof CreateQuery>; Body: unknown }>('/:appId/imports', {
    schema: { params: TenantParams, querystring: CreateQuery, response: { 201: ImportEnvelope } },
  }, async (request, reply) => {
    const tenant = await tenantOf(request.params.appId);
    if (isNdjson(request.headers['content-type'])) {
      const record = await receiveNdjsonPart(ctx.db, {
        tenantId: tenant.appId, complete: request.query.complete !== 'false', body: request.body as Readable, maxBytes: ctx.config.importPartMaxBytes,
      });
      return reply.code(201).send({ data: toImportView(record, []) });
    }
    if (!isCometChatRequest(request.body)) {
      throw invalid('VALIDATION_FAILED', `send the file as ${NDJSON}, or {"source": "cometchat"} as JSON to import from CometChat`);
    }
    return reply.code(201).send({ data: await startCometChatImport(ctx.db, tenant) });
  });

  app.post<{ Params: Static<typeof ImportParams>; Querystring: Static<typeof PartQuery>; Body: unknown }>('/:appId/imports/:id/parts', {
    schema: { params: ImportParams, querystring: PartQuery, response: { 200: ImportEnvelope } },
  }, async (request) => {
    const tenant = await tenantOf(request.params.appId);
    if (!isNdjson(request.headers['content-type'])) throw invalid('IMPORT_CONTENT_TYPE', `parts are sent as ${NDJSON}`);
    const record = await receiveNdjsonPart(ctx.db, {
      tenantId: tenant.appId, importId: request.params.id, offset: Number(request.query.offset), complete: request.query.complete === 'true',
      body: request.body as Readable, maxBytes: ctx.config.importPartMaxBytes,
    });
    return { data: toImportView(record, []) };
  });

  app.get<{ Params: Static<typeof ImportParams>; Querystring: Static<typeof ViewQuery> }>('/:appId/imports/:id', {
    schema: { params: ImportParams, querystring: ViewQuery, response: { 200: ImportEnvelope } },
  }, async (request) => {
    await tenantOf(request.params.appId);
    const limit = request.query.errors === undefined ? 100 : Number(request.query.errors);
    return { data: await getImportView(ctx.db, request.params.appId, request.params.id, limit) };
  });

  app.get<{ Params: Static<typeof TenantParams> }>('/:appId/drift-repair', {
    schema: { params: TenantParams, response: { 200: DriftEnvelope } },
  }, async (request) => ({ data: await driftRepairView(ctx.db, await tenantOf(request.params.appId)) }));

  app.post<{ Params: Static<typeof TenantParams> }>('/:appId/drift-repair', {
    schema: { params: TenantParams, response: { 202: DriftEnvelope } },
  }, async (request, reply) => {
    const tenant = await tenantOf(request.params.appId);
    if (tenant.cometchat?.driftRepairIntervalSeconds == null) {
      throw unprocessable('DRIFT_REPAIR_OFF', 'turn drift repair on first: cometchat.driftRepair.intervalSeconds');
    }
    await requestDriftRepairNow(ctx.db, tenant.appId);
    return reply.code(202).send({ data: await driftRepairView(ctx.db, tenant) });
  });
};

export default importRoutes;

/**
 * What operators and orchestrators call, outside the API proper:
 *   GET /health              liveness: answers as soon as the process serves HTTP, checks nothing;
 *   GET /ready               readiness: PostgreSQL, the queue backend (and, in the worker, the
 *                            BullMQ worker) answer within 2 s; 503 NOT_READY naming what does not;
 *   GET /metrics             Prometheus text (mounted where the caller decides: behind the admin
 *                            token on the public port, open on the admin or worker port);
 *   GET /openapi.json        the public part of the OpenAPI document;
 *   GET /admin/openapi.json  the whole document (mounted behind the admin token).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { ReadinessReport } from '../../app/readiness.js';
import type { ServiceMetrics } from '../../metrics/service-metrics.js';
import { errorBody } from '../errors.js';
import { publicDocument } from '../plugins/openapi.js';

const CheckResult = Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]);
const Checks = Type.Record(Type.String(), CheckResult);
const HealthBody = Type.Object({ data: Type.Object({ status: Type.Literal('ok') }) });
const ReadyBody = Type.Object({ data: Type.Object({ status: Type.Literal('ready'), checks: Checks }) });
const NotReadyBody = Type.Object({
  error: Type.Object({ code: Type.Literal('NOT_READY'), message: Type.String(), details: Type.Object({ checks: Checks }) }),
});

export const healthRoutes: FastifyPluginAsync<{ ready: () => Promise<ReadinessReport> }> = async (app, { ready }) => {
  app.get('/health', {
    schema: { description: 'Liveness: the process serves HTTP. Checks no dependency.', response: { 200: HealthBody } },
  }, async () => ({ data: { status: 'ok' as const } }));

  app.get('/ready', {
    schema: {
      description: 'Readiness: PostgreSQL and the queue backend answer (and, on the worker, the worker runs). Unauthenticated; names checks only.',
      response: { 200: ReadyBody, 503: NotReadyBody },
    },
  }, async (_request, reply: FastifyReply) => {
    const report = await ready();
    if (report.ready) return { data: { status: 'ready' as const, checks: report.checks } };
    const down = Object.keys(report.checks).filter((name) => report.checks[name] !== 'ok');
    return reply.code(503).send(errorBody('NOT_READY', `Not ready: ${down.join(', ')} unavailable`, { checks: report.checks }));
  });
};

export const metricsRoute: FastifyPluginAsync<{ metrics: ServiceMetrics }> = async (app, { metrics }) => {
  app.get('/metrics', {
    schema: {
      description: 'Prometheus metrics of this process (text exposition format).',
      produces: ['text/plain'],
      response: { 200: Type.String({ description: 'Prometheus text format 0.0.4' }) },
    },
  }, async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()));
};

/** `/openapi.json` with the public part; `whole`: the whole document instead (for the admin scope). */
export const openApiRoute: FastifyPluginAsync<{ whole: boolean }> = async (app, { whole }) => {
  let document: unknown = null;
  app.get('/openapi.json', { schema: { hide: true } }, async () => {
    document ??= whole ? app.swagger() : publicDocument(app.swagger());
    return document;
  });
};

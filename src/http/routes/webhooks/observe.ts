/**
 * What happens to each webhook delivery, for operators: counted in the metrics by format and
 * result, and (for a known tenant) written to the delivery log the admin API lists, with its
 * trigger, result, status and event id. Never the payload or a credential.
 *
 * The result is read from the answer itself (`data.status` of a success, else the status code), in
 * hooks of the webhook scope, so every format's route is observed the same way, present or future.
 * Routes add what only they know, the trigger, with `noteWebhookTrigger`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { ApiContext } from '../../../app/context.js';
import { DeliveryLog } from '../../../webhooks/delivery-log.js';

interface Observed { trigger?: string; status?: string; eventId?: string }

const observed = new WeakMap<FastifyRequest, Observed>();
/** Triggers and event types are short names; anything else a sender puts there is not kept. */
const TRIGGER = /^[A-Za-z0-9_.:-]{1,100}$/;
const EVENT_ID_MAX = 200;

function note(request: FastifyRequest): Observed {
  let entry = observed.get(request);
  if (!entry) observed.set(request, (entry = {}));
  return entry;
}

/** Records the trigger (or event type) a delivery names, once its body is parsed. */
export function noteWebhookTrigger(request: FastifyRequest, trigger: unknown): void {
  if (typeof trigger === 'string' && TRIGGER.test(trigger)) note(request).trigger = trigger;
}

/** The format of a webhook route: its last path segment, `standard` for the bare `/:appId` route. */
export function webhookFormat(routeUrl: string | undefined): string {
  if (!routeUrl) return 'unknown';
  const last = routeUrl.split('/').filter(Boolean).pop() ?? '';
  return last.startsWith(':') ? 'standard' : last;
}

/** accepted, duplicate, ignored for successes; otherwise why the delivery was refused. */
export function webhookResult(statusCode: number, answered: string | undefined): string {
  if (statusCode < 300) return answered ?? 'accepted';
  switch (statusCode) {
    case 401: return 'unauthorized';
    case 403: return 'forbidden';
    case 404: return 'unknown_tenant';
    case 408: return 'timeout';
    case 413: return 'too_large';
    case 429: return 'rate_limited';
    case 503: return 'unavailable';
    default: return statusCode >= 500 ? 'error' : 'invalid';
  }
}

export function observeWebhooks(app: FastifyInstance, ctx: ApiContext): void {
  const deliveries = new DeliveryLog({ db: ctx.db, log: ctx.log, onDropped: (count) => ctx.metrics.deliveriesDropped(count) });
  app.addHook('onClose', async () => deliveries.close());

  // The answer's own words: `{"data": {"status", "eventId"?, "trigger"?}}` on success.
  app.addHook('preSerialization', (request: FastifyRequest, _reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void) => {
    const data = (payload as { data?: { status?: unknown; eventId?: unknown; trigger?: unknown } } | null)?.data;
    if (data && typeof data.status === 'string') {
      const entry = note(request);
      entry.status = data.status;
      if (typeof data.eventId === 'string') entry.eventId = data.eventId.slice(0, EVENT_ID_MAX);
      if (entry.trigger === undefined) noteWebhookTrigger(request, data.trigger);
    }
    done(null, payload);
  });

  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const entry = observed.get(request);
    const format = webhookFormat(request.routeOptions.url);
    const result = webhookResult(reply.statusCode, entry?.status);
    const tenant = request.webhookTenant;
    ctx.metrics.webhookReceived(format, result, tenant?.appId ?? null);
    if (tenant) {
      deliveries.record({
        tenantId: tenant.appId, format, trigger: entry?.trigger ?? null, result, statusCode: reply.statusCode,
        eventId: entry?.eventId ?? null, receivedAt: new Date(Date.now() - reply.elapsedTime),
      });
    }
    done();
  });
}

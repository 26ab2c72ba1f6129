/**
 * POST /v1/webhooks/{appId} — the platform-neutral event format, signed per Standard Webhooks.
 * The signature is verified over the raw body bytes before anything parses them; the `webhook-id`
 * header is the event id, so a redelivery is answered 200 "duplicate" and changes nothing.
 * Everything the headers alone decide (the three headers present and well-formed, the timestamp
 * within tolerance) is checked in onRequest, so a delivery that would be refused anyway is refused
 * before its body is read or counted against the body budget.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { ApiContext } from '../../../app/context.js';
import { acceptGroupEvent } from '../../../webhooks/intake.js';
import { parseJsonBody } from '../../../webhooks/json-body.js';
import { WEBHOOK_BODY_LIMIT_BYTES } from '../../../webhooks/limits.js';
import { parseStandardEvent } from '../../../webhooks/standard-payload.js';
import { checkStandardHeaders, verifyStandardWebhook } from '../../../webhooks/standard-signature.js';
import { WebhookAccepted, WebhookParams } from './schemas.js';
import { resolveWebhookTenant, webhookNotConfigured } from './tenant.js';
import { noteWebhookTrigger } from './observe.js';

const EMPTY = Buffer.alloc(0);

const standardRoute: FastifyPluginAsync<{ ctx: ApiContext; reserveBody: onRequestHookHandler }> = async (app, { ctx, reserveBody }) => {
  async function requireSecret(request: FastifyRequest) {
    if (request.webhookTenant!.webhooks.signingSecret === null) throw webhookNotConfigured('signing secret');
  }

  async function checkHeadersBeforeBody(request: FastifyRequest) {
    checkStandardHeaders(request.headers, Date.now());
  }

  app.post('/:appId', {
    bodyLimit: WEBHOOK_BODY_LIMIT_BYTES,
    schema: { description: 'Platform-neutral membership events, signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature).', params: WebhookParams, response: { 200: WebhookAccepted } },
    onRequest: [resolveWebhookTenant(ctx), requireSecret, checkHeadersBeforeBody, reserveBody],
  }, async function standardWebhook(request: FastifyRequest, reply: FastifyReply) {
    const tenant = request.webhookTenant!;
    const now = Date.now();
    const rawBody = Buffer.isBuffer(request.body) ? request.body : EMPTY;
    const delivery = verifyStandardWebhook({ secret: tenant.webhooks.signingSecret!, headers: request.headers, rawBody, nowMs: now });
    const body = parseJsonBody(rawBody);
    noteWebhookTrigger(request, (body.value as { type?: unknown } | null)?.type);
    const event = parseStandardEvent(body.value, delivery.id, now, body.text);
    const result = await acceptGroupEvent(ctx, tenant, event);
    return reply.code(200).send({ data: result });
  });
};

export default standardRoute;

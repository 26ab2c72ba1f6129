/**
 * POST /v1/webhooks/{appId}/cometchat — CometChat's own webhook deliveries, authenticated with the
 * tenant's HTTP Basic credentials (CometChat offers nothing stronger). Credentials are checked in
 * onRequest, before the body is read. Group triggers are stored and applied; others are
 * acknowledged with 200 and ignored. CometChat wants a 200 within 2 s, so every success is a 200.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { ApiContext } from '../../../app/context.js';
import { ApiError } from '../../errors.js';
import { basicCredentialsMatch, parseBasicAuthorization } from '../../../webhooks/basic-auth.js';
import { parseCometChatDelivery } from '../../../webhooks/cometchat-payload.js';
import { acceptGroupEvent } from '../../../webhooks/intake.js';
import { parseJsonBody } from '../../../webhooks/json-body.js';
import { WEBHOOK_BODY_LIMIT_BYTES } from '../../../webhooks/limits.js';
import { WebhookAccepted, WebhookIgnored, WebhookParams } from './schemas.js';
import { resolveWebhookTenant, webhookNotConfigured } from './tenant.js';
import { noteWebhookTrigger } from './observe.js';

const unauthorized = () => new ApiError(401, 'WEBHOOK_UNAUTHORIZED', 'Webhook credentials are missing or wrong', undefined,
  { 'www-authenticate': 'Basic realm="webhooks", charset="UTF-8"' });

const cometchatRoute: FastifyPluginAsync<{ ctx: ApiContext; reserveBody: onRequestHookHandler }> = async (app, { ctx, reserveBody }) => {
  async function authenticate(request: FastifyRequest) {
    const expected = request.webhookTenant!.webhooks.basicAuth;
    if (expected === null) throw webhookNotConfigured('Basic auth credentials');
    const given = parseBasicAuthorization(request.headers.authorization);
    if (given === null || !basicCredentialsMatch(given, expected)) throw unauthorized();
  }

  app.post('/:appId/cometchat', {
    bodyLimit: WEBHOOK_BODY_LIMIT_BYTES,
    schema: { description: "CometChat's webhook deliveries, with the tenant's HTTP Basic credentials. Group triggers are applied; others are acknowledged and ignored.", params: WebhookParams, response: { 200: { anyOf: [WebhookAccepted, WebhookIgnored] } } },
    onRequest: [resolveWebhookTenant(ctx), authenticate, reserveBody],
  }, async function cometchatWebhook(request: FastifyRequest, reply: FastifyReply) {
    const tenant = request.webhookTenant!;
    const body = parseJsonBody(request.body);
    noteWebhookTrigger(request, (body.value as { trigger?: unknown } | null)?.trigger);
    const delivery = parseCometChatDelivery(body.value, Date.now(), body.text);
    if (delivery.kind === 'ignored') {
      return reply.code(200).send({ data: { status: 'ignored', trigger: delivery.trigger } });
    }
    const result = await acceptGroupEvent(ctx, tenant, delivery.event);
    return reply.code(200).send({ data: result });
  });
};

export default cometchatRoute;

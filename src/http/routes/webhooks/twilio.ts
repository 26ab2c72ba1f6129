/**
 * POST /v1/webhooks/{appId}/twilio — Twilio Conversations post-action webhooks, form-encoded and
 * signed with `X-Twilio-Signature` (HMAC-SHA1 with the account's auth token over the configured
 * webhook URL and every parameter). A missing header is refused before the body is read; the
 * signature is checked over the raw parameters before anything uses them. Conversation and
 * participant events are stored and applied; others are acknowledged with 200 and ignored, as are
 * participants without an identity. Twilio waits at most 5 s for the answer.
 *
 * This scope parses only `application/x-www-form-urlencoded` (kept as raw bytes): JSON is 415.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../../../app/context.js';
import { acceptGroupEvent } from '../../../webhooks/intake.js';
import { WEBHOOK_BODY_LIMIT_BYTES } from '../../../webhooks/limits.js';
import { parseFormBody, requireSignatureHeader, verifyTwilioSignature } from '../../../webhooks/twilio-form.js';
import { parseTwilioDelivery } from '../../../webhooks/twilio-payload.js';
import { WebhookAccepted, WebhookParams } from './schemas.js';
import { resolveWebhookTenant, webhookNotConfigured } from './tenant.js';

const TwilioIgnored = Type.Object({
  data: Type.Object({ status: Type.Literal('ignored'), trigger: Type.String(), reason: Type.String() }),
});

const EMPTY = Buffer.alloc(0);

const twilioRoute: FastifyPluginAsync<{ ctx: ApiContext; reserveBody: onRequestHookHandler }> = async (app, { ctx, reserveBody }) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT_BYTES }, (_request, body, done) => {
    done(null, body);
  });

  async function requireTwilio(request: FastifyRequest) {
    if (request.webhookTenant!.twilio === null) throw webhookNotConfigured('Twilio settings');
  }

  async function checkHeaderBeforeBody(request: FastifyRequest) {
    requireSignatureHeader(request.headers);
  }

  app.post('/:appId/twilio', {
    bodyLimit: WEBHOOK_BODY_LIMIT_BYTES,
    schema: { params: WebhookParams, response: { 200: { anyOf: [WebhookAccepted, TwilioIgnored] } } },
    onRequest: [resolveWebhookTenant(ctx), requireTwilio, checkHeaderBeforeBody, reserveBody],
  }, async function twilioWebhook(request: FastifyRequest, reply: FastifyReply) {
    const tenant = request.webhookTenant!;
    const twilio = tenant.twilio!;
    const form = parseFormBody(Buffer.isBuffer(request.body) ? request.body : EMPTY);
    verifyTwilioSignature({ header: requireSignatureHeader(request.headers), authTokens: twilio.authTokens, webhookUrl: twilio.webhookUrl, params: form.params });
    const delivery = parseTwilioDelivery(form.params, { serviceSid: twilio.conversationsServiceSid, receivedMs: Date.now() }, form.text);
    if (delivery.kind === 'ignored') {
      return reply.code(200).send({ data: { status: 'ignored', trigger: delivery.trigger, reason: delivery.reason } });
    }
    return reply.code(200).send({ data: await acceptGroupEvent(ctx, tenant, delivery.event) });
  });
};

export default twilioRoute;

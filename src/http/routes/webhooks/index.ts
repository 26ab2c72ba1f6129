/**
 * Webhook intake under /v1/webhooks. This scope replaces the JSON body parser with one that keeps
 * the raw bytes (signatures are computed over them) and parses nothing: handlers parse JSON only
 * after authenticating the sender (the Twilio route takes form bodies instead, in its own scope). Media types are matched case-insensitively (CometChat sends
 * `Application/json`). The parser change is encapsulated: other routes keep Fastify's parser.
 * Every route shares one budget of body bytes in flight (../../plugins/body-budget.ts): a body is
 * buffered whole before it can be authenticated, so the budget bounds what senders can make the
 * process hold. Every delivery is observed for the metrics and the delivery log (observe.ts).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../../../app/context.js';
import { WEBHOOK_BODY_LIMIT_BYTES } from '../../../webhooks/limits.js';
import { ByteBudget, reserveBodyBytes } from '../../plugins/body-budget.js';
import cometchatRoute from './cometchat.js';
import standardRoute from './standard.js';
import twilioRoute from './twilio.js';
import { observeWebhooks } from './observe.js';

const webhookRoutes: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.decorateRequest('webhookTenant', null);
  observeWebhooks(app, ctx);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT_BYTES }, (_request, body, done) => {
    done(null, body);
  });
  const reserveBody = reserveBodyBytes(new ByteBudget(ctx.config.webhookBodyBytesInFlight), WEBHOOK_BODY_LIMIT_BYTES);
  await app.register(cometchatRoute, { ctx, reserveBody });
  await app.register(standardRoute, { ctx, reserveBody });
  await app.register(twilioRoute, { ctx, reserveBody });
};

export default webhookRoutes;

/**
 * Webhook intake under /v1/webhooks. This scope replaces the JSON body parser with one that keeps
 * the raw bytes (signatures are computed over them) and parses nothing: handlers parse JSON only
 * after authenticating the sender. Media types are matched case-insensitively (CometChat sends
 * `Application/json`). The parser change is encapsulated: other routes keep Fastify's parser.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../../../app/context.js';
import { WEBHOOK_BODY_LIMIT_BYTES } from '../../../webhooks/limits.js';
import cometchatRoute from './cometchat.js';
import standardRoute from './standard.js';

const webhookRoutes: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.decorateRequest('webhookTenant', null);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT_BYTES }, (_request, body, done) => {
    done(null, body);
  });
  await app.register(cometchatRoute, { ctx });
  await app.register(standardRoute, { ctx });
};

export default webhookRoutes;

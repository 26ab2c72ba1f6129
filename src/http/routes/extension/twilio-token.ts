/**
 * GET /v1/twilio-token: a Twilio Access Token with a Chat grant for the tenant's Conversations
 * service, for the authenticated caller (identity = their uid), so a Twilio Conversations app needs
 * no backend of its own for Twilio tokens. Authenticated and rate-limited like /v1/virgil-jwt; a
 * tenant without Twilio settings answers 403 TWILIO_NOT_CONFIGURED.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../../../app/context.js';
import { forbidden } from '../../../lib/errors.js';

const TwilioTokenBody = Type.Object({
  data: Type.Object({ token: Type.String(), identity: Type.String(), expiresAt: Type.String() }),
});

const twilioTokenRoute: FastifyPluginAsync<{ ctx: ApiContext }> = async (app) => {
  app.get('/twilio-token', { schema: { response: { 200: TwilioTokenBody } } }, async function twilioToken(request: FastifyRequest, reply: FastifyReply) {
    const twilio = request.tenant!.twilio;
    if (twilio === null) throw forbidden('TWILIO_NOT_CONFIGURED', 'This app has no Twilio settings');
    const identity = request.callerUid!;
    const { token, expiresAt } = twilio.accessTokens.sign(identity);
    return reply.send({ data: { token, identity, expiresAt: expiresAt.toISOString() } });
  });
};

export default twilioTokenRoute;

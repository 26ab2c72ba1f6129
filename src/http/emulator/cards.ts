/**
 * Cards v5 routes. Bodies are validated by JSON schema; semantics live in card-service.ts.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { getCard, isOutdated, outdatedCardIds, publishCard, revokeCard, searchCards, toRawModel } from '../../emulator/card-service.js';
import { callerData, type EmulatorContext } from './context.js';

const MAX_IDENTITY_LENGTH = 1024;
/** e3kit's findUsers chunks at 50, but lookupPublicKeys does not chunk at all. */
const MAX_SEARCH_IDENTITIES = 1000;

const PublishBody = Type.Object({
  content_snapshot: Type.String({ minLength: 1, maxLength: 256 * 1024 }),
  signatures: Type.Array(
    Type.Object({
      signer: Type.String({ minLength: 1, maxLength: 256 }),
      signature: Type.String({ minLength: 1, maxLength: 64 * 1024 }),
      snapshot: Type.Optional(Type.String({ maxLength: 64 * 1024 })),
    }),
    { minItems: 1, maxItems: 16 },
  ),
});

const SearchBody = Type.Object({
  identities: Type.Array(Type.String({ minLength: 1, maxLength: MAX_IDENTITY_LENGTH }), { minItems: 1, maxItems: MAX_SEARCH_IDENTITIES }),
});

const OutdatedBody = Type.Object({
  card_ids: Type.Array(Type.String({ maxLength: 128 }), { maxItems: MAX_SEARCH_IDENTITIES }),
});

const CardIdParams = Type.Object({ cardId: Type.String({ maxLength: 128 }) });

/** Header name as the clients spell it. */
const SUPERSEDED_HEADER = 'X-Virgil-Is-Superseeded';

export function registerCardRoutes(app: FastifyInstance, context: EmulatorContext): void {
  app.post('/card/v5', { schema: { body: PublishBody } }, async (request) => {
    const { caller, data } = callerData(context, request);
    const card = await publishCard(data.cards, caller.identity, request.body as Static<typeof PublishBody>);
    context.store.changed();
    return toRawModel(card);
  });

  app.post('/card/v5/actions/search', { schema: { body: SearchBody } }, async (request) => {
    const { data } = callerData(context, request);
    return searchCards(data.cards, (request.body as Static<typeof SearchBody>).identities).map(toRawModel);
  });

  app.get('/card/v5/:cardId', { schema: { params: CardIdParams } }, async (request, reply) => {
    const { data } = callerData(context, request);
    const card = getCard(data.cards, (request.params as Static<typeof CardIdParams>).cardId);
    if (isOutdated(card)) reply.header(SUPERSEDED_HEADER, 'true');
    return toRawModel(card);
  });

  // The SDK sends `{}` or nothing; the body carries no information either way.
  app.post('/card/v5/actions/revoke/:cardId', { schema: { params: CardIdParams } }, async (request) => {
    const { caller, data } = callerData(context, request);
    revokeCard(data.cards, caller.identity, (request.params as Static<typeof CardIdParams>).cardId);
    context.store.changed();
    return {};
  });

  app.post('/card/v5/actions/outdated', { schema: { body: OutdatedBody } }, async (request) => {
    const { data } = callerData(context, request);
    return outdatedCardIds(data.cards, (request.body as Static<typeof OutdatedBody>).card_ids);
  });
}

/**
 * JSON schemas of the extension API (CometChat-compatible shapes). Unknown fields are refused.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ID_PATTERN } from '../../../lib/ids.js';

/** At most this many uids + guids in one get-identities call. */
export const MAX_IDS_PER_REQUEST = 1000;

/** A uid or guid (src/lib/ids.ts). Ajv compiles patterns with the `u` flag the rule needs. */
export const CallerId = Type.String({ pattern: ID_PATTERN.source });

export const GetIdentitiesBody = Type.Object({
  uids: Type.Optional(Type.Array(CallerId, { maxItems: MAX_IDS_PER_REQUEST })),
  guids: Type.Optional(Type.Array(CallerId, { maxItems: MAX_IDS_PER_REQUEST })),
}, { additionalProperties: false });
export type GetIdentitiesBody = Static<typeof GetIdentitiesBody>;

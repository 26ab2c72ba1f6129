/**
 * JSON schemas of the extension API (CometChat-compatible shapes). Unknown fields are refused.
 */
import { Type, type Static } from '@sinclair/typebox';
import { CALLER_ID_MAX_LENGTH, CALLER_ID_PATTERN_SOURCE } from '../../../lib/ids.js';

/** At most this many uids + guids in one get-identities call. */
export const MAX_IDS_PER_REQUEST = 1000;

export const CallerId = Type.String({ minLength: 1, maxLength: CALLER_ID_MAX_LENGTH, pattern: CALLER_ID_PATTERN_SOURCE });

export const GetIdentitiesBody = Type.Object({
  uids: Type.Optional(Type.Array(CallerId, { maxItems: MAX_IDS_PER_REQUEST })),
  guids: Type.Optional(Type.Array(CallerId, { maxItems: MAX_IDS_PER_REQUEST })),
}, { additionalProperties: false });
export type GetIdentitiesBody = Static<typeof GetIdentitiesBody>;

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

/** The answers, for the OpenAPI document: both routes write their JSON as text, which no schema serializes. */
export const VirgilJwtAnswer = Type.Object({
  data: Type.Object({
    virgilToken: Type.String({ description: 'A Virgil JWT for the caller (VEDS512)' }),
    identity: Type.String({ description: "The caller's Virgil identity" }),
    expiresAt: Type.String({ format: 'date-time' }),
    groupOwnerIdentity: Type.String({ description: "The tenant's service identity, owner of every group" }),
  }),
});

const IdentityList = Type.Array(Type.Record(Type.String(), Type.String()), { description: 'One single-key object per requested id, in request order' });
export const GetIdentitiesAnswer = Type.Object({ data: Type.Object({ userIdentities: IdentityList, groupIdentities: IdentityList }) });

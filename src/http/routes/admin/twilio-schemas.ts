/**
 * JSON schemas of a tenant's `twilio` settings (src/tenants/twilio-settings.ts does the semantic
 * checks). Auth tokens are Twilio's 32 hex digits, so a pasted SID or API key secret is refused here.
 */
import { Type } from '@sinclair/typebox';
import { TWILIO_ACCESS_TOKEN_TTL } from '../../../tenants/twilio-settings.js';
import { sidPatternSource } from '../../../twilio/sids.js';

const strict = { additionalProperties: false } as const;

const AuthToken = Type.String({ pattern: '^[0-9a-fA-F]{32}$' });
const fields = {
  accountSid: Type.String({ pattern: sidPatternSource('AC') }),
  authToken: AuthToken,
  secondaryAuthToken: Type.Union([AuthToken, Type.Null()]),
  apiKeySid: Type.String({ pattern: sidPatternSource('SK') }),
  apiKeySecret: Type.String({ minLength: 16, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' }),
  conversationsServiceSid: Type.String({ pattern: sidPatternSource('IS') }),
  webhookUrl: Type.String({ minLength: 10, maxLength: 2048, pattern: '^https?://' }),
  accessTokenTtlSeconds: Type.Integer({ minimum: TWILIO_ACCESS_TOKEN_TTL.minSeconds, maximum: TWILIO_ACCESS_TOKEN_TTL.maxSeconds }),
  deleteMissingConversations: Type.Boolean(),
};

/** Onboarding: complete settings. */
export const TwilioSettingsSchema = Type.Object({
  accountSid: fields.accountSid,
  authToken: fields.authToken,
  secondaryAuthToken: Type.Optional(fields.secondaryAuthToken),
  apiKeySid: fields.apiKeySid,
  apiKeySecret: fields.apiKeySecret,
  conversationsServiceSid: fields.conversationsServiceSid,
  webhookUrl: fields.webhookUrl,
  accessTokenTtlSeconds: Type.Optional(fields.accessTokenTtlSeconds),
  deleteMissingConversations: Type.Optional(fields.deleteMissingConversations),
}, strict);

/** PATCH: any fields, merged into the current settings; null removes them all. */
export const TwilioPatchSchema = Type.Union([
  Type.Object(Object.fromEntries(Object.entries(fields).map(([name, schema]) => [name, Type.Optional(schema)])), { ...strict, minProperties: 1 }),
  Type.Null(),
]);

export const TwilioViewSchema = Type.Union([
  Type.Object({
    accountSid: Type.String(),
    apiKeySid: Type.String(),
    conversationsServiceSid: Type.String(),
    webhookUrl: Type.String(),
    accessTokenTtlSeconds: Type.Integer(),
    deleteMissingConversations: Type.Boolean(),
    secondaryAuthTokenConfigured: Type.Boolean(),
  }),
  Type.Null(),
]);

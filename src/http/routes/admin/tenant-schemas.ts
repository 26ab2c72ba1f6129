/**
 * JSON schemas of the admin tenant API. Unknown fields are rejected everywhere.
 */
import { Type, type Static } from '@sinclair/typebox';
import { APP_ID_MAX_LENGTH, APP_ID_PATTERN } from '../../../lib/ids.js';
import { CALLER_TOKEN_LIFETIME } from '../../../tenants/types.js';
import { TwilioPatchSchema, TwilioSettingsSchema, TwilioViewSchema } from './twilio-schemas.js';
import { JWKS_ALGORITHMS, JWKS_PRESETS } from '../../../tenants/jwks-presets.js';
import { COMETCHAT_APP_ID_PATTERN, COMETCHAT_REGIONS } from '../../../cometchat/rest-client.js';

const strict = { additionalProperties: false } as const;

export const AppIdParam = Type.String({ minLength: 1, maxLength: APP_ID_MAX_LENGTH, pattern: APP_ID_PATTERN.source });
const Hex = (max: number) => Type.String({ minLength: 1, maxLength: max, pattern: '^[0-9a-fA-F]+$' });
const Base64 = Type.String({ minLength: 4, maxLength: 4096, pattern: '^[A-Za-z0-9+/]+={0,2}$' });

export const VirgilCredentialsSchema = Type.Object({
  appId: Hex(128),
  appKeyId: Hex(128),
  appKey: Base64,
}, strict);

export const UserAuthAlgorithmSchema = Type.Union([
  Type.Literal('HS256'), Type.Literal('HS384'), Type.Literal('HS512'),
  Type.Literal('RS256'), Type.Literal('RS384'), Type.Literal('RS512'),
  Type.Literal('ES256'), Type.Literal('ES384'), Type.Literal('ES512'),
  Type.Literal('EdDSA'),
]);

const JwtUserAuthSchema = Type.Object({
  type: Type.Optional(Type.Literal('jwt')),
  algorithm: UserAuthAlgorithmSchema,
  secret: Type.Optional(Type.String({ minLength: 32, maxLength: 1024 })),
  publicKey: Type.Optional(Type.String({ minLength: 32, maxLength: 8192 })),
  issuer: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  audience: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  uidClaim: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' })),
  clockToleranceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 300 })),
  maxTokenLifetimeSeconds: Type.Optional(Type.Integer({ minimum: CALLER_TOKEN_LIFETIME.minSeconds, maximum: CALLER_TOKEN_LIFETIME.maxSeconds })),
}, strict);

const Name = (max: number) => Type.String({ minLength: 1, maxLength: max, pattern: '^[\\x21-\\x7e]+$' });
const UidClaim = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' });
const Lifetime = Type.Integer({ minimum: CALLER_TOKEN_LIFETIME.minSeconds, maximum: CALLER_TOKEN_LIFETIME.maxSeconds });

/** Identity providers' tokens checked against their JWKS (presets in src/tenants/jwks-presets.ts). */
const JwksUserAuthSchema = Type.Object({
  type: Type.Literal('jwks'),
  preset: Type.Optional(Type.Union(JWKS_PRESETS.map((p) => Type.Literal(p)))),
  jwksUrl: Type.Optional(Type.String({ minLength: 8, maxLength: 2048 })),
  issuer: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  audience: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  algorithms: Type.Optional(Type.Array(Type.Union(JWKS_ALGORITHMS.map((a) => Type.Literal(a))), { minItems: 1, maxItems: JWKS_ALGORITHMS.length })),
  uidClaim: Type.Optional(UidClaim),
  clockToleranceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 300 })),
  maxTokenLifetimeSeconds: Type.Optional(Lifetime),
  projectId: Type.Optional(Name(128)),
  domain: Type.Optional(Name(253)),
  frontendApi: Type.Optional(Name(253)),
  authorizedParties: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { minItems: 1, maxItems: 50 })),
  projectRef: Type.Optional(Name(64)),
  region: Type.Optional(Name(32)),
  userPoolId: Type.Optional(Name(64)),
  clientId: Type.Optional(Name(128)),
  tokenUse: Type.Optional(Type.Union([Type.Literal('id'), Type.Literal('access')])),
}, strict);

/** CometChat's own auth tokens (`authtoken` header), checked with the tenant's CometChat REST key. */
const CometChatUserAuthSchema = Type.Object({
  type: Type.Literal('cometchat'),
  verifiedCacheSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 600 })),
  refusedCacheSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 60 })),
}, strict);

export const UserAuthSchema = Type.Union([JwtUserAuthSchema, JwksUserAuthSchema, CometChatUserAuthSchema]);

export const CometChatSettingsSchema = Type.Object({
  appId: Type.Optional(Type.String({ minLength: 1, maxLength: 63, pattern: COMETCHAT_APP_ID_PATTERN.source })),
  region: Type.Union(COMETCHAT_REGIONS.map((r) => Type.Literal(r))),
  restApiKey: Type.Optional(Type.String({ minLength: 8, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' })),
  requestsPerMinute: Type.Optional(Type.Integer({ minimum: 1, maximum: 20_000 })),
  driftRepair: Type.Optional(Type.Union([Type.Object({
    intervalSeconds: Type.Integer({ minimum: 60, maximum: 86_400 }),
    deletions: Type.Optional(Type.Boolean()),
  }, strict), Type.Null()])),
}, strict);

export const WebhooksSchema = Type.Object({
  basicAuth: Type.Optional(Type.Union([
    Type.Object({
      username: Type.String({ minLength: 1, maxLength: 100, pattern: '^[\\x21-\\x39\\x3b-\\x7e]+$' }),
      password: Type.String({ minLength: 8, maxLength: 200, pattern: '^[\\x20-\\x7e]+$' }),
    }, strict),
    Type.Null(),
  ])),
  signingSecret: Type.Optional(Type.Union([
    Type.String({ minLength: 30, maxLength: 300, pattern: '^whsec_[A-Za-z0-9+/]+={0,2}$' }),
    Type.Null(),
  ])),
}, strict);

export const RateLimitsSchema = Type.Object({
  tenantPerMinute: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000_000 })),
  userPerMinute: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
}, strict);

export const JwtTtlSchema = Type.Integer({ minimum: 60, maximum: 86_400 });

export const OnboardTenantBody = Type.Object({
  appId: AppIdParam,
  virgil: VirgilCredentialsSchema,
  userAuth: UserAuthSchema,
  webhooks: Type.Optional(WebhooksSchema),
  jwtTtlSeconds: Type.Optional(JwtTtlSchema),
  rateLimits: Type.Optional(RateLimitsSchema),
  twilio: Type.Optional(TwilioSettingsSchema),
  cometchat: Type.Optional(Type.Union([CometChatSettingsSchema, Type.Null()])),
}, strict);
export type OnboardTenantBody = Static<typeof OnboardTenantBody>;

export const UpdateTenantBody = Type.Object({
  status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('disabled')])),
  virgil: Type.Optional(Type.Object({
    appId: Type.Optional(Hex(128)),
    appKeyId: Type.Optional(Hex(128)),
    appKey: Type.Optional(Base64),
  }, strict)),
  userAuth: Type.Optional(UserAuthSchema),
  webhooks: Type.Optional(WebhooksSchema),
  jwtTtlSeconds: Type.Optional(JwtTtlSchema),
  rateLimits: Type.Optional(Type.Union([RateLimitsSchema, Type.Null()])),
  twilio: Type.Optional(TwilioPatchSchema),
  cometchat: Type.Optional(Type.Union([CometChatSettingsSchema, Type.Null()])),
}, { ...strict, minProperties: 1 });
export type UpdateTenantBody = Static<typeof UpdateTenantBody>;

export const TenantViewSchema = Type.Object({
  appId: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
  groupOwnerIdentity: Type.String(),
  serviceCardId: Type.Union([Type.String(), Type.Null()]),
  virgil: Type.Object({ appId: Type.String(), appKeyId: Type.String() }),
  // One shape for every mode: jwt (no `type` shown), jwks and cometchat (src/tenants/runtime.ts).
  userAuth: Type.Object({
    type: Type.Optional(Type.String()),
    algorithm: Type.Optional(Type.String()),
    preset: Type.Optional(Type.String()),
    jwksUrl: Type.Optional(Type.String()),
    issuer: Type.Optional(Type.String()),
    audience: Type.Optional(Type.String()),
    algorithms: Type.Optional(Type.Array(Type.String())),
    uidClaim: Type.Optional(Type.String()),
    clockToleranceSeconds: Type.Optional(Type.Integer()),
    maxTokenLifetimeSeconds: Type.Optional(Type.Integer()),
    authorizedParties: Type.Optional(Type.Array(Type.String())),
    tokenUse: Type.Optional(Type.String()),
    clientId: Type.Optional(Type.String()),
    verifiedCacheSeconds: Type.Optional(Type.Integer()),
    refusedCacheSeconds: Type.Optional(Type.Integer()),
  }),
  webhooks: Type.Object({
    basicAuth: Type.Union([Type.Object({ username: Type.String() }), Type.Null()]),
    signingSecretConfigured: Type.Boolean(),
  }),
  jwtTtlSeconds: Type.Integer(),
  rateLimits: Type.Union([RateLimitsSchema, Type.Null()]),
  cometchat: Type.Union([Type.Object({
    appId: Type.String(),
    region: Type.String(),
    restApiKeyConfigured: Type.Boolean(),
    requestsPerMinute: Type.Integer(),
    driftRepair: Type.Union([Type.Object({ intervalSeconds: Type.Integer(), deletions: Type.Boolean() }), Type.Null()]),
  }), Type.Null()]),
  configVersion: Type.Integer(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  disabledAt: Type.Union([Type.String(), Type.Null()]),
  twilio: TwilioViewSchema,
});

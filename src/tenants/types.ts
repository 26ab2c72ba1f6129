/**
 * Tenant shapes: what the admin API accepts and shows, and the decoded runtime form the request
 * path uses. Secrets appear only in inputs and in TenantRuntime (memory), never in TenantView.
 */
import type {
  CometChatSettings, CometChatUserAuthSettings, JwksAlgorithm, JwksPreset, JwksUserAuthSettings, JwtUserAuthSettings, RateLimitSettings, UserAuthSettings,
} from '../db/schema.js';
import type { VirgilJwtSigner } from '../virgil/jwt.js';
import type { TwilioRuntime, TwilioSettingsInput, TwilioSettingsPatch, TwilioView } from './twilio-settings.js';

export type UserAuthAlgorithm = JwtUserAuthSettings['algorithm'];

/**
 * Bounds of `userAuth.maxTokenLifetimeSeconds`: how long after its `iat` (else `nbf`, else now) a
 * caller token may expire. A stolen token stays usable until `exp`, so an app must not be able to
 * mint tokens that never expire; a day covers a session, thirty days an app that insists.
 */
export const CALLER_TOKEN_LIFETIME = Object.freeze({ defaultSeconds: 86_400, minSeconds: 60, maxSeconds: 2_592_000 });

export interface VirgilCredentialsInput { appId: string; appKeyId: string; appKey: string }

/** Caller tokens signed with a key configured here (the original mode; `type` may be omitted). */
export interface JwtUserAuthInput {
  type?: 'jwt';
  algorithm: UserAuthAlgorithm;
  /** HS256/384/512 shared secret. */
  secret?: string;
  /** RS*, ES*, EdDSA: PEM public key. */
  publicKey?: string;
  issuer?: string;
  audience?: string;
  /** Claim holding the uid; default "sub". */
  uidClaim?: string;
  clockToleranceSeconds?: number;
  /** Longest accepted `exp` minus `iat` (else `nbf`, else now); default CALLER_TOKEN_LIFETIME.defaultSeconds. */
  maxTokenLifetimeSeconds?: number;
}

/**
 * Caller tokens from an identity provider's JWKS. A preset fills jwksUrl, issuer, audience and
 * algorithms from the provider's own values (projectId, domain, frontendApi, projectRef,
 * region + userPoolId + clientId); explicit fields win over the preset's (src/tenants/jwks-presets.ts).
 */
export interface JwksUserAuthInput {
  type: 'jwks';
  preset?: JwksPreset;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  algorithms?: JwksAlgorithm[];
  uidClaim?: string;
  clockToleranceSeconds?: number;
  maxTokenLifetimeSeconds?: number;
  /** firebase */
  projectId?: string;
  /** auth0 */
  domain?: string;
  /** clerk */
  frontendApi?: string;
  authorizedParties?: string[];
  /** supabase */
  projectRef?: string;
  /** cognito */
  region?: string;
  userPoolId?: string;
  clientId?: string;
  tokenUse?: 'id' | 'access';
}

/** Callers send CometChat's `authtoken` header; needs the tenant's `cometchat` settings. */
export interface CometChatUserAuthInput {
  type: 'cometchat';
  verifiedCacheSeconds?: number;
  refusedCacheSeconds?: number;
}

export type UserAuthInput = JwtUserAuthInput | JwksUserAuthInput | CometChatUserAuthInput;

/** A tenant's CometChat REST access (import, drift repair, auth-token checks). */
export interface CometChatInput {
  /** CometChat's app id, when it differs from the tenant's app id. */
  appId?: string;
  region: CometChatSettings['region'];
  /** A full-access REST API key; may be omitted on update to keep the stored one. */
  restApiKey?: string;
  requestsPerMinute?: number;
  driftRepair?: { intervalSeconds: number; deletions?: boolean } | null;
}

export interface WebhooksInput {
  basicAuth?: { username: string; password: string } | null;
  /** Standard Webhooks secret, `whsec_<base64>`. */
  signingSecret?: string | null;
}

export interface OnboardTenantInput {
  appId: string;
  virgil: VirgilCredentialsInput;
  userAuth: UserAuthInput;
  webhooks?: WebhooksInput;
  jwtTtlSeconds?: number;
  rateLimits?: RateLimitSettings;
  /** Twilio Conversations (twilio-settings.ts). */
  twilio?: TwilioSettingsInput;
  cometchat?: CometChatInput | null;
}

export interface UpdateTenantInput {
  status?: 'active' | 'disabled';
  /** Rotation of the app key: appKeyId and appKey together. The Virgil appId cannot change. */
  virgil?: Partial<VirgilCredentialsInput>;
  userAuth?: UserAuthInput;
  webhooks?: WebhooksInput;
  jwtTtlSeconds?: number;
  rateLimits?: RateLimitSettings | null;
  /** Merged field by field into the current Twilio settings; null removes them. */
  twilio?: TwilioSettingsPatch | null;
  /** Replaces the CometChat settings (the stored key is kept when restApiKey is omitted); null removes them. */
  cometchat?: CometChatInput | null;
}

/** What the admin API returns: no secret, ever. */
export interface TenantView {
  appId: string;
  status: 'active' | 'disabled';
  groupOwnerIdentity: string;
  serviceCardId: string | null;
  virgil: { appId: string; appKeyId: string };
  userAuth: UserAuthView;
  webhooks: { basicAuth: { username: string } | null; signingSecretConfigured: boolean };
  jwtTtlSeconds: number;
  rateLimits: RateLimitSettings | null;
  cometchat: CometChatView | null;
  configVersion: number;
  createdAt: string;
  updatedAt: string;
  disabledAt: string | null;
  twilio: TwilioView | null;
}

export type UserAuthView =
  | (Omit<JwtUserAuthSettings, 'maxTokenLifetimeSeconds' | 'type'> & { maxTokenLifetimeSeconds: number })
  | JwksUserAuthSettings
  | CometChatUserAuthSettings;

export interface CometChatView {
  appId: string;
  region: CometChatSettings['region'];
  restApiKeyConfigured: boolean;
  requestsPerMinute: number;
  driftRepair: { intervalSeconds: number; deletions: boolean } | null;
}

/** CometChat REST access as the API and the worker use it (the key opened). */
export interface CometChatRuntime extends CometChatSettings { restApiKey: string }

/** Decoded tenant for the API and the worker. A new object is built whenever the tenant changes. */
export interface TenantRuntime {
  appId: string;
  status: 'active' | 'disabled';
  configVersion: number;
  virgilAppId: string;
  virgilAppKeyId: string;
  /** Signs Virgil JWTs with the tenant's APP_KEY and TTL. */
  jwtSigner: VirgilJwtSigner;
  serviceIdentity: string;
  serviceCardId: string | null;
  /** The service identity's private key (base64 PKCS#8), opened from its sealed form on each call. */
  servicePrivateKey(): string;
  userIdentity(uid: string): string;
  groupIdentity(guid: string): string;
  userAuth: { settings: UserAuthSettings; key: string };
  webhooks: { basicAuth: { username: string; password: string } | null; signingSecret: string | null };
  rateLimits: RateLimitSettings | null;
  twilio: TwilioRuntime | null;
  cometchat: CometChatRuntime | null;
}

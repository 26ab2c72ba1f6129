/**
 * Tenant shapes: what the admin API accepts and shows, and the decoded runtime form the request
 * path uses. Secrets appear only in inputs and in TenantRuntime (memory), never in TenantView.
 */
import type { RateLimitSettings, UserAuthSettings } from '../db/schema.js';
import type { VirgilJwtSigner } from '../virgil/jwt.js';
import type { TwilioRuntime, TwilioSettingsInput, TwilioSettingsPatch, TwilioView } from './twilio-settings.js';

export type UserAuthAlgorithm = UserAuthSettings['algorithm'];

/**
 * Bounds of `userAuth.maxTokenLifetimeSeconds`: how long after its `iat` (else `nbf`, else now) a
 * caller token may expire. A stolen token stays usable until `exp`, so an app must not be able to
 * mint tokens that never expire; a day covers a session, thirty days an app that insists.
 */
export const CALLER_TOKEN_LIFETIME = Object.freeze({ defaultSeconds: 86_400, minSeconds: 60, maxSeconds: 2_592_000 });

export interface VirgilCredentialsInput { appId: string; appKeyId: string; appKey: string }

export interface UserAuthInput {
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
}

/** What the admin API returns: no secret, ever. */
export interface TenantView {
  appId: string;
  status: 'active' | 'disabled';
  groupOwnerIdentity: string;
  serviceCardId: string | null;
  virgil: { appId: string; appKeyId: string };
  userAuth: Omit<UserAuthSettings, 'maxTokenLifetimeSeconds'> & { maxTokenLifetimeSeconds: number };
  webhooks: { basicAuth: { username: string } | null; signingSecretConfigured: boolean };
  jwtTtlSeconds: number;
  rateLimits: RateLimitSettings | null;
  configVersion: number;
  createdAt: string;
  updatedAt: string;
  disabledAt: string | null;
  twilio: TwilioView | null;
}

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
}

/**
 * Semantic checks of tenant settings that JSON schema cannot express: keys must import, the user
 * auth key must fit the pinned algorithm, signing secrets must decode. Failures are 422s; a number
 * out of range (which the admin schema refuses first) is a 400.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { invalid, unprocessable } from '../lib/errors.js';
import type { CometChatUserAuthSettings, JwtUserAuthSettings, UserAuthSettings } from '../db/schema.js';
import { importEd25519PrivateKey } from '../virgil/keys.js';
import { normaliseJwksUserAuth } from './jwks-presets.js';
import { CALLER_TOKEN_LIFETIME, type CometChatUserAuthInput, type JwtUserAuthInput, type UserAuthInput, type WebhooksInput } from './types.js';

export function requireAppKey(appKey: string): KeyObject {
  const key = importEd25519PrivateKey(appKey);
  if (!key) throw unprocessable('INVALID_APP_KEY', 'virgil.appKey is not a base64 PKCS#8 Ed25519 private key (the APP_KEY from the Virgil dashboard)');
  return key;
}

const CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

function publicKeyFits(algorithm: JwtUserAuthSettings['algorithm'], key: KeyObject): boolean {
  const type = key.asymmetricKeyType;
  if (algorithm.startsWith('RS')) return type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048;
  if (algorithm.startsWith('ES')) return type === 'ec' && key.asymmetricKeyDetails?.namedCurve === CURVES[algorithm];
  return type === 'ed25519' || type === 'ed448';
}

/** CometChat auth tokens: verified answers trusted a minute, refusals remembered ten seconds. */
export const COMETCHAT_AUTH_CACHE = Object.freeze({ verifiedSeconds: 60, refusedSeconds: 10 });

function normaliseCometChatUserAuth(input: CometChatUserAuthInput): CometChatUserAuthSettings {
  const verifiedCacheSeconds = input.verifiedCacheSeconds ?? COMETCHAT_AUTH_CACHE.verifiedSeconds;
  const refusedCacheSeconds = input.refusedCacheSeconds ?? Math.min(COMETCHAT_AUTH_CACHE.refusedSeconds, verifiedCacheSeconds);
  if (refusedCacheSeconds > verifiedCacheSeconds) {
    throw unprocessable('INVALID_USER_AUTH_CACHE', 'userAuth.refusedCacheSeconds must not exceed verifiedCacheSeconds');
  }
  return { type: 'cometchat', verifiedCacheSeconds, refusedCacheSeconds };
}

/**
 * Returns the settings to store (no secret) and the key material to seal: the HS secret or PEM key
 * of the jwt mode; nothing for jwks (the keys are fetched) and cometchat (its REST key is sealed with
 * the tenant's cometchat settings).
 */
export function normaliseUserAuth(input: JwtUserAuthInput): { settings: JwtUserAuthSettings; key: string };
export function normaliseUserAuth(input: UserAuthInput): { settings: UserAuthSettings; key: string };
export function normaliseUserAuth(input: UserAuthInput): { settings: UserAuthSettings; key: string } {
  if (input.type === 'jwks') return { settings: normaliseJwksUserAuth(input), key: '' };
  if (input.type === 'cometchat') return { settings: normaliseCometChatUserAuth(input), key: '' };
  return normaliseJwtUserAuth(input);
}

function normaliseJwtUserAuth(input: JwtUserAuthInput): { settings: JwtUserAuthSettings; key: string } {
  const lifetime = input.maxTokenLifetimeSeconds;
  if (lifetime !== undefined && !(Number.isInteger(lifetime) && lifetime >= CALLER_TOKEN_LIFETIME.minSeconds && lifetime <= CALLER_TOKEN_LIFETIME.maxSeconds)) {
    throw invalid('VALIDATION_FAILED', `userAuth.maxTokenLifetimeSeconds must be an integer from ${CALLER_TOKEN_LIFETIME.minSeconds} to ${CALLER_TOKEN_LIFETIME.maxSeconds}`);
  }
  const settings: JwtUserAuthSettings = {
    algorithm: input.algorithm,
    uidClaim: input.uidClaim ?? 'sub',
    clockToleranceSeconds: input.clockToleranceSeconds ?? 0,
    // Stored explicitly, so a later change of the default never lengthens an existing app's tokens.
    maxTokenLifetimeSeconds: input.maxTokenLifetimeSeconds ?? CALLER_TOKEN_LIFETIME.defaultSeconds,
    ...(input.issuer ? { issuer: input.issuer } : {}),
    ...(input.audience ? { audience: input.audience } : {}),
  };
  if (input.algorithm.startsWith('HS')) {
    if (!input.secret || input.publicKey) {
      throw unprocessable('INVALID_USER_AUTH_KEY', `userAuth.secret (at least 32 characters) is required for ${input.algorithm}, and publicKey is not allowed`);
    }
    return { settings, key: input.secret };
  }
  if (!input.publicKey || input.secret) {
    throw unprocessable('INVALID_USER_AUTH_KEY', `userAuth.publicKey (PEM) is required for ${input.algorithm}, and secret is not allowed`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(input.publicKey);
  } catch {
    throw unprocessable('INVALID_USER_AUTH_KEY', 'userAuth.publicKey is not a PEM public key');
  }
  if (!publicKeyFits(input.algorithm, key)) {
    throw unprocessable('INVALID_USER_AUTH_KEY', `userAuth.publicKey does not fit ${input.algorithm}`);
  }
  return { settings, key: key.export({ format: 'pem', type: 'spki' }).toString() };
}

/** Standard Webhooks secrets are `whsec_` + base64 of 24 to 64 random bytes. */
export function requireSigningSecret(secret: string): string {
  const bytes = Buffer.from(secret.slice('whsec_'.length), 'base64');
  if (!secret.startsWith('whsec_') || bytes.length < 24 || bytes.length > 64) {
    throw unprocessable('INVALID_SIGNING_SECRET', 'webhooks.signingSecret must be "whsec_" followed by base64 of 24 to 64 bytes');
  }
  return secret;
}

export function checkWebhooks(input: WebhooksInput | undefined): void {
  if (input?.signingSecret) requireSigningSecret(input.signingSecret);
}

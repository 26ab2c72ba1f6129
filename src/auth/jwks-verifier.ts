/**
 * Caller tokens in the jwks mode: signed by an identity provider (Firebase Auth, Auth0, Clerk,
 * Supabase, Cognito, or any OpenID provider) whose public keys come from the JWKS URL in the
 * tenant's settings (remote-key-set.ts). Checked with jose's `jwtVerify`: the signature, the
 * algorithm (one of the configured ones; never HS* or `none`), `iss`, `aud` when configured; then
 * the same time rules as every caller token (caller-token.ts: `exp` required, lifetime bounded,
 * no `iat` in the future), the preset's claim checks (src/tenants/jwks-presets.ts), and the uid
 * claim by the id rule.
 *
 * Preset checks:
 *  - firebase: `auth_time` is a number not in the future;
 *  - clerk: `azp`, when present, is one of the authorized parties (Clerk's own rule: tokens minted
 *    outside a browser carry no `azp`);
 *  - cognito: `token_use` is the configured one; access tokens (which carry no `aud`) must name the
 *    app client in `client_id`.
 */
import { decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { JwksUserAuthSettings } from '../db/schema.js';
import { ID_RULE, isValidId } from '../lib/ids.js';
import {
  CALLER_FAILURES as FAILURES, callerFailure as failure, MAX_CALLER_TOKEN_LENGTH, tokenTimeChecker, type CallerTokenFailure,
} from './caller-token.js';
import { KeySetUnavailable, type RemoteKeySet } from './remote-key-set.js';

export type AsyncCallerTokenVerifier = (token: string) => Promise<string | CallerTokenFailure>;

const JWKS_FAILURES = {
  unavailable: failure('JWKS_UNAVAILABLE', 'The identity provider\'s signing keys cannot be fetched right now; retry shortly'),
  unknownKey: failure('TOKEN_INVALID', 'The token\'s signing key is not among the identity provider\'s keys'),
  ambiguousKey: failure('TOKEN_INVALID', 'The token names no key id and several of the provider\'s keys fit'),
  authTime: failure('TOKEN_INVALID', 'The token has no auth_time, or one in the future'),
  authorizedParty: failure('TOKEN_INVALID', 'The token\'s authorized party (azp) is not one of this app\'s origins'),
  tokenUse: failure('TOKEN_INVALID', 'The token is not of the configured kind (token_use)'),
  clientId: failure('TOKEN_INVALID', 'The token was issued to another app client (client_id)'),
} as const;

function mapJoseError(err: unknown): CallerTokenFailure {
  if (err instanceof KeySetUnavailable) return JWKS_FAILURES.unavailable;
  if (err instanceof errors.JWTExpired) return FAILURES.expired;
  if (err instanceof errors.JWTClaimValidationFailed) return err.claim === 'nbf' ? FAILURES.inactive : FAILURES.claims;
  if (err instanceof errors.JWSSignatureVerificationFailed) return FAILURES.signature;
  if (err instanceof errors.JOSEAlgNotAllowed) return FAILURES.algorithm;
  if (err instanceof errors.JWKSNoMatchingKey) return JWKS_FAILURES.unknownKey;
  if (err instanceof errors.JWKSMultipleMatchingKeys) return JWKS_FAILURES.ambiguousKey;
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSENotSupported) return FAILURES.malformed;
  return FAILURES.invalid;
}

export function buildJwksVerifier(settings: JwksUserAuthSettings, keys: RemoteKeySet, { now }: { now: () => number }): AsyncCallerTokenVerifier {
  const toleranceMs = settings.clockToleranceSeconds * 1000;
  const checkTimes = tokenTimeChecker({ toleranceMs, maxLifetimeSeconds: settings.maxTokenLifetimeSeconds, now });
  const missingUid = failure('TOKEN_INVALID', `The token has no usable "${settings.uidClaim}" claim (${ID_RULE})`);
  const algorithms = new Set<string>(settings.algorithms);
  const parties = settings.authorizedParties ? new Set(settings.authorizedParties) : null;

  function presetFailure(payload: Record<string, unknown>): CallerTokenFailure | null {
    if (settings.preset === 'firebase') {
      const authTime = payload.auth_time;
      if (typeof authTime !== 'number' || !(authTime * 1000 - toleranceMs <= now())) return JWKS_FAILURES.authTime;
    }
    if (parties !== null && payload.azp !== undefined && !(typeof payload.azp === 'string' && parties.has(payload.azp))) return JWKS_FAILURES.authorizedParty;
    if (settings.tokenUse !== undefined) {
      if (payload.token_use !== settings.tokenUse) return JWKS_FAILURES.tokenUse;
      if (settings.tokenUse === 'access' && payload.client_id !== settings.clientId) return JWKS_FAILURES.clientId;
    }
    return null;
  }

  return async (token) => {
    if (token.length > MAX_CALLER_TOKEN_LENGTH) return FAILURES.tooLong;
    // Refused before any key lookup, so a token in a foreign algorithm never causes a fetch.
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      return FAILURES.malformed;
    }
    if (typeof alg !== 'string' || !algorithms.has(alg)) return FAILURES.algorithm;
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, (header, input) => keys.key(header, input), {
        algorithms: settings.algorithms,
        issuer: settings.issuer,
        ...(settings.audience !== undefined ? { audience: settings.audience } : {}),
        clockTolerance: settings.clockToleranceSeconds,
        currentDate: new Date(now()),
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      return mapJoseError(err);
    }
    const refused = checkTimes(payload) ?? presetFailure(payload);
    if (refused !== null) return refused;
    const uid = Object.hasOwn(payload, settings.uidClaim) ? payload[settings.uidClaim] : undefined;
    return isValidId(uid) ? uid : missingUid;
  };
}

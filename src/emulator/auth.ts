/**
 * Virgil JWT check for every emulated Virgil route: `Authorization: Virgil <jwt>`, signature verified
 * with the app key named by `kid`, app taken from `iss`, caller identity from `sub`.
 *
 * Only an expired (but otherwise valid) token gets 401/20304 — the one code virgil-sdk's CardManager
 * answers by fetching a fresh token and retrying once. Every other failure is a 401 with a different
 * stable code so the client does not retry a token that can never work.
 */
import { decodeVirgilJwt, virgilVerify, VIRGIL_JWT_ALG, VIRGIL_JWT_CTY, VIRGIL_JWT_TYP } from '../virgil/jwt.js';
import type { AppRegistry } from './apps.js';
import { ErrorCode, unauthorized } from './errors.js';

export interface VirgilCaller {
  appId: string;
  identity: string;
}

export interface AuthClock {
  nowSeconds: number;
  /** Tolerated clock difference: clients reuse a token until 5 s before its `exp`. */
  leewaySeconds: number;
}

const SCHEME = 'Virgil ';
const MAX_TOKEN_LENGTH = 16 * 1024;
const ISSUER_PREFIX = 'virgil-';
const SUBJECT_PREFIX = 'identity-';

export function authenticateVirgilRequest(authorization: string | undefined, apps: AppRegistry, clock: AuthClock): VirgilCaller {
  if (!authorization || !authorization.startsWith(SCHEME)) {
    throw unauthorized(ErrorCode.AUTH_HEADER_MISSING, 'Authorization header must be "Virgil <access token>".');
  }
  const token = authorization.slice(SCHEME.length).trim();
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
    throw unauthorized(ErrorCode.TOKEN_MALFORMED, 'Access token is empty or too long.');
  }
  const jwt = decodeVirgilJwt(token);
  if (!jwt) throw unauthorized(ErrorCode.TOKEN_MALFORMED, 'Access token is not a well-formed JWT.');

  const { header, body } = jwt;
  if (header.alg !== VIRGIL_JWT_ALG || header.typ !== VIRGIL_JWT_TYP || header.cty !== VIRGIL_JWT_CTY || typeof header.kid !== 'string') {
    throw unauthorized(ErrorCode.TOKEN_CLAIMS_INVALID, 'Access token header is not a Virgil JWT header.');
  }
  if (typeof body.iss !== 'string' || !body.iss.startsWith(ISSUER_PREFIX) || body.iss.length === ISSUER_PREFIX.length) {
    throw unauthorized(ErrorCode.TOKEN_CLAIMS_INVALID, 'Access token issuer must be "virgil-<app id>".');
  }
  if (typeof body.sub !== 'string' || !body.sub.startsWith(SUBJECT_PREFIX) || body.sub.length === SUBJECT_PREFIX.length) {
    throw unauthorized(ErrorCode.TOKEN_CLAIMS_INVALID, 'Access token subject must be "identity-<identity>".');
  }
  if (!Number.isFinite(body.exp) || !Number.isFinite(body.iat)) {
    throw unauthorized(ErrorCode.TOKEN_CLAIMS_INVALID, 'Access token must carry numeric `iat` and `exp`.');
  }

  const appId = body.iss.slice(ISSUER_PREFIX.length);
  const publicKey = apps.publicKeyFor(appId, header.kid);
  // Signature before expiry: an expired forgery must not be told "just refresh".
  if (!publicKey || !virgilVerify(jwt.signingInput, jwt.signature, publicKey)) {
    throw unauthorized(ErrorCode.TOKEN_SIGNATURE_INVALID, 'Access token signature is invalid or the app key is unknown.');
  }
  if (body.exp + clock.leewaySeconds < clock.nowSeconds) {
    throw unauthorized(ErrorCode.TOKEN_EXPIRED, 'JWT is expired');
  }
  return { appId, identity: body.sub.slice(SUBJECT_PREFIX.length) };
}

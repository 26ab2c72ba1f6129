/**
 * Caller authentication for the extension API: a JWT issued by the tenant's own backend, checked
 * with the tenant's configured key. The algorithm is pinned to the configured one (so `alg: none`,
 * HS/RS confusion and any other algorithm fail), `exp` is required, `iss`/`aud` are required and
 * pinned when configured, and the uid comes from the configured claim.
 *
 * Lifetimes are bounded: `exp` may lie at most `maxTokenLifetimeSeconds` after `iat` (else `nbf`,
 * else now), and an `iat` later than now plus the clock tolerance is refused, so an app cannot mint
 * a token that stays usable for ever once stolen. The time claims are checked here rather than by
 * fast-jwt, against one injectable clock, because fast-jwt only takes a clock fixed when the
 * verifier is built.
 *
 * Verification uses fast-jwt (the engine under @fastify/jwt) directly, one verifier per tenant
 * configuration: @fastify/jwt reuses a verifier only while every caller shares one set of options,
 * and builds a new one per request when the algorithm, issuer, audience or clock tolerance vary, as
 * they do per tenant here (measured: about a third of the verifies per second; see the README). The
 * verifier is kept in a WeakMap keyed by the TenantRuntime object; the directory replaces that
 * object whenever the tenant changes, so a rotated key takes effect on the next request and the old
 * verifier is collected.
 */
import { createVerifier, TokenError } from 'fast-jwt';
import type { JwtUserAuthSettings } from '../db/schema.js';
import { CALLER_TOKEN_LIFETIME, type TenantRuntime } from '../tenants/types.js';
import { ID_RULE, isValidId } from '../lib/ids.js';

export type CallerTokenFailureCode = 'TOKEN_MISSING' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'AUTH_MISCONFIGURED'
  /** The identity provider's keys (or CometChat) cannot be reached now: a 503, never a pass. */
  | 'JWKS_UNAVAILABLE' | 'COMETCHAT_UNAVAILABLE';

export interface CallerTokenFailure {
  readonly code: CallerTokenFailureCode;
  readonly message: string;
}

/** Returns the caller's uid, or a failure. Never throws. */
export type CallerTokenVerifier = (token: string) => string | CallerTokenFailure;

/** Far above any real token; refusing early keeps a hostile header from costing a parse. */
export const MAX_CALLER_TOKEN_LENGTH = 8192;

const failure = (code: CallerTokenFailureCode, message: string): CallerTokenFailure => Object.freeze({ code, message });

// Failures are shared constants: a flood of bad tokens allocates nothing beyond what parsing costs.
const FAILURES = {
  malformed: failure('TOKEN_INVALID', 'The token is not a well-formed JWT'),
  tooLong: failure('TOKEN_INVALID', `The token is longer than ${MAX_CALLER_TOKEN_LENGTH} characters`),
  algorithm: failure('TOKEN_INVALID', 'The token algorithm is not the one configured for this app'),
  signature: failure('TOKEN_INVALID', 'The token signature is invalid'),
  unsigned: failure('TOKEN_INVALID', 'The token is not signed'),
  expired: failure('TOKEN_EXPIRED', 'The token has expired'),
  inactive: failure('TOKEN_INVALID', 'The token is not valid yet (nbf)'),
  issuedInFuture: failure('TOKEN_INVALID', 'The token was issued in the future (iat is later than now plus the clock tolerance)'),
  claims: failure('TOKEN_INVALID', 'The token claims do not match this app (iss, aud or a claim type)'),
  invalid: failure('TOKEN_INVALID', 'The token is invalid'),
  misconfigured: failure('AUTH_MISCONFIGURED', 'Caller authentication is misconfigured for this app'),
} as const;

const CODE_TO_FAILURE: Record<string, CallerTokenFailure> = {
  [TokenError.codes.malformed]: FAILURES.malformed,
  [TokenError.codes.invalidType]: FAILURES.malformed,
  [TokenError.codes.invalidAlgorithm]: FAILURES.algorithm,
  [TokenError.codes.invalidSignature]: FAILURES.signature,
  [TokenError.codes.missingSignature]: FAILURES.unsigned,
  [TokenError.codes.missingKey]: FAILURES.unsigned,
  [TokenError.codes.expired]: FAILURES.expired,
  [TokenError.codes.inactive]: FAILURES.inactive,
  [TokenError.codes.invalidClaimValue]: FAILURES.claims,
  [TokenError.codes.invalidClaimType]: FAILURES.claims,
  [TokenError.codes.invalidCritHeader]: FAILURES.malformed,
};

function mapError(err: unknown): CallerTokenFailure {
  const code = (err as { code?: unknown } | null)?.code;
  return (typeof code === 'string' && CODE_TO_FAILURE[code]) || FAILURES.invalid;
}

/**
 * The time rules every caller token obeys, whoever signed it: `exp` required and not past, `nbf`
 * reached, `iat` not in the future, and `exp` at most `maxLifetimeSeconds` after `iat` (else `nbf`,
 * else now), all within the clock tolerance. Returns the failure, or null.
 */
export function tokenTimeChecker(opts: { toleranceMs: number; maxLifetimeSeconds: number; now: () => number; tooLong?: CallerTokenFailure }) {
  const { toleranceMs, maxLifetimeSeconds, now } = opts;
  const tooLong = opts.tooLong ?? failure('TOKEN_INVALID', `The token lives too long: exp is more than ${maxLifetimeSeconds} seconds after iat (or nbf, or now when both are absent)`);
  // Written as "refuse unless within bounds" so that a non-finite value can never slip through.
  return (payload: Record<string, unknown>): CallerTokenFailure | null => {
    const { exp, nbf, iat } = payload;
    if (typeof exp !== 'number') return FAILURES.claims;
    const nowMs = now();
    if (!(exp * 1000 + toleranceMs >= nowMs)) return FAILURES.expired;
    if (nbf !== undefined) {
      if (typeof nbf !== 'number') return FAILURES.claims;
      if (!(nbf * 1000 - toleranceMs <= nowMs)) return FAILURES.inactive;
    }
    if (iat !== undefined) {
      if (typeof iat !== 'number') return FAILURES.claims;
      if (!(iat * 1000 - toleranceMs <= nowMs)) return FAILURES.issuedInFuture;
    }
    const start = iat !== undefined ? iat : nbf !== undefined ? nbf : nowMs / 1000;
    return exp - start <= maxLifetimeSeconds ? null : tooLong;
  };
}

/** A frozen failure (shared, so a flood of bad tokens allocates nothing). */
export const callerFailure = failure;
export const CALLER_FAILURES = FAILURES;

export interface CallerTokenVerifierOptions {
  /** The clock, in milliseconds since the epoch. */
  now?: () => number;
}

/** The jwt mode's settings and its (opened) key: an HS secret or a PEM public key. */
export interface JwtUserAuth { settings: JwtUserAuthSettings; key: string }

export function buildCallerTokenVerifier(userAuth: JwtUserAuth, { now = Date.now }: CallerTokenVerifierOptions = {}): CallerTokenVerifier {
  const { settings, key } = userAuth;
  const requiredClaims = ['exp'];
  if (settings.issuer) requiredClaims.push('iss');
  if (settings.audience) requiredClaims.push('aud');
  const missingUid = failure('TOKEN_INVALID', `The token has no usable "${settings.uidClaim}" claim (${ID_RULE})`);
  const missingClaim = failure('TOKEN_INVALID', `The token lacks a required claim (${requiredClaims.join(', ')})`);
  const uidClaim = settings.uidClaim;
  const toleranceMs = settings.clockToleranceSeconds * 1000;
  const maxLifetime = settings.maxTokenLifetimeSeconds ?? CALLER_TOKEN_LIFETIME.defaultSeconds;
  const tooLong = failure('TOKEN_INVALID', `The token lives too long: exp is more than ${maxLifetime} seconds after iat (or nbf, or now when both are absent)`);

  const verify = createVerifier({
    key,
    algorithms: [settings.algorithm],
    requiredClaims,
    ignoreExpiration: true,
    ignoreNotBefore: true,
    ...(settings.issuer ? { allowedIss: settings.issuer } : {}),
    ...(settings.audience ? { allowedAud: settings.audience } : {}),
    // Every request of a busy app carries a different token: a verify cache would only cost memory.
    cache: false,
  });

  const checkTimes = tokenTimeChecker({ toleranceMs, maxLifetimeSeconds: maxLifetime, now, tooLong });

  return (token) => {
    if (token.length > MAX_CALLER_TOKEN_LENGTH) return FAILURES.tooLong;
    let payload: Record<string, unknown>;
    try {
      payload = verify(token);
    } catch (err) {
      if ((err as { code?: unknown }).code === TokenError.codes.missingRequiredClaim) return missingClaim;
      return mapError(err);
    }
    const timeFailure = checkTimes(payload);
    if (timeFailure !== null) return timeFailure;
    const uid = Object.hasOwn(payload, uidClaim) ? payload[uidClaim] : undefined;
    return isValidId(uid) ? uid : missingUid;
  };
}

const verifiers = new WeakMap<TenantRuntime, CallerTokenVerifier>();

/** The verifier of a tenant in the jwt mode, built on first use of this TenantRuntime object. */
export function callerTokenVerifierFor(tenant: TenantRuntime): CallerTokenVerifier {
  let verifier = verifiers.get(tenant);
  if (verifier === undefined) {
    const { settings, key } = tenant.userAuth;
    try {
      if (settings.type === 'jwks' || settings.type === 'cometchat') throw new Error('not the jwt mode');
      verifier = buildCallerTokenVerifier({ settings, key });
    } catch {
      // Onboarding validates the key, so this means a stored value no longer fits; answering the same
      // failure until the tenant changes avoids rebuilding (and failing) on every request.
      verifier = () => FAILURES.misconfigured;
    }
    verifiers.set(tenant, verifier);
  }
  return verifier;
}

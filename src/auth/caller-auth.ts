/**
 * Who is calling the extension API, in the tenant's configured mode (`userAuth.type`):
 *  - jwt (default): `Authorization: Bearer <JWT>` signed with a key configured here — answered
 *    synchronously, so the hot path costs no promise (caller-token.ts);
 *  - jwks: `Authorization: Bearer <JWT>` from an identity provider, keys from its JWKS
 *    (jwks-verifier.ts, remote-key-set.ts);
 *  - cometchat: CometChat's `authtoken` header (and optionally `uid`), checked with CometChat
 *    (cometchat-token.ts).
 *
 * One verifier per TenantRuntime object (rebuilt when the tenant changes); JWKS key sets outlive
 * them (per tenant and URL), so a tenant cache refresh never drops keys or refetches them.
 */
import type { TenantRuntime } from '../tenants/types.js';
import { cometChatBaseUrl, CometChatRestClient, DEFAULT_COMETCHAT_API_URL } from '../cometchat/rest-client.js';
import { CALLER_FAILURES, callerFailure, callerTokenVerifierFor, type CallerTokenFailure } from './caller-token.js';
import { buildCometChatVerifier, type AuthTokenLookup } from './cometchat-token.js';
import { buildJwksVerifier } from './jwks-verifier.js';
import { DEFAULT_KEY_SET_OPTIONS, KeySetRegistry, type KeySetOptions } from './remote-key-set.js';

export interface CallerCredentials {
  /** The token of `Authorization: Bearer`, or null. */
  bearer: string | null;
  /** The `authtoken` header. */
  authToken: string | undefined;
  /** The `uid` header. */
  uid: string | undefined;
}

export type CallerResult = string | CallerTokenFailure;

export interface CallerAuthOptions {
  /** The clock of the JWKS and CometChat verifiers (the jwt mode reads the real one). */
  now?: () => number;
  jwks?: Partial<Omit<KeySetOptions, 'now'>>;
  /** COMETCHAT_API_URL: the template of CometChat's REST base URL. */
  cometchatApiUrl?: string;
  /** Timeout of an auth-token lookup at CometChat (default 3 s). */
  cometchatTimeoutMs?: number;
  /** Replaces the REST client (tests of the cache logic only). */
  cometchatLookup?: (tenant: TenantRuntime) => AuthTokenLookup;
}

type Verifier = (credentials: CallerCredentials) => CallerResult | Promise<CallerResult>;

const MISSING_BEARER = callerFailure('TOKEN_MISSING', 'Send the caller token as "Authorization: Bearer <JWT>"');

export class CallerAuth {
  readonly #now: () => number;
  readonly #opts: CallerAuthOptions;
  readonly #keySets: KeySetRegistry;
  readonly #verifiers = new WeakMap<TenantRuntime, Verifier>();

  constructor(opts: CallerAuthOptions = {}) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#keySets = new KeySetRegistry({ ...DEFAULT_KEY_SET_OPTIONS, ...opts.jwks, now: this.#now });
  }

  /** The caller's uid, or why not: synchronous in the jwt mode, a promise in the others. */
  authenticate(tenant: TenantRuntime, credentials: CallerCredentials): CallerResult | Promise<CallerResult> {
    let verify = this.#verifiers.get(tenant);
    if (verify === undefined) {
      verify = this.#build(tenant);
      this.#verifiers.set(tenant, verify);
    }
    return verify(credentials);
  }

  #build(tenant: TenantRuntime): Verifier {
    const settings = tenant.userAuth.settings;
    if (settings.type === 'jwks') {
      const verify = buildJwksVerifier(settings, this.#keySets.for(tenant.appId, settings.jwksUrl), { now: this.#now });
      return ({ bearer }) => (bearer === null ? MISSING_BEARER : verify(bearer));
    }
    if (settings.type === 'cometchat') {
      const lookup = this.#cometchatLookup(tenant);
      if (lookup === null) return () => CALLER_FAILURES.misconfigured;
      const verify = buildCometChatVerifier(settings, lookup, { now: this.#now });
      return ({ authToken, uid }) => verify(authToken, uid);
    }
    const verify = callerTokenVerifierFor(tenant);
    return ({ bearer }) => (bearer === null ? MISSING_BEARER : verify(bearer));
  }

  #cometchatLookup(tenant: TenantRuntime): AuthTokenLookup | null {
    if (this.#opts.cometchatLookup) return this.#opts.cometchatLookup(tenant);
    const cc = tenant.cometchat;
    if (cc === null) return null;
    return new CometChatRestClient({
      baseUrl: cometChatBaseUrl(this.#opts.cometchatApiUrl ?? DEFAULT_COMETCHAT_API_URL, cc.appId, cc.region),
      apiKey: cc.restApiKey,
      timeoutMs: this.#opts.cometchatTimeoutMs ?? 3_000,
    });
  }
}

/**
 * An identity provider's JWKS, fetched with jose's `createRemoteJWKSet` (request timeout, one
 * fetch in flight shared by every waiting caller, no redirects, JWKS validation) and kept here on
 * an injectable clock:
 *
 *  - the set is refreshed when it is older than `cacheMaxAgeMs` (default 10 minutes);
 *  - a token whose `kid` is not in the set makes it refetch at most once per `cooldownMs` (default
 *    30 s): a key rotated in at the provider is picked up, a flood of made-up `kid`s costs at most one
 *    fetch per cooldown;
 *  - when the provider cannot be reached, the keys already fetched keep working (stale beyond
 *    `cacheMaxAgeMs`, as long as the outage lasts) and a key the set does not hold is "unavailable"
 *    (a 503), never a pass; a failed fetch is not retried for `cooldownMs`, so an outage does not
 *    make every request wait for a timeout.
 *
 * jose's own cache age and cooldown run on the real clock and give up the keys when a refresh
 * fails; they are switched off (infinite age, no cooldown) and only its `reload()` is used.
 *
 * Only the URL configured for the tenant is ever fetched; a token's `jku`, `x5u` or `jwk` header
 * is never looked at (keys are chosen from this set by `kid` and `alg` alone).
 */
import { createLocalJWKSet, createRemoteJWKSet, errors, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose';

export interface KeySetOptions {
  cacheMaxAgeMs: number;
  cooldownMs: number;
  timeoutMs: number;
  now: () => number;
}

export const DEFAULT_KEY_SET_OPTIONS: Omit<KeySetOptions, 'now'> = { cacheMaxAgeMs: 600_000, cooldownMs: 30_000, timeoutMs: 5_000 };

/** The provider's keys cannot be fetched and the set does not hold the token's key. */
export class KeySetUnavailable extends Error {
  constructor() {
    super('the identity provider\'s keys cannot be fetched');
    this.name = 'KeySetUnavailable';
  }
}

type LocalSet = ReturnType<typeof createLocalJWKSet>;
type KeyFor = Awaited<ReturnType<LocalSet>>;

export class RemoteKeySet {
  readonly url: string;
  readonly #opts: KeySetOptions;
  readonly #remote: ReturnType<typeof createRemoteJWKSet>;
  #local: LocalSet | null = null;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #failedAt = Number.NEGATIVE_INFINITY;
  #reloading: Promise<boolean> | null = null;

  constructor(url: string, opts: KeySetOptions) {
    this.url = url;
    this.#opts = opts;
    this.#remote = createRemoteJWKSet(new URL(url), { timeoutDuration: opts.timeoutMs, cooldownDuration: 0, cacheMaxAge: Number.POSITIVE_INFINITY });
  }

  /** The key for a token's protected header (jwtVerify's key callback). */
  async key(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<KeyFor> {
    const now = this.#opts.now();
    const stale = this.#local === null || now - this.#fetchedAt >= this.#opts.cacheMaxAgeMs;
    if (stale && now - this.#failedAt >= this.#opts.cooldownMs) await this.#reload();
    const local = this.#local;
    if (local === null) throw new KeySetUnavailable();
    try {
      return await local(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      // A key we do not hold: fetch again, unless we just did (it really is not there) or just failed.
      const at = this.#opts.now();
      if (at - this.#fetchedAt < this.#opts.cooldownMs) throw err;
      if (at - this.#failedAt < this.#opts.cooldownMs || !(await this.#reload())) throw new KeySetUnavailable();
      return this.#local!(header, token);
    }
  }

  #reload(): Promise<boolean> {
    this.#reloading ??= this.#remote.reload().then(() => {
      const jwks = this.#remote.jwks();
      if (!jwks) throw new Error('no key set after a reload');
      this.#local = createLocalJWKSet(jwks);
      this.#fetchedAt = this.#opts.now();
      return true;
    }, () => {
      this.#failedAt = this.#opts.now();
      return false;
    }).finally(() => {
      this.#reloading = null;
    });
    return this.#reloading;
  }
}

/**
 * Key sets by tenant: one per configured URL, kept while the tenant keeps that URL (a tenant's
 * runtime object is rebuilt on every cache expiry; its keys must survive that, and an outage).
 * A tenant whose JWKS settings change gets a new set; at most `max` tenants are kept.
 */
export class KeySetRegistry {
  readonly #sets = new Map<string, { signature: string; set: RemoteKeySet }>();

  constructor(private readonly opts: KeySetOptions, private readonly max = 10_000) {}

  for(tenantId: string, url: string): RemoteKeySet {
    const signature = url;
    const entry = this.#sets.get(tenantId);
    if (entry && entry.signature === signature) return entry.set;
    const set = new RemoteKeySet(url, this.opts);
    this.#sets.delete(tenantId);
    this.#sets.set(tenantId, { signature, set });
    if (this.#sets.size > this.max) this.#sets.delete(this.#sets.keys().next().value as string);
    return set;
  }
}

/**
 * In-memory fixed-window request counters (one window = one minute by default), per process.
 *
 * Cheap on purpose: a request costs one or two Map lookups and an integer store; entries are
 * dropped wholesale when the window rolls over (checked on use, and by an unref'd timer so idle
 * processes release memory too). Limits are therefore per replica: with N replicas behind a load
 * balancer a client can reach up to N times the configured rate. A fixed window lets a client send
 * up to twice the limit across a window boundary; that is the accepted price of the simplicity.
 */
export const DEFAULT_WINDOW_MS = 60_000;

/** Keys beyond this many in one window share a single overflow bucket (bounded memory). */
export const DEFAULT_MAX_KEYS = 100_000;
const OVERFLOW_KEY = '\0overflow';

/** A flat counter: key → requests in the current window. */
export class FixedWindowCounter {
  readonly #windowMs: number;
  readonly #maxKeys: number;
  #windowEnd: number;
  #counts = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;

  constructor(windowMs = DEFAULT_WINDOW_MS, maxKeys = DEFAULT_MAX_KEYS, now = Date.now()) {
    this.#windowMs = windowMs;
    this.#maxKeys = maxKeys;
    this.#windowEnd = now - (now % windowMs) + windowMs;
    this.#timer = setInterval(() => this.#roll(Date.now()), windowMs);
    this.#timer.unref();
  }

  #roll(now: number) {
    if (now < this.#windowEnd) return;
    this.#counts.clear();
    this.#windowEnd = now - (now % this.#windowMs) + this.#windowMs;
  }

  /** Counts one request; returns 0 when allowed, else the seconds until the window resets. */
  consume(key: string, limit: number, now = Date.now()): number {
    if (now >= this.#windowEnd) this.#roll(now);
    let used = this.#counts.get(key);
    if (used === undefined) {
      used = 0;
      if (this.#counts.size >= this.#maxKeys) {
        key = OVERFLOW_KEY;
        used = this.#counts.get(key) ?? 0;
      }
    }
    if (used >= limit) return Math.max(1, Math.ceil((this.#windowEnd - now) / 1000));
    this.#counts.set(key, used + 1);
    return 0;
  }

  get size(): number {
    return this.#counts.size;
  }

  close() {
    clearInterval(this.#timer);
  }
}

interface TenantWindow { count: number; users: Map<string, number> }

/**
 * Two-level counter for the extension API: per tenant, and per user within the tenant (no string
 * concatenation per request). A request is counted only when both levels allow it, so memory is
 * bounded by the sum of the tenants' per-minute limits, even if a tenant's backend mints tokens for
 * arbitrarily many uids.
 */
export class TenantUserWindowCounter {
  readonly #windowMs: number;
  #windowEnd: number;
  #tenants = new Map<string, TenantWindow>();
  readonly #timer: NodeJS.Timeout;

  constructor(windowMs = DEFAULT_WINDOW_MS, now = Date.now()) {
    this.#windowMs = windowMs;
    this.#windowEnd = now - (now % windowMs) + windowMs;
    this.#timer = setInterval(() => this.#roll(Date.now()), windowMs);
    this.#timer.unref();
  }

  #roll(now: number) {
    if (now < this.#windowEnd) return;
    this.#tenants.clear();
    this.#windowEnd = now - (now % this.#windowMs) + this.#windowMs;
  }

  /** Counts one request of `uid` in `tenantId`; returns 0 when allowed, else seconds to wait. */
  consume(tenantId: string, uid: string, tenantLimit: number, userLimit: number, now = Date.now()): number {
    if (now >= this.#windowEnd) this.#roll(now);
    let tenant = this.#tenants.get(tenantId);
    if (tenant === undefined) {
      tenant = { count: 0, users: new Map() };
      this.#tenants.set(tenantId, tenant);
    }
    const used = tenant.users.get(uid) ?? 0;
    if (tenant.count >= tenantLimit || used >= userLimit) return Math.max(1, Math.ceil((this.#windowEnd - now) / 1000));
    tenant.count++;
    tenant.users.set(uid, used + 1);
    return 0;
  }

  close() {
    clearInterval(this.#timer);
  }
}

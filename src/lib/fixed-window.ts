/**
 * In-memory fixed-window request counters (one window = one minute by default), per process.
 *
 * Cheap on purpose: a request costs one or two Map lookups and an integer store; entries are
 * dropped wholesale when the window rolls over (checked on use, and by an unref'd timer so idle
 * processes release memory too). Without Redis, limits are therefore per replica: with N replicas
 * behind a load balancer a client can reach up to N times the configured rate (shared-window.ts
 * shares the counts through Redis). A fixed window lets a client send up to twice the limit across
 * a window boundary; that is the accepted price of the simplicity.
 */
export const DEFAULT_WINDOW_MS = 60_000;

/**
 * Counts per key in the current window, as the limit policies read them (in memory here, shared
 * through Redis in shared-window.ts). `used` answers a promise instead of a number when the count
 * is not known yet (being fetched): the caller waits for it and asks again, so that reading and
 * counting happen in one synchronous step.
 */
export interface WindowStore {
  used(key: string, now?: number): number | Promise<void>;
  add(key: string, now?: number): void;
  /** Whole seconds (at least 1) until the current window ends: the Retry-After of a refusal. */
  retryAfter(now?: number): number;
  close(): void | Promise<void>;
}

/**
 * The window both counters share: aligned to multiples of `windowMs`, rolled over on use (and by an
 * unref'd timer, so idle processes release memory too); `reset()` drops the counts.
 */
abstract class FixedWindow {
  readonly #windowMs: number;
  #windowEnd: number;
  readonly #timer: NodeJS.Timeout;
  /** The clock (epoch ms); injectable so tests can drive windows without waiting. */
  protected readonly now: () => number;

  constructor(windowMs: number, now: () => number) {
    this.#windowMs = windowMs;
    this.now = now;
    const start = now();
    this.#windowEnd = start - (start % windowMs) + windowMs;
    this.#timer = setInterval(() => this.advance(this.now()), windowMs);
    this.#timer.unref();
  }

  protected abstract reset(): void;

  /** Starts a new window when `now` is past the current one. */
  protected advance(now: number): void {
    if (now < this.#windowEnd) return;
    this.reset();
    this.#windowEnd = now - (now % this.#windowMs) + this.#windowMs;
  }

  /** Whole seconds (at least 1) until the current window ends: the Retry-After of a refusal. */
  protected secondsLeft(now: number): number {
    return Math.max(1, Math.ceil((this.#windowEnd - now) / 1000));
  }

  close(): void {
    clearInterval(this.#timer);
  }
}

export interface FixedWindowOptions {
  /** Window length (default one minute). */
  windowMs?: number;
  /** Clock in epoch ms (default Date.now); used for counting, Retry-After and the roll-over timer. */
  now?: () => number;
}

/**
 * A flat counter: key → requests in the current window. A key exists only once something was
 * counted under it, so its memory is bounded by what the callers allow to be counted.
 */
export class FixedWindowCounter extends FixedWindow implements WindowStore {
  #counts = new Map<string, number>();

  constructor(options: FixedWindowOptions = {}) {
    super(options.windowMs ?? DEFAULT_WINDOW_MS, options.now ?? Date.now);
  }

  protected reset(): void {
    this.#counts.clear();
  }

  /** Counts one request; returns 0 when allowed, else the seconds until the window resets. */
  consume(key: string, limit: number, now = this.now()): number {
    this.advance(now);
    const used = this.#counts.get(key) ?? 0;
    if (used >= limit) return this.secondsLeft(now);
    this.#counts.set(key, used + 1);
    return 0;
  }

  used(key: string, now = this.now()): number {
    this.advance(now);
    return this.#counts.get(key) ?? 0;
  }

  add(key: string, now = this.now()): void {
    this.advance(now);
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  retryAfter(now = this.now()): number {
    this.advance(now);
    return this.secondsLeft(now);
  }

  get size(): number {
    return this.#counts.size;
  }
}

interface TenantWindow { count: number; users: Map<string, number> }

/**
 * Two-level counter for the extension API: per tenant, and per user within the tenant (no string
 * concatenation per request). A request is counted only when both levels allow it, so memory is
 * bounded by the sum of the tenants' per-minute limits, even if a tenant's backend mints tokens for
 * arbitrarily many uids.
 */
export class TenantUserWindowCounter extends FixedWindow {
  #tenants = new Map<string, TenantWindow>();

  constructor(options: FixedWindowOptions = {}) {
    super(options.windowMs ?? DEFAULT_WINDOW_MS, options.now ?? Date.now);
  }

  protected reset(): void {
    this.#tenants.clear();
  }

  /** Counts one request of `uid` in `tenantId`; returns 0 when allowed, else seconds to wait. */
  consume(tenantId: string, uid: string, tenantLimit: number, userLimit: number, now = this.now()): number {
    this.advance(now);
    let tenant = this.#tenants.get(tenantId);
    if (tenant === undefined) {
      tenant = { count: 0, users: new Map() };
      this.#tenants.set(tenantId, tenant);
    }
    const used = tenant.users.get(uid) ?? 0;
    if (tenant.count >= tenantLimit || used >= userLimit) return this.secondsLeft(now);
    tenant.count++;
    tenant.users.set(uid, used + 1);
    return 0;
  }
}

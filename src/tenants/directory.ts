/**
 * The request path's view of tenants: decoded TenantRuntime objects cached in process.
 *
 * Invalidation reaches every replica: writers send `NOTIFY tenant_changed, '<appId>'` inside their
 * transaction (delivered on commit), and each process LISTENs (db/notification-listener.ts). The
 * TTL is a safety net for notifications missed while that connection was down (it is re-established,
 * and the whole cache is dropped on reconnect).
 *
 * Unknown app ids must cost no database work, or anyone can turn made-up ids into one query each:
 * the set of every app id is read once at start and kept current by the same notifications (a
 * tenant is never deleted, so a notification only ever adds an id), and an id outside it is answered
 * "no such tenant" from memory. Until that set is loaded, and after the listener reconnected until
 * it is reloaded, misses are looked up one by one, within a per-client budget.
 */
import type { Keyring } from '../crypto/envelope.js';
import type { Db } from '../db/database.js';
import type { NotificationListener } from '../db/notification-listener.js';
import { DomainError } from '../lib/errors.js';
import { FixedWindowCounter } from '../lib/fixed-window.js';
import { Lru } from '../lib/lru.js';
import { buildTenantRuntime } from './runtime.js';
import { findTenant, listTenantIds, TENANT_CHANGED_CHANNEL } from './tenant-repository.js';
import type { TenantRuntime } from './types.js';

/** Ids the database did not know, remembered briefly (only needed while the id set cannot answer). */
const NEGATIVE_TTL_MS = 5_000;
/** More tenants than fit are still served, at the price of a lookup when a cold one comes back. */
export const DEFAULT_MAX_CACHED_TENANTS = 10_000;
const MAX_NEGATIVE_ENTRIES = 10_000;
/** A failed load of the id set is tried again at most this often. */
const KNOWN_IDS_RETRY_MS = 1_000;

/**
 * Database lookups one client (an address, or the network the caller maps it to) may cause per window. Real clients need a lookup only when a
 * tenant is not cached (once per tenant per TTL, or after a change); the budget exists for the
 * moments when the id set cannot answer, so that one address cannot queue thousands of queries.
 */
export const DEFAULT_LOOKUP_BUDGET = { perWindow: 100, windowMs: 10_000, maxClients: 10_000 } as const;

export interface LookupBudgetOptions {
  /** Lookups allowed per client in one window. */
  perWindow: number;
  windowMs: number;
  /** Clients counted separately in one window; the rest share one allowance (bounded memory). */
  maxClients: number;
  /** Clock in epoch ms; injectable so tests can drive windows without waiting. */
  now?: () => number;
}

const SHARED_CLIENT = '\0shared';

/** Lookups per client in fixed windows (the rate limits' counter); clients beyond maxClients share one allowance. */
export class LookupBudget {
  readonly #opts: LookupBudgetOptions;
  readonly #window: FixedWindowCounter;

  constructor(opts: LookupBudgetOptions) {
    this.#opts = opts;
    this.#window = new FixedWindowCounter({ windowMs: opts.windowMs, now: opts.now });
  }

  /** Takes one lookup for `client`: 0 when allowed, else the whole seconds (≥ 1) until the window ends. */
  take(client: string): number {
    const counted = this.#window.used(client) > 0 || this.#window.size < this.#opts.maxClients;
    return this.#window.consume(counted ? client : SHARED_CLIENT, this.#opts.perWindow);
  }
}

export interface KnownAppIdsOptions {
  /** Reads every app id. */
  load: () => Promise<Iterable<string>>;
  /** Reload at least this often, in case a notification was lost without the listener noticing. */
  refreshMs: number;
  /** A failed load is tried again no sooner than this (default 1 s). */
  retryMs?: number;
  now?: () => number;
  /** Failures of loads nobody awaits. */
  onError?: (err: Error) => void;
}

/**
 * Every app id that exists, as far as this process can tell. It answers only while it is complete:
 * loaded, and no notification possibly missed since (a listener reconnect makes it unsure until the
 * reload that follows). Ids written while a load runs are kept even if the load's snapshot predates
 * them.
 */
export class KnownAppIds {
  readonly #opts: KnownAppIdsOptions;
  readonly #now: () => number;
  #ids: Set<string> | null = null;
  #complete = false;
  #loadedAt = 0;
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #loading: Promise<void> | null = null;
  /** Ids noted while the current load runs. */
  #noted: Set<string> | null = null;
  /** Set when notifications may have been missed during the current load: load again after it. */
  #reloadAfter = false;
  /** Only a process that asked for the set (the API) keeps it; others never read it. */
  #wanted = false;

  constructor(opts: KnownAppIdsOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** Loads the set (again), and keeps it current from now on. */
  load(): Promise<void> {
    this.#wanted = true;
    return this.#start();
  }

  get complete(): boolean {
    return this.#complete;
  }

  /**
   * true: the tenant exists; false: it does not; undefined: the set cannot tell yet (ask the
   * database). Never waits; a due reload or retry starts in the background.
   */
  has(appId: string): boolean | undefined {
    if (this.#ids?.has(appId)) return true;
    if (!this.#wanted) return undefined;
    const now = this.#now();
    if (!this.#complete) {
      if (now - this.#lastAttempt >= (this.#opts.retryMs ?? KNOWN_IDS_RETRY_MS)) this.#kick();
      return undefined;
    }
    if (now - this.#loadedAt >= this.#opts.refreshMs && now - this.#lastAttempt >= (this.#opts.retryMs ?? KNOWN_IDS_RETRY_MS)) this.#kick();
    return false;
  }

  /** A tenant was written (it exists from now on). */
  noted(appId: string): void {
    this.#ids?.add(appId);
    this.#noted?.add(appId);
  }

  /** Notifications may have been missed: unsure until reloaded. */
  lost(): void {
    this.#complete = false;
    if (!this.#wanted) return;
    if (this.#loading) this.#reloadAfter = true;
    else this.#kick();
  }

  #kick(): void {
    this.#start().catch((err: Error) => this.#opts.onError?.(err));
  }

  #start(): Promise<void> {
    if (this.#loading) return this.#loading;
    const startedAt = this.#now();
    this.#lastAttempt = startedAt;
    const noted = new Set<string>();
    this.#noted = noted;
    this.#reloadAfter = false;
    const run = Promise.resolve()
      .then(() => this.#opts.load())
      .then((loaded) => {
        const ids = new Set(loaded);
        for (const id of noted) ids.add(id);
        this.#ids = ids;
        this.#loadedAt = startedAt;
        if (!this.#reloadAfter) this.#complete = true;
      })
      .finally(() => {
        this.#noted = null;
        this.#loading = null;
        if (this.#reloadAfter) this.#kick();
      });
    this.#loading = run;
    return run;
  }
}

export interface TenantDirectoryOptions {
  ttlSeconds: number;
  notifications?: NotificationListener;
  /** Bound of the tenant cache (least recently used tenants leave first). */
  maxCachedTenants?: number;
  lookupBudget?: Partial<LookupBudgetOptions>;
  now?: () => number;
}

interface Entry { value: TenantRuntime; expiresAt: number }

export class TenantDirectory {
  readonly #now: () => number;
  readonly #cache: Lru<string, Entry>;
  /** App ids the database did not know, with when that answer expires. */
  readonly #unknown = new Lru<string, number>(MAX_NEGATIVE_ENTRIES);
  readonly #inflight = new Map<string, Promise<TenantRuntime | null>>();
  readonly #known: KnownAppIds;
  readonly #budget: LookupBudget;
  #onError: ((err: Error) => void) | undefined;
  /** Bumped by invalidate(): a load that started before the change must not fill the cache. */
  #generation = 0;

  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
    private readonly opts: TenantDirectoryOptions,
  ) {
    this.#now = opts.now ?? Date.now;
    this.#cache = new Lru(opts.maxCachedTenants ?? DEFAULT_MAX_CACHED_TENANTS);
    this.#budget = new LookupBudget({ ...DEFAULT_LOOKUP_BUDGET, now: this.#now, ...opts.lookupBudget });
    this.#known = new KnownAppIds({
      load: () => listTenantIds(db),
      refreshMs: opts.ttlSeconds * 1000,
      now: this.#now,
      onError: (err) => this.#onError?.(err),
    });
    opts.notifications?.subscribe(TENANT_CHANGED_CHANNEL, (appId) => this.invalidate(appId), () => {
      this.invalidateAll();
      this.#known.lost();
    });
  }

  /**
   * Reads every app id, after which unknown ids are answered from memory. Call once the process
   * listens for notifications (so no write between the read and the first notification is lost);
   * a failure leaves lookups one by one in place and is retried on later misses.
   */
  loadKnownIds(opts: { onError?: (err: Error) => void } = {}): Promise<void> {
    if (opts.onError) this.#onError = opts.onError;
    return this.#known.load();
  }

  /** Whether unknown app ids are answered from memory (the id set is loaded and current). */
  get knowsAllIds(): boolean {
    return this.#known.complete;
  }

  /**
   * The cached answer for `appId` without waiting: the tenant, null for an id known not to exist,
   * or undefined when only get() can tell (not cached, or expired). Lets the request path skip a
   * promise and a microtask turn on the cache hits that make up nearly all of its lookups, and
   * answer unknown ids without touching the database.
   */
  peek(appId: string): TenantRuntime | null | undefined {
    const now = this.#now();
    const hit = this.#cache.get(appId);
    if (hit !== undefined && hit.expiresAt > now) return hit.value;
    const known = this.#known.has(appId);
    if (known === false) return null;
    const unknownUntil = this.#unknown.peek(appId);
    return unknownUntil !== undefined && unknownUntil > now ? null : undefined;
  }

  /**
   * The tenant, or null when there is none. `client` (the caller's network) pays for a database
   * lookup from its budget; over it, a `rate_limited` DomainError says when to come back. Internal
   * callers (the worker) pass none.
   */
  async get(appId: string, client?: string): Promise<TenantRuntime | null> {
    const hit = this.peek(appId);
    if (hit !== undefined) return hit;
    const pending = this.#inflight.get(appId);
    if (pending) return pending;
    if (client !== undefined) {
      const retryAfterSeconds = this.#budget.take(client);
      if (retryAfterSeconds > 0) {
        throw new DomainError('rate_limited', 'TENANT_LOOKUP_RATE_LIMITED', 'Too many app lookups from this address; retry later', { retryAfterSeconds });
      }
    }
    const load = this.#load(appId).finally(() => this.#inflight.delete(appId));
    this.#inflight.set(appId, load);
    return load;
  }

  async #load(appId: string): Promise<TenantRuntime | null> {
    const generation = this.#generation;
    const row = await findTenant(this.db, appId);
    const value = row ? buildTenantRuntime(row, this.keyring) : null;
    if (generation !== this.#generation) return value;
    if (value) {
      this.#known.noted(appId);
      this.#unknown.delete(appId);
      this.#cache.set(appId, { value, expiresAt: this.#now() + this.opts.ttlSeconds * 1000 });
    } else {
      this.#unknown.set(appId, this.#now() + NEGATIVE_TTL_MS);
    }
    return value;
  }

  /** `appId` was written (created or changed): drop its copy; it exists from now on. */
  invalidate(appId: string): void {
    this.#generation++;
    this.#known.noted(appId);
    this.#inflight.delete(appId);
    this.#cache.delete(appId);
    this.#unknown.delete(appId);
  }

  invalidateAll(): void {
    this.#generation++;
    this.#inflight.clear();
    this.#cache.clear();
    this.#unknown.clear();
  }
}

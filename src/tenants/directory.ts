/**
 * The request path's view of tenants: decoded TenantRuntime objects cached in process.
 *
 * Invalidation reaches every replica: writers send `NOTIFY tenant_changed, '<appId>'` inside their
 * transaction (delivered on commit), and each process LISTENs (db/notification-listener.ts). The
 * TTL is a safety net for notifications missed while that connection was down (it is re-established,
 * and the whole cache is dropped on reconnect).
 */
import type { Keyring } from '../crypto/envelope.js';
import type { Db } from '../db/database.js';
import type { NotificationListener } from '../db/notification-listener.js';
import { buildTenantRuntime } from './runtime.js';
import { findTenant, TENANT_CHANGED_CHANNEL } from './tenant-repository.js';
import type { TenantRuntime } from './types.js';

/** Unknown app ids are remembered briefly so a flood of them does not reach the database. */
const NEGATIVE_TTL_MS = 5_000;
const MAX_ENTRIES = 10_000;

interface Entry { value: TenantRuntime | null; expiresAt: number }

export class TenantDirectory {
  readonly #cache = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<TenantRuntime | null>>();
  /** Bumped by invalidate(): a load that started before the change must not fill the cache. */
  #generation = 0;

  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
    private readonly opts: { ttlSeconds: number; notifications?: NotificationListener },
  ) {
    opts.notifications?.subscribe(TENANT_CHANGED_CHANNEL, (appId) => this.invalidate(appId), () => this.invalidateAll());
  }

  /**
   * The cached answer for `appId` without waiting: the tenant, null for an id known not to exist,
   * or undefined when only get() can tell (not cached, or expired). Lets the request path skip a
   * promise and a microtask turn on the cache hits that make up nearly all of its lookups.
   */
  peek(appId: string): TenantRuntime | null | undefined {
    const hit = this.#cache.get(appId);
    return hit !== undefined && hit.expiresAt > Date.now() ? hit.value : undefined;
  }

  async get(appId: string): Promise<TenantRuntime | null> {
    const hit = this.peek(appId);
    if (hit !== undefined) return hit;
    const pending = this.#inflight.get(appId);
    if (pending) return pending;
    const load = this.#load(appId).finally(() => this.#inflight.delete(appId));
    this.#inflight.set(appId, load);
    return load;
  }

  async #load(appId: string): Promise<TenantRuntime | null> {
    const generation = this.#generation;
    const row = await findTenant(this.db, appId);
    const value = row ? buildTenantRuntime(row, this.keyring) : null;
    if (generation !== this.#generation) return value;
    if (this.#cache.size >= MAX_ENTRIES) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(appId, { value, expiresAt: Date.now() + (value ? this.opts.ttlSeconds * 1000 : NEGATIVE_TTL_MS) });
    return value;
  }

  invalidate(appId: string): void {
    this.#generation++;
    this.#inflight.delete(appId);
    this.#cache.delete(appId);
  }

  invalidateAll(): void {
    this.#generation++;
    this.#inflight.clear();
    this.#cache.clear();
  }
}

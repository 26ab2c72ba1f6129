/**
 * The request path's view of tenants: decoded TenantRuntime objects cached in process.
 *
 * Invalidation reaches every replica: writers send `NOTIFY tenant_changed, '<appId>'` inside their
 * transaction (delivered on commit), and each process LISTENs on a dedicated connection. The TTL is a
 * safety net for notifications missed while that connection was down (it is re-established, and the
 * whole cache is dropped on reconnect).
 */
import pg from 'pg';
import type { Logger } from 'pino';
import type { Keyring } from '../crypto/envelope.js';
import type { Db } from '../db/database.js';
import { buildTenantRuntime } from './runtime.js';
import type { TenantRuntime } from './types.js';

export const TENANT_CHANGED_CHANNEL = 'tenant_changed';
/** Unknown app ids are remembered briefly so a flood of them does not reach the database. */
const NEGATIVE_TTL_MS = 5_000;
const MAX_ENTRIES = 10_000;

interface Entry { value: TenantRuntime | null; expiresAt: number }

export class TenantDirectory {
  readonly #cache = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<TenantRuntime | null>>();
  /** Bumped by invalidate(): a load that started before the change must not fill the cache. */
  #generation = 0;
  #listener: pg.Client | null = null;
  #closed = false;
  #reconnectTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
    private readonly opts: { ttlSeconds: number; databaseUrl?: string; log?: Logger },
  ) {}

  /** Starts listening for changes made by any process. Without it, only the TTL expires entries. */
  async start(): Promise<void> {
    if (!this.opts.databaseUrl) return;
    await this.#connectListener();
  }

  async #connectListener(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.databaseUrl, application_name: 'e2ee-extension-listener' });
    client.on('notification', (msg) => {
      if (msg.channel === TENANT_CHANGED_CHANNEL && msg.payload) this.invalidate(msg.payload);
    });
    client.on('error', (err) => {
      this.opts.log?.warn({ err: err.message }, 'tenant change listener lost its connection; reconnecting');
      this.#scheduleReconnect(client);
    });
    client.on('end', () => this.#scheduleReconnect(client));
    await client.connect();
    await client.query(`LISTEN ${TENANT_CHANGED_CHANNEL}`);
    this.#listener = client;
    // Anything may have changed while we were not listening.
    this.#generation++;
    this.#cache.clear();
  }

  #scheduleReconnect(client: pg.Client) {
    if (this.#closed || this.#listener !== client || this.#reconnectTimer) return;
    this.#listener = null;
    client.end().catch(() => {});
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      this.#connectListener().catch((err) => {
        this.opts.log?.warn({ err: (err as Error).message }, 'tenant change listener reconnect failed');
        this.#listener = client; // let the next attempt be scheduled
        this.#scheduleReconnect(client);
      });
    }, 1_000);
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
    const row = await this.db.selectFrom('tenants').selectAll().where('app_id', '=', appId).executeTakeFirst();
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

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    const client = this.#listener;
    this.#listener = null;
    await client?.end().catch(() => {});
  }
}

/**
 * Which uids each tenant's groups are waiting for (desired members without a Virgil card yet,
 * `groups.pending_registration`), held in memory so that the Virgil JWT route can tell with one Set
 * lookup whether a caller's token fetch should nudge the worker. Without it every caller's uid went
 * to the database, so the database's work grew with token traffic although nearly every caller is
 * long registered.
 *
 * A tenant's set is loaded on its first token fetch and reloaded: when the worker records new
 * pending members (it sends `NOTIFY pending_registration, '<tenantId>'` in that transaction, so a
 * member who becomes pending is known here before their first token fetch can race past it); when
 * the listener reconnects (notifications may have been missed); and at the latest every `maxAgeMs`.
 * While a set is (re)loading, or when a tenant has more pending uids than `maxUids`, the answer is
 * "unknown" and the caller asks the database as before, so nothing is missed.
 */
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import type { NotificationListener } from '../db/notification-listener.js';
import { pendingUids, PENDING_REGISTRATION_CHANNEL } from './group-repository.js';


export interface PendingRegistrationsOptions {
  /** Reload a tenant's set at least this often, in case a notification was lost (default 60 s). */
  maxAgeMs?: number;
  /** Tenants with more distinct pending uids than this are not held in memory (default 50,000). */
  maxUids?: number;
  log?: Logger;
}

interface TenantEntry {
  /** null: not known (never loaded, being reloaded, failed, or too many to hold). */
  uids: Set<string> | null;
  loadedAt: number;
  /** No load before this time (after a failure, or when the tenant has too many to hold). */
  retryAt: number;
  /** Bumped by every notification: a load that began before it must not be trusted. */
  generation: number;
  loading: boolean;
}

const RETRY_AFTER_FAILURE_MS = 1_000;

export class PendingRegistrations {
  readonly #tenants = new Map<string, TenantEntry>();
  readonly #db: Db;
  readonly #maxAgeMs: number;
  readonly #maxUids: number;
  readonly #log: Logger | undefined;
  #closed = false;

  constructor(db: Db, notifications: NotificationListener, opts: PendingRegistrationsOptions = {}) {
    this.#db = db;
    this.#maxAgeMs = opts.maxAgeMs ?? 60_000;
    this.#maxUids = opts.maxUids ?? 50_000;
    this.#log = opts.log;
    notifications.subscribe(PENDING_REGISTRATION_CHANNEL, (tenantId) => this.#changed(tenantId), () => {
      for (const tenantId of this.#tenants.keys()) this.#changed(tenantId);
    });
  }

  /** true: a group awaits `uid`; false: none does; undefined: not known at the moment. */
  awaits(tenantId: string, uid: string): boolean | undefined {
    const entry = this.#tenants.get(tenantId);
    if (entry === undefined || entry.uids === null || Date.now() - entry.loadedAt > this.#maxAgeMs) {
      this.#load(tenantId);
      return undefined;
    }
    return entry.uids.has(uid);
  }

  #changed(tenantId: string): void {
    const entry = this.#tenants.get(tenantId);
    if (entry === undefined) return; // never asked for in this process: loaded on first use
    entry.generation++;
    entry.uids = null;
    entry.retryAt = 0;
    this.#load(tenantId);
  }

  #load(tenantId: string): void {
    let entry = this.#tenants.get(tenantId);
    if (entry === undefined) {
      entry = { uids: null, loadedAt: 0, retryAt: 0, generation: 0, loading: false };
      this.#tenants.set(tenantId, entry);
    }
    if (entry.loading || this.#closed || entry.retryAt > Date.now()) return;
    entry.loading = true;
    const current = entry;
    const generation = current.generation;
    this.#query(tenantId).then((uids) => {
      current.loading = false;
      if (current.generation !== generation) return this.#load(tenantId);
      current.uids = uids;
      current.loadedAt = Date.now();
      current.retryAt = uids === null ? current.loadedAt + this.#maxAgeMs : 0;
    }, (err: unknown) => {
      current.loading = false;
      current.uids = null;
      current.retryAt = Date.now() + RETRY_AFTER_FAILURE_MS;
      this.#log?.warn({ tenantId, err: (err as Error).message }, 'could not load the pending registrations of a tenant');
    });
  }

  /** The tenant's distinct pending uids, or null when there are more than maxUids. */
  async #query(tenantId: string): Promise<Set<string> | null> {
    const uids = await pendingUids(this.#db, tenantId, this.#maxUids);
    return uids.length > this.#maxUids ? null : new Set(uids);
  }

  close(): void {
    this.#closed = true;
  }
}

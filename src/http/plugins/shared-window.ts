/**
 * Fixed-window counters shared by every replica through Redis (used when REDIS_URL is set), with a
 * per-process fast path.
 *
 * A Redis round trip per request would cost most of the hot route's throughput, so each process
 * decides locally on "the fleet's count as last heard + what this process counted since", and every
 * RATE_LIMIT_SYNC_INTERVAL_MS sends its new counts with one pipelined INCRBY + PEXPIRE per key
 * (the INCRBY's answer is the fleet's new count). Keys carry the window number, so every replica
 * counts into the same key for the same minute. The first time a process meets a key in a window
 * it fetches the fleet's count before deciding (one GET per key per window per process, batched by
 * auto-pipelining), so a replica never starts from zero for a client the others have already counted.
 *
 * Overshoot, bounded: a replica learns the others' counts at most one sync interval (plus a round
 * trip) late. Within a window the fleet admits for a key at most the limit plus what the other
 * replicas admitted for that key during the last sync interval before they heard the limit was
 * reached: at most limit + (N − 1) × (one replica's admissions for that key per interval), and never
 * more than N × limit. A client spread evenly at R requests/s over N replicas gets at most about
 * R × interval extra per window.
 *
 * Redis unreachable never fails a request: counting goes on in this process alone (limits per
 * replica, as without Redis), unsent counts are sent once Redis is back, and the outage is logged
 * once (and its end once).
 */
import { Redis } from 'ioredis';
import { DEFAULT_WINDOW_MS, type WindowStore } from '../../lib/fixed-window.js';

export interface CounterLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface SharedWindowOptions {
  redisUrl: string;
  /** Namespace of this family of counters in Redis, e.g. `e2ee:rl:api`. */
  prefix: string;
  log: CounterLog;
  windowMs?: number;
  syncIntervalMs?: number;
  /** Clock in epoch ms (default Date.now); windows are its multiples of windowMs, like every replica's. */
  now?: () => number;
}

interface Entry {
  /** The Redis key (window number included). */
  redisKey: string;
  window: number;
  /** The fleet's count at the last answer from Redis (this process's sent counts included). */
  known: number;
  /** Counted here, sent, not yet acknowledged. */
  inflight: number;
  /** Counted here, not yet sent. */
  pending: number;
  /** Set while the fleet's count is being fetched. */
  loading: Promise<void> | null;
  dirty: boolean;
}

export class SharedWindowStore implements WindowStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #log: CounterLog;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout;
  #window = -1;
  #entries = new Map<string, Entry>();
  #dirty: Entry[] = [];
  #flushing: Promise<void> | null = null;
  #unreachable = false;

  constructor(options: SharedWindowOptions) {
    this.#prefix = options.prefix;
    this.#log = options.log;
    this.#windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    this.#now = options.now ?? Date.now;
    // No offline queue and a short command timeout: while Redis is away, commands fail at once and
    // requests are decided locally instead of waiting for a reconnect.
    this.#redis = new Redis(options.redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 1000,
      enableAutoPipelining: true,
      connectionName: 'e2ee-rate-limits',
    });
    this.#redis.on('error', (err: Error) => this.#unavailable(err));
    this.#redis.on('ready', () => {
      if (!this.#unreachable) return;
      this.#unreachable = false;
      this.#log.info({}, 'rate-limit counters: Redis reachable again, counts are shared across replicas');
    });
    this.#timer = setInterval(() => { void this.flush(); }, options.syncIntervalMs ?? 200);
    this.#timer.unref();
  }

  #unavailable(err: Error): void {
    if (this.#unreachable) return;
    this.#unreachable = true;
    this.#log.warn({ err: err.message }, 'rate-limit counters: Redis unreachable, counting in this process only until it is back');
  }

  #advance(now: number): void {
    const window = Math.floor(now / this.#windowMs);
    if (window === this.#window) return;
    this.#window = window;
    // Unsent counts of the window just ended are still sent (their keys name it); older ones, left
    // over from a Redis outage, no longer matter to anyone and are dropped, which keeps an outage
    // from piling up memory.
    this.#dirty = this.#dirty.filter((e) => e.window === window - 1);
    this.#entries.clear();
  }

  #entry(key: string): Entry {
    let e = this.#entries.get(key);
    if (e === undefined) {
      e = { redisKey: `${this.#prefix}:${this.#window}:${key}`, window: this.#window, known: 0, inflight: 0, pending: 0, loading: null, dirty: false };
      this.#entries.set(key, e);
      if (this.#redis.status === 'ready') e.loading = this.#load(e);
    }
    return e;
  }

  async #load(e: Entry): Promise<void> {
    try {
      const value = await this.#redis.get(e.redisKey);
      if (value !== null) e.known = Math.max(e.known, Number(value));
    } catch (err) {
      this.#unavailable(err as Error);
    } finally {
      e.loading = null;
    }
  }

  used(key: string, now = this.#now()): number | Promise<void> {
    this.#advance(now);
    const e = this.#entry(key);
    return e.loading ?? e.known + e.inflight + e.pending;
  }

  add(key: string, now = this.#now()): void {
    this.#advance(now);
    const e = this.#entry(key);
    e.pending++;
    if (!e.dirty) {
      e.dirty = true;
      this.#dirty.push(e);
    }
  }

  retryAfter(now = this.#now()): number {
    this.#advance(now);
    return Math.max(1, Math.ceil(((this.#window + 1) * this.#windowMs - now) / 1000));
  }

  /** Sends the counts made since the last flush and learns the fleet's; never rejects. */
  flush(): Promise<void> {
    this.#advance(this.#now());
    if (this.#flushing) return this.#flushing;
    if (this.#dirty.length === 0 || this.#redis.status !== 'ready') return Promise.resolve();
    this.#flushing = this.#send().finally(() => { this.#flushing = null; });
    return this.#flushing;
  }

  async #send(): Promise<void> {
    const batch = this.#dirty;
    this.#dirty = [];
    const pipeline = this.#redis.pipeline();
    for (const e of batch) {
      e.dirty = false;
      e.inflight = e.pending;
      e.pending = 0;
      pipeline.incrby(e.redisKey, e.inflight);
      // Two windows: the key outlives its window for replicas whose clocks run a little behind.
      pipeline.pexpire(e.redisKey, 2 * this.#windowMs);
    }
    let results: Array<[Error | null, unknown]> | null = null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      this.#unavailable(err as Error);
    }
    batch.forEach((e, i) => {
      const [err, value] = results?.[2 * i] ?? [new Error('no answer'), null];
      if (err === null) {
        e.known = Math.max(e.known, Number(value));
      } else {
        // Not counted by Redis: send again with the next flush (if its window still matters).
        e.pending += e.inflight;
        if (!e.dirty && e.window >= this.#window - 1) {
          e.dirty = true;
          this.#dirty.push(e);
        }
      }
      e.inflight = 0;
    });
    if (results?.some(([err]) => err !== null)) this.#unavailable(results.find(([err]) => err !== null)![0]!);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
    if (this.#redis.status === 'ready') await this.#redis.quit().catch(() => this.#redis.disconnect());
    else this.#redis.disconnect();
  }
}

/**
 * The extension API's two levels (per tenant, per user within it) on a shared store. A user's
 * counter is only created once the tenant level allows the request, so a tenant over its limit
 * cannot grow the store with fresh uids.
 */
export class SharedTenantUserCounter {
  constructor(readonly store: WindowStore) {}

  consume(tenantId: string, uid: string, tenantLimit: number, userLimit: number, now?: number): number | Promise<number> {
    const tenantKey = `t:${tenantId}`;
    const tenantUsed = this.store.used(tenantKey, now);
    if (typeof tenantUsed !== 'number') return tenantUsed.then(() => this.consume(tenantId, uid, tenantLimit, userLimit));
    if (tenantUsed >= tenantLimit) return this.store.retryAfter(now);
    // App ids have no ':', so the tenant part of the key ends at the first one.
    const userKey = `u:${tenantId}:${uid}`;
    const userUsed = this.store.used(userKey, now);
    if (typeof userUsed !== 'number') return userUsed.then(() => this.consume(tenantId, uid, tenantLimit, userLimit));
    if (userUsed >= userLimit) return this.store.retryAfter(now);
    this.store.add(tenantKey, now);
    this.store.add(userKey, now);
    return 0;
  }

  close(): void | Promise<void> {
    return this.store.close();
  }
}

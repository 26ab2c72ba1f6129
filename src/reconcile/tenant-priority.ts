/**
 * Queue priorities that share the worker fairly among tenants. The group queue is one BullMQ queue
 * for every tenant; in plain FIFO order, a tenant that sends 1,000 changes at once puts 1,000 jobs
 * in front of everybody else's. Instead each reconcile job gets the priority 1 + (the number of
 * jobs this process queued for its tenant lately, decaying with a half-life): the first job of a
 * quiet tenant gets 1 and is taken before the second job of a busy one, so every tenant's next
 * change waits for at most about one job per other busy tenant — a round robin, without one queue
 * per tenant. BullMQ serves lower numbers first and equal numbers in order of arrival.
 *
 * Counts are per process (each API replica and worker counts what it queued), which is enough:
 * the order only has to be fair, not exact.
 */
import { Lru } from '../lib/lru.js';

/** BullMQ's highest priority number (the lowest priority). */
export const MAX_PRIORITY = 2_097_152;

export interface TenantPriorityOptions {
  /** A tenant's count halves every this long (default 10 s). */
  halfLifeMs?: number;
  /** Tenants remembered at most (least recently seen forgotten first). */
  maxTenants?: number;
  now?: () => number;
}

export class TenantPriority {
  readonly #counts: Lru<string, { count: number; at: number }>;
  readonly #halfLifeMs: number;
  readonly #now: () => number;

  constructor(opts: TenantPriorityOptions = {}) {
    this.#halfLifeMs = opts.halfLifeMs ?? 10_000;
    this.#counts = new Lru(opts.maxTenants ?? 100_000);
    this.#now = opts.now ?? Date.now;
  }

  /** The priority of the tenant's next job (counting that job). */
  next(tenantId: string): number {
    const now = this.#now();
    const seen = this.#counts.get(tenantId);
    const decayed = seen ? seen.count * 0.5 ** ((now - seen.at) / this.#halfLifeMs) : 0;
    this.#counts.set(tenantId, { count: decayed + 1, at: now });
    return Math.min(MAX_PRIORITY, 1 + Math.round(decayed));
  }
}

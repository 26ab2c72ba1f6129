/**
 * The admin API's limits, as three separate counts per window:
 *
 * - each valid token: RATE_LIMIT_ADMIN_PER_MINUTE. Only requests carrying that token count here, so
 *   no one else's failures (from any number of addresses) can use up an operator's allowance;
 * - failures per client network (an IPv4 address, an IPv6 /64; see client-network.ts): the same
 *   limit, so one source cannot guess quickly;
 * - failures from everywhere together: RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE, so rotating sources
 *   (forged X-Forwarded-For values, many networks) cannot add up to unlimited guesses.
 *
 * The budget is checked before a network's counter is touched, and a network's counter is created
 * only for a failure the budget admitted and counted, so at most that many network counters exist
 * per window: memory is bounded without evicting anyone or merging strangers into a shared bucket
 * (which would let an attacker's traffic refuse an operator).
 */
import type { WindowStore } from '../../lib/fixed-window.js';

export interface AdminLimits {
  /** Requests per window for each valid token, and failures per window for each network. */
  perMinute: number;
  /** Failures per window from all networks together. */
  failuresPerMinute: number;
}

const FAILURES_KEY = 'f';

export class AdminLimiter {
  constructor(readonly store: WindowStore, readonly limits: AdminLimits) {}

  /** A request with valid token `tokenId`: 0 when allowed, else the seconds to wait. */
  valid(tokenId: string, now?: number): number | Promise<number> {
    const key = `t:${tokenId}`;
    const used = this.store.used(key, now);
    if (typeof used !== 'number') return used.then(() => this.valid(tokenId, now));
    if (used >= this.limits.perMinute) return this.store.retryAfter(now);
    this.store.add(key, now);
    return 0;
  }

  /**
   * A request without a valid token from `network`: 0 when it may be answered (as unauthorized) and
   * was counted, else the seconds to wait.
   */
  failed(network: string, now?: number): number | Promise<number> {
    const total = this.store.used(FAILURES_KEY, now);
    if (typeof total !== 'number') return total.then(() => this.failed(network, now));
    if (total >= this.limits.failuresPerMinute) return this.store.retryAfter(now);
    const key = `n:${network}`;
    const fromNetwork = this.store.used(key, now);
    if (typeof fromNetwork !== 'number') return fromNetwork.then(() => this.failed(network, now));
    if (fromNetwork >= this.limits.perMinute) return this.store.retryAfter(now);
    this.store.add(FAILURES_KEY, now);
    this.store.add(key, now);
    return 0;
  }

  close(): void | Promise<void> {
    return this.store.close();
  }
}

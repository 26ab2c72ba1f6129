/**
 * Fair use of one worker process among tenants. Runs mostly wait on Virgil, so a worker takes many
 * jobs at once (WORKER_CONCURRENCY); this gate keeps one tenant from holding all of them:
 *
 *  - at most `perTenant` runs of one tenant at once in this process: a tenant's burst leaves the
 *    rest of the slots to the others (its further jobs step back into the queue for a moment; the
 *    queue's per-tenant priorities, tenant-priority.ts, already put other tenants' jobs first);
 *  - after Virgil answers 429 for a tenant, that tenant's jobs wait out a back-off (doubling from
 *    `backoff.baseMs` up to `backoff.capMs`, with jitter; a success resets it) instead of each
 *    meeting the limit again. Virgil's limits are per application, i.e. per tenant, so other
 *    tenants go on.
 *
 * The clock and the random source are injectable (tests).
 */
import { DelayedError } from 'bullmq';
import { cappedDelayMs, DEFAULT_BACKOFF, type BackoffSettings } from './jobs.js';

/**
 * A job sent back to the queue by the gate before it started (tenant at its cap, or backing off):
 * not a run, so the run metrics count it apart from a run postponed by a held group lock.
 */
export class TenantDeferredError extends DelayedError {}

export interface TenantGateOptions {
  perTenant: number;
  /** Back-off after a 429 (default 1 s doubling up to 60 s). */
  backoff?: BackoffSettings;
  /** How long a job of a tenant at its cap steps back (default 250 ms, with jitter). */
  busyRetryMs?: number;
  now?: () => number;
  random?: () => number;
}

/** How a run of the tenant ended, as far as the gate cares. */
export type RunEnd = 'done' | 'rate-limited';

export type Admission =
  | { admitted: true; release(end: RunEnd): void }
  | { admitted: false; retryInMs: number; reason: 'busy' | 'rate-limited' };

interface TenantState { running: number; strikes: number; pausedUntil: number }

export class TenantGate {
  readonly #tenants = new Map<string, TenantState>();
  readonly perTenant: number;
  readonly #backoff: BackoffSettings;
  readonly #busyRetryMs: number;
  readonly #now: () => number;
  readonly #random: () => number;

  constructor(opts: TenantGateOptions) {
    if (!Number.isInteger(opts.perTenant) || opts.perTenant < 1) throw new RangeError('perTenant must be a positive integer');
    this.perTenant = opts.perTenant;
    this.#backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.#busyRetryMs = opts.busyRetryMs ?? 250;
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
  }

  enter(tenantId: string): Admission {
    const state = this.#tenants.get(tenantId) ?? { running: 0, strikes: 0, pausedUntil: 0 };
    const now = this.#now();
    if (state.pausedUntil > now) return { admitted: false, retryInMs: this.#jitter(state.pausedUntil - now), reason: 'rate-limited' };
    if (state.running >= this.perTenant) return { admitted: false, retryInMs: this.#jitter(this.#busyRetryMs), reason: 'busy' };
    state.running++;
    this.#tenants.set(tenantId, state);
    let released = false;
    return {
      admitted: true,
      release: (end) => {
        if (released) return;
        released = true;
        state.running--;
        if (end === 'rate-limited') {
          state.strikes++;
          const wait = cappedDelayMs(state.strikes, this.#backoff);
          state.pausedUntil = Math.max(state.pausedUntil, this.#now() + wait);
        } else {
          state.strikes = 0;
        }
        // Forget tenants with nothing to remember, so the map stays as small as the work in flight.
        if (state.running === 0 && state.strikes === 0 && state.pausedUntil <= this.#now()) this.#tenants.delete(tenantId);
      },
    };
  }

  /** Runs of the tenant in flight here (tests, diagnostics). */
  running(tenantId: string): number {
    return this.#tenants.get(tenantId)?.running ?? 0;
  }

  /** ±20 %, so the jobs that stepped back do not all return at the same instant. */
  #jitter(ms: number): number {
    return Math.max(1, Math.round(ms * (0.8 + this.#random() * 0.4)));
  }
}

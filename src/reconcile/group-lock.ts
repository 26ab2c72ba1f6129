/**
 * At most one reconcile run per group at once, across every worker process: a PostgreSQL
 * session-level advisory lock on (tenant, guid) (src/db/session-lock.ts), held for the length of
 * the run, which is abandoned after a timeout.
 */
import type pg from 'pg';
import { withSessionLock, type AssertLockHeld, type LockResult } from '../db/session-lock.js';
import { DomainError } from '../lib/errors.js';

/**
 * The connection holding the lock broke during the run: another run may have taken the group
 * since, so this run's outcome (success or failure) must not be recorded.
 */
export class GroupLockLostError extends Error {
  constructor(options?: { cause?: unknown }) {
    super('the database connection holding the group lock was lost', options);
    this.name = 'GroupLockLostError';
  }
}

/** The run took longer than allowed; the group was released (the run is abandoned). */
export class ReconcileTimeoutError extends DomainError {
  constructor(timeoutMs: number) {
    super('unavailable', 'RECONCILE_TIMEOUT', `the reconcile run did not finish within ${timeoutMs} ms`);
  }
}

export type { AssertLockHeld, LockResult } from '../db/session-lock.js';

/**
 * Runs `run` while holding the group. After `timeoutMs` the run is abandoned: its connection is
 * closed (releasing the lock, so the group is not blocked by a hung call) and, should it still
 * reach its recording step later, `assertHeld` stops it.
 */
export async function withGroupLock<T>(
  pool: pg.Pool, tenantId: string, guid: string, timeoutMs: number, run: (assertHeld: AssertLockHeld) => Promise<T>,
): Promise<LockResult<T>> {
  // JSON keeps tenant and guid unambiguous; hashtextextended gives the 64-bit lock key.
  return withSessionLock(pool, JSON.stringify(['e2ee-group', tenantId, guid]), {
    timeoutMs,
    timeout: () => new ReconcileTimeoutError(timeoutMs),
    lost: (cause) => new GroupLockLostError(cause === undefined ? undefined : { cause }),
  }, run);
}

/**
 * At most one reconcile run per group at once, across every worker process: a PostgreSQL
 * session-level advisory lock on (tenant, guid), held for the length of the run, on the process's
 * one lock connection (src/db/session-locks.ts).
 */
import type { AssertLockHeld, LockResult, SessionLocks } from '../db/session-locks.js';
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

export type { AssertLockHeld, LockResult } from '../db/session-locks.js';

/**
 * Runs `run` while holding the group. After `timeoutMs` the run is abandoned: the group is released
 * (so it is not blocked by a hung call) and, should the run still reach its recording step later,
 * `assertHeld` stops it.
 */
export function withGroupLock<T>(
  locks: SessionLocks, tenantId: string, guid: string, timeoutMs: number, run: (assertHeld: AssertLockHeld) => Promise<T>,
): Promise<LockResult<T>> {
  // JSON keeps tenant and guid unambiguous; hashtextextended gives the 64-bit lock key.
  return locks.withLock(JSON.stringify(['e2ee-group', tenantId, guid]), {
    timeoutMs,
    timeout: () => new ReconcileTimeoutError(timeoutMs),
    lost: (cause) => new GroupLockLostError(cause === undefined ? undefined : { cause }),
  }, run);
}

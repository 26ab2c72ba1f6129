/**
 * At most one reconcile run per group at once, across every worker process: a PostgreSQL
 * session-level advisory lock on (tenant, guid), held on a dedicated pooled connection for the
 * length of the run.
 *
 * Not a transaction-scoped lock: a run spends most of its time waiting for Virgil, and a pooled
 * connection idling inside a transaction has no error listener, so losing it (database restart)
 * would surface as an unhandled 'error' event. Here the connection carries a listener while it is
 * held; if it breaks, the run learns it before recording anything, and a connection that failed
 * in any way is destroyed instead of returned to the pool (which also releases the lock).
 */
import type pg from 'pg';
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

export type LockResult<T> = { locked: false } | { locked: true; value: T };

/** Throws GroupLockLostError if the lock can no longer be relied on. */
export type AssertLockHeld = () => void;

/**
 * Runs `run` while holding the group. After `timeoutMs` the run is abandoned: its connection is
 * closed (releasing the lock, so the group is not blocked by a hung call) and, should it still
 * reach its recording step later, `assertHeld` stops it.
 */
export async function withGroupLock<T>(
  pool: pg.Pool, tenantId: string, guid: string, timeoutMs: number, run: (assertHeld: AssertLockHeld) => Promise<T>,
): Promise<LockResult<T>> {
  // JSON keeps tenant and guid unambiguous; hashtextextended gives the 64-bit lock key.
  const key = JSON.stringify(['e2ee-group', tenantId, guid]);
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error) => { broken ??= err; };
  client.on('error', onError);
  try {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [key])
      .catch((err: Error) => { broken ??= err; throw err; });
    if (rows[0]?.locked !== true) return { locked: false };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        broken ??= new ReconcileTimeoutError(timeoutMs);
        reject(broken);
      }, timeoutMs);
    });
    try {
      const running = run(() => { if (broken) throw new GroupLockLostError(); });
      running.catch(() => {}); // an abandoned run may still fail later; nobody awaits it then
      const value = await Promise.race([running, deadline]);
      return { locked: true, value };
    } catch (err) {
      if (broken && !(err instanceof GroupLockLostError) && !(err instanceof ReconcileTimeoutError)) throw new GroupLockLostError({ cause: err });
      throw err;
    } finally {
      clearTimeout(timer);
      if (!broken) {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]).catch((err: Error) => { broken ??= err; });
      }
    }
  } finally {
    client.removeListener('error', onError);
    // A connection that misbehaved is closed, never reused (the server then drops its locks).
    client.release(broken);
  }
}

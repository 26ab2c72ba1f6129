/**
 * A PostgreSQL session-level advisory lock held on a dedicated pooled connection for the length of
 * a piece of work, so that at most one process does it at once (a group's reconcile run, an import).
 *
 * Not a transaction-scoped lock: the work may spend most of its time waiting on other services, and
 * a pooled connection idling inside a transaction has no error listener, so losing it (database
 * restart) would surface as an unhandled 'error' event. Here the connection carries a listener while
 * it is held; if it breaks, the work learns it through `assertHeld` before recording anything, and a
 * connection that failed in any way is destroyed instead of returned to the pool (which also
 * releases the lock). A process that dies loses its connection, and so its locks, at once.
 */
import type pg from 'pg';

export type LockResult<T> = { locked: false } | { locked: true; value: T };

/** Throws (the `lost` error) if the lock can no longer be relied on. */
export type AssertLockHeld = () => void;

export interface SessionLockOptions {
  /** The work is abandoned after this long: its connection is closed, releasing the lock. */
  timeoutMs?: number;
  /** The error an abandoned run is rejected with. */
  timeout?: () => Error;
  /** The error telling the work that the lock was lost (the connection broke, or the run timed out). */
  lost: (cause?: unknown) => Error;
}

/** Runs `run` while holding the lock named `key` (hashed to PostgreSQL's 64-bit key), or answers `{locked: false}`. */
export async function withSessionLock<T>(
  pool: pg.Pool, key: string, opts: SessionLockOptions, run: (assertHeld: AssertLockHeld) => Promise<T>,
): Promise<LockResult<T>> {
  const client = await pool.connect();
  const own = new WeakSet<object>();
  const lost = (cause?: unknown) => {
    const err = opts.lost(cause);
    own.add(err);
    return err;
  };
  let broken: Error | undefined;
  const onError = (err: Error) => { broken ??= err; };
  client.on('error', onError);
  try {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [key])
      .catch((err: Error) => { broken ??= err; throw err; });
    if (rows[0]?.locked !== true) return { locked: false };
    let timer: NodeJS.Timeout | undefined;
    const deadline = opts.timeoutMs === undefined ? null : new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const timedOut = opts.timeout?.() ?? lost();
        own.add(timedOut);
        broken ??= timedOut;
        reject(broken);
      }, opts.timeoutMs);
    });
    try {
      const running = run(() => { if (broken) throw lost(); });
      running.catch(() => {}); // an abandoned run may still fail later; nobody awaits it then
      const value = await (deadline ? Promise.race([running, deadline]) : running);
      return { locked: true, value };
    } catch (err) {
      if (broken && !(typeof err === 'object' && err !== null && own.has(err))) throw lost(err);
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

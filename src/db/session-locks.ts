/**
 * PostgreSQL session-level advisory locks for long pieces of work, so that at most one process does
 * each at once (a group's reconcile run, an import, a tenant's drift repair).
 *
 * Every lock of a process lives on ONE dedicated connection of its own (not a pooled one): a session
 * may hold any number of advisory locks, so a process running hundreds of pieces of work at once
 * needs one connection for its locks, and the pool serves only their short queries. (When each piece
 * held a pooled connection for its lock and needed a second one for its queries, a concurrency at or
 * above the pool size could leave every connection holding a lock and none to query with.)
 * PostgreSQL's advisory locks are re-entrant within a session, so the process also keeps the set of
 * keys it holds and refuses a second holder of the same key itself.
 *
 * Not transaction-scoped: the work may spend most of its time waiting on other services. If the
 * lock connection breaks (database restart, terminated backend), the server drops every lock it
 * held; each piece of work holding one learns it before recording anything (`assertHeld`), and the
 * next lock opens a new connection. A connection that failed in any way is closed, never reused. A
 * process that dies loses its connection, and so its locks, at once.
 */
import pg from 'pg';

export type LockResult<T> = { locked: false } | { locked: true; value: T };

/** Throws (the `lost` error) if the lock can no longer be relied on. */
export type AssertLockHeld = () => void;

export interface LockOptions {
  /** The work is abandoned after this long: the lock is released (so a hung call blocks nothing). */
  timeoutMs?: number;
  /** The error an abandoned run is rejected with (default: `lost()`). */
  timeout?: () => Error;
  /** The error telling the work that the lock was lost (the connection broke, or the run timed out). */
  lost: (cause?: unknown) => Error;
}

/** The lock connection and what it holds; replaced by a new one once it breaks. */
interface Session {
  client: pg.Client;
  ready: Promise<void>;
  broken: Error | null;
  /** The last query sent: queries on the connection go one after the other. */
  tail: Promise<unknown>;
}

/** Runs a query on the session once the previous one is done (node-postgres wants one at a time). */
function query<R extends pg.QueryResultRow>(session: Session, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
  const run = session.tail.then(() => session.client.query<R>(text, values));
  session.tail = run.catch(() => {});
  return run;
}

interface Lease { key: string; session: Session; abandoned: Error | null }

export class SessionLocks {
  #session: Session | null = null;
  /** Lock keys this process holds (a second holder here is refused like one elsewhere). */
  readonly #held = new Set<string>();
  #closed = false;

  /** `newClient` builds an unconnected client (see fromPool). */
  constructor(private readonly newClient: () => pg.Client) {}

  /** A client with the settings of `pool`, under its own application name. */
  static fromPool(pool: pg.Pool, applicationName = 'e2ee-extension-locks'): SessionLocks {
    const { connectionString, host, port, user, password, database, ssl } = pool.options;
    return new SessionLocks(() => new pg.Client({ connectionString, host, port, user, password, database, ssl, application_name: applicationName, keepAlive: true }));
  }

  #currentSession(): Session {
    if (this.#session && !this.#session.broken) return this.#session;
    const client = this.newClient();
    const session: Session = { client, ready: Promise.resolve(), broken: null, tail: Promise.resolve() };
    client.on('error', (err: Error) => this.#discard(session, err));
    client.on('end', () => this.#discard(session, new Error('the lock connection ended')));
    session.ready = client.connect().then(() => {}, (err: Error) => {
      this.#discard(session, err);
      throw err;
    });
    session.tail = session.ready.catch(() => {});
    this.#session = session;
    return session;
  }

  /**
   * A connection that failed in any way is closed and never used again: the server then drops every
   * lock it held (so none is left behind unknown to us), and each piece of work holding one sees it lost.
   */
  #discard(session: Session, err: Error): void {
    if (session.broken) return;
    session.broken = err;
    if (this.#session === session) this.#session = null;
    session.client.end().catch(() => {});
  }

  /** The lease of `key`, or null when another holder (here or in any process) has it. */
  async #acquire(key: string): Promise<Lease | null> {
    if (this.#closed) throw new Error('locks are closed');
    if (this.#held.has(key)) return null;
    this.#held.add(key);
    const session = this.#currentSession();
    try {
      await session.ready;
      const { rows } = await query<{ locked: boolean }>(session, 'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [key]);
      if (rows[0]?.locked !== true) {
        this.#held.delete(key);
        return null;
      }
      return { key, session, abandoned: null };
    } catch (err) {
      // Unsure whether the server granted it: a lock we do not know we hold would block the key.
      this.#discard(session, err as Error);
      this.#held.delete(key);
      throw err;
    }
  }

  async #release(lease: Lease): Promise<void> {
    const { session, key } = lease;
    try {
      if (!session.broken) await query(session, 'SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]);
    } catch (err) {
      // Unsure whether the server still holds it: drop the connection, which releases everything.
      this.#discard(session, err as Error);
    } finally {
      this.#held.delete(key);
    }
  }

  /**
   * Runs `run` while holding the lock named `key` (hashed to PostgreSQL's 64-bit key), or answers
   * `{locked: false}`. After `timeoutMs` the run is abandoned: the lock is released and, should the
   * run still reach its recording step later, `assertHeld` stops it. When the connection broke during
   * the run, its failure is reported as `lost(cause)`: another holder may have taken the key since.
   */
  async withLock<T>(key: string, opts: LockOptions, run: (assertHeld: AssertLockHeld) => Promise<T>): Promise<LockResult<T>> {
    const lease = await this.#acquire(key);
    if (!lease) return { locked: false };
    const own = new WeakSet<object>();
    const lost = (cause?: unknown) => {
      const err = opts.lost(cause);
      own.add(err);
      return err;
    };
    let timer: NodeJS.Timeout | undefined;
    const deadline = opts.timeoutMs === undefined ? null : new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const timedOut = opts.timeout?.() ?? lost();
        own.add(timedOut);
        lease.abandoned ??= timedOut;
        reject(lease.abandoned);
      }, opts.timeoutMs);
    });
    try {
      const running = run(() => { if (lease.abandoned || lease.session.broken) throw lost(); });
      running.catch(() => {}); // an abandoned run may still fail later; nobody awaits it then
      const value = await (deadline ? Promise.race([running, deadline]) : running);
      return { locked: true, value };
    } catch (err) {
      if (lease.session.broken && !(typeof err === 'object' && err !== null && own.has(err))) throw lost(err);
      throw err;
    } finally {
      clearTimeout(timer);
      await this.#release(lease);
    }
  }

  /** Ends the lock connection (every lock it holds is released; work still holding one loses it). */
  async close(): Promise<void> {
    this.#closed = true;
    const session = this.#session;
    this.#session = null;
    if (!session) return;
    session.broken ??= new Error('locks closed');
    await session.ready.catch(() => {});
    await session.client.end().catch(() => {});
  }
}

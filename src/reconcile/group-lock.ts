/**
 * At most one reconcile run per group at once, across every worker process: a PostgreSQL
 * session-level advisory lock on (tenant, guid), held for the length of the run.
 *
 * Every lock of a worker process lives on ONE dedicated connection of its own (not a pooled one): a
 * session may hold any number of advisory locks, so a process running hundreds of jobs at once
 * needs one connection for its locks, and the pool serves only the runs' short queries. (When each
 * run held a pooled connection for its lock and needed a second one for its queries, a concurrency
 * at or above the pool size could leave every connection holding a lock and none to query with.)
 * PostgreSQL's advisory locks are re-entrant within a session, so this process also keeps the set
 * of groups it holds and refuses a second run of the same group itself.
 *
 * Not transaction-scoped: a run spends most of its time waiting for Virgil. If the lock connection
 * breaks (database restart, terminated backend), the server drops every lock it held; each run
 * holding one learns it before recording anything (`assertHeld`), and the next lock opens a new
 * connection. (Locks held for other work, such as an import, take a pooled connection each:
 * src/db/session-lock.ts.)
 */
import pg from 'pg';
import type { AssertLockHeld, LockResult } from '../db/session-lock.js';
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

interface Lease { key: string; session: Session; lost: Error | null }

export class GroupLocks {
  #session: Session | null = null;
  /** Lock keys this process holds (a second run of a group here is refused like one elsewhere). */
  readonly #held = new Set<string>();
  #closed = false;

  /** `newClient` builds an unconnected client (see fromPool). */
  constructor(private readonly newClient: () => pg.Client) {}

  /** A client with the settings of `pool`, under its own application name. */
  static fromPool(pool: pg.Pool, applicationName = 'e2ee-extension-group-locks'): GroupLocks {
    const { connectionString, host, port, user, password, database, ssl } = pool.options;
    return new GroupLocks(() => new pg.Client({ connectionString, host, port, user, password, database, ssl, application_name: applicationName, keepAlive: true }));
  }

  #currentSession(): Session {
    if (this.#session && !this.#session.broken) return this.#session;
    const client = this.newClient();
    const session: Session = { client, ready: Promise.resolve(), broken: null, tail: Promise.resolve() };
    client.on('error', (err: Error) => this.#discard(session, err));
    client.on('end', () => this.#discard(session, new Error('the group lock connection ended')));
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
   * lock it held (so none is left behind unknown to us), and each run holding one sees it lost.
   */
  #discard(session: Session, err: Error): void {
    if (session.broken) return;
    session.broken = err;
    if (this.#session === session) this.#session = null;
    session.client.end().catch(() => {});
  }

  /** The lease of the group, or null when another run (here or in any process) holds it. */
  async #acquire(key: string): Promise<Lease | null> {
    if (this.#closed) throw new Error('group locks are closed');
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
      return { key, session, lost: null };
    } catch (err) {
      // Unsure whether the server granted it: a lock we do not know we hold would block the group.
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
   * Runs `run` while holding the group. After `timeoutMs` the run is abandoned: the group is
   * released (so it is not blocked by a hung call) and, should the run still reach its recording
   * step later, `assertHeld` stops it.
   */
  async withGroup<T>(tenantId: string, guid: string, timeoutMs: number, run: (assertHeld: AssertLockHeld) => Promise<T>): Promise<LockResult<T>> {
    // JSON keeps tenant and guid unambiguous; hashtextextended gives the 64-bit lock key.
    const lease = await this.#acquire(JSON.stringify(['e2ee-group', tenantId, guid]));
    if (!lease) return { locked: false };
    const lost = () => lease.lost ?? lease.session.broken;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        lease.lost ??= new ReconcileTimeoutError(timeoutMs);
        reject(lease.lost);
      }, timeoutMs);
    });
    try {
      const running = run(() => { if (lost()) throw new GroupLockLostError(); });
      running.catch(() => {}); // an abandoned run may still fail later; nobody awaits it then
      const value = await Promise.race([running, deadline]);
      return { locked: true, value };
    } catch (err) {
      if (lease.session.broken && !(err instanceof GroupLockLostError) && !(err instanceof ReconcileTimeoutError)) throw new GroupLockLostError({ cause: err });
      throw err;
    } finally {
      clearTimeout(timer);
      await this.#release(lease);
    }
  }

  /** Ends the lock connection (every lock it holds is released; runs still holding one lose it). */
  async close(): Promise<void> {
    this.#closed = true;
    const session = this.#session;
    this.#session = null;
    if (!session) return;
    session.broken ??= new Error('group locks closed');
    await session.ready.catch(() => {});
    await session.client.end().catch(() => {});
  }
}

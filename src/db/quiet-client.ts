/**
 * A node-postgres client whose connection errors never end the process.
 *
 * node-postgres emits 'error' on a client whose connection drops, and an 'error' event nobody
 * listens to ends the process. A pool listens only while a client is idle: a client checked out
 * between two queries (inside a transaction, or held by a library such as BullMQ, which removes its
 * listeners from its LISTEN client before ending it) has no listener at that moment. A database
 * going away then (a restart, a failover during a deploy, `npm run dev` stopping its embedded
 * PostgreSQL on SIGTERM) would crash the process. Such an error needs no handler of its own: the
 * client is no longer queryable, so its next query fails where the caller handles failures, and
 * the pool discards it on release instead of reusing it.
 */
import { PreparingClient } from './prepared-statements.js';

/** Also runs statements marked as prepared as named statements (prepared-statements.ts). */
export class QuietClient extends PreparingClient {
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'error' && this.listenerCount('error') === 0) return false;
    return super.emit(event, ...args);
  }
}

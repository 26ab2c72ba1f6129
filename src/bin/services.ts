/**
 * Wiring shared by the entry points: database (migrated), context with a queue-backed reconcile
 * requester, and an ordered list of things to close on shutdown.
 */
import closeWithGrace from 'close-with-grace';
import type { Logger } from 'pino';
import { createAppContext, type OwnedAppContext } from '../app/build-context.js';
import type { ServiceConfig } from '../config/config.js';
import { ed25519Engine } from '../crypto/ed25519.js';
import { createDatabase } from '../db/database.js';
import { migrate } from '../db/migrator.js';
import { ReconcileQueue } from '../reconcile/reconcile-queue.js';

export async function migrateDatabase(databaseUrl: string, log: Logger): Promise<void> {
  const handle = createDatabase(databaseUrl, { max: 1, applicationName: 'e2ee-extension-migrate' });
  try {
    const result = await migrate(handle.pool);
    if (result.applied.length > 0) log.info({ applied: result.applied }, 'database migrated');
  } finally {
    await handle.close();
  }
}

/** The process's context, and the queue it requests reconciles on (the worker takes jobs from it too). */
export async function openContext<C extends ServiceConfig>(
  config: C, log: Logger, urls: { databaseUrl: string; virgilApiUrl: string }, poolName: string,
): Promise<{ ctx: OwnedAppContext<C>; queue: ReconcileQueue }> {
  // Correct either way, but node:crypto signs Virgil JWTs at about half libsodium's speed.
  if (ed25519Engine.unavailableReason !== null) {
    log.warn({ reason: ed25519Engine.unavailableReason }, 'libsodium (sodium-native) did not load; Ed25519 signatures fall back to node:crypto');
  }
  let queue: ReconcileQueue | null = null;
  const ctx = await createAppContext(config, {
    log,
    ...urls,
    poolName,
    reconcile: (db, notifications) => (queue = new ReconcileQueue({ redisUrl: config.redisUrl, databaseUrl: urls.databaseUrl, log, db, notifications })),
  });
  return { ctx, queue: queue! };
}

/** Closes in reverse order of opening when the process is asked to stop (SIGINT/SIGTERM). */
export function closeOnSignal(log: Logger, closers: Array<() => Promise<unknown>>): void {
  closeWithGrace({ delay: 15_000 }, async ({ err, signal }) => {
    if (err) log.error({ err }, 'stopping after an error');
    else log.info({ signal }, 'stopping');
    for (const close of [...closers].reverse()) {
      await close().catch((e: unknown) => log.warn({ err: (e as Error).message }, 'error while stopping'));
    }
  });
}

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
  config: C, log: Logger, urls: { databaseUrl: string; virgilApiUrl: string }, poolName: string, opts: { maxCachedTenants?: number } = {},
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
    maxCachedTenants: opts.maxCachedTenants,
    reconcile: (db, notifications) => (queue = new ReconcileQueue({ redisUrl: config.redisUrl, databaseUrl: urls.databaseUrl, log, db, notifications })),
  });
  return { ctx, queue: queue! };
}

/** A repeat of the first stop signal within this long is the same request delivered twice. */
const REPEATED_SIGNAL_WINDOW_MS = 1_000;
const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Closes in reverse order of opening when the process is asked to stop (SIGINT/SIGTERM), or after
 * an uncaught error; gives up after 15 s.
 *
 * A second stop signal while stopping means "now": the process exits at once. Except the same
 * signal within a second of the first: under `npm run dev` a terminal's Ctrl-C reaches both npm and
 * this process (same process group), and npm forwards it once more, so the copy is ignored.
 */
export function closeOnSignal(log: Logger, closers: Array<() => Promise<unknown>>, now: () => number = Date.now): void {
  const grace = closeWithGrace({ delay: 15_000, skip: [...STOP_SIGNALS] }, async ({ err }) => {
    if (err) log.error({ err }, 'stopping after an error');
    for (const close of [...closers].reverse()) {
      await close().catch((e: unknown) => log.warn({ err: (e as Error).message }, 'error while stopping'));
    }
  });
  let first: { signal: string; at: number } | null = null;
  for (const signal of STOP_SIGNALS) {
    process.on(signal, () => {
      if (first === null) {
        first = { signal, at: now() };
        log.info({ signal }, 'stopping');
        void grace.close();
        return;
      }
      if (signal === first.signal && now() - first.at < REPEATED_SIGNAL_WINDOW_MS) return;
      log.error({ signal }, 'second stop signal while stopping; exiting now');
      process.exit(1);
    });
  }
}

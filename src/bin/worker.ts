/**
 * Production worker process: `npm run start:worker` (after `npm run build`). Reconciles Virgil groups
 * as each tenant's service identity. Run as many as needed; a group is worked on by one at a time.
 */
import { loadWorkerConfig, VIRGIL_CLOUD_URL } from '../config/config.js';
import { loadEnvFileIfPresent } from '../config/env-file.js';
import { createLogger } from '../lib/logger.js';
import { startWorker } from '../reconcile/worker.js';
import { exitOnStartupError } from './fatal.js';
import { closeOnSignal, migrateDatabase, openContext } from './services.js';

try {
  loadEnvFileIfPresent();
  const config = loadWorkerConfig(process.env);
  const databaseUrl = config.databaseUrl!;
  const log = createLogger({ level: config.logLevel, name: 'worker' });
  await migrateDatabase(databaseUrl, log);
  const virgilApiUrl = config.virgilApiUrl ?? VIRGIL_CLOUD_URL;
  // A job looks its tenant up once: the worker keeps about as many decoded tenants as service identities.
  const { ctx, queue } = await openContext(config, log, { databaseUrl, virgilApiUrl }, 'e2ee-extension-worker', { maxCachedTenants: config.worker.serviceIdentities });
  const worker = await startWorker(ctx, { queue, virgilApiUrl });
  log.info({ concurrency: config.worker.concurrency, queue: config.redisUrl ? 'redis' : 'postgres' }, 'worker started');
  closeOnSignal(log, [() => ctx.close(), () => queue.close(), () => worker.close()]);
} catch (err) {
  exitOnStartupError(err);
}

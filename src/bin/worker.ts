/**
 * Production worker process: `npm run start:worker` (after `npm run build`). Reconciles Virgil groups
 * as each tenant's service identity. Run as many as needed; a group is worked on by one at a time.
 */
import { loadConfig, ConfigError, VIRGIL_CLOUD_URL } from '../config/config.js';
import { createLogger } from '../lib/logger.js';
import { startWorker } from '../reconcile/worker.js';
import { exitOnStartupError } from './fatal.js';
import { closeOnSignal, migrateDatabase, openContext } from './services.js';

try {
  const config = loadConfig({ ADMIN_TOKENS: 'worker-does-not-serve-admin', ...process.env });
  if (!config.databaseUrl) throw new ConfigError('DATABASE_URL', 'is required');
  const log = createLogger({ level: config.logLevel, name: 'worker' });
  await migrateDatabase(config.databaseUrl, log);
  const virgilApiUrl = config.virgilApiUrl ?? VIRGIL_CLOUD_URL;
  const ctx = await openContext(config, log, { databaseUrl: config.databaseUrl, virgilApiUrl }, 'e2ee-extension-worker');
  const worker = await startWorker(ctx, { virgilApiUrl });
  log.info({ concurrency: config.worker.concurrency, queue: config.redisUrl ? 'redis' : 'postgres' }, 'worker started');
  closeOnSignal(log, [() => ctx.close(), () => ctx.reconcile.close(), () => worker.close()]);
} catch (err) {
  exitOnStartupError(err);
}

/**
 * Production worker process: `npm run start:worker` (after `npm run build`). Reconciles Virgil groups
 * as each tenant's service identity. Run as many as needed; a group is worked on by one at a time.
 * With WORKER_OPS_PORT it serves /health, /ready (database, queue, worker) and /metrics there.
 */
import { loadWorkerConfig, VIRGIL_CLOUD_URL } from '../config/config.js';
import { loadEnvFileIfPresent } from '../config/env-file.js';
import { createLogger } from '../lib/logger.js';
import { startWorker } from '../reconcile/worker.js';
import { readinessProbe, serviceChecks } from '../app/readiness.js';
import { buildWorkerOpsApp } from '../http/app.js';
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
  const closers: Array<() => Promise<unknown>> = [() => ctx.close(), () => queue.close(), () => worker.close()];
  if (config.worker.opsPort !== null) {
    const ready = readinessProbe(() => ({ ...serviceChecks(ctx), worker: () => worker.probe() }));
    const ops = await buildWorkerOpsApp({ log, metrics: ctx.metrics, ready });
    const url = await ops.listen({ host: config.worker.opsHost, port: config.worker.opsPort });
    log.info({ url }, 'worker health and metrics listening');
    closers.push(() => ops.close());
  }
  closeOnSignal(log, closers);
} catch (err) {
  exitOnStartupError(err);
}

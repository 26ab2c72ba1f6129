/**
 * Production API process: `npm start` (after `npm run build`). Needs DATABASE_URL; REDIS_URL for
 * the queue (else BullMQ on PostgreSQL); VIRGIL_API_URL unset means Virgil Cloud.
 */
import { loadApiConfig, VIRGIL_CLOUD_URL } from '../config/config.js';
import { loadEnvFileIfPresent } from '../config/env-file.js';
import { createLogger } from '../lib/logger.js';
import { buildAdminApp, buildApp } from '../http/app.js';
import { exitOnStartupError } from './fatal.js';
import { closeOnSignal, migrateDatabase, openContext } from './services.js';

try {
  loadEnvFileIfPresent();
  const config = loadApiConfig(process.env);
  const databaseUrl = config.databaseUrl!;
  const log = createLogger({ level: config.logLevel, name: 'api' });
  await migrateDatabase(databaseUrl, log);
  const { ctx, queue } = await openContext(config, log, { databaseUrl, virgilApiUrl: config.virgilApiUrl ?? VIRGIL_CLOUD_URL }, 'e2ee-extension-api');
  const app = await buildApp(ctx, { mountAdmin: config.adminPort === null });
  const closers: Array<() => Promise<unknown>> = [() => ctx.close(), () => queue.close(), () => app.close()];
  await app.listen({ host: config.host, port: config.port });
  if (config.adminPort !== null) {
    const admin = await buildAdminApp(ctx);
    await admin.listen({ host: config.adminHost, port: config.adminPort });
    closers.push(() => admin.close());
  }
  closeOnSignal(log, closers);
} catch (err) {
  exitOnStartupError(err);
}

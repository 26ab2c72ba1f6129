/**
 * Builds the shared parts (database, keyring, tenant directory and service, Virgil client) from a
 * Config. The caller supplies the reconcile requester (queue-backed in the API and worker).
 */
import type { Logger } from 'pino';
import type { ServiceConfig } from '../config/config.js';
import { Keyring } from '../crypto/envelope.js';
import { createDatabase, type Db } from '../db/database.js';
import { NotificationListener } from '../db/notification-listener.js';
import { queueProbeOf, type ReconcileRequester } from '../groups/reconcile-requester.js';
import { groupFigures } from '../groups/group-listing.js';
import { ServiceMetrics } from '../metrics/service-metrics.js';
import { TenantDirectory } from '../tenants/directory.js';
import { TenantService } from '../tenants/service.js';
import { VirgilCardPublisher } from '../virgil/cards.js';
import { CallerAuth } from '../auth/caller-auth.js';
import type { AppContext } from './context.js';

type CallerAuthJwks = { cacheMaxAgeMs: number; cooldownMs: number; timeoutMs: number };

export interface OwnedAppContext<C extends ServiceConfig = ServiceConfig> extends AppContext<C> {
  /** Closes what this context opened (listener, pool); not the reconcile requester. */
  close(): Promise<void>;
}

export async function createAppContext<C extends ServiceConfig>(
  config: C,
  opts: {
    log: Logger;
    databaseUrl: string;
    virgilApiUrl: string;
    /**
     * The requester, or a factory given the database and the process's notification listener (a
     * queue-backed one reuses the pool and keeps its view of pending registrations fresh with it).
     */
    reconcile: ReconcileRequester | ((db: Db, notifications: NotificationListener) => ReconcileRequester);
    poolName?: string;
    /** Decoded tenants kept in memory at most (default: the directory's). */
    maxCachedTenants?: number;
    /** The clock of caller authentication (JWKS caches, CometChat token caches); tests inject one. */
    now?: () => number;
  },
): Promise<OwnedAppContext<C>> {
  const { db, pool, close: closeDb } = createDatabase(opts.databaseUrl, { max: config.databasePoolSize, applicationName: opts.poolName });
  const keyring = new Keyring(config.masterKeys);
  // Process metrics (event loop, GC observers) are left out of test runs, which build many contexts.
  const metrics = new ServiceMetrics({ tenantLabel: config.metricsTenantLabel, processMetrics: config.mode !== 'test' });
  const virgil = new VirgilCardPublisher(opts.virgilApiUrl, (operation, status, seconds) => metrics.virgilRequest(operation, status, seconds));
  const notifications = new NotificationListener({ databaseUrl: opts.databaseUrl, log: opts.log });
  const tenants = new TenantDirectory(db, keyring, { ttlSeconds: config.tenantCacheTtlSeconds, notifications, maxCachedTenants: opts.maxCachedTenants });
  const tenantService = new TenantService(db, keyring, virgil, opts.log);
  const reconcile = typeof opts.reconcile === 'function' ? opts.reconcile(db, notifications) : opts.reconcile;
  const callerAuth = new CallerAuth({
    now: opts.now,
    cometchatApiUrl: config.cometchatApiUrl,
    ...('jwks' in config ? { jwks: (config as { jwks?: CallerAuthJwks }).jwks } : {}),
  });
  // After every subscriber is in place: they all LISTEN on the first connection.
  try {
    await notifications.start();
  } catch (err) {
    await closeDb();
    throw err;
  }
  const ctx: OwnedAppContext<C> = {
    config, db, pool, keyring, log: opts.log, tenants, tenantService, virgil, reconcile, notifications, metrics, callerAuth,
    async close() {
      await notifications.close();
      await closeDb();
    },
  };
  metrics.setSources({
    groups: (perTenant) => groupFigures(db, perTenant),
    // Looked up at scrape time: the requester may be replaced after the context is built (tests do).
    queue: async () => queueProbeOf(ctx.reconcile)?.jobCounts() ?? null,
  });
  return ctx;
}

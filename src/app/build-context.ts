/**
 * Builds the shared parts (database, keyring, tenant directory and service, Virgil client) from a
 * Config. The caller supplies the reconcile requester (queue-backed in the API and worker).
 */
import type { Logger } from 'pino';
import type { ServiceConfig } from '../config/config.js';
import { Keyring } from '../crypto/envelope.js';
import { createDatabase, type Db } from '../db/database.js';
import { NotificationListener } from '../db/notification-listener.js';
import type { ReconcileRequester } from '../groups/reconcile-requester.js';
import { TenantDirectory } from '../tenants/directory.js';
import { TenantService } from '../tenants/service.js';
import { VirgilCardPublisher } from '../virgil/cards.js';
import type { AppContext } from './context.js';

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
  },
): Promise<OwnedAppContext<C>> {
  const { db, pool, close: closeDb } = createDatabase(opts.databaseUrl, { max: config.databasePoolSize, applicationName: opts.poolName });
  const keyring = new Keyring(config.masterKeys);
  const virgil = new VirgilCardPublisher(opts.virgilApiUrl);
  const notifications = new NotificationListener({ databaseUrl: opts.databaseUrl, log: opts.log });
  const tenants = new TenantDirectory(db, keyring, { ttlSeconds: config.tenantCacheTtlSeconds, notifications, maxCachedTenants: opts.maxCachedTenants });
  const tenantService = new TenantService(db, keyring, virgil, opts.log);
  const reconcile = typeof opts.reconcile === 'function' ? opts.reconcile(db, notifications) : opts.reconcile;
  // After every subscriber is in place: they all LISTEN on the first connection.
  try {
    await notifications.start();
  } catch (err) {
    await closeDb();
    throw err;
  }
  return {
    config, db, pool, keyring, log: opts.log, tenants, tenantService, virgil, reconcile, notifications,
    async close() {
      await notifications.close();
      await closeDb();
    },
  };
}

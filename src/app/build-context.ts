/**
 * Builds the shared parts (database, keyring, tenant directory and service, Virgil client) from a
 * Config. The caller supplies the reconcile requester (queue-backed in the API and worker).
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { Keyring } from '../crypto/envelope.js';
import { createDatabase, type Db } from '../db/database.js';
import type { ReconcileRequester } from '../groups/reconcile-requester.js';
import { TenantDirectory } from '../tenants/directory.js';
import { TenantService } from '../tenants/service.js';
import { VirgilCardPublisher } from '../virgil/card-publisher.js';
import type { AppContext } from './context.js';

export interface OwnedAppContext extends AppContext {
  /** Closes what this context opened (listener, pool); not the reconcile requester. */
  close(): Promise<void>;
}

export async function createAppContext(
  config: Config,
  opts: {
    log: Logger;
    databaseUrl: string;
    virgilApiUrl: string;
    /** The requester, or a factory given the database (a queue-backed one reuses the pool). */
    reconcile: ReconcileRequester | ((db: Db) => ReconcileRequester);
    poolName?: string;
  },
): Promise<OwnedAppContext> {
  const { db, pool, close: closeDb } = createDatabase(opts.databaseUrl, { max: config.databasePoolSize, applicationName: opts.poolName });
  const keyring = new Keyring(config.masterKeys);
  const virgil = new VirgilCardPublisher(opts.virgilApiUrl);
  const tenants = new TenantDirectory(db, keyring, { ttlSeconds: config.tenantCacheTtlSeconds, databaseUrl: opts.databaseUrl, log: opts.log });
  await tenants.start();
  const tenantService = new TenantService(db, keyring, virgil, opts.log);
  const reconcile = typeof opts.reconcile === 'function' ? opts.reconcile(db) : opts.reconcile;
  return {
    config, db, pool, keyring, log: opts.log, tenants, tenantService, virgil, reconcile,
    async close() {
      await tenants.close();
      await closeDb();
    },
  };
}

/**
 * What the HTTP apps and the worker are built from. Everything is created once by an entry point
 * (src/bin/*) or by a test, and passed down; no module reaches for globals.
 */
import type { Logger } from 'pino';
import type pg from 'pg';
import type { ApiConfig, ServiceConfig } from '../config/config.js';
import type { Keyring } from '../crypto/envelope.js';
import type { Db } from '../db/database.js';
import type { NotificationListener } from '../db/notification-listener.js';
import type { TenantDirectory } from '../tenants/directory.js';
import type { TenantService } from '../tenants/service.js';
import type { VirgilCardPublisher } from '../virgil/cards.js';
import type { ReconcileRequester } from '../groups/reconcile-requester.js';
import type { ServiceMetrics } from '../metrics/service-metrics.js';
import type { CallerAuth } from '../auth/caller-auth.js';

/** `C`: the settings of the process it serves (ApiConfig, WorkerConfig, or both in development). */
export interface AppContext<C extends ServiceConfig = ServiceConfig> {
  config: C;
  db: Db;
  pool: pg.Pool;
  keyring: Keyring;
  log: Logger;
  /** Decoded, cached tenant settings for the request path; invalidated on every replica. */
  tenants: TenantDirectory;
  /** Onboarding and administration of tenants (writes). */
  tenantService: TenantService;
  /** Publishes cards on Virgil (the service identity card at onboarding). */
  virgil: VirgilCardPublisher;
  /** Asks the worker to reconcile a group; safe to call after the desired state has committed. */
  reconcile: ReconcileRequester;
  /** This process's LISTEN connection: caches that other processes invalidate subscribe here. */
  notifications: NotificationListener;
  /** This process's Prometheus metrics (one registry, shared by the API and the worker in one process). */
  metrics: ServiceMetrics;
  /** Authenticates extension API callers in each tenant's mode (jwt, jwks, cometchat). */
  callerAuth: CallerAuth;
}

/** What the HTTP apps are built from. */
export type ApiContext = AppContext<ApiConfig>;

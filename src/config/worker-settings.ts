/**
 * The worker process's own settings: concurrency and service identities, the outbox sweep,
 * retention, its ops port, Twilio drift repair, imports and CometChat drift repair.
 */
import { TWILIO_CONVERSATIONS_URL } from '../twilio/conversations-client.js';
import { int, str, url, type Env } from './env-readers.js';
import type { ServiceConfig } from './service-settings.js';

export interface WorkerConfig extends ServiceConfig {
  worker: {
    /** Jobs in flight at once: most of a run is waiting for Virgil, so many more than cores. */
    concurrency: number;
    /** Jobs of one tenant in flight at once in one worker process. */
    tenantConcurrency: number;
    /** Service identities (E3Kit instances) kept open at most; least recently used closed first. */
    serviceIdentities: number;
    sweepIntervalMs: number;
    webhookEventRetentionDays: number;
    /** How long the log of webhook deliveries (what operators list) is kept. */
    webhookDeliveryRetentionHours: number;
    /** How long audit entries are kept; 0: for good. */
    auditRetentionDays: number;
    /** The worker process's own port for /health, /ready and /metrics; null: none. */
    opsPort: number | null;
    opsHost: string;
  };
  /** Drift repair of Twilio tenants: where their REST API is, and how often each tenant is read. */
  twilio: { apiUrl: string; sweepIntervalSeconds: number };
  /** Imports and CometChat drift repair (src/imports). */
  imports: {
    batchSize: number; maxBacklog: number; pollIntervalMs: number; concurrency: number;
    /** Groups and members per CometChat page. */
    cometchatPageSize: number;
    driftRepairPollIntervalMs: number;
  };
}

export function workerSettings(env: Env): Omit<WorkerConfig, keyof ServiceConfig> {
  const concurrency = int(env, 'WORKER_CONCURRENCY', 32, 1, 512);
  return {
    worker: {
      concurrency,
      tenantConcurrency: int(env, 'WORKER_TENANT_CONCURRENCY', Math.max(1, Math.ceil((concurrency * 3) / 4)), 1, 512),
      serviceIdentities: int(env, 'WORKER_SERVICE_IDENTITIES', 1_000, 1, 1_000_000),
      sweepIntervalMs: int(env, 'OUTBOX_SWEEP_INTERVAL_MS', 5000, 100, 3_600_000),
      webhookEventRetentionDays: int(env, 'WEBHOOK_EVENT_RETENTION_DAYS', 30, 1, 3650),
      webhookDeliveryRetentionHours: int(env, 'WEBHOOK_DELIVERY_RETENTION_HOURS', 72, 1, 24 * 365),
      auditRetentionDays: int(env, 'AUDIT_RETENTION_DAYS', 400, 0, 36_500),
      opsPort: str(env, 'WORKER_OPS_PORT') === undefined ? null : int(env, 'WORKER_OPS_PORT', 0, 0, 65535),
      opsHost: str(env, 'WORKER_OPS_HOST') ?? '127.0.0.1',
    },
    twilio: {
      apiUrl: url(env, 'TWILIO_API_URL', ['http:', 'https:'])?.replace(/\/+$/, '') ?? TWILIO_CONVERSATIONS_URL,
      sweepIntervalSeconds: int(env, 'TWILIO_SWEEP_INTERVAL_SECONDS', 900, 10, 86_400),
    },
    imports: {
      batchSize: int(env, 'IMPORT_BATCH_SIZE', 500, 1, 1000),
      maxBacklog: int(env, 'IMPORT_MAX_BACKLOG', 500, 1, 10_000_000),
      pollIntervalMs: int(env, 'IMPORT_POLL_INTERVAL_MS', 2_000, 50, 3_600_000),
      concurrency: int(env, 'IMPORT_CONCURRENCY', 2, 1, 64),
      cometchatPageSize: int(env, 'COMETCHAT_PAGE_SIZE', 1000, 1, 1000),
      driftRepairPollIntervalMs: int(env, 'DRIFT_REPAIR_POLL_INTERVAL_MS', 30_000, 50, 3_600_000),
    },
  };
}


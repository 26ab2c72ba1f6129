/**
 * Configuration: read from the environment once at start, validated, and passed down as a frozen
 * object. Nothing else in the code reads process.env. Each process loads only the settings it uses
 * (the API, the worker, `npm run dev` which runs both, and the migrate and re-wrap commands), so no
 * process needs a placeholder for a setting it never reads. A bad setting throws a ConfigError naming
 * it, which the entry points print as one line before exiting.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import type { MasterKey } from '../crypto/envelope.js';
import { VIRGIL_CLOUD_URL } from '../virgil/cards.js';
import { TWILIO_CONVERSATIONS_URL } from '../twilio/conversations-client.js';
import { DEFAULT_COMETCHAT_API_URL } from '../cometchat/rest-client.js';

export type RunMode = 'development' | 'production' | 'test';

/** What every long-running process (API, worker) needs: the database, secrets, Virgil, the queue. */
export interface ServiceConfig {
  mode: RunMode;
  logLevel: string;
  /** null: embedded PostgreSQL (development only). */
  databaseUrl: string | null;
  databasePoolSize: number;
  /** null: BullMQ on PostgreSQL. */
  redisUrl: string | null;
  /** null in development: the embedded emulator. Production default: Virgil Cloud. */
  virgilApiUrl: string | null;
  /** The first key seals new values; every key can open values sealed with it. */
  masterKeys: MasterKey[];
  tenantCacheTtlSeconds: number;
  /** Add a `tenant` label to the webhook, reconcile and group metrics (METRICS_TENANT_LABEL). */
  metricsTenantLabel: boolean;
  /** COMETCHAT_API_URL: CometChat's REST base URL, with `{appId}` and `{region}` filled in per tenant. */
  cometchatApiUrl: string;
}

export interface ApiConfig extends ServiceConfig {
  host: string;
  port: number;
  /** When set, the admin API listens on its own port instead of under /admin on the public one. */
  adminPort: number | null;
  adminHost: string;
  adminTokens: string[];
  trustProxy: TrustProxySetting;
  bodyLimitBytes: number;
  rateLimit: {
    tenantPerMinute: number; userPerMinute: number; adminPerMinute: number;
    /** Failed admin attempts per minute from all sources together (per process; fleet-wide with Redis). */
    adminFailuresPerMinute: number;
    /** With REDIS_URL: how often each process sends its counts to Redis and learns the fleet's. */
    syncIntervalMs: number;
  };
  /** How long a client may take: the whole request, its header block, the idle gap between requests. */
  httpTimeouts: { requestMs: number; headersMs: number; keepAliveMs: number };
  /** Total bytes of webhook bodies this process receives and holds at once. */
  webhookBodyBytesInFlight: number;
  /** Identity providers' key sets (userAuth type jwks): refresh age, refetch cooldown, fetch timeout. */
  jwks: { cacheMaxAgeMs: number; cooldownMs: number; timeoutMs: number };
  /** Largest part of an NDJSON import upload (one request). */
  importPartMaxBytes: number;
}

/**
 * TRUST_PROXY: `false` (default; the socket's address is the client), `true` (every hop is trusted,
 * so the left-most X-Forwarded-For entry, which the client writes, is the address), a hop count, or
 * the addresses/CIDRs of the proxies to trust.
 */
export type TrustProxySetting = boolean | number | string[];

const PROXY_ADDRESS_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

function trustProxyFrom(env: Env): TrustProxySetting {
  const raw = str(env, 'TRUST_PROXY');
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return int(env, 'TRUST_PROXY', 0, 0, 100);
  const entries = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const entry of entries) {
    if (PROXY_ADDRESS_NAMES.includes(entry)) continue;
    const [address, prefix, extra] = entry.split('/');
    const family = isIP(address);
    const maxPrefix = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= maxPrefix);
    if (family === 0 || !prefixOk || extra !== undefined) {
      throw new ConfigError('TRUST_PROXY', `must be true, false, a hop count, or comma-separated proxy addresses/CIDRs (or loopback, linklocal, uniquelocal); "${entry}" is none of these`);
    }
  }
  return entries;
}

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

/** `npm run dev`: the API and the worker in one process, plus the embedded parts. */
export interface DevConfig extends ApiConfig, WorkerConfig {
  /** Git-ignored folder for development state (embedded PostgreSQL, generated keys, emulator data). */
  dataDir: string;
  embeddedPostgresPort: number;
  emulatorPort: number;
}

export interface DatabaseCommandConfig { databaseUrl: string }
export interface RewrapConfig extends DatabaseCommandConfig { masterKeys: MasterKey[] }

export class ConfigError extends Error {
  constructor(readonly setting: string, message: string) {
    super(`${setting}: ${message}`);
    this.name = 'ConfigError';
  }
}

export { VIRGIL_CLOUD_URL };
export { DEFAULT_COMETCHAT_API_URL };
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export type Env = Record<string, string | undefined>;

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (!protocols.includes(parsed.protocol)) throw new ConfigError(name, `must use ${protocols.join(' or ')}`);
  return raw;
}

/** `MASTER_KEYS=id1:base64(32 bytes),id2:base64(32 bytes)`; the first one seals new values. */
export function parseMasterKeys(raw: string, setting = 'MASTER_KEYS'): MasterKey[] {
  const keys: MasterKey[] = [];
  for (const item of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const sep = item.indexOf(':');
    const id = sep > 0 ? item.slice(0, sep) : '';
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new ConfigError(setting, 'each entry must be "<keyId>:<base64 of 32 bytes>" with a key id of 1-32 letters, digits, _ or -');
    const key = Buffer.from(item.slice(sep + 1), 'base64');
    if (key.length !== 32) throw new ConfigError(setting, `key "${id}" must be 32 bytes of base64`);
    if (keys.some((k) => k.id === id)) throw new ConfigError(setting, `key id "${id}" appears twice`);
    keys.push({ id, key });
  }
  if (keys.length === 0) throw new ConfigError(setting, 'must contain at least one key');
  return keys;
}

/** The development data folder, needed before the rest of the configuration can be read. */
export function dataDirFrom(env: Env): string {
  return path.resolve(str(env, 'DATA_DIR') ?? '.data');
}

/** Generated values `npm run dev` keeps in its data folder, used when the setting is unset. */
export interface DevDefaults { adminToken?: string; masterKeys?: string }

function modeOf(env: Env): RunMode {
  const raw = str(env, 'NODE_ENV') ?? 'development';
  return raw === 'production' ? 'production' : raw === 'test' ? 'test' : 'development';
}

function masterKeysFrom(env: Env, fallback?: string): MasterKey[] {
  const raw = str(env, 'MASTER_KEYS') ?? fallback;
  if (!raw) throw new ConfigError('MASTER_KEYS', 'is required ("<keyId>:<base64 of 32 bytes>", comma-separated)');
  return parseMasterKeys(raw);
}

function requiredDatabaseUrl(env: Env, hint = ''): string {
  const databaseUrl = url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']);
  if (!databaseUrl) throw new ConfigError('DATABASE_URL', `is required${hint}`);
  return databaseUrl;
}

function serviceConfig(env: Env, devDefaults: DevDefaults, opts: { databaseRequired: boolean }): ServiceConfig {
  const mode = modeOf(env);
  const isProd = mode === 'production';
  const databaseUrl = opts.databaseRequired || isProd
    ? requiredDatabaseUrl(env, ' (npm run dev starts an embedded PostgreSQL instead)')
    : url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']) ?? null;
  const logLevel = str(env, 'LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);
  return {
    mode,
    logLevel,
    databaseUrl,
    databasePoolSize: int(env, 'DATABASE_POOL_SIZE', 10, 1, 200),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']) ?? null,
    virgilApiUrl: url(env, 'VIRGIL_API_URL', ['http:', 'https:'])?.replace(/\/+$/, '') ?? (isProd ? VIRGIL_CLOUD_URL : null),
    masterKeys: masterKeysFrom(env, devDefaults.masterKeys),
    tenantCacheTtlSeconds: int(env, 'TENANT_CACHE_TTL_SECONDS', 300, 1, 86_400),
    metricsTenantLabel: bool(env, 'METRICS_TENANT_LABEL', false),
    cometchatApiUrl: cometchatApiUrlFrom(env),
  };
}

function cometchatApiUrlFrom(env: Env): string {
  const template = str(env, 'COMETCHAT_API_URL') ?? DEFAULT_COMETCHAT_API_URL;
  // Checked with the placeholders filled in, as it will be used.
  const sample = template.replaceAll('{appId}', 'app').replaceAll('{region}', 'us');
  url({ COMETCHAT_API_URL: sample }, 'COMETCHAT_API_URL', ['http:', 'https:']);
  return template.replace(/\/+$/, '');
}

function apiSettings(env: Env, devDefaults: DevDefaults, isProd: boolean): Omit<ApiConfig, keyof ServiceConfig> {
  const adminTokensRaw = str(env, 'ADMIN_TOKENS') ?? devDefaults.adminToken;
  if (!adminTokensRaw) throw new ConfigError('ADMIN_TOKENS', 'is required (comma-separated bearer tokens for the admin API)');
  const adminTokens = adminTokensRaw.split(',').map((s) => s.trim()).filter(Boolean);
  if (adminTokens.some((t) => t.length < 16)) throw new ConfigError('ADMIN_TOKENS', 'each token must be at least 16 characters');
  const adminPortRaw = str(env, 'ADMIN_PORT');
  // A whole request within 30 s (a 1 MiB webhook needs far less even at 1 Mbit/s, and CometChat
  // gives up after 2 s anyway); headers (at most 16 KiB) within 10 s; an idle keep-alive connection
  // kept 72 s, longer than the 60 s idle timeout of common load balancers (AWS ALB, nginx), so the
  // balancer always closes first and never reuses a connection the service is closing.
  const requestMs = int(env, 'HTTP_REQUEST_TIMEOUT_MS', 30_000, 1000, 600_000);
  const headersMs = int(env, 'HTTP_HEADERS_TIMEOUT_MS', Math.min(10_000, requestMs), 1000, 600_000);
  if (headersMs > requestMs) throw new ConfigError('HTTP_HEADERS_TIMEOUT_MS', `must not exceed HTTP_REQUEST_TIMEOUT_MS (${requestMs})`);
  return {
    host: str(env, 'HOST') ?? (isProd ? '0.0.0.0' : '127.0.0.1'),
    port: int(env, 'PORT', 3000, 0, 65535),
    adminPort: adminPortRaw === undefined ? null : int(env, 'ADMIN_PORT', 0, 0, 65535),
    adminHost: str(env, 'ADMIN_HOST') ?? '127.0.0.1',
    adminTokens,
    trustProxy: trustProxyFrom(env),
    bodyLimitBytes: int(env, 'BODY_LIMIT_BYTES', 256 * 1024, 1024, 10 * 1024 * 1024),
    rateLimit: {
      tenantPerMinute: int(env, 'RATE_LIMIT_TENANT_PER_MINUTE', 600_000, 1, 100_000_000),
      userPerMinute: int(env, 'RATE_LIMIT_USER_PER_MINUTE', 600, 1, 10_000_000),
      adminPerMinute: int(env, 'RATE_LIMIT_ADMIN_PER_MINUTE', 600, 1, 10_000_000),
      // Twice what one network may fail, so a single noisy network cannot use it all up; capped so
      // the per-network failure counters (one per counted failure at most) stay small.
      adminFailuresPerMinute: int(env, 'RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE', 1200, 1, 100_000),
      syncIntervalMs: int(env, 'RATE_LIMIT_SYNC_INTERVAL_MS', 200, 10, 10_000),
    },
    httpTimeouts: { requestMs, headersMs, keepAliveMs: int(env, 'HTTP_KEEP_ALIVE_TIMEOUT_MS', 72_000, 1000, 3_600_000) },
    // At least one largest webhook body must fit, or no large delivery could ever be accepted.
    webhookBodyBytesInFlight: int(env, 'WEBHOOK_BODY_BYTES_IN_FLIGHT', 64 * 1024 * 1024, 1024 * 1024, 1024 * 1024 * 1024),
    jwks: {
      cacheMaxAgeMs: int(env, 'JWKS_CACHE_MAX_AGE_MS', 600_000, 1_000, 86_400_000),
      cooldownMs: int(env, 'JWKS_COOLDOWN_MS', 30_000, 0, 3_600_000),
      timeoutMs: int(env, 'JWKS_TIMEOUT_MS', 5_000, 100, 60_000),
    },
    importPartMaxBytes: int(env, 'IMPORT_PART_MAX_BYTES', 64 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  };
}

function workerSettings(env: Env): Omit<WorkerConfig, keyof ServiceConfig> {
  const concurrency = int(env, 'WORKER_CONCURRENCY', 32, 1, 512);
  return {
    worker: {
      concurrency,
      tenantConcurrency: int(env, 'WORKER_TENANT_CONCURRENCY', Math.max(1, Math.ceil((concurrency * 3) / 4)), 1, 512),
      serviceIdentities: int(env, 'WORKER_SERVICE_IDENTITIES', 1_000, 1, 1_000_000),
      sweepIntervalMs: int(env, 'OUTBOX_SWEEP_INTERVAL_MS', 5000, 100, 3_600_000),
      webhookEventRetentionDays: int(env, 'WEBHOOK_EVENT_RETENTION_DAYS', 30, 1, 3650),
      webhookDeliveryRetentionHours: int(env, 'WEBHOOK_DELIVERY_RETENTION_HOURS', 72, 1, 24 * 365),
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

/** The API process (`npm start`). */
export function loadApiConfig(env: Env): ApiConfig {
  const service = serviceConfig(env, {}, { databaseRequired: true });
  return Object.freeze({ ...service, ...apiSettings(env, {}, service.mode === 'production') });
}

/** The worker process (`npm run start:worker`). */
export function loadWorkerConfig(env: Env): WorkerConfig {
  return Object.freeze({ ...serviceConfig(env, {}, { databaseRequired: true }), ...workerSettings(env) });
}

/**
 * `npm run dev` and the tests: both processes' settings in one. Settings left unset fall back to
 * embedded parts; `devDefaults` supplies generated values (admin token, master key).
 */
export function loadDevConfig(env: Env, devDefaults: DevDefaults = {}): DevConfig {
  const service = serviceConfig(env, devDefaults, { databaseRequired: false });
  return Object.freeze({
    ...service,
    ...apiSettings(env, devDefaults, service.mode === 'production'),
    ...workerSettings(env),
    dataDir: dataDirFrom(env),
    embeddedPostgresPort: int(env, 'EMBEDDED_PG_PORT', 54329, 1, 65535),
    emulatorPort: int(env, 'EMULATOR_PORT', 8787, 0, 65535),
  });
}

/** `npm run import`: where the admin API is and the token to call it with. */
export interface ImportCommandConfig { adminUrl: string; adminToken: string }

export function loadImportCommandConfig(env: Env): ImportCommandConfig {
  const adminUrl = url(env, 'E2EE_ADMIN_URL', ['http:', 'https:']) ?? `http://127.0.0.1:${int(env, 'PORT', 3000, 1, 65535)}/admin`;
  const adminToken = str(env, 'E2EE_ADMIN_TOKEN') ?? str(env, 'ADMIN_TOKENS')?.split(',')[0].trim();
  if (!adminToken) throw new ConfigError('E2EE_ADMIN_TOKEN', 'is required (an admin token; the first of ADMIN_TOKENS is used when it is unset)');
  return Object.freeze({ adminUrl: adminUrl.replace(/\/+$/, ''), adminToken });
}

/** `npm run migrate`. */
export function loadMigrateConfig(env: Env): DatabaseCommandConfig {
  return Object.freeze({ databaseUrl: requiredDatabaseUrl(env) });
}

/** `npm run rewrap-secrets`. */
export function loadRewrapConfig(env: Env): RewrapConfig {
  return Object.freeze({ databaseUrl: requiredDatabaseUrl(env), masterKeys: masterKeysFrom(env) });
}

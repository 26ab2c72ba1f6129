/**
 * The settings every long-running process (API, worker, `npm run dev`) shares: run mode, log level,
 * the database, the queue backend, Virgil, the master keys, the tenant cache, metrics, CometChat.
 */
import type { MasterKey } from '../crypto/envelope.js';
import { DEFAULT_COMETCHAT_API_URL } from '../cometchat/rest-client.js';
import { VIRGIL_CLOUD_URL } from '../virgil/cards.js';
import { bool, ConfigError, int, str, url, type Env } from './env-readers.js';

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

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

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

/** Generated values `npm run dev` keeps in its data folder, used when the setting is unset. */
export interface DevDefaults { adminToken?: string; masterKeys?: string }

function modeOf(env: Env): RunMode {
  const raw = str(env, 'NODE_ENV') ?? 'development';
  return raw === 'production' ? 'production' : raw === 'test' ? 'test' : 'development';
}

export function masterKeysFrom(env: Env, fallback?: string): MasterKey[] {
  const raw = str(env, 'MASTER_KEYS') ?? fallback;
  if (!raw) throw new ConfigError('MASTER_KEYS', 'is required ("<keyId>:<base64 of 32 bytes>", comma-separated)');
  return parseMasterKeys(raw);
}

export function requiredDatabaseUrl(env: Env, hint = ''): string {
  const databaseUrl = url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']);
  if (!databaseUrl) throw new ConfigError('DATABASE_URL', `is required${hint}`);
  return databaseUrl;
}

export function serviceConfig(env: Env, devDefaults: DevDefaults, opts: { databaseRequired: boolean }): ServiceConfig {
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


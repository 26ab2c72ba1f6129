/**
 * Configuration: read from the environment once at start, validated, and passed down as a frozen
 * object. Nothing else in the code reads process.env. Each process loads only the settings it uses
 * (the API, the worker, `npm run dev` which runs both, and the migrate and re-wrap commands), so no
 * process needs a placeholder for a setting it never reads. A bad setting throws a ConfigError naming
 * it, which the entry points print as one line before exiting.
 */
import path from 'node:path';
import type { MasterKey } from '../crypto/envelope.js';
import { apiSettings, type ApiConfig } from './api-settings.js';
import { ConfigError, int, str, url, type Env } from './env-readers.js';
import { masterKeysFrom, requiredDatabaseUrl, serviceConfig, type DevDefaults } from './service-settings.js';
import { workerSettings, type WorkerConfig } from './worker-settings.js';

export type { ApiConfig, TrustProxySetting } from './api-settings.js';
export { ConfigError, type Env } from './env-readers.js';
export { parseMasterKeys, type DevDefaults, type RunMode, type ServiceConfig } from './service-settings.js';
export type { WorkerConfig } from './worker-settings.js';
export { VIRGIL_CLOUD_URL } from '../virgil/cards.js';
export { DEFAULT_COMETCHAT_API_URL } from '../cometchat/rest-client.js';

/** `npm run dev`: the API and the worker in one process, plus the embedded parts. */
export interface DevConfig extends ApiConfig, WorkerConfig {
  /** Git-ignored folder for development state (embedded PostgreSQL, generated keys, emulator data). */
  dataDir: string;
  embeddedPostgresPort: number;
  emulatorPort: number;
}

export interface DatabaseCommandConfig { databaseUrl: string }
export interface RewrapConfig extends DatabaseCommandConfig { masterKeys: MasterKey[] }

/** The development data folder, needed before the rest of the configuration can be read. */
export function dataDirFrom(env: Env): string {
  return path.resolve(str(env, 'DATA_DIR') ?? '.data');
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

/**
 * The API process's own settings: listening, admin tokens, proxies, body and time limits, rate
 * limits, identity providers' key sets, import uploads.
 */
import { isIP } from 'node:net';
import { ConfigError, int, str, type Env } from './env-readers.js';
import type { DevDefaults, ServiceConfig } from './service-settings.js';

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

export function apiSettings(env: Env, devDefaults: DevDefaults, isProd: boolean): Omit<ApiConfig, keyof ServiceConfig> {
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


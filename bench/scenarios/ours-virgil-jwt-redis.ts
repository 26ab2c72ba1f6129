/**
 * Our service with REDIS_URL set: GET /v1/virgil-jwt with the rate-limit counters shared through
 * Redis (local decisions, synced every RATE_LIMIT_SYNC_INTERVAL_MS). A second API process of the
 * production entry point, next to the plain one, on its own database (same PostgreSQL server) and a
 * throwaway redis-server, with the same callers: the difference between the two rows is what the
 * shared counters cost. Each process generation gets a fresh redis-server; the database and its
 * tenant are made once.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { findRedisServer, startRedis } from '../../src/local/redis-server.js';
import { freePort } from '../../src/local/free-port.js';
import { startChildServer } from '../lib/child-server.js';
import { loadScenario, type LoadOptions } from '../lib/load.js';
import { preflight } from '../lib/preflight.js';
import type { BenchContext, Scenario } from '../lib/types.js';

export const OURS_VIRGIL_JWT_REDIS_ID = 'ours-virgil-jwt-redis';
const APP_ID = 'bench-app-redis';

interface Setup { databaseUrl: string; adminToken: string; masterKeys: string; onboarded: boolean }
let setup: Setup | null = null;

async function databaseFor(ctx: BenchContext): Promise<Setup> {
  if (setup) return setup;
  const service = ctx.service!;
  const name = `bench_redis_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: service.databaseUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(service.databaseUrl);
  url.pathname = `/${name}`;
  setup = { databaseUrl: url.toString(), adminToken: randomBytes(24).toString('base64url'), masterKeys: `bench:${randomBytes(32).toString('base64')}`, onboarded: false };
  return setup;
}

export const oursVirgilJwtRedis: Scenario = {
  id: OURS_VIRGIL_JWT_REDIS_ID,
  name: 'ours with Redis counters: GET /v1/virgil-jwt',
  needsService: true,
  async prepare(ctx) {
    const service = ctx.service!;
    const redisBin = findRedisServer();
    if (!redisBin) throw new Error('redis-server is not installed (Debian/Ubuntu: apt-get install -y redis-server)');
    const s = await databaseFor(ctx);
    const redis = await startRedis(redisBin);
    const port = await freePort();
    let server;
    try {
      server = await startChildServer('api-redis', new URL('../../src/bin/api.ts', import.meta.url), {
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: String(port),
        DATABASE_URL: s.databaseUrl,
        REDIS_URL: redis.url,
        VIRGIL_API_URL: service.emulatorUrl,
        ADMIN_TOKENS: s.adminToken,
        MASTER_KEYS: s.masterKeys,
        LOG_LEVEL: 'warn',
      }, { health: { port, path: '/health' } });
    } catch (err) {
      await redis.stop();
      throw err;
    }
    const stop = async () => {
      await server.stop();
      await redis.stop();
    };
    try {
      if (!s.onboarded) {
        const res = await fetch(`${server.url}/admin/v1/tenants`, {
          method: 'POST',
          headers: { authorization: `Bearer ${s.adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ appId: APP_ID, virgil: service.virgil, userAuth: { algorithm: 'HS256', secret: ctx.callers.secret } }),
        });
        if (res.status !== 201) throw new Error(`onboarding the Redis benchmark tenant failed: ${res.status} ${await res.text()}`);
        s.onboarded = true;
      }
      const headerRotation = ctx.callers.tokens.map((t) => ({ appid: APP_ID, authorization: `Bearer ${t}` }));
      await preflight(`${server.url}/v1/virgil-jwt`, { headers: headerRotation[0] }, (b) => {
        const data = (b as { data?: { virgilToken?: string } }).data;
        return data?.virgilToken ? null : 'no Virgil JWT in data.virgilToken';
      });
      const load: LoadOptions = { url: server.url, method: 'GET', path: '/v1/virgil-jwt', headerRotation, connections: ctx.connections };
      return loadScenario(load, { note: `${headerRotation.length} distinct users, counters in Redis`, stop });
    } catch (err) {
      await stop();
      throw err;
    }
  },
};

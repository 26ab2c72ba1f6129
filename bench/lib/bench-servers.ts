/**
 * The servers both worker benchmarks run on, all on loopback: a throwaway embedded PostgreSQL, a
 * throwaway redis-server, the Virgil emulator and the call-counting proxy in front of it. Each one
 * started adds its stop to `stops` (the caller stops them in reverse order).
 */
import { startEmulator, type RunningEmulator } from '../../src/http/emulator/index.js';
import { startThrowawayPostgres } from '../../src/local/embedded-postgres.js';
import { findRedisServer, startRedis } from '../../src/local/redis-server.js';
import { startCountingProxy, type CountingProxy } from './counting-proxy.js';

export interface BenchServers {
  databaseUrl: string;
  redisUrl: string;
  emulator: RunningEmulator;
  /** Point VIRGIL_API_URL here to count the calls. */
  proxy: CountingProxy;
}

export async function startBenchServers(stops: Array<() => Promise<unknown>>): Promise<BenchServers> {
  const redisBin = findRedisServer();
  if (!redisBin) throw new Error('redis-server is not installed (Debian/Ubuntu: apt-get install -y redis-server)');
  const pg = await startThrowawayPostgres();
  stops.push(() => pg.stop());
  const redis = await startRedis(redisBin);
  stops.push(() => redis.stop());
  const emulator = await startEmulator({ port: 0 });
  stops.push(() => emulator.close());
  const proxy = await startCountingProxy(emulator.url);
  stops.push(() => proxy.close());
  return { databaseUrl: pg.url, redisUrl: redis.url, emulator, proxy };
}

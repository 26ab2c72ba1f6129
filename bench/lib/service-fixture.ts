/**
 * Our service as the benchmark runs it: a throwaway embedded PostgreSQL (temp dir); the Virgil
 * emulator in this process (it only serves onboarding, never the measured requests); the real
 * production API entry point (src/bin/api.ts: migrations, queue-backed group requests on
 * PostgreSQL, LOG_LEVEL=warn) in a child process; and one tenant onboarded through the admin API
 * with the benchmark's caller secret (HS256). `restartApi()` replaces the API process (same port,
 * same database and tenant) so that a run can spread its rounds over several processes.
 */
import { randomBytes } from 'node:crypto';
import { startEmulator } from '../../src/http/emulator/index.js';
import { startThrowawayPostgres } from '../../src/local/embedded-postgres.js';
import { freePort } from '../../src/local/free-port.js';
import { startChildServer } from './child-server.js';
import type { ServiceFixture } from './types.js';

export interface RunningService {
  fixture: ServiceFixture;
  /** Stops the API process and starts a fresh one on the same port, database and tenant. */
  restartApi(): Promise<void>;
  stop(): Promise<void>;
}

export const BENCH_APP_ID = 'bench-app';

export async function startService(callerSecret: string): Promise<RunningService> {
  const stops: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch((err) => console.error(`  cleanup: ${(err as Error).message}`));
  };
  try {
    const pg = await startThrowawayPostgres();
    stops.push(() => pg.stop());
    const emulator = await startEmulator({ port: 0 });
    stops.push(() => emulator.close());
    const virgil = await emulator.createApp();

    const adminToken = randomBytes(24).toString('base64url');
    const port = await freePort();
    const env = {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: pg.url,
      VIRGIL_API_URL: emulator.url,
      ADMIN_TOKENS: adminToken,
      MASTER_KEYS: `bench:${randomBytes(32).toString('base64')}`,
      LOG_LEVEL: 'warn',
    };
    const startApi = () => startChildServer('api', new URL('../../src/bin/api.ts', import.meta.url), env, { health: { port, path: '/health' } });
    let server = await startApi();
    stops.push(() => server.stop());

    const res = await fetch(`${server.url}/admin/v1/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ appId: BENCH_APP_ID, virgil, userAuth: { algorithm: 'HS256', secret: callerSecret } }),
    });
    if (res.status !== 201) throw new Error(`onboarding the benchmark tenant failed: ${res.status} ${await res.text()}`);

    const fixture: ServiceFixture = { url: server.url, appId: BENCH_APP_ID, adminToken, databaseUrl: pg.url, emulatorUrl: emulator.url, virgil, pid: server.pid };
    return {
      fixture,
      async restartApi() {
        await server.stop();
        server = await startApi();
        fixture.pid = server.pid;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

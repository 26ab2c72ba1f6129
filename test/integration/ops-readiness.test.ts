/**
 * Readiness against real outages: an API process and a worker on their own PostgreSQL (embedded,
 * stopped and started again on the same data) and their own redis-server. /ready answers 503
 * NOT_READY naming the dependency that is down and 200 again once it is back; /health never
 * depends on anything. The worker's port also reports its BullMQ worker.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import t from 'tap';
import { createAppContext } from '../../src/app/build-context.js';
import { readinessProbe, serviceChecks } from '../../src/app/readiness.js';
import { loadDevConfig } from '../../src/config/config.js';
import { createDatabase } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrator.js';
import { buildApp, buildWorkerOpsApp } from '../../src/http/app.js';
import { startEmulator } from '../../src/http/emulator/index.js';
import { createLogger } from '../../src/lib/logger.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../../src/local/embedded-postgres.js';
import { freePort } from '../../src/local/free-port.js';
import { findRedisServer, startRedis } from '../../src/local/redis-server.js';
import { ReconcileQueue } from '../../src/reconcile/reconcile-queue.js';
import { startWorker } from '../../src/reconcile/worker.js';
import { FAST_WORKER } from '../helpers/worker-stack.js';
import { waitFor } from '../helpers/wait.js';

const dir = await mkdtemp(path.join(tmpdir(), 'e2ee-ready-pg-'));
const pgPort = await freePort();
let pg: RunningPostgres = await startEmbeddedPostgres({ dir, port: pgPort, ephemeral: true });
t.teardown(async () => {
  await pg.stop().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});
const migration = createDatabase(pg.url, { max: 1 });
await migrate(migration.pool);
await migration.close();

let redis = await startRedis(findRedisServer()!);
t.teardown(() => redis.stop());

const emulator = await startEmulator({ port: 0 });
t.teardown(() => emulator.close());
const config = loadDevConfig({
  NODE_ENV: 'test', ADMIN_TOKENS: randomBytes(24).toString('base64url'), MASTER_KEYS: `k1:${randomBytes(32).toString('base64')}`,
  DATABASE_URL: pg.url, REDIS_URL: redis.url, VIRGIL_API_URL: emulator.url, LOG_LEVEL: 'info',
});
// Outages make the pool, the listener and the queue log warnings; they are expected here.
const log = createLogger({ level: 'error', destination: new Writable({ write(_chunk, _enc, cb) { cb(); } }) });
const queue = new ReconcileQueue({ redisUrl: redis.url, log, prefix: `t${randomBytes(5).toString('hex')}`, enqueueTimeoutMs: 500 });
const ctx = await createAppContext(config, { log, databaseUrl: pg.url, virgilApiUrl: emulator.url, reconcile: queue });
const app = await buildApp(ctx);
await app.ready();
const worker = await startWorker(ctx, { ...FAST_WORKER, queue });
const ops = await buildWorkerOpsApp({ log, metrics: ctx.metrics, ready: readinessProbe(() => ({ ...serviceChecks(ctx), worker: () => worker.probe() })) });
await ops.ready();
t.teardown(async () => {
  await ops.close();
  await worker.close({ force: true });
  await app.close();
  await queue.close();
  await ctx.close();
});

const ready = async (target = app) => {
  const res = await target.inject({ method: 'GET', url: '/ready' });
  return { status: res.statusCode, body: res.json() };
};
// Reports are reused for up to a second (readinessProbe), so a change shows within about that.
const readyAgain = (what: string, target = app) => waitFor(async () => ((await ready(target)).status === 200 ? true : undefined), what, 30_000);
const notReady = (what: string, target = app) => waitFor(async () => {
  const r = await ready(target);
  return r.status === 503 ? r : undefined;
}, what);

t.test('everything up: ready', async (t) => {
  t.same(await ready(), { status: 200, body: { data: { status: 'ready', checks: { database: 'ok', queue: 'ok' } } } });
  t.same(await ready(ops), { status: 200, body: { data: { status: 'ready', checks: { database: 'ok', queue: 'ok', worker: 'ok' } } } });
  t.same((await ops.inject({ method: 'GET', url: '/health' })).json(), { data: { status: 'ok' } });
  const metrics = await ops.inject({ method: 'GET', url: '/metrics' });
  t.equal(metrics.statusCode, 200, "the worker's port serves its metrics");
  t.match(metrics.body, /# TYPE e2ee_reconcile_runs_total counter/);
});

t.test('PostgreSQL down: not ready, alive; ready again once it is back', async (t) => {
  // A client checked out between two queries (as inside a transaction) when the server goes away
  // has no listener of the pool's: its connection error must not end the process.
  const held = await ctx.pool.connect();
  await held.query('SELECT 1');
  await pg.stop();
  await t.rejects(held.query('SELECT 1'), 'the held client is no longer usable');
  held.release();
  const down = await notReady('the API to see the database down');
  t.same(down.body, { error: { code: 'NOT_READY', message: 'Not ready: database unavailable', details: { checks: { database: 'unavailable', queue: 'ok' } } } });
  t.equal((await notReady('the worker to see it', ops)).body.error.details.checks.database, 'unavailable', 'the worker too');
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200, 'liveness does not depend on the database');

  pg = await startEmbeddedPostgres({ dir, port: pgPort, ephemeral: true });
  await readyAgain('the API to be ready again');
  await readyAgain('the worker to be ready again', ops);
  t.pass('ready again');
});

t.test('Redis down: the queue is not ready; ready again once it is back', async (t) => {
  const port = redis.port;
  await redis.stop();
  const down = await notReady('the queue to be reported down');
  t.same(down.body.error.details.checks, { database: 'ok', queue: 'unavailable' });
  redis = await startRedis(redis.bin, port);
  await readyAgain('the queue to be ready again');
  t.pass('ready again');
});

t.test('a stopped worker is not ready', async (t) => {
  await worker.close();
  const res = await notReady('the stopped worker to show', ops);
  t.equal(res.body.error.details.checks.worker, 'unavailable');
});

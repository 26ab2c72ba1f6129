/**
 * Group worker benchmark: how long from a CometChat webhook to a synced Virgil group, and how many
 * group operations per second the worker sustains.
 *
 * Setup (all loopback, all real): embedded PostgreSQL, redis-server, the Virgil emulator, the HTTP
 * API on a real port, and the group worker with the queue on Redis, in this process. One tenant,
 * registered users (cards published directly), then three phases over GROUPS groups changed in
 * parallel — create (3 members), add 2 members, kick 1 member (a new epoch). For each group the
 * latency runs from sending its webhook to the first time the database shows it synced at the new
 * desired version (polled every 10 ms). Ops/s = groups reconciled / phase wall time.
 *
 * `tsx bench/worker-latency.ts` prints the table; `runWorkerBench()` returns the rows.
 * Settings: BENCH_WORKER_GROUPS (default 50), WORKER_CONCURRENCY (default 4).
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import { createAppContext } from '../src/app/build-context.js';
import { createLogger } from '../src/lib/logger.js';
import { loadDevConfig } from '../src/config/config.js';
import { createDatabase } from '../src/db/database.js';
import { migrate } from '../src/db/migrator.js';
import { startEmulator } from '../src/http/emulator/index.js';
import { ReconcileQueue } from '../src/reconcile/reconcile-queue.js';
import { buildApp } from '../src/http/app.js';
import { startWorker } from '../src/reconcile/worker.js';
import { startThrowawayPostgres } from '../src/local/embedded-postgres.js';
import { findRedisServer, startRedis } from '../src/local/redis-server.js';
import { VirgilCardPublisher } from '../src/virgil/cards.js';
import { generateEd25519KeyPair, importEd25519PrivateKey } from '../src/virgil/keys.js';

/**
 * A CometChat group webhook carrying what the intake reads: the envelope, the group (guid, owner,
 * times in unix seconds) and the members as keys of `data.members`.
 */
function cometchatDelivery(appId: string, trigger: string, p: { guid?: unknown; owner?: unknown; members?: unknown; createdAt?: unknown; updatedAt?: unknown }) {
  const group = { guid: p.guid, owner: p.owner, createdAt: p.createdAt ?? p.updatedAt, updatedAt: p.updatedAt ?? p.createdAt };
  const members = Array.isArray(p.members) ? Object.fromEntries(p.members.map((uid: string) => [uid, { uid }])) : undefined;
  return { trigger, appId, region: 'us', webhook: 'bench', data: { group, ...(members ? { members } : {}) } };
}

export interface WorkerBenchRow {
  phase: string;
  groups: number;
  /** Webhook sent → group synced, milliseconds. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Groups reconciled per second over the phase (one Virgil group operation each). */
  groupOpsPerSecond: number;
}

const POLL_MS = 10;
const PHASE_TIMEOUT_MS = 120_000;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export async function runWorkerBench(opts: { groups?: number; concurrency?: number } = {}): Promise<{ rows: WorkerBenchRow[] }> {
  const groupCount = opts.groups ?? Number(process.env.BENCH_WORKER_GROUPS ?? 50);
  const concurrency = opts.concurrency ?? Number(process.env.WORKER_CONCURRENCY ?? 4);
  const redisBin = findRedisServer();
  if (!redisBin) throw new Error('redis-server is not installed (Debian/Ubuntu: apt-get install -y redis-server)');

  const stops: Array<() => Promise<unknown>> = [];
  try {
    const pg = await startThrowawayPostgres();
    stops.push(() => pg.stop());
    const redis = await startRedis(redisBin);
    stops.push(() => redis.stop());
    const emulator = await startEmulator({ port: 0 });
    stops.push(() => emulator.close());

    const migrations = createDatabase(pg.url, { max: 1 });
    await migrate(migrations.pool);
    await migrations.close();

    const adminToken = randomBytes(24).toString('base64url');
    const config = loadDevConfig({
      NODE_ENV: 'production', DATABASE_URL: pg.url, REDIS_URL: redis.url, VIRGIL_API_URL: emulator.url,
      ADMIN_TOKENS: adminToken, MASTER_KEYS: `bench:${randomBytes(32).toString('base64')}`, LOG_LEVEL: 'warn',
      WORKER_CONCURRENCY: String(concurrency), DATABASE_POOL_SIZE: '20',
    });
    const warnings: string[] = [];
    const log = createLogger({ level: 'warn', destination: new Writable({ write(chunk, _e, cb) { warnings.push(chunk.toString()); cb(); } }) });
    const queue = new ReconcileQueue({ redisUrl: redis.url, databaseUrl: pg.url, log, prefix: 'bench' });
    stops.push(() => queue.close());
    const ctx = await createAppContext(config, { log, databaseUrl: pg.url, virgilApiUrl: emulator.url, reconcile: queue });
    stops.push(() => ctx.close());
    const app = await buildApp(ctx);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    stops.push(() => app.close());
    const worker = await startWorker(ctx, { queue });
    stops.push(() => worker.close());

    // One tenant and its registered users.
    const virgil = await emulator.createApp();
    const basic = { username: 'benchhook', password: randomBytes(16).toString('hex') };
    const appId = 'bench-groups';
    const onboard = await fetch(`${url}/admin/v1/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ appId, virgil, userAuth: { algorithm: 'HS256', secret: randomBytes(32).toString('base64url') }, webhooks: { basicAuth: basic } }),
    });
    if (onboard.status !== 201) throw new Error(`onboarding failed: ${onboard.status} ${await onboard.text()}`);
    const tenant = (await ctx.tenants.get(appId))!;
    const uids = Array.from({ length: 40 }, (_, i) => `user${i}`);
    // Registered users: a self-signed card each, published the way the service publishes its own.
    const cards = new VirgilCardPublisher(emulator.url);
    const virgilApp = { appId: virgil.appId, appKeyId: virgil.appKeyId, appKey: importEd25519PrivateKey(virgil.appKey)! };
    await Promise.all(uids.map((uid) => cards.publish(virgilApp, tenant.userIdentity(uid), importEd25519PrivateKey(generateEd25519KeyPair().privateKey)!)));

    const guids = Array.from({ length: groupCount }, (_, i) => `bench-${i}`);
    const member = (g: number, k: number) => uids[(g * 3 + k) % uids.length];
    let clock = Math.floor(Date.now() / 1000) - 3_600;

    const send = (trigger: string, payload: Record<string, unknown>) => fetch(`${url}/v1/webhooks/${appId}/cometchat`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${basic.username}:${basic.password}`).toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify(cometchatDelivery(appId, trigger, payload)),
    }).then(async (res) => { if (res.status !== 200) throw new Error(`${trigger}: ${res.status} ${await res.text()}`); });

    async function phase(name: string, trigger: string, build: (g: number, at: number) => Record<string, unknown>): Promise<WorkerBenchRow> {
      const at = ++clock;
      const before = new Map((await ctx.db.selectFrom('groups').select(['guid', 'desired_version']).where('tenant_id', '=', appId).execute())
        .map((r) => [r.guid, BigInt(r.desired_version)]));
      const sentAt = new Map<string, number>();
      const started = performance.now();
      await Promise.all(guids.map(async (guid, g) => {
        sentAt.set(guid, performance.now());
        await send(trigger, build(g, at));
      }));
      const doneAt = new Map<string, number>();
      while (doneAt.size < guids.length) {
        if (performance.now() - started > PHASE_TIMEOUT_MS) throw new Error(`${name}: only ${doneAt.size}/${guids.length} groups synced in time`);
        const { rows } = await sql<{ guid: string; synced_version: string; desired_version: string }>`
          SELECT guid, synced_version, desired_version FROM groups
           WHERE tenant_id = ${appId} AND status = 'synced' AND synced_version >= desired_version`.execute(ctx.db);
        const now = performance.now();
        for (const r of rows) {
          if (doneAt.has(r.guid) || !sentAt.has(r.guid)) continue;
          if (BigInt(r.synced_version) > (before.get(r.guid) ?? 0n)) doneAt.set(r.guid, now);
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      const latencies = guids.map((guid) => doneAt.get(guid)! - sentAt.get(guid)!).sort((a, b) => a - b);
      const wallSeconds = (Math.max(...doneAt.values()) - started) / 1000;
      return {
        phase: name, groups: guids.length,
        p50Ms: Math.round(percentile(latencies, 50)), p99Ms: Math.round(percentile(latencies, 99)), maxMs: Math.round(latencies[latencies.length - 1]),
        groupOpsPerSecond: Math.round((guids.length / wallSeconds) * 10) / 10,
      };
    }

    const rows: WorkerBenchRow[] = [];
    rows.push(await phase('create group (3 members)', 'group_created', (g, at) => ({ guid: guids[g], owner: member(g, 0), members: [member(g, 0), member(g, 1), member(g, 2)], createdAt: at })));
    rows.push(await phase('add 2 members', 'group_member_added', (g, at) => ({ guid: guids[g], members: [member(g, 3), member(g, 4)], by: member(g, 0), updatedAt: at })));
    rows.push(await phase('kick 1 member (new epoch)', 'group_member_kicked', (g, at) => ({ guid: guids[g], members: [member(g, 1)], by: member(g, 0), updatedAt: at })));
    if (warnings.length > 0) console.error(`worker bench: ${warnings.length} warning log lines (first: ${warnings[0].slice(0, 200)})`);
    return { rows };
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err) => console.error(`worker bench cleanup: ${(err as Error).message}`));
  }
}

export function formatWorkerBench(rows: WorkerBenchRow[]): string {
  const header = ['worker phase', 'groups', 'p50 ms', 'p99 ms', 'max ms', 'groups/s'];
  const lines = rows.map((r) => [r.phase, String(r.groups), String(r.p50Ms), String(r.p99Ms), String(r.maxMs), String(r.groupOpsPerSecond)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt)].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { rows } = await runWorkerBench();
  console.log(formatWorkerBench(rows));
}

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
 * Then the limits of Virgil Cloud: LARGE groups of 99 members, each created by one webhook (its
 * tickets pushed in batches under the 10 KB meta limit), one after the other, beside the 3-member
 * create as the baseline of the same run; and a key change: one user who is a member of several
 * groups publishes a new card and says so (POST /v1/keys/changed), until every one of those groups
 * re-added them. The emulator sits behind a call-counting proxy, so every phase also reports the
 * Virgil calls it cost per group.
 *
 * `tsx bench/worker-latency.ts` prints the table; `runWorkerBench()` returns the rows.
 * Settings: BENCH_WORKER_GROUPS (default 50), BENCH_WORKER_LARGE_GROUPS (default 3),
 * WORKER_CONCURRENCY (default 32, the worker's default).
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
import { ReconcileQueue } from '../src/reconcile/reconcile-queue.js';
import { buildApp } from '../src/http/app.js';
import { startWorker } from '../src/reconcile/worker.js';
import { VirgilCardPublisher } from '../src/virgil/cards.js';
import { generateEd25519KeyPair, importEd25519PrivateKey } from '../src/virgil/keys.js';
import { makeCallerTokens } from './lib/caller-tokens.js';
import { startBenchServers } from './lib/bench-servers.js';
import { percentile } from './lib/load.js';
import { cometchatDelivery } from './lib/webhook-sender.js';

export interface WorkerBenchRow {
  phase: string;
  groups: number;
  /** Webhook sent → group synced, milliseconds. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Groups reconciled per second over the phase (one Virgil group operation each). */
  groupOpsPerSecond: number;
  /** Virgil calls during the phase, per group. */
  virgilCallsPerGroup: number;
}

const POLL_MS = 10;
const PHASE_TIMEOUT_MS = 120_000;

export async function runWorkerBench(opts: { groups?: number; concurrency?: number } = {}): Promise<{ rows: WorkerBenchRow[]; readdCalls: Record<string, number> }> {
  const groupCount = opts.groups ?? Number(process.env.BENCH_WORKER_GROUPS ?? 50);
  const largeCount = Number(process.env.BENCH_WORKER_LARGE_GROUPS ?? 3);
  const concurrency = opts.concurrency ?? Number(process.env.WORKER_CONCURRENCY ?? 32);
  const stops: Array<() => Promise<unknown>> = [];
  try {
    const { databaseUrl, redisUrl, emulator, proxy } = await startBenchServers(stops);

    const migrations = createDatabase(databaseUrl, { max: 1 });
    await migrate(migrations.pool);
    await migrations.close();

    const adminToken = randomBytes(24).toString('base64url');
    const config = loadDevConfig({
      NODE_ENV: 'production', DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, VIRGIL_API_URL: proxy.url,
      ADMIN_TOKENS: adminToken, MASTER_KEYS: `bench:${randomBytes(32).toString('base64')}`, LOG_LEVEL: 'warn',
      WORKER_CONCURRENCY: String(concurrency), DATABASE_POOL_SIZE: '20',
    });
    const warnings: string[] = [];
    const log = createLogger({ level: 'warn', destination: new Writable({ write(chunk, _e, cb) { warnings.push(chunk.toString()); cb(); } }) });
    const queue = new ReconcileQueue({ redisUrl, databaseUrl, log, prefix: 'bench' });
    stops.push(() => queue.close());
    const ctx = await createAppContext(config, { log, databaseUrl, virgilApiUrl: proxy.url, reconcile: queue });
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
    const callers = makeCallerTokens(1);
    const onboard = await fetch(`${url}/admin/v1/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ appId, virgil, userAuth: { algorithm: 'HS256', secret: callers.secret }, webhooks: { basicAuth: basic } }),
    });
    if (onboard.status !== 201) throw new Error(`onboarding failed: ${onboard.status} ${await onboard.text()}`);
    const tenant = (await ctx.tenants.get(appId))!;
    const uids = Array.from({ length: 40 }, (_, i) => `user${i}`);
    const rotating = callers.uids[0]!;
    const largeUids = Array.from({ length: 98 }, (_, i) => `large${i}`);
    // Registered users: a self-signed card each, published the way the service publishes its own.
    const cards = new VirgilCardPublisher(emulator.url);
    const virgilApp = { appId: virgil.appId, appKeyId: virgil.appKeyId, appKey: importEd25519PrivateKey(virgil.appKey)! };
    const cardIds = new Map<string, string>();
    for (const batch of [uids, largeUids, [rotating]]) {
      await Promise.all(batch.map(async (uid) => {
        cardIds.set(uid, await cards.publish(virgilApp, tenant.userIdentity(uid), importEd25519PrivateKey(generateEd25519KeyPair().privateKey)!));
      }));
    }

    const guids = Array.from({ length: groupCount }, (_, i) => `bench-${i}`);
    const member = (g: number, k: number) => uids[(g * 3 + k) % uids.length];
    let clock = Math.floor(Date.now() / 1000) - 3_600;

    const send = (trigger: string, payload: Parameters<typeof cometchatDelivery>[2]) => fetch(`${url}/v1/webhooks/${appId}/cometchat`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${basic.username}:${basic.password}`).toString('base64')}`, 'content-type': 'application/json' },
      body: cometchatDelivery(appId, trigger, payload),
    }).then(async (res) => { if (res.status !== 200) throw new Error(`${trigger}: ${res.status} ${await res.text()}`); });

    async function phase(name: string, trigger: string, build: (g: number, at: number) => Parameters<typeof cometchatDelivery>[2], phaseGuids = guids, oneAtATime = false): Promise<WorkerBenchRow> {
      const guids = phaseGuids;
      const at = ++clock;
      proxy.reset();
      const before = new Map((await ctx.db.selectFrom('groups').select(['guid', 'desired_version']).where('tenant_id', '=', appId).execute())
        .map((r) => [r.guid, BigInt(r.desired_version)]));
      const sentAt = new Map<string, number>();
      const started = performance.now();
      const doneAt = new Map<string, number>();
      const sendOne = async (guid: string, g: number) => {
        sentAt.set(guid, performance.now());
        await send(trigger, build(g, at));
      };
      if (oneAtATime) {
        for (const [g, guid] of guids.entries()) {
          await sendOne(guid, g);
          await waitUntilSynced(new Set([guid]));
        }
      } else {
        await Promise.all(guids.map(sendOne));
        await waitUntilSynced(new Set(guids));
      }
      const latencies = guids.map((guid) => doneAt.get(guid)! - sentAt.get(guid)!).sort((a, b) => a - b);
      const wallSeconds = (Math.max(...doneAt.values()) - started) / 1000;
      return {
        phase: name, groups: guids.length,
        p50Ms: Math.round(percentile(latencies, 50)), p99Ms: Math.round(percentile(latencies, 99)), maxMs: Math.round(latencies[latencies.length - 1]),
        groupOpsPerSecond: Math.round((guids.length / wallSeconds) * 10) / 10,
        virgilCallsPerGroup: Math.round((proxy.total() / guids.length) * 10) / 10,
      };

      async function waitUntilSynced(waiting: Set<string>) {
      while ([...waiting].some((guid) => !doneAt.has(guid))) {
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
      }
    }

    const rows: WorkerBenchRow[] = [];
    let readdCalls: Record<string, number> = {};
    rows.push(await phase('create group (3 members)', 'group_created', (g, at) => ({ guid: guids[g], owner: member(g, 0), members: [member(g, 0), member(g, 1), member(g, 2)], createdAt: at })));
    rows.push(await phase('add 2 members', 'group_member_added', (g, at) => ({ guid: guids[g], members: [member(g, 3), member(g, 4)], by: member(g, 0), updatedAt: at })));
    rows.push(await phase('kick 1 member (new epoch)', 'group_member_kicked', (g, at) => ({ guid: guids[g], members: [member(g, 1)], by: member(g, 0), updatedAt: at })));

    // Virgil's limits: 99-member groups, each created by one webhook, one at a time, beside
    // 3-member groups created the same way (the baseline of the ratio).
    const smallGuids = Array.from({ length: largeCount }, (_, i) => `bench-small-${i}`);
    rows.push(await phase('create group (3 members, one at a time)', 'group_created',
      (g, at) => ({ guid: smallGuids[g], owner: member(g, 0), members: [member(g, 0), member(g, 1), member(g, 2)], createdAt: at }), smallGuids, true));
    const largeGuids = Array.from({ length: largeCount }, (_, i) => `bench-large-${i}`);
    rows.push(await phase('create group (99 members, one webhook)', 'group_created',
      (g, at) => ({ guid: largeGuids[g], owner: rotating, members: [rotating, ...largeUids], createdAt: at }), largeGuids, true));

    // A key change: `rotating` (in every large group) publishes a new card and says so.
    proxy.reset();
    const readdStarted = performance.now();
    await cards.publish(virgilApp, tenant.userIdentity(rotating), importEd25519PrivateKey(generateEd25519KeyPair().privateKey)!, cardIds.get(rotating));
    const published = proxy.total();
    const said = await fetch(`${url}/v1/keys/changed`, { method: 'POST', headers: { appid: appId, authorization: `Bearer ${callers.tokens[0]}` } });
    if (said.status !== 202) throw new Error(`keys/changed: ${said.status} ${await said.text()}`);
    for (;;) {
      if (performance.now() - readdStarted > PHASE_TIMEOUT_MS) throw new Error('the key change was not re-added in time');
      const { rows: done } = await sql<{ n: string }>`
        SELECT count(*) AS n FROM groups WHERE tenant_id = ${appId} AND key_changes > 0 AND status = 'synced'`.execute(ctx.db);
      if (Number(done[0]!.n) >= largeGuids.length) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    const readdMs = performance.now() - readdStarted;
    rows.push({
      phase: `key change: re-added in ${largeGuids.length} groups`, groups: largeGuids.length,
      p50Ms: Math.round(readdMs), p99Ms: Math.round(readdMs), maxMs: Math.round(readdMs),
      groupOpsPerSecond: Math.round((largeGuids.length / (readdMs / 1000)) * 10) / 10,
      virgilCallsPerGroup: Math.round(((proxy.total() - published) / largeGuids.length) * 10) / 10,
    });
    readdCalls = Object.fromEntries([...proxy.counts].sort());
    if (warnings.length > 0) console.error(`worker bench: ${warnings.length} warning log lines (first: ${warnings[0].slice(0, 200)})`);
    return { rows, readdCalls };
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err) => console.error(`worker bench cleanup: ${(err as Error).message}`));
  }
}

export function formatWorkerBench(rows: WorkerBenchRow[], readdCalls: Record<string, number> = {}): string {
  const header = ['worker phase', 'groups', 'p50 ms', 'p99 ms', 'max ms', 'groups/s', 'Virgil calls/group'];
  const lines = rows.map((r) => [r.phase, String(r.groups), String(r.p50Ms), String(r.p99Ms), String(r.maxMs), String(r.groupOpsPerSecond), String(r.virgilCallsPerGroup)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const small = rows.find((r) => r.phase.startsWith('create group (3 members, one at a time'));
  const large = rows.find((r) => r.phase.startsWith('create group (99'));
  const notes = [
    ...(small && large ? [`99-member create / 3-member create, one at a time, p50: ${(large.p50Ms / small.p50Ms).toFixed(1)}× the time, ${(large.virgilCallsPerGroup / small.virgilCallsPerGroup).toFixed(1)}× the Virgil calls (tickets in batches of at most 28 under the 10 KB meta limit)`] : []),
    ...(Object.keys(readdCalls).length > 0 ? [`key change, Virgil calls in all: ${Object.entries(readdCalls).map(([op, n]) => `${op} ${n}`).join(', ')}`] : []),
  ];
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt), ...notes].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { rows, readdCalls } = await runWorkerBench();
  console.log(formatWorkerBench(rows, readdCalls));
}

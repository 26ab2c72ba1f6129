/**
 * Scale benchmark (`BENCH_ONLY=scale npm run bench`, or `tsx bench/scale.ts`): the API and the
 * worker as separate processes (the real entry points), the worker under `ulimit -n 1024`, Redis,
 * embedded PostgreSQL, and the Virgil emulator behind a call-counting proxy, with `latencyMs` added
 * to every Virgil route once the fixtures are in place. Phases:
 *
 *   1. intake: accepted webhook events per second into one API process, BENCH_SCALE_INTAKE_CONNECTIONS
 *      in flight (autocannon; every event distinct and changing a group), the worker stopped; then
 *      the stored events are counted against the 2xx answers (durable before the answer);
 *   2. latency: 50 groups of one tenant changed at once — create (3 members), add 2, kick 1 —
 *      webhook sent → group synced (p50/p99), groups/s, Virgil calls and worker runs per group;
 *   3. flood: one tenant sends BENCH_SCALE_FLOOD group creates as fast as the API takes them; once
 *      a fifth are in, another tenant sends one: how long that one takes to sync;
 *   4. soak: BENCH_SCALE_TENANTS tenants with one group each (a 2-member create each), sent
 *      BENCH_SCALE_IN_FLIGHT at a time (all at once, or BENCH_SCALE_SOAK_RATE per second): groups/s,
 *      webhook → synced (all at once: mostly the wait in the queue), Virgil calls per create, and
 *      the worker's resident memory, open descriptors and files in its temporary folder, sampled
 *      every second (figures when each quarter of the tenants had synced, and the maximum), its
 *      descriptor limit, and whether it stayed up.
 *
 * Settings: BENCH_SCALE_TENANTS (2000), BENCH_SCALE_LATENCY_MS (100), BENCH_SCALE_FLOOD (1000),
 * BENCH_SCALE_INTAKE_SECONDS (10), BENCH_SCALE_INTAKE_CONNECTIONS (32), BENCH_SCALE_IN_FLIGHT (32),
 * BENCH_SCALE_SOAK_RATE (0: all at once),
 * BENCH_SCALE_OPEN_FILES (1024), BENCH_SCALE_PHASES (intake,latency,flood,soak), and the worker's own
 * WORKER_CONCURRENCY, WORKER_TENANT_CONCURRENCY, WORKER_SERVICE_IDENTITIES when set.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { createLogger } from '../src/lib/logger.js';
import { Keyring } from '../src/crypto/envelope.js';
import { parseMasterKeys } from '../src/config/config.js';
import { createDatabase, type Db } from '../src/db/database.js';
import { migrate } from '../src/db/migrator.js';
import { freePort } from '../src/local/free-port.js';
import { DEFAULT_QUEUE_PREFIX, GROUP_QUEUE_NAME } from '../src/reconcile/jobs.js';
import { TenantDirectory } from '../src/tenants/directory.js';
import { TenantService } from '../src/tenants/service.js';
import { VirgilCardPublisher } from '../src/virgil/cards.js';
import { generateEd25519KeyPair, importEd25519PrivateKey } from '../src/virgil/keys.js';
import { startChildServer } from './lib/child-server.js';
import { startBenchServers } from './lib/bench-servers.js';
import { percentile } from './lib/load.js';
import { cometchatDelivery, inParallel, WebhookSender } from './lib/webhook-sender.js';
import { countFiles, cpuMs, sampleProcess, startWorkerProcess, type ProcessSample } from './lib/worker-process.js';

function setting(name: string, fallback: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number`);
  return n;
}

export interface PhaseRow {
  phase: string;
  groups: number;
  p50Ms: number;
  p99Ms: number;
  groupsPerSecond: number;
  virgilCallsPerGroup: number;
  /** Reconcile runs of the worker per group changed (1 = no run without a change to make). */
  runsPerGroup: number;
  /** CPU time of the worker process per group (a figure the machine's other load does not change much). */
  workerCpuMsPerGroup: number;
}

export interface SoakSample extends ProcessSample { touched: number; files: number; atSeconds: number }

export interface ScaleReport {
  settings: Record<string, number | string>;
  intake?: { eventsPerSecond: number; p50Ms: number; p99Ms: number; answered2xx: number; failed: number; stored: number; connections: number; apiCpuMsPerEvent: number; postgresCpuMsPerEvent: number; redisCpuMsPerEvent: number; driverCpuMsPerEvent: number; hotGroupUpdates: number };
  rows: PhaseRow[];
  flood?: { changes: number; otherTenantMs: number; floodGroupsPerSecond: number };
  soak?: { tenants: number; samples: SoakSample[]; quarters: SoakSample[]; max: { rssMiB: number; fds: number; files: number }; survived: boolean; openFilesLimit: number | null };
  callsByOperation: Record<string, Record<string, number>>;
  workerProblems: string[];
}

const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * CPU time used so far by each process of the benchmark's PostgreSQL cluster that is alive now
 * (its connections and background processes, as pg_stat_activity lists them), in milliseconds.
 */
async function postgresCpuMs(db: Db): Promise<Map<number, number>> {
  const { rows } = await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity`.execute(db);
  return new Map(await Promise.all(rows.map(async (r) => [r.pid, await cpuMs(r.pid).catch(() => 0)] as const)));
}

/**
 * PostgreSQL's CPU between two samples: each process's growth (all of it for one started since).
 * A connection that ended in between (a pool's idle timeout) takes its share along: a lower bound.
 */
function postgresCpuBetween(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>): number {
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}

/** Updates of `groups` rows so far, and how many were HOT (wrote no index entry). */
async function groupUpdates(db: Db): Promise<{ all: number; hot: number }> {
  // The statistics collector publishes counts with a delay; a snapshot taken after a flush is exact.
  await sql`SELECT pg_stat_force_next_flush()`.execute(db);
  const { rows } = await sql<{ all: string; hot: string }>`
    SELECT n_tup_upd AS all, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relname = 'groups'`.execute(db);
  return { all: Number(rows[0]!.all), hot: Number(rows[0]!.hot) };
}

/** The redis-server's process id, as it reports it. */
async function redisProcessId(redisUrl: string): Promise<number> {
  const client = new Redis(redisUrl, { lazyConnect: true });
  try {
    await client.connect();
    return Number(/process_id:(\d+)/.exec(await client.info('server'))![1]);
  } finally {
    client.disconnect();
  }
}

export async function runScaleBench(): Promise<ScaleReport> {
  const tenantCount = setting('BENCH_SCALE_TENANTS', 2_000);
  const latencyMs = setting('BENCH_SCALE_LATENCY_MS', 100);
  const floodChanges = setting('BENCH_SCALE_FLOOD', 1_000);
  const intakeSeconds = setting('BENCH_SCALE_INTAKE_SECONDS', 10);
  const intakeConnections = setting('BENCH_SCALE_INTAKE_CONNECTIONS', 32);
  const inFlight = setting('BENCH_SCALE_IN_FLIGHT', 32);
  const soakRate = setting('BENCH_SCALE_SOAK_RATE', 0);
  const openFiles = setting('BENCH_SCALE_OPEN_FILES', 1_024);
  const phases = new Set((process.env.BENCH_SCALE_PHASES ?? 'intake,latency,flood,soak').split(',').map((s) => s.trim()));

  const report: ScaleReport = {
    settings: { tenants: tenantCount, latencyMs, floodChanges, intakeSeconds, intakeConnections, inFlight, soakRate, openFiles, phases: [...phases].join(',') },
    rows: [], callsByOperation: {}, workerProblems: [],
  };
  const stops: Array<() => Promise<unknown>> = [];
  const log = (line: string) => process.stdout.write(`  scale: ${line}\n`);
  try {
    const { databaseUrl, redisUrl, emulator, proxy } = await startBenchServers(stops);
    const handle = createDatabase(databaseUrl, { max: 8, applicationName: 'bench-scale' });
    stops.push(() => handle.close());
    await migrate(handle.pool);
    const { db } = handle;

    const masterKeys = `bench:${randomBytes(32).toString('base64')}`;
    const keyring = new Keyring(parseMasterKeys(masterKeys));
    const quiet = createLogger({ level: 'silent' });
    const cards = new VirgilCardPublisher(emulator.url);
    const tenants = new TenantService(db, keyring, cards, quiet);
    const directory = new TenantDirectory(db, keyring, { ttlSeconds: 3_600 });

    const port = await freePort();
    const adminToken = randomBytes(24).toString('base64url');
    const api = await startChildServer('api', new URL('../src/bin/api.ts', import.meta.url), {
      NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port), DATABASE_URL: databaseUrl, REDIS_URL: redisUrl,
      VIRGIL_API_URL: proxy.url, ADMIN_TOKENS: adminToken, MASTER_KEYS: masterKeys, LOG_LEVEL: 'warn',
    }, { health: { port, path: '/health' } });
    stops.push(() => api.stop());
    const sender = new WebhookSender(api.url, { sourceAddresses: 64 });
    stops.push(async () => sender.close());

    // Tenants, each with its own Virgil app, and their registered users.
    const basic = { username: 'benchhook', password: randomBytes(16).toString('hex') };
    const basicAuth = `Basic ${Buffer.from(`${basic.username}:${basic.password}`).toString('base64')}`;
    async function onboard(appId: string, uids: string[]): Promise<void> {
      const virgil = await emulator.createApp();
      await tenants.onboard({ appId, virgil, userAuth: { algorithm: 'HS256', secret: randomBytes(32).toString('base64url') }, webhooks: { basicAuth: basic } });
      const runtime = (await directory.get(appId))!;
      const app = { appId: virgil.appId, appKeyId: virgil.appKeyId, appKey: importEd25519PrivateKey(virgil.appKey)! };
      for (const uid of uids) await cards.publish(app, runtime.userIdentity(uid), importEd25519PrivateKey(generateEd25519KeyPair().privateKey)!);
    }
    const setupStarted = performance.now();
    const latencyUsers = Array.from({ length: 40 }, (_, i) => `user${i}`);
    const floodUsers = Array.from({ length: 20 }, (_, i) => `flood${i}`);
    await onboard('scale-intake', []);
    await onboard('scale-latency', latencyUsers);
    await onboard('scale-flood-a', floodUsers);
    await onboard('scale-flood-b', ['b0', 'b1']);
    const soakIds = Array.from({ length: phases.has('soak') ? tenantCount : 0 }, (_, i) => `scale-t${i}`);
    await inParallel(soakIds.length, 8, async (i) => onboard(soakIds[i]!, ['owner', 'member']));
    log(`${4 + soakIds.length} tenants onboarded with their users in ${round((performance.now() - setupStarted) / 1000, 1)} s`);

    let clock = Math.floor(Date.now() / 1000) - 7_200;
    const send = async (appId: string, trigger: string, payload: Parameters<typeof cometchatDelivery>[2]) => {
      const status = await sender.send(appId, basicAuth, cometchatDelivery(appId, trigger, payload));
      if (status !== 200) throw new Error(`${appId} ${trigger}: HTTP ${status}`);
    };

    // 1. Intake, worker stopped: distinct member additions spread over 1,000 groups.
    if (phases.has('intake')) {
      let n = 0;
      const base = clock;
      clock += 1_000_000;
      const redisPid = await redisProcessId(redisUrl);
      const cpuBefore = await cpuMs(api.pid);
      const postgresBefore = await postgresCpuMs(db);
      const redisBefore = await cpuMs(redisPid);
      const driverBefore = process.cpuUsage();
      const updatesBefore = await groupUpdates(db);
      const result = await autocannon({
        url: api.url,
        connections: intakeConnections,
        duration: intakeSeconds,
        pipelining: 1,
        requests: [{
          method: 'POST',
          path: '/v1/webhooks/scale-intake/cometchat',
          setupRequest: (req: autocannon.Request) => {
            const i = n++;
            req.headers = { authorization: basicAuth, 'content-type': 'application/json' };
            req.body = cometchatDelivery('scale-intake', 'group_member_added', { guid: `in-${i % 1_000}`, members: [`m${i}`], updatedAt: base + i });
            return req;
          },
        }],
      });
      const apiCpu = (await cpuMs(api.pid)) - cpuBefore;
      const postgresCpu = postgresCpuBetween(postgresBefore, await postgresCpuMs(db));
      const redisCpu = (await cpuMs(redisPid)) - redisBefore;
      const driver = process.cpuUsage(driverBefore);
      const updatesAfter = await groupUpdates(db);
      const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM webhook_events WHERE tenant_id = 'scale-intake'`.execute(db);
      report.intake = {
        apiCpuMsPerEvent: round(apiCpu / Math.max(1, result['2xx']), 2),
        postgresCpuMsPerEvent: round(postgresCpu / Math.max(1, result['2xx']), 2),
        redisCpuMsPerEvent: round(redisCpu / Math.max(1, result['2xx']), 2),
        hotGroupUpdates: round((updatesAfter.hot - updatesBefore.hot) / Math.max(1, updatesAfter.all - updatesBefore.all), 2),
        driverCpuMsPerEvent: round((driver.user + driver.system) / 1000 / Math.max(1, result['2xx']), 2),
        eventsPerSecond: round(result['2xx'] / intakeSeconds), p50Ms: result.latency.p50, p99Ms: result.latency.p99,
        answered2xx: result['2xx'], failed: result.non2xx + result.errors + result.timeouts, stored: Number(rows[0]!.n), connections: intakeConnections,
      };
      log(`intake: ${report.intake.eventsPerSecond} events/s, p99 ${report.intake.p99Ms} ms, ${report.intake.apiCpuMsPerEvent} ms of API CPU, ${report.intake.postgresCpuMsPerEvent} ms of PostgreSQL CPU, ${report.intake.redisCpuMsPerEvent} ms of Redis CPU and ${report.intake.driverCpuMsPerEvent} ms of load-driver CPU per event, ${round(report.intake.hotGroupUpdates * 100)}% of group updates HOT, ${report.intake.answered2xx} answered 2xx, ${report.intake.stored} stored`);
      // Its groups are not part of what follows: the worker skips a disabled tenant's jobs.
      await tenants.update('scale-intake', { status: 'disabled' });
    }

    const workerTmp = await mkdtemp(path.join(tmpdir(), 'bench-worker-tmp-'));
    stops.push(() => rm(workerTmp, { recursive: true, force: true }));
    const workerEnv: Record<string, string> = {
      NODE_ENV: 'production', DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, VIRGIL_API_URL: proxy.url, MASTER_KEYS: masterKeys,
      LOG_LEVEL: 'warn', TMPDIR: workerTmp,
    };
    for (const name of ['WORKER_CONCURRENCY', 'WORKER_TENANT_CONCURRENCY', 'WORKER_SERVICE_IDENTITIES', 'DATABASE_POOL_SIZE']) {
      if (process.env[name]) workerEnv[name] = process.env[name]!;
    }
    const worker = await startWorkerProcess(workerEnv, { openFiles });
    stops.push(() => worker.stop());
    const queue = new Queue(GROUP_QUEUE_NAME, { connection: { url: redisUrl }, prefix: DEFAULT_QUEUE_PREFIX });
    stops.push(() => queue.close());
    // Runs counted as the queue reports them (wake and key-check jobs have ids of their own).
    const events = new QueueEvents(GROUP_QUEUE_NAME, { connection: { url: redisUrl }, prefix: DEFAULT_QUEUE_PREFIX });
    stops.push(() => events.close());
    let completedRuns = 0;
    events.on('completed', ({ jobId }) => { if (!jobId.startsWith('wake-') && !jobId.startsWith('keys-')) completedRuns++; });
    await events.waitUntilReady();
    for (const started = Date.now(); (await queue.getWorkers()).length === 0;) {
      if (worker.exited() || Date.now() - started > 120_000) throw new Error('the worker did not start');
      await sleep(100);
    }
    const queueIdle = async () => {
      for (;;) {
        const c = await queue.getJobCounts('waiting', 'active', 'prioritized', 'delayed');
        if ((c.waiting ?? 0) + (c.active ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0) === 0) return;
        await sleep(100);
      }
    };
    await queueIdle();
    if (latencyMs > 0) emulator.setFaults([{ route: '*', latencyMs }]);

    /**
     * Waits until every group's desired version is synced; returns when each synced
     * (performance.now()). `done` may be passed in to follow the progress.
     */
    async function watchSynced(appIds: string[], guids: Set<string> | null, expected: number, pollMs: number, timeoutMs: number, done = new Map<string, number>()): Promise<Map<string, number>> {
      const started = performance.now();
      const before = new Map((await sql<{ tenant_id: string; guid: string; synced_version: string }>`
        SELECT tenant_id, guid, synced_version FROM groups WHERE tenant_id = ANY(${appIds})`.execute(db)).rows.map((r) => [`${r.tenant_id}/${r.guid}`, BigInt(r.synced_version)]));
      while (done.size < expected) {
        if (performance.now() - started > timeoutMs) throw new Error(`only ${done.size}/${expected} groups synced within ${timeoutMs} ms`);
        if (worker.exited()) throw new Error('the worker exited');
        const { rows } = await sql<{ tenant_id: string; guid: string; synced_version: string }>`
          SELECT tenant_id, guid, synced_version FROM groups
           WHERE tenant_id = ANY(${appIds}) AND status = 'synced' AND synced_version >= desired_version`.execute(db);
        const now = performance.now();
        for (const r of rows) {
          const key = `${r.tenant_id}/${r.guid}`;
          if (done.has(key) || (guids && !guids.has(key))) continue;
          if (BigInt(r.synced_version) > (before.get(key) ?? 0n)) done.set(key, now);
        }
        await sleep(pollMs);
      }
      return done;
    }

    /** Sends one webhook per group (inFlight at once) and measures webhook → synced. */
    async function phase(
      name: string, appIds: string[], items: Array<{ appId: string; guid: string; trigger: string; payload: Parameters<typeof cometchatDelivery>[2] }>,
      pollMs: number, opts: { synced?: Map<string, number>; perSecond?: number } = {},
    ): Promise<PhaseRow> {
      proxy.reset();
      const runsBefore = completedRuns;
      const cpuBefore = await cpuMs(worker.pid);
      const sentAt = new Map<string, number>();
      const started = performance.now();
      const watching = watchSynced(appIds, new Set(items.map((it) => `${it.appId}/${it.guid}`)), items.length, pollMs, 1_800_000, opts.synced);
      await inParallel(items.length, inFlight, async (i) => {
        const it = items[i]!;
        // Paced: the i-th webhook leaves no earlier than i / perSecond after the start.
        if (opts.perSecond) await sleep(started + (1000 * i) / opts.perSecond - performance.now());
        sentAt.set(`${it.appId}/${it.guid}`, performance.now());
        await send(it.appId, it.trigger, it.payload);
      });
      const done = await watching;
      // A run records the group as synced before its job completes: count the runs once they have.
      await queueIdle();
      const seconds = (Math.max(...done.values()) - started) / 1000;
      const latencies = [...done].map(([key, at]) => at - sentAt.get(key)!).sort((a, b) => a - b);
      report.callsByOperation[name] = Object.fromEntries([...proxy.counts].sort());
      const row: PhaseRow = {
        phase: name, groups: items.length, p50Ms: round(percentile(latencies, 50)), p99Ms: round(percentile(latencies, 99)),
        groupsPerSecond: round(items.length / seconds, 1), virgilCallsPerGroup: round(proxy.total() / items.length, 2),
        runsPerGroup: round((completedRuns - runsBefore) / items.length, 2),
        workerCpuMsPerGroup: round(((await cpuMs(worker.pid)) - cpuBefore) / items.length, 1),
      };
      report.rows.push(row);
      log(`${name}: p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, ${row.groupsPerSecond} groups/s, ${row.virgilCallsPerGroup} Virgil calls, ${row.runsPerGroup} runs and ${row.workerCpuMsPerGroup} ms of worker CPU per group`);
      return row;
    }

    // 2. Latency: 50 groups of one tenant at once.
    if (phases.has('latency')) {
      const guids = Array.from({ length: 50 }, (_, i) => `lat-${i}`);
      const member = (g: number, k: number) => latencyUsers[(g * 3 + k) % latencyUsers.length]!;
      let at = ++clock;
      await phase('create group (3 members)', ['scale-latency'], guids.map((guid, g) => ({ appId: 'scale-latency', guid, trigger: 'group_created', payload: { guid, owner: member(g, 0), members: [member(g, 0), member(g, 1), member(g, 2)], createdAt: at } })), 10);
      at = ++clock;
      await phase('add 2 members', ['scale-latency'], guids.map((guid, g) => ({ appId: 'scale-latency', guid, trigger: 'group_member_added', payload: { guid, members: [member(g, 3), member(g, 4)], updatedAt: at } })), 10);
      at = ++clock;
      await phase('kick 1 member (new epoch)', ['scale-latency'], guids.map((guid, g) => ({ appId: 'scale-latency', guid, trigger: 'group_member_kicked', payload: { guid, members: [member(g, 1)], updatedAt: at } })), 10);
    }

    // 3. Flood: tenant A's burst, tenant B's one change in the middle of it.
    if (phases.has('flood') && floodChanges > 0) {
      proxy.reset();
      const at = ++clock;
      const floodGuids = Array.from({ length: floodChanges }, (_, i) => `flood-${i}`);
      const started = performance.now();
      const aDone = watchSynced(['scale-flood-a'], null, floodChanges, 100, 900_000);
      let bSentAt = 0;
      let bSynced: Promise<Map<string, number>> | null = null;
      await inParallel(floodChanges, inFlight, async (i) => {
        const guid = floodGuids[i]!;
        await send('scale-flood-a', 'group_created', { guid, owner: floodUsers[i % 20], members: [floodUsers[i % 20]!, floodUsers[(i + 1) % 20]!], createdAt: at });
        if (i === Math.floor(floodChanges / 5)) {
          bSynced = watchSynced(['scale-flood-b'], null, 1, 10, 120_000);
          bSentAt = performance.now();
          await send('scale-flood-b', 'group_created', { guid: 'b-group', owner: 'b0', members: ['b0', 'b1'], createdAt: at });
        }
      });
      const bDoneAt = [...(await bSynced!).values()][0]!;
      const aAll = await aDone;
      report.flood = {
        changes: floodChanges,
        otherTenantMs: round(bDoneAt - bSentAt),
        floodGroupsPerSecond: round(floodChanges / ((Math.max(...aAll.values()) - started) / 1000), 1),
      };
      report.callsByOperation.flood = Object.fromEntries([...proxy.counts].sort());
      log(`flood: the other tenant's change synced in ${report.flood.otherTenantMs} ms; the flood ran at ${report.flood.floodGroupsPerSecond} groups/s`);
    }

    // 4. Soak: every tenant touched once, the worker sampled every second.
    if (phases.has('soak') && soakIds.length > 0) {
      const samples: SoakSample[] = [];
      const synced = new Map<string, number>();
      const started = performance.now();
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          if (!worker.exited()) {
            const s = await sampleProcess(worker.pid).catch(() => null);
            if (s) samples.push({ ...s, files: await countFiles(workerTmp), touched: synced.size, atSeconds: round((performance.now() - started) / 1000, 1) });
          }
          await sleep(1_000);
        }
      })();
      const at = ++clock;
      const items = soakIds.map((appId) => ({ appId, guid: 'g', trigger: 'group_created', payload: { guid: 'g', owner: 'owner', members: ['owner', 'member'], createdAt: at } }));
      try {
        await phase(soakRate > 0 ? `soak: create (2 members), one group per tenant, ${soakRate}/s` : 'soak: create (2 members), one group per tenant, all at once',
          soakIds, items, 200, { synced, perSecond: soakRate });
      } finally {
        sampling = false;
        await sampler;
      }
      const final = await sampleProcess(worker.pid).catch(() => null);
      if (final) samples.push({ ...final, files: await countFiles(workerTmp), touched: synced.size, atSeconds: round((performance.now() - started) / 1000, 1) });
      const quarters = [0.25, 0.5, 0.75, 1].map((q) => samples.find((s) => s.touched >= q * soakIds.length) ?? samples[samples.length - 1]!);
      report.soak = {
        tenants: soakIds.length,
        samples,
        quarters,
        max: { rssMiB: round(Math.max(...samples.map((s) => s.rssMiB)), 1), fds: Math.max(...samples.map((s) => s.fds)), files: Math.max(...samples.map((s) => s.files)) },
        survived: !worker.exited(),
        openFilesLimit: samples[0]?.openFilesLimit ?? null,
      };
      log(`soak: max RSS ${report.soak.max.rssMiB} MiB, max ${report.soak.max.fds} descriptors (limit ${report.soak.openFilesLimit}), max ${report.soak.max.files} files in its temp folder, worker ${report.soak.survived ? 'up' : 'DEAD'}`);
    }
    report.workerProblems = worker.problems.slice(0, 20);
    return report;
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err) => console.error(`scale bench cleanup: ${(err as Error).message}`));
  }
}

export function formatScaleBench(r: ScaleReport): string {
  const out: string[] = [`scale benchmark: ${Object.entries(r.settings).map(([k, v]) => `${k}=${v}`).join(', ')}`];
  if (r.intake) {
    out.push(`intake (worker stopped, ${r.intake.connections} in flight): ${r.intake.eventsPerSecond} accepted events/s, p50 ${r.intake.p50Ms} ms, p99 ${r.intake.p99Ms} ms, ${r.intake.apiCpuMsPerEvent} ms of API CPU, ${r.intake.postgresCpuMsPerEvent} ms of PostgreSQL CPU, ${r.intake.redisCpuMsPerEvent} ms of Redis CPU and ${r.intake.driverCpuMsPerEvent} ms of load-driver CPU per event, ${round(r.intake.hotGroupUpdates * 100)}% of group updates HOT; `
      + `${r.intake.answered2xx} answered 2xx, ${r.intake.failed} failed, ${r.intake.stored} stored (durable before the answer: ${r.intake.stored >= r.intake.answered2xx ? 'yes' : 'NO'})`);
  }
  if (r.rows.length > 0) {
    const header = ['phase', 'groups', 'p50 ms', 'p99 ms', 'groups/s', 'Virgil calls/group', 'runs/group', 'worker CPU ms/group'];
    const lines = r.rows.map((row) => [row.phase, String(row.groups), String(row.p50Ms), String(row.p99Ms), String(row.groupsPerSecond), String(row.virgilCallsPerGroup), String(row.runsPerGroup), String(row.workerCpuMsPerGroup)]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    out.push(fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt));
  }
  if (r.flood) out.push(`flood: while one tenant sent ${r.flood.changes} group creates (synced at ${r.flood.floodGroupsPerSecond} groups/s), another tenant's create synced in ${r.flood.otherTenantMs} ms`);
  if (r.soak) {
    const s = r.soak;
    out.push(`soak: ${s.tenants} tenants touched by one worker (descriptor limit ${s.openFilesLimit}); worker ${s.survived ? 'stayed up' : 'DIED'}`);
    for (const q of s.quarters) out.push(`  ${q.touched} tenants synced (${q.atSeconds} s): RSS ${round(q.rssMiB, 1)} MiB, ${q.fds} descriptors, ${q.files} files in its temp folder`);
    out.push(`  maximum: RSS ${s.max.rssMiB} MiB, ${s.max.fds} descriptors, ${s.max.files} files`);
  }
  for (const [phase, calls] of Object.entries(r.callsByOperation)) out.push(`Virgil calls, ${phase}: ${Object.entries(calls).map(([op, n]) => `${op} ${n}`).join(', ')}`);
  if (r.workerProblems.length > 0) out.push(`worker warnings (first ${r.workerProblems.length}):`, ...r.workerProblems.map((l) => `  ${l.slice(0, 240)}`));
  return out.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const report = await runScaleBench();
  console.log(formatScaleBench(report));
}

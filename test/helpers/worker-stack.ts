/**
 * The whole group pipeline for tests: the real HTTP app (test app), a queue-backed reconcile
 * requester on real Redis (or BullMQ on PostgreSQL), the group worker, real E3Kit clients for users
 * and an E3Kit view as the service identity to read what Virgil holds.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/lib/logger.js';
import { ReconcileQueue, type ReconcileQueueOptions } from '../../src/reconcile/reconcile-queue.js';
import { SealedServiceKeyStorage } from '../../src/virgil/key-storage.js';
import { startWorker, type RunningWorker, type StartWorkerOptions } from '../../src/reconcile/worker.js';
import type { EThreeInstance } from '../../src/virgil/e3kit-runtime.js';
import { startTestApp, type OnboardedTenant, type TestApp, type TestAppOptions } from './app.js';
import { createE3Client, type Teardown } from './virgil-clients.js';
import { basicAuthHeader, cometchatPayload, standardDelivery, standardEvent, type CometChatPayloadOptions } from './deliveries.js';
import { waitFor } from './wait.js';

/** Worker settings that keep tests fast: short backoffs, locks and sweeps. */
export const FAST_WORKER: Omit<StartWorkerOptions, 'queue'> = {
  concurrency: 4,
  backoff: { baseMs: 100, capMs: 1_000 },
  pendingRecheckDelaysMs: [500, 1_000, 2_000],
  lockRetryDelayMs: 200,
  lockDurationMs: 3_000,
  stalledIntervalMs: 1_000,
  sweeper: { intervalMs: 500, redeliverAfterMs: 3_000, pendingRecheckMs: 5_000 },
  failedRetryAfterMs: 1_000,
  runTimeoutMs: 30_000,
  shutdownTimeoutMs: 10_000,
  imports: {
    pollIntervalMs: 100, backlogPollMs: 100, retryAfterMs: 500, driftRepairPollIntervalMs: 200,
    cometchatRetry: { attempts: 6, baseMs: 50, capMs: 400, maxRetryAfterMs: 2_000 },
  },
};

export interface WorkerStackOptions {
  /** Redis URL; null for BullMQ on PostgreSQL. Default TEST_REDIS_URL. */
  redisUrl?: string | null;
  worker?: Omit<StartWorkerOptions, 'queue'>;
  app?: Omit<TestAppOptions, 'reconcile'>;
  /** Attempts per reconcile job before a group is marked failed. */
  attempts?: number;
  /** The key-check clock and interval of the API's requester. */
  queue?: Pick<ReconcileQueueOptions, 'now' | 'keyCheckIntervalMs'>;
}

export interface WorkerStack {
  h: TestApp;
  queue: ReconcileQueue;
  prefix: string;
  worker: RunningWorker;
  logLines: string[];
  /** Stops the current worker (gracefully unless forced) and starts a new one. */
  restartWorker(opts?: { force?: boolean; worker?: Omit<StartWorkerOptions, 'queue'> }): Promise<RunningWorker>;
}

export function testRedisUrl(): string {
  const url = process.env.TEST_REDIS_URL;
  if (!url) throw new Error('TEST_REDIS_URL is not set: run the suite with `npm test`');
  return url;
}

export async function startWorkerStack(t: Teardown, opts: WorkerStackOptions = {}): Promise<WorkerStack> {
  const prefix = `t${randomBytes(5).toString('hex')}`;
  const logLines: string[] = [];
  const log = createLogger({ level: 'info', destination: new Writable({ write(chunk, _enc, cb) { logLines.push(chunk.toString()); cb(); } }) });
  const redisUrl = opts.redisUrl === undefined ? testRedisUrl() : opts.redisUrl;

  // The queue must exist before the app context; BullMQ on PostgreSQL needs the database first.
  let queue: ReconcileQueue | null = redisUrl
    ? new ReconcileQueue({ redisUrl, log, prefix, userActiveFlushMs: 100, userActiveDelaysMs: [200, 1_000, 3_000], attempts: opts.attempts, ...opts.queue })
    : null;
  const h = await startTestApp(t, { ...opts.app, ...(queue ? { reconcile: queue } : {}) });
  if (!queue) {
    queue = new ReconcileQueue({ redisUrl: null, databaseUrl: h.databaseUrl, log, prefix, db: h.ctx.db, userActiveFlushMs: 100, userActiveDelaysMs: [200, 1_000, 3_000], attempts: opts.attempts, ...opts.queue });
    // The app context was built with a recording requester; the worker and tests use this queue.
    (h.ctx as { reconcile: unknown }).reconcile = queue;
  }
  queue.useDatabase(h.ctx.db, h.ctx.notifications);

  let worker = await startWorker(h.ctx, { ...FAST_WORKER, ...opts.worker, queue });
  const stack: WorkerStack = {
    h, queue, prefix, worker, logLines,
    async restartWorker(restart = {}) {
      await worker.close({ force: restart.force });
      worker = await startWorker(h.ctx, { ...FAST_WORKER, ...opts.worker, ...restart.worker, queue: queue! });
      stack.worker = worker;
      return worker;
    },
  };
  // Teardowns run in reverse order: the worker stops before the app and its database go away.
  t.teardown(async () => {
    await stack.worker.close();
    await queue!.close();
  });
  return stack;
}

export interface GroupStatusData {
  guid: string; identity: string; status: string; desiredMembers: string[]; virgilMembers: string[];
  pendingRegistration: string[]; lastError: { code: string; message: string } | null; updatedAt: string;
  membershipVersion: number; keyChanges: number; lastReAddAt: string | null;
}

export async function groupStatus(h: TestApp, appId: string, guid: string): Promise<GroupStatusData | null> {
  const res = await h.admin('GET', `/admin/v1/tenants/${encodeURIComponent(appId)}/groups/${encodeURIComponent(guid)}`);
  if (res.statusCode === 404) return null;
  if (res.statusCode !== 200) throw new Error(`group status: ${res.statusCode} ${res.body}`);
  return res.json().data as GroupStatusData;
}

/** Waits until the group's status matches (and its desired state has been reconciled). */
export async function waitForStatus(h: TestApp, appId: string, guid: string, accept: (s: GroupStatusData) => boolean, timeoutMs?: number) {
  return waitFor(async () => {
    // Versions first, then the status: a status read before a run finished could otherwise be
    // paired with versions read after it (a new group reads `pending` before its first run, too).
    const row = await h.ctx.db.selectFrom('groups').select(['synced_version', 'desired_version'])
      .where('tenant_id', '=', appId).where('guid', '=', guid).executeTakeFirst();
    if (!row || BigInt(row.synced_version) < BigInt(row.desired_version)) return undefined;
    const status = await groupStatus(h, appId, guid);
    return status && accept(status) ? status : undefined;
  }, `group ${guid} status`, timeoutMs);
}

/**
 * Waits until no reconcile job waits, runs or is delayed: a group that just showed `synced` may still
 * have a follow-up run queued (a request that arrived while it ran), which would meet whatever the
 * test changes next (emulator faults).
 */
export async function waitForIdleQueue(stack: Pick<WorkerStack, 'queue'>) {
  await waitFor(async () => {
    const counts = await stack.queue.jobCounts();
    return counts.waiting + counts.active + counts.delayed + counts.prioritized === 0;
  }, 'the group queue to be idle');
}

/** An E3Kit client of a tenant's user, getting its Virgil JWT from GET /v1/virgil-jwt like an app would. */
export async function userClient(t: Teardown, h: TestApp, tenant: OnboardedTenant, uid: string): Promise<EThreeInstance> {
  return createE3Client({
    t,
    apiUrl: h.emulator.url,
    getToken: async () => {
      const res = await h.app.inject({ method: 'GET', url: '/v1/virgil-jwt', headers: { appid: tenant.appId, authorization: `Bearer ${tenant.userToken(uid)}` } });
      if (res.statusCode !== 200) throw new Error(`virgil-jwt for ${uid}: ${res.statusCode} ${res.body}`);
      return res.json().data.virgilToken as string;
    },
  });
}

/** Registered users by uid. */
export async function registeredUsers(t: Teardown, h: TestApp, tenant: OnboardedTenant, uids: string[]): Promise<Map<string, EThreeInstance>> {
  const clients = new Map<string, EThreeInstance>();
  for (const uid of uids) {
    const client = await userClient(t, h, tenant, uid);
    await client.register();
    clients.set(uid, client);
  }
  return clients;
}

/** The tenant's service identity as a separate E3Kit client: reads Virgil's view of a group. */
export async function serviceView(t: Teardown, h: TestApp, appId: string) {
  const runtime = (await h.ctx.tenants.get(appId))!;
  const credentials = { serviceIdentity: runtime.serviceIdentity, jwtSigner: runtime.jwtSigner, privateKey: runtime.servicePrivateKey() };
  const client = await createE3Client({
    t,
    apiUrl: h.emulator.url,
    getToken: () => credentials.jwtSigner.sign(credentials.serviceIdentity).token,
    options: { keyEntryStorage: new SealedServiceKeyStorage(credentials.serviceIdentity, async () => credentials.privateKey) },
  });
  const ownCard = await client.findUsers(credentials.serviceIdentity);
  const uidOf = (identity: string, uids: string[]) => uids.find((uid) => runtime.userIdentity(uid) === identity) ?? `?${identity}`;
  return {
    client,
    identity: credentials.serviceIdentity,
    groupIdentity: (guid: string) => runtime.groupIdentity(guid),
    userIdentity: (uid: string) => runtime.userIdentity(uid),
    /** Participants (as uids from `knownUids`, unknown identities as `?identity`), or null when there is no group. */
    async participants(guid: string, knownUids: string[]): Promise<string[] | null> {
      try {
        const group = await client.loadGroup(runtime.groupIdentity(guid), ownCard);
        return group.participants.filter((p) => p !== credentials.serviceIdentity).map((p) => uidOf(p, knownUids)).sort();
      } catch (err) {
        const e = err as { name?: string; errorCode?: number };
        if (e.name === 'GroupError' && (e.errorCode === 11 || e.errorCode === 3)) return null;
        throw err;
      }
    },
  };
}

/** Sends a CometChat webhook over the real HTTP interface; event times are unix seconds. */
export async function sendCometChat(h: TestApp, tenant: OnboardedTenant, trigger: string, opts: CometChatPayloadOptions) {
  const res = await h.app.inject({
    method: 'POST',
    url: `/v1/webhooks/${tenant.appId}/cometchat`,
    headers: { authorization: basicAuthHeader(tenant.webhookBasic.username, tenant.webhookBasic.password), 'content-type': 'application/json' },
    payload: cometchatPayload(trigger, { appId: tenant.appId, ...opts }),
  });
  if (res.statusCode !== 200) throw new Error(`${trigger}: ${res.statusCode} ${res.body}`);
  return res;
}

/** Sends a Standard Webhooks-signed neutral event. */
export async function sendStandard(h: TestApp, tenant: OnboardedTenant, type: string, opts: { guid: string; occurredAt: Date; owner?: string; members?: string[] }) {
  const d = standardDelivery(tenant.signingSecret, standardEvent(type, opts));
  const res = await h.app.inject({ method: 'POST', url: `/v1/webhooks/${tenant.appId}`, headers: d.headers, payload: d.payload });
  if (res.statusCode !== 200) throw new Error(`${type}: ${res.statusCode} ${res.body}`);
  return res;
}

/**
 * The queue-backed ReconcileRequester used by the API and the worker.
 *
 * - `request()` adds a deduplicated reconcile job: at most one waiting and one running job per
 *   group, and a request made while the group's job runs becomes one follow-up run, so no change
 *   is lost and no two runs of a group overlap.
 * - `userActive()` is called on every Virgil JWT issued. It first asks the in-memory view of
 *   pending registrations (pending-registrations.ts): a uid no group awaits costs nothing more.
 *   Others (and all of them while the view is unknown) are batched and flushed every ~250 ms with
 *   ONE query per tenant for the groups where one of them awaits registration; those groups get
 *   delayed nudges (the user usually registers right after fetching a token). At most once a
 *   minute per user (per process), the uid also goes to a key check: the same flush finds, in one
 *   query, which of them hold tickets in some group, and each of those gets a key-check job (the
 *   worker compares their newest card with the cards their groups gave them tickets for).
 *
 * Neither ever fails its caller: the webhook intake writes a reconcile_outbox row in the same
 * transaction as the desired state, and the outbox sweeper enqueues whatever could not be enqueued
 * here (e.g. while Redis is down; a request that fails is marked so in the outbox at once).
 *
 * Every reconcile job carries a per-tenant priority (tenant-priority.ts), so a tenant's burst
 * cannot push every other tenant's changes behind it.
 */
import type { Logger } from 'pino';
import { createDatabase, type DatabaseHandle, type Db } from '../db/database.js';
import type { NotificationListener } from '../db/notification-listener.js';
import { QueueConnection, type GroupQueue } from './queue-connection.js';
import {
  KEY_CHECK_JOB, RECONCILE_JOB, WAKE_JOB, keyCheckJobOptions, reconcileDeduplicationId, reconcileJobOptions, wakeJobOptions, type WakeReason,
} from './jobs.js';
import { PendingRegistrations, type PendingRegistrationsOptions } from '../groups/pending-registrations.js';
import type { QueueProbe, ReconcileRequester } from '../groups/reconcile-requester.js';
import { groupsAwaiting } from '../groups/group-repository.js';
import { uidsHoldingTickets } from '../groups/run-records.js';
import { markNotEnqueued, type OutboxTarget } from '../groups/outbox-repository.js';
import { IntervalGate } from '../lib/interval-gate.js';
import { TenantPriority } from './tenant-priority.js';

export interface ReconcileQueueOptions {
  /** null: BullMQ on PostgreSQL (schema `bullmq` of databaseUrl). */
  redisUrl: string | null;
  /** Required for the PostgreSQL backend; otherwise only used to open a pool when `db` is not given. */
  databaseUrl?: string;
  log: Logger;
  /** Redis key prefix; one per deployment (tests use a unique one per file). */
  prefix?: string;
  /**
   * Database for the registration lookups of userActive(): this handle, else a small pool on
   * databaseUrl, else one attached later with useDatabase() (when the queue must exist before the
   * application context that owns the database).
   */
  db?: Db;
  /**
   * The process's notification listener: with it (and a database), userActive() skips the uids no
   * group awaits without asking the database. Without it, every uid is looked up.
   */
  notifications?: NotificationListener;
  pendingRegistrations?: PendingRegistrationsOptions;
  /** How long userActive() batches uids before querying. */
  userActiveFlushMs?: number;
  /** Delays of the nudges sent to a group after one of its pending members fetched a token. */
  userActiveDelaysMs?: number[];
  /** Upper bound on how long request() waits for the queue before leaving it to the sweeper. */
  enqueueTimeoutMs?: number;
  /** Attempts of a reconcile job before the group is marked failed (default RECONCILE_ATTEMPTS). */
  attempts?: number;
  /** A user's key is checked after a token fetch at most once per this long (default 60 s). */
  keyCheckIntervalMs?: number;
  /** Clock of the key-check interval (tests inject one). */
  now?: () => number;
}

/** Users whose last key check this process remembers (older ones are simply checked again). */
const KEY_CHECK_MEMORY = 100_000;

const MAX_BATCHED_UIDS_PER_TENANT = 5_000;
/** The job states operators see (BullMQ 6 has no paused state). */
const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed', 'completed'] as const;
const MAX_GROUPS_PER_FLUSH = 1_000;

export class ReconcileQueue implements ReconcileRequester, QueueProbe {
  readonly connection: QueueConnection;
  #queue: Promise<GroupQueue> | null = null;
  readonly #log: Logger;
  #db: Db | null;
  #pending: PendingRegistrations | null = null;
  readonly #pendingOptions: PendingRegistrationsOptions;
  readonly #ownDb: DatabaseHandle | null;
  readonly #flushMs: number;
  readonly #userDelays: number[];
  readonly #timeoutMs: number;
  readonly #attempts: number | undefined;
  #batch = new Map<string, Set<string>>();
  #keyBatch = new Map<string, Set<string>>();
  readonly #keyChecks: IntervalGate;
  readonly #priority = new TenantPriority();
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(opts: ReconcileQueueOptions) {
    this.#log = opts.log;
    if (!opts.redisUrl && !opts.databaseUrl) throw new Error('the PostgreSQL queue backend needs databaseUrl');
    this.connection = new QueueConnection({ redisUrl: opts.redisUrl, databaseUrl: opts.databaseUrl ?? '', prefix: opts.prefix });
    this.#ownDb = opts.db || !opts.databaseUrl ? null : createDatabase(opts.databaseUrl, { max: 2, applicationName: 'e2ee-extension-reconcile-queue' });
    this.#db = opts.db ?? this.#ownDb?.db ?? null;
    this.#flushMs = opts.userActiveFlushMs ?? 250;
    this.#userDelays = opts.userActiveDelaysMs ?? [1_000, 5_000, 20_000];
    this.#timeoutMs = opts.enqueueTimeoutMs ?? 1_000;
    this.#attempts = opts.attempts;
    this.#keyChecks = new IntervalGate(opts.keyCheckIntervalMs ?? 60_000, KEY_CHECK_MEMORY, opts.now);
    this.#pendingOptions = { log: opts.log, ...opts.pendingRegistrations };
    if (this.#db && opts.notifications) this.#pending = new PendingRegistrations(this.#db, opts.notifications, this.#pendingOptions);
  }

  /** The producer, created on first use (the PostgreSQL backend migrates its schema first). */
  getQueue(): Promise<GroupQueue> {
    this.#queue ??= this.connection.createQueue().then((queue) => {
      // A Queue emits 'error' on connection trouble; without a listener that would crash the process.
      queue.on('error', (err) => this.#log.warn({ err: err.message }, 'reconcile queue connection error'));
      return queue;
    }, (err: unknown) => {
      this.#queue = null;
      throw err;
    });
    return this.#queue;
  }

  /** Attaches the database (and listener) used by userActive() when none was given at construction. */
  useDatabase(db: Db, notifications?: NotificationListener): void {
    this.#db ??= db;
    if (!this.#pending && notifications) this.#pending = new PendingRegistrations(this.#db, notifications, this.#pendingOptions);
  }

  /**
   * Best effort: logs and resolves when the queue is unavailable; the outbox has the request, and is
   * told it was not handed over, so the sweeper's next pass takes it.
   */
  async request(tenantId: string, guid: string): Promise<void> {
    await this.requestMany([{ tenant_id: tenantId, guid }]);
  }

  /** request() for several groups, in one round trip to the queue. */
  async requestMany(targets: readonly OutboxTarget[]): Promise<void> {
    if (targets.length === 0) return;
    try {
      await this.#bounded(this.getQueue().then((queue) => queue.addBulk(targets.map((t) => this.#reconcileJob(t.tenant_id, t.guid)))));
    } catch (err) {
      const which = targets.length === 1 ? { tenantId: targets[0]!.tenant_id, guid: targets[0]!.guid } : { groups: targets.length };
      this.#log.warn({ ...which, err: (err as Error).message }, 'reconcile request left to the outbox sweeper');
      if (this.#db) await markNotEnqueued(this.#db, targets).catch(() => {}); // else it is redelivered later
    }
  }

  /** Adds the group's reconcile job; rejects when the queue cannot be reached in time. */
  async enqueue(tenantId: string, guid: string): Promise<void> {
    const job = this.#reconcileJob(tenantId, guid);
    await this.#bounded(this.getQueue().then((queue) => queue.add(job.name, job.data, job.opts)));
  }

  #reconcileJob(tenantId: string, guid: string) {
    const opts = { ...reconcileJobOptions(tenantId, guid, this.#attempts), priority: this.#priority.next(tenantId) };
    return { name: RECONCILE_JOB, data: { tenantId, guid }, opts };
  }

  /** Whether a reconcile job of the group is waiting, delayed or running (rejects when the queue cannot be reached). */
  async isQueued(tenantId: string, guid: string): Promise<boolean> {
    return (await this.#bounded(this.getQueue().then((queue) => queue.getDeduplicationJobId(reconcileDeduplicationId(tenantId, guid))))) !== null;
  }

  /**
   * A delayed nudge that enqueues a reconcile when it fires. One per group and slot: adding a slot
   * that is already scheduled keeps the earlier schedule.
   */
  async wake(tenantId: string, guid: string, slot: string, delayMs: number, reason: WakeReason): Promise<void> {
    await this.#bounded(this.getQueue().then((queue) => queue.add(WAKE_JOB, { tenantId, guid, reason }, wakeJobOptions(tenantId, guid, slot, delayMs))));
  }

  /** Rejects unless the queue backend answers within the enqueue timeout (readiness). */
  async ping(): Promise<void> {
    await this.#bounded(this.getQueue().then((queue) => queue.getJobCounts('waiting')));
  }

  /** Jobs by state, as BullMQ counts them (queue depth for the metrics). */
  async jobCounts(): Promise<Record<string, number>> {
    return this.#bounded(this.getQueue().then((queue) => queue.getJobCounts(...JOB_STATES)));
  }

  userActive(tenantId: string, uid: string): void {
    if (this.#closed) return;
    const awaited = this.#pending?.awaits(tenantId, uid) !== false;
    const keyCheckDue = this.#keyChecks.due(`${tenantId}\0${uid}`);
    if (awaited) addTo(this.#batch, tenantId, uid);
    if (keyCheckDue) addTo(this.#keyBatch, tenantId, uid);
    if ((awaited || keyCheckDue) && !this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#flushing = this.#flushing.then(() => this.#flush());
      }, this.#flushMs);
      this.#timer.unref();
    }
  }

  async keysChanged(tenantId: string, uid: string): Promise<void> {
    await this.#addKeyCheck(tenantId, uid);
  }

  #addKeyCheck(tenantId: string, uid: string): Promise<unknown> {
    return this.#bounded(this.getQueue().then((queue) => queue.add(KEY_CHECK_JOB, { tenantId, uid }, keyCheckJobOptions(tenantId, uid))));
  }

  async #flush(): Promise<void> {
    const batch = this.#batch;
    const keyBatch = this.#keyBatch;
    this.#batch = new Map();
    this.#keyBatch = new Map();
    const db = this.#db;
    if (!db) return;
    for (const [tenantId, uids] of batch) {
      try {
        const guids = await groupsAwaiting(db, tenantId, [...uids], MAX_GROUPS_PER_FLUSH);
        await Promise.all(guids.flatMap((guid) => this.#userDelays.map((delay) =>
          this.wake(tenantId, guid, `user-${delay}`, delay, 'user-active'))));
      } catch (err) {
        // The pending-member backoff re-checks these groups anyway; this is only the fast path.
        this.#log.warn({ tenantId, err: (err as Error).message }, 'could not nudge groups of newly active users');
      }
    }
    for (const [tenantId, uids] of keyBatch) {
      try {
        const holders = await uidsHoldingTickets(db, tenantId, [...uids]);
        await Promise.all(holders.map((uid) => this.#addKeyCheck(tenantId, uid)));
      } catch (err) {
        // POST /v1/keys/changed and every reconcile of their groups check again.
        this.#log.warn({ tenantId, err: (err as Error).message }, 'could not queue key checks of active users');
      }
    }
  }

  #bounded<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`queue did not answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending?.close();
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
      this.#flushing = this.#flushing.then(() => this.#flush());
    }
    await this.#flushing.catch(() => {});
    const queue = await this.#queue?.catch(() => null);
    await queue?.close().catch(() => {});
    await this.connection.close();
    await this.#ownDb?.close().catch(() => {});
  }
}

function addTo(batch: Map<string, Set<string>>, tenantId: string, uid: string): void {
  let uids = batch.get(tenantId);
  if (!uids) batch.set(tenantId, (uids = new Set()));
  if (uids.size < MAX_BATCHED_UIDS_PER_TENANT) uids.add(uid);
}

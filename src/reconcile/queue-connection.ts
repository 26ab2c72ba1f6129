/**
 * Where the group queue lives: Redis when REDIS_URL is set (production), otherwise BullMQ's
 * PostgreSQL backend in schema `bullmq` of the service's own database (the embedded default, no
 * extra server to run). Queue and Worker objects are created here so the rest of the code never
 * cares which one it is.
 *
 * Redis keys are namespaced by a per-deployment prefix (tests pass a unique one so that files
 * sharing one redis-server never see each other's jobs). The PostgreSQL backend ignores prefixes;
 * its namespace is the schema of the database it connects to.
 *
 * On PostgreSQL, the queue's connections come from a pool we own (see QuietClient), migrated to
 * BullMQ's schema before the first Queue or Worker is created.
 */
import pg from 'pg';
import { Queue, Worker, withBackend, createPostgresBackend, runMigrations, type IQueueBackend, type Processor, type WorkerOptions } from 'bullmq';
import { QuietClient } from '../db/quiet-client.js';
import { DEFAULT_JOB_OPTIONS, DEFAULT_QUEUE_PREFIX, GROUP_QUEUE_NAME, type GroupJobData } from './jobs.js';

export type QueueBackendKind = 'redis' | 'postgres';

export interface QueueConnectionOptions {
  /** null: BullMQ on PostgreSQL. */
  redisUrl: string | null;
  /** Used by the PostgreSQL backend. */
  databaseUrl: string;
  prefix?: string;
  /** Connections of the PostgreSQL backend's pool (one stays with each worker for LISTEN). */
  postgresPoolSize?: number;
}

/**
 * Backend-neutral views of the queue classes. The connection-options type parameter is invariant
 * and differs per backend, hence `any` there; nothing here reads the connection options back.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyConnection = any;
export type GroupQueue = Queue<GroupJobData, unknown, string, GroupJobData, unknown, string, IQueueBackend, AnyConnection>;
export type GroupWorker = Worker<GroupJobData, unknown, string, IQueueBackend, number | object | string | boolean, AnyConnection>;

const postgres = withBackend(createPostgresBackend);
const BULLMQ_SCHEMA = 'bullmq';

export class QueueConnection {
  readonly kind: QueueBackendKind;
  readonly prefix: string;
  #pgPool: pg.Pool | null = null;
  #pgReady: Promise<void> | null = null;

  constructor(private readonly opts: QueueConnectionOptions) {
    this.kind = opts.redisUrl ? 'redis' : 'postgres';
    this.prefix = opts.prefix ?? DEFAULT_QUEUE_PREFIX;
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(this.prefix)) throw new Error('queue prefix must be 1-64 letters, digits, "_", "." or "-"');
  }

  /**
   * A producer. On Redis the offline queue is off, so adding a job while Redis is unreachable fails
   * at once instead of hanging the caller; the outbox in PostgreSQL keeps the request.
   */
  async createQueue(): Promise<GroupQueue> {
    if (this.opts.redisUrl) {
      return new Queue<GroupJobData, unknown>(GROUP_QUEUE_NAME, {
        connection: { url: this.opts.redisUrl, enableOfflineQueue: false, maxRetriesPerRequest: 1 },
        prefix: this.prefix,
        defaultJobOptions: DEFAULT_JOB_OPTIONS,
      });
    }
    const pool = await this.#postgresPool();
    return new postgres.Queue<GroupJobData, unknown>(GROUP_QUEUE_NAME, { connection: pool, defaultJobOptions: DEFAULT_JOB_OPTIONS });
  }

  async createWorker(processor: Processor<GroupJobData, unknown>, options: Omit<WorkerOptions, 'connection' | 'prefix'>): Promise<GroupWorker> {
    if (this.opts.redisUrl) {
      return new Worker<GroupJobData, unknown>(GROUP_QUEUE_NAME, processor, {
        ...options,
        // BullMQ requires this for workers: commands wait for a reconnect instead of failing.
        connection: { url: this.opts.redisUrl, maxRetriesPerRequest: null },
        prefix: this.prefix,
      });
    }
    const pool = await this.#postgresPool();
    return new postgres.Worker<GroupJobData, unknown>(GROUP_QUEUE_NAME, processor, { ...options, connection: pool });
  }

  /** The PostgreSQL pool, with BullMQ's schema migrated (once; retried after a failure). */
  async #postgresPool(): Promise<pg.Pool> {
    this.#pgPool ??= this.#openPool();
    this.#pgReady ??= this.#migrate(this.#pgPool).catch((err: unknown) => {
      this.#pgReady = null;
      throw err;
    });
    await this.#pgReady;
    return this.#pgPool;
  }

  #openPool(): pg.Pool {
    const pool = new pg.Pool({
      connectionString: this.opts.databaseUrl,
      max: this.opts.postgresPoolSize ?? 8,
      application_name: 'e2ee-extension-queue',
      // Every connection resolves BullMQ's unqualified names in its schema.
      options: `-c search_path=${BULLMQ_SCHEMA}`,
      // A silently dropped LISTEN connection then surfaces as an error and is rebuilt.
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
      Client: QuietClient,
    });
    pool.on('error', () => {}); // idle clients dropping; BullMQ attaches its own listener too
    return pool;
  }

  /** BullMQ's migrations need one session (their advisory lock and transaction share it). */
  async #migrate(pool: pg.Pool): Promise<void> {
    const client = await pool.connect();
    try {
      await runMigrations(client, BULLMQ_SCHEMA);
    } finally {
      client.release();
    }
  }

  /** Ends the PostgreSQL pool; close every Queue and Worker created here first. */
  async close(): Promise<void> {
    const pool = this.#pgPool;
    this.#pgPool = null;
    this.#pgReady = null;
    await pool?.end().catch(() => {});
  }
}

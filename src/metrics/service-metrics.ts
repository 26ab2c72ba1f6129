/**
 * The process's Prometheus metrics (prom-client): one registry per process, created with the
 * application context and shared by the API and the worker when they run in one process.
 *
 * Labels stay bounded: routes are Fastify's route templates (never a raw path), statuses and
 * results come from fixed sets, and no label ever holds a group id, a uid or a secret. A `tenant`
 * label exists only when METRICS_TENANT_LABEL is set (fine for tens or hundreds of tenants, not for
 * many thousands).
 *
 * Counters and histograms are filled by the code that sees the event (HTTP hooks, the webhook
 * routes, the worker, the Virgil call observer). Gauges that describe shared state (queue depth,
 * groups by status, members pending registration) are read from their source when scraped, so every
 * process that serves them reports the same database-wide values; `e2ee_metrics_source_up` says
 * whether a source answered.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import { RequestHistogram } from './request-histogram.js';

export interface ServiceMetricsOptions {
  /** Label webhook and reconcile counters and the group gauges with the tenant (app id). */
  tenantLabel?: boolean;
  /** Node.js process metrics (CPU, memory, event loop lag, GC); default true. */
  processMetrics?: boolean;
  /** How long a scrape waits for a source (queue, database) before reporting it down. */
  sourceTimeoutMs?: number;
}

/** Job counts by BullMQ state. */
export type QueueCounts = Record<string, number>;

/** Database-wide group figures; `tenant` is null unless counted per tenant. */
export interface GroupFigures {
  groups: Array<{ tenant: string | null; status: string; count: number }>;
  pendingMembers: Array<{ tenant: string | null; count: number }>;
}

/** A source answering null has nothing to report (e.g. a process without a queue). */
export interface MetricSources {
  queue?: () => Promise<QueueCounts | null>;
  /** `perTenant`: whether the figures should be split by tenant (the tenant label is on). */
  groups?: (perTenant: boolean) => Promise<GroupFigures>;
}

const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const RUN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const VIRGIL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly tenantLabel: boolean;
  readonly #sourceTimeoutMs: number;
  #sources: MetricSources = {};
  /** Source reads of the scrape under way. */
  #reads: Array<Promise<unknown>> = [];
  #groupFigures: Promise<GroupFigures | null> = Promise.resolve(null);

  readonly #http: RequestHistogram;
  readonly #webhooks: Counter<string>;
  readonly #runs: Counter<string>;
  readonly #runDuration: Histogram<'outcome'>;
  readonly #virgil: Counter<'operation' | 'status'>;
  readonly #virgilDuration: Histogram<'operation'>;
  readonly #deliveriesDropped: Counter<string>;
  readonly #auditFailures: Counter<string>;
  readonly #sourceUp: Gauge<'source'>;

  constructor(opts: ServiceMetricsOptions = {}) {
    this.tenantLabel = opts.tenantLabel ?? false;
    this.#sourceTimeoutMs = opts.sourceTimeoutMs ?? 2_000;
    const registers = [this.registry];
    const withTenant = (labels: string[]) => (this.tenantLabel ? [...labels, 'tenant'] : labels);
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    this.#http = new RequestHistogram('e2ee_http_request_duration_seconds', 'HTTP requests by method, route template and status code', HTTP_BUCKETS);
    this.registry.registerMetric(this.#http as unknown as Metric);
    this.#webhooks = new Counter({
      name: 'e2ee_webhooks_received_total',
      help: 'Webhook deliveries by format (cometchat, standard, ...) and result (accepted, duplicate, ignored, unauthorized, invalid, ...)',
      labelNames: withTenant(['format', 'result']),
      registers,
    });
    this.#runs = new Counter({
      name: 'e2ee_reconcile_runs_total',
      help: 'Reconcile runs of a group by outcome (synced, pending, over_capacity, deleted, failed, retry, postponed, deferred, superseded, ...)',
      labelNames: withTenant(['outcome']),
      registers,
    });
    this.#runDuration = new Histogram({
      name: 'e2ee_reconcile_run_duration_seconds',
      help: 'Duration of reconcile runs by outcome',
      labelNames: ['outcome'],
      buckets: RUN_BUCKETS,
      registers,
    });
    this.#virgil = new Counter({
      name: 'e2ee_virgil_requests_total',
      help: 'HTTP requests to Virgil by operation (card_search, keyknox_push, ...) and status (HTTP status, or "error" when no answer came)',
      labelNames: ['operation', 'status'],
      registers,
    });
    this.#virgilDuration = new Histogram({
      name: 'e2ee_virgil_request_duration_seconds',
      help: 'Duration of HTTP requests to Virgil by operation',
      labelNames: ['operation'],
      buckets: VIRGIL_BUCKETS,
      registers,
    });
    this.#deliveriesDropped = new Counter({
      name: 'e2ee_webhook_delivery_log_dropped_total',
      help: 'Webhook deliveries counted but not written to the delivery log (over its per-second budget, or the database refused)',
      registers,
    });
    this.#auditFailures = new Counter({
      name: 'e2ee_audit_write_failures_total',
      help: 'Audit entries that could not be written (the action itself happened; the entry is in the log instead)',
      registers,
    });
    const metrics = this;
    new Gauge({
      name: 'e2ee_queue_jobs',
      help: 'Jobs in the group queue by state, as BullMQ counts them',
      labelNames: ['state'],
      registers,
      async collect() {
        const source = metrics.#sources.queue;
        this.reset();
        if (!source) return;
        const counts = await metrics.#read('queue', source);
        if (counts) for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
      },
    });
    // Both gauges come from one read of the database per scrape: the first starts it, the second
    // (registered after it, so collected after it started) waits for the same answer.
    new Gauge({
      name: 'e2ee_groups',
      help: 'Groups by status (synced, pending, failed, over_capacity, deleted)',
      labelNames: withTenant(['status']),
      registers,
      async collect() {
        const source = metrics.#sources.groups;
        this.reset();
        metrics.#groupFigures = source ? metrics.#read('database', () => source(metrics.tenantLabel)) : Promise.resolve(null);
        const figures = await metrics.#groupFigures;
        for (const g of figures?.groups ?? []) this.set(metrics.#withTenant({ status: g.status }, g.tenant), g.count);
      },
    });
    new Gauge({
      name: 'e2ee_members_pending_registration',
      help: 'Group memberships waiting for the member to register with Virgil (live groups)',
      labelNames: withTenant([]),
      registers,
      async collect() {
        this.reset();
        const figures = await metrics.#groupFigures;
        for (const p of figures?.pendingMembers ?? []) this.set(metrics.#withTenant({}, p.tenant), p.count);
      },
    });
    // A scrape collects every metric at once: this one waits for the reads the gauges above started
    // (registered after them, so they have started by the time it collects).
    this.#sourceUp = new Gauge({
      name: 'e2ee_metrics_source_up',
      help: 'Whether a source of the gauges answered during this scrape (1) or not (0)',
      labelNames: ['source'],
      registers,
      async collect() {
        await Promise.allSettled(metrics.#reads.splice(0));
      },
    });
  }

  /** Where the scrape-time gauges come from; later calls replace earlier ones, source by source. */
  setSources(sources: MetricSources): void {
    this.#sources = { ...this.#sources, ...sources };
  }

  /** One answered HTTP request. `route` is the route template, or "unmatched". */
  httpRequest(method: string, route: string, statusCode: number, seconds: number): void {
    this.#http.observe(method, route, statusCode, seconds);
  }

  webhookReceived(format: string, result: string, tenant: string | null): void {
    this.#webhooks.inc(this.#withTenant({ format, result }, tenant));
  }

  reconcileRun(outcome: string, seconds: number, tenant: string): void {
    this.#runs.inc(this.#withTenant({ outcome }, tenant));
    this.#runDuration.observe({ outcome }, seconds);
  }

  virgilRequest(operation: string, status: string, seconds: number): void {
    this.#virgil.inc({ operation, status });
    this.#virgilDuration.observe({ operation }, seconds);
  }

  deliveriesDropped(count: number): void {
    this.#deliveriesDropped.inc(count);
  }

  auditWriteFailed(): void {
    this.#auditFailures.inc();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  #withTenant<T extends Record<string, string>>(labels: T, tenant: string | null): T | (T & { tenant: string }) {
    return this.tenantLabel ? { ...labels, tenant: tenant ?? '' } : labels;
  }

  /** Reads a source within the timeout; a failure is reported as the source being down. */
  #read<T>(source: string, read: () => Promise<T | null>): Promise<T | null> {
    const reading = this.#readWithin(source, read);
    this.#reads.push(reading);
    return reading;
  }

  async #readWithin<T>(source: string, read: () => Promise<T | null>): Promise<T | null> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const value = await Promise.race([
        read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), this.#sourceTimeoutMs);
        }),
      ]);
      if (value !== null) this.#sourceUp.set({ source }, 1);
      return value;
    } catch {
      this.#sourceUp.set({ source }, 0);
      return null;
    } finally {
      clearTimeout(timer);
    }
  }
}

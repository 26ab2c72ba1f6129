/**
 * The operator's side without servers: metric definitions and their labels, names of Virgil
 * operations, reconcile-run outcomes, webhook results, audit vocabulary and tenant-change entries,
 * readiness reports, the delivery log's budget, and the Virgil request observer on a loopback server.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DelayedError, UnrecoverableError } from 'bullmq';
import pino from 'pino';
import t from 'tap';
import { checkReadiness, readinessProbe } from '../../src/app/readiness.js';
import { AUDIT_ACTIONS, auditActionOfVirgilStep, workerActor } from '../../src/audit/actions.js';
import { listed } from '../../src/audit/audit-log.js';
import { Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, type CompiledQuery } from 'kysely';
import type { Db } from '../../src/db/database.js';
import type { Database } from '../../src/db/schema.js';
import { auditedTenantChanges } from '../../src/http/routes/admin/audit.js';
import { webhookFormat, webhookResult } from '../../src/http/routes/webhooks/observe.js';
import { Histogram, Registry, type Metric } from 'prom-client';
import { RequestHistogram } from '../../src/metrics/request-histogram.js';
import { ServiceMetrics } from '../../src/metrics/service-metrics.js';
import { outcomeOfError, outcomeOfResult } from '../../src/reconcile/run-metrics.js';
import { TenantDeferredError } from '../../src/reconcile/tenant-gate.js';
import { observeVirgilRequests, virgilOperation } from '../../src/virgil/request-observer.js';
import { DeliveryLog } from '../../src/webhooks/delivery-log.js';

const lines = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(name));

t.test('metrics: names, bounded labels, an optional tenant label', async (t) => {
  const plain = new ServiceMetrics({ processMetrics: false });
  plain.httpRequest('GET', '/admin/v1/tenants/:appId', 200, 0.004);
  plain.httpRequest('GET', '/admin/v1/tenants/:appId', 200, 0.02);
  plain.webhookReceived('cometchat', 'accepted', 'acme');
  plain.reconcileRun('synced', 0.3, 'acme');
  plain.virgilRequest('card_search', '200', 0.01);
  let text = await plain.text();
  t.same(lines(text, 'e2ee_http_request_duration_seconds_count'), ['e2ee_http_request_duration_seconds_count{method="GET",route="/admin/v1/tenants/:appId",status_code="200"} 2']);
  t.same(lines(text, 'e2ee_webhooks_received_total'), ['e2ee_webhooks_received_total{format="cometchat",result="accepted"} 1'], 'no tenant label by default');
  t.same(lines(text, 'e2ee_reconcile_runs_total'), ['e2ee_reconcile_runs_total{outcome="synced"} 1']);
  t.same(lines(text, 'e2ee_virgil_requests_total'), ['e2ee_virgil_requests_total{operation="card_search",status="200"} 1']);
  t.notMatch(text, /process_cpu/, 'process metrics only when asked');
  t.same(lines(text, 'e2ee_queue_jobs'), [], 'no source, no queue gauge');

  const labelled = new ServiceMetrics({ processMetrics: false, tenantLabel: true });
  labelled.webhookReceived('standard', 'duplicate', 'acme');
  labelled.webhookReceived('standard', 'unknown_tenant', null);
  labelled.reconcileRun('failed', 1, 'acme');
  labelled.setSources({
    groups: async (perTenant) => {
      t.ok(perTenant, 'figures are asked per tenant');
      return { groups: [{ tenant: 'acme', status: 'synced', count: 3 }], pendingMembers: [{ tenant: 'acme', count: 2 }] };
    },
  });
  text = await labelled.text();
  t.same(lines(text, 'e2ee_webhooks_received_total'), [
    'e2ee_webhooks_received_total{format="standard",result="duplicate",tenant="acme"} 1',
    'e2ee_webhooks_received_total{format="standard",result="unknown_tenant",tenant=""} 1',
  ]);
  t.same(lines(text, 'e2ee_reconcile_runs_total'), ['e2ee_reconcile_runs_total{outcome="failed",tenant="acme"} 1']);
  t.same(lines(text, 'e2ee_groups'), ['e2ee_groups{status="synced",tenant="acme"} 3']);
  t.same(lines(text, 'e2ee_members_pending_registration'), ['e2ee_members_pending_registration{tenant="acme"} 2']);
  t.same(lines(text, 'e2ee_metrics_source_up'), ['e2ee_metrics_source_up{source="database"} 1']);
});

t.test("the request histogram prints exactly what prom-client's histogram prints", async (t) => {
  const buckets = [0.005, 0.01, 0.1, 1];
  const theirs = new Registry();
  const reference = new Histogram({ name: 'h', help: 'help', labelNames: ['method', 'route', 'status_code'], buckets, registers: [theirs] });
  const ours = new Registry();
  const histogram = new RequestHistogram('h', 'help', buckets);
  ours.registerMetric(histogram as unknown as Metric);
  const observations: Array<[string, string, number, number]> = [
    ['GET', '/v1/virgil-jwt', 200, 0.004], ['GET', '/v1/virgil-jwt', 200, 0.005], ['GET', '/v1/virgil-jwt', 200, 0.3],
    ['GET', '/v1/virgil-jwt', 401, 0.002], ['POST', '/v1/webhooks/:appId', 200, 2.5], ['GET', 'unmatched', 404, 0.0001],
  ];
  for (const [method, route, status, seconds] of observations) {
    reference.labels(method, route, String(status)).observe(seconds);
    histogram.observe(method, route, status, seconds);
  }
  const sorted = async (registry: Registry) => (await registry.metrics()).split('\n').sort();
  t.same(await sorted(ours), await sorted(theirs));
  histogram.reset();
  t.same((await ours.metrics()).split('\n').filter((l) => !l.startsWith('#') && l), [], 'reset empties it');
});

t.test('metrics: a source that fails or is slow is reported down, without failing the scrape', async (t) => {
  const metrics = new ServiceMetrics({ processMetrics: false, sourceTimeoutMs: 20 });
  let answer: 'fail' | 'hang' | 'ok' | 'none' = 'fail';
  metrics.setSources({
    queue: () => (answer === 'none' ? Promise.resolve(null) : answer === 'ok' ? Promise.resolve({ waiting: 4, active: 1 }) : answer === 'hang' ? new Promise(() => {}) : Promise.reject(new Error('down'))),
  });
  t.same(lines(await metrics.text(), 'e2ee_metrics_source_up'), ['e2ee_metrics_source_up{source="queue"} 0']);
  answer = 'hang';
  t.same(lines(await metrics.text(), 'e2ee_metrics_source_up'), ['e2ee_metrics_source_up{source="queue"} 0'], 'a source that does not answer in time');
  answer = 'ok';
  const text = await metrics.text();
  t.same(lines(text, 'e2ee_queue_jobs'), ['e2ee_queue_jobs{state="waiting"} 4', 'e2ee_queue_jobs{state="active"} 1']);
  t.same(lines(text, 'e2ee_metrics_source_up'), ['e2ee_metrics_source_up{source="queue"} 1']);
  answer = 'fail';
  t.same(lines(await metrics.text(), 'e2ee_queue_jobs'), [], 'no stale depth once the queue is down');
});

t.test('Virgil operations are named by endpoint, never by identity', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['POST', '/card/v5', 'card_publish'],
    ['POST', '/card/v5/actions/search', 'card_search'],
    ['GET', '/card/v5/0123abcd', 'card_get'],
    ['POST', '/card/v5/actions/revoke/0123abcd', 'card_revoke'],
    ['POST', '/card/v5/actions/outdated', 'card_outdated'],
    ['POST', '/keyknox/v2/pull', 'keyknox_pull'],
    ['POST', '/keyknox/v2/push?x=1', 'keyknox_push'],
    ['POST', '/keyknox/v2/reset', 'keyknox_reset'],
    ['POST', '/keyknox/v2/keys', 'keyknox_keys'],
    ['PUT', '/keyknox/v1', 'keyknox_v1'],
    ['POST', '/pythia/v1/brainkey', 'pythia'],
    ['GET', '/somewhere/alice', 'other'],
  ];
  for (const [method, path, name] of cases) t.equal(virgilOperation(method, path), name, `${method} ${path}`);
});

t.test('Virgil requests are observed by origin, with status or error', async (t) => {
  const server = http.createServer((req, res) => { res.statusCode = req.url === '/card/v5/actions/search' ? 200 : 404; res.end('{}'); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  const seen: Array<[string, string]> = [];
  const stop = observeVirgilRequests(`http://127.0.0.1:${port}`, (operation, status, seconds) => {
    t.ok(seconds >= 0);
    seen.push([operation, status]);
  });
  const call = (url: string) => new Promise<void>((resolve) => {
    http.request(url, { method: 'POST' }, (res) => { res.resume(); res.on('end', resolve); }).on('error', () => resolve()).end();
  });
  await call(`http://127.0.0.1:${port}/card/v5/actions/search`);
  await call(`http://127.0.0.1:${port}/card/v5/nothing`);
  await call(`http://localhost:${port}/card/v5/actions/search`); // another origin (same server)
  server.closeAllConnections();
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const gone = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const stopGone = observeVirgilRequests(`http://127.0.0.1:${gone}`, (operation, status) => seen.push([operation, status]));
  await call(`http://127.0.0.1:${gone}/keyknox/v2/pull`);
  stop();
  stopGone();
  await call(`http://127.0.0.1:${port}/card/v5/actions/search`); // after stop
  t.same(seen, [['card_search', '200'], ['card_get', '404'], ['keyknox_pull', 'error']]);
});

t.test('reconcile runs: outcomes from results and errors', async (t) => {
  t.equal(outcomeOfResult('synced'), 'synced');
  t.equal(outcomeOfResult('tenant-unavailable'), 'tenant_unavailable');
  t.equal(outcomeOfError(new DelayedError(), 0, 10), 'postponed');
  t.equal(outcomeOfError(new TenantDeferredError(), 0, 10), 'deferred', 'sent back by the tenant gate before it started');
  t.equal(outcomeOfError(new UnrecoverableError('no'), 0, 10), 'failed');
  t.equal(outcomeOfError(new Error('blip'), 3, 10), 'retry');
  t.equal(outcomeOfError(new Error('blip'), 9, 10), 'failed', 'the last attempt records the group as failed');
});

t.test('webhook formats and results', async (t) => {
  t.equal(webhookFormat('/v1/webhooks/:appId/cometchat'), 'cometchat');
  t.equal(webhookFormat('/v1/webhooks/:appId'), 'standard');
  t.equal(webhookFormat('/v1/webhooks/:appId/twilio'), 'twilio', 'a future format is named by its route');
  t.equal(webhookFormat(undefined), 'unknown');
  t.equal(webhookResult(200, 'duplicate'), 'duplicate');
  t.equal(webhookResult(200, undefined), 'accepted');
  for (const [status, result] of [[401, 'unauthorized'], [403, 'forbidden'], [404, 'unknown_tenant'], [413, 'too_large'], [429, 'rate_limited'], [503, 'unavailable'], [500, 'error'], [400, 'invalid'], [415, 'invalid']] as const) {
    t.equal(webhookResult(status, undefined), result, String(status));
  }
});

t.test('audit vocabulary and entries', async (t) => {
  t.equal(auditActionOfVirgilStep('created'), AUDIT_ACTIONS.groupCreated);
  t.equal(auditActionOfVirgilStep('removed'), 'group.member_removed');
  t.equal(auditActionOfVirgilStep('readded'), 'group.member_readded');
  t.equal(auditActionOfVirgilStep('constructor'), null, 'only known steps');
  t.equal(workerActor('host-1', 42), 'worker:host-1/42');
  t.same(listed('members', ['a', 'b']), { members: ['a', 'b'] });
  const many = Array.from({ length: 150 }, (_, i) => `u${i}`);
  t.same(listed('members', many), { members: many.slice(0, 100), membersTotal: 150 });

  const view = { virgil: { appId: 'app', appKeyId: 'key-2' } };
  t.same(auditedTenantChanges({ virgil: { appKeyId: 'key-2', appKey: 'SECRET' } }, view), [{ action: 'tenant.app_key_rotated', details: { appKeyId: 'key-2' } }]);
  t.same(auditedTenantChanges({ status: 'disabled', jwtTtlSeconds: 900, userAuth: { algorithm: 'HS256', secret: 'SECRET'.repeat(8) } }, view), [
    { action: 'tenant.disabled' },
    { action: 'tenant.updated', details: { fields: ['jwtTtlSeconds', 'userAuth'] } },
  ]);
  t.notMatch(JSON.stringify(auditedTenantChanges({ virgil: { appKey: 'SECRET' }, userAuth: { algorithm: 'HS256', secret: 'SECRET' } }, view)), /SECRET/, 'names, never values');
});

t.test('readiness: each check ok or unavailable, within the time given', async (t) => {
  const report = await checkReadiness({
    database: async () => {},
    queue: () => Promise.reject(new Error('ECONNREFUSED 10.0.0.7:6379')),
    worker: () => new Promise(() => {}),
  }, 20);
  t.same(report, { ready: false, checks: { database: 'ok', queue: 'unavailable', worker: 'unavailable' } }, 'no address or error text in the report');
  t.same(await checkReadiness({ database: async () => {} }), { ready: true, checks: { database: 'ok' } });
});

t.test('readiness is checked at most once per interval, whatever the callers', async (t) => {
  let clock = 0;
  let runs = 0;
  let up = true;
  const probe = readinessProbe(() => ({ database: async () => { runs++; if (!up) throw new Error('down'); } }), { maxAgeMs: 1_000, now: () => clock });
  const together = await Promise.all([probe(), probe(), probe()]);
  t.equal(runs, 1, 'concurrent callers share one run');
  t.ok(together.every((r) => r.ready));
  up = false;
  clock = 999;
  t.ok((await probe()).ready, 'a report is reused within the interval');
  t.equal(runs, 1);
  clock = 1_000;
  t.notOk((await probe()).ready, 'and checked again after it');
  t.equal(runs, 2);
});

t.test('the delivery log writes in batches, within a budget, and counts what it drops', async (t) => {
  const batches: unknown[][] = [];
  let failing = false;
  // A database that records each statement's first parameter (the batch's tenant ids: one per row).
  const connection = {
    executeQuery: async (query: CompiledQuery) => {
      if (failing) throw new Error('db down');
      batches.push(query.parameters[0] as unknown[]);
      return { rows: [] };
    },
    streamQuery: () => { throw new Error('not used'); },
  };
  const db = new Kysely<Database>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => ({
        init: async () => {}, acquireConnection: async () => connection, releaseConnection: async () => {}, destroy: async () => {},
        beginTransaction: async () => {}, commitTransaction: async () => {}, rollbackTransaction: async () => {},
      }),
      createIntrospector: (k) => new PostgresIntrospector(k),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  }) as Db;
  let dropped = 0;
  const log = new DeliveryLog({ db, log: pino({ level: 'silent' }), onDropped: (n) => { dropped += n; }, flushIntervalMs: 60_000, maxPerFlush: 3 });
  const delivery = (i: number) => ({ tenantId: 'acme', format: 'standard', trigger: 'group.created', result: 'accepted', statusCode: 200, eventId: `e${i}`, receivedAt: new Date(0) });
  for (let i = 0; i < 5; i++) log.record(delivery(i));
  await log.flush();
  t.equal(batches.length, 1, 'one INSERT');
  t.equal(batches[0].length, 3, 'at most maxPerFlush rows per interval');
  t.equal(dropped, 2, 'the rest is counted as dropped');
  failing = true;
  log.record(delivery(5));
  await log.flush();
  t.equal(dropped, 3, 'a refused write counts as dropped');
  failing = false;
  log.record(delivery(6));
  await log.close();
  t.equal(batches.length, 2, 'close writes what is left');
  log.record(delivery(7));
  await log.flush();
  t.equal(batches.length, 2, 'nothing is recorded after close');
});

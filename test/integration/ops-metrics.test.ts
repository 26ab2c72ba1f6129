/**
 * Metrics and the worker's audit entries after real flows: CometChat webhooks to a synced group on
 * the Virgil emulator (worker on Redis), a kick, and a group Virgil refuses. Checks the series an
 * operator alerts on, that labels never carry a tenant, group or user id, and that each change the
 * worker made on Virgil is in the audit trail with the members concerned.
 */
import t from 'tap';
import { workerActor } from '../../src/audit/actions.js';
import { recordMemberReadded } from '../../src/audit/audit-log.js';
import { publishTestCard } from '../helpers/virgil-clients.js';
import { sendCometChat, startWorkerStack, waitForIdleQueue, waitForStatus } from '../helpers/worker-stack.js';
import { waitFor } from '../helpers/wait.js';

const stack = await startWorkerStack(t);
const { h } = stack;
const tenant = await h.onboardTenant({ appId: 'metrics-acme' });
const runtime = (await h.ctx.tenants.get(tenant.appId))!;
for (const uid of ['alice', 'bob', 'carol']) await publishTestCard(h.emulator.url, tenant.virgil, runtime.userIdentity(uid));
let clock = Math.floor(Date.now() / 1000) - 600;

interface Sample { name: string; labels: Record<string, string>; value: number }

function parse(text: string): Sample[] {
  return text.split('\n').filter((line) => line && !line.startsWith('#')).map((line) => {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    return { name: m[1], labels, value: Number(m[3]) };
  });
}

async function scrape() {
  const res = await h.admin('GET', '/metrics');
  if (res.statusCode !== 200) throw new Error(`/metrics: ${res.statusCode}`);
  return { text: res.body, samples: parse(res.body) };
}

/** The sum of the samples of `name` whose labels include `labels`. */
const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) => samples
  .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  .reduce((sum, s) => sum + s.value, 0);

t.test('a webhook-to-synced flow shows in /metrics, with bounded labels', async (t) => {
  const guid = 'metrics-hiking';
  await sendCometChat(h, tenant, 'group_created', { guid, owner: 'alice', members: ['alice', 'bob', 'carol'], createdAt: ++clock });
  await waitForStatus(h, tenant.appId, guid, (s) => s.status === 'synced' && s.virgilMembers.length === 3);
  await sendCometChat(h, tenant, 'group_member_kicked', { guid, members: ['carol'], by: 'alice', updatedAt: ++clock });
  await waitForStatus(h, tenant.appId, guid, (s) => s.status === 'synced' && s.virgilMembers.length === 2);
  await waitForIdleQueue(stack);

  // A group Virgil refuses: its card search answers 400 until the fault is cleared.
  h.emulator.setFaults([{ route: '/card/v5/actions/search', status: 400, code: 40000 }]);
  await sendCometChat(h, tenant, 'group_created', { guid: 'metrics-refused', owner: 'alice', members: ['alice', 'bob'], createdAt: ++clock });
  await waitForStatus(h, tenant.appId, 'metrics-refused', (s) => s.status === 'failed');
  h.emulator.clearFaults();

  const { text, samples } = await waitFor(async () => {
    const scraped = await scrape();
    return value(scraped.samples, 'e2ee_reconcile_runs_total', { outcome: 'failed' }) >= 1 ? scraped : undefined;
  }, 'the failed run in the metrics');

  t.equal(value(samples, 'e2ee_webhooks_received_total', { format: 'cometchat', result: 'accepted' }), 3, 'webhooks by format and result');
  t.ok(value(samples, 'e2ee_http_request_duration_seconds_count', { method: 'POST', route: '/v1/webhooks/:appId/cometchat', status_code: '200' }) >= 3, 'HTTP latency by route template and status');
  t.ok(value(samples, 'e2ee_http_request_duration_seconds_bucket', { route: '/admin/v1/tenants/:appId/groups/:guid', le: '+Inf' }) >= 1);
  t.ok(value(samples, 'e2ee_reconcile_runs_total', { outcome: 'synced' }) >= 2, 'reconcile runs by outcome');
  t.ok(value(samples, 'e2ee_reconcile_run_duration_seconds_count', { outcome: 'synced' }) >= 2, 'and their duration');
  t.ok(value(samples, 'e2ee_virgil_requests_total', { operation: 'card_search', status: '200' }) >= 2, 'Virgil calls by operation and status');
  t.ok(value(samples, 'e2ee_virgil_requests_total', { operation: 'keyknox_push', status: '200' }) >= 1);
  t.ok(value(samples, 'e2ee_virgil_requests_total', { operation: 'card_search', status: '400' }) >= 1, 'refusals too');
  t.ok(value(samples, 'e2ee_virgil_requests_total', { operation: 'card_publish', status: '200' }) >= 1, 'the card published at onboarding');
  t.ok(value(samples, 'e2ee_virgil_request_duration_seconds_count', { operation: 'card_search' }) >= 3);
  t.equal(value(samples, 'e2ee_groups', { status: 'synced' }), 1, 'groups by status');
  t.equal(value(samples, 'e2ee_groups', { status: 'failed' }), 1);
  t.ok(samples.some((s) => s.name === 'e2ee_members_pending_registration'), 'pending members');
  for (const state of ['waiting', 'active', 'delayed', 'failed']) t.ok(samples.some((s) => s.name === 'e2ee_queue_jobs' && s.labels.state === state), `queue depth: ${state}`);
  t.equal(value(samples, 'e2ee_metrics_source_up', { source: 'queue' }), 1);
  t.equal(value(samples, 'e2ee_metrics_source_up', { source: 'database' }), 1);

  const labelValues = new Set(samples.flatMap((s) => Object.values(s.labels)));
  for (const id of [tenant.appId, 'metrics-hiking', 'metrics-refused', 'alice', 'bob', 'carol', runtime.userIdentity('alice'), runtime.groupIdentity('metrics-hiking')]) {
    t.notOk(labelValues.has(id) || text.includes(id), `no label names ${id}`);
  }
  t.notOk(samples.some((s) => 'tenant' in s.labels), 'no tenant label unless METRICS_TENANT_LABEL is set');
  const routes = new Set(samples.filter((s) => s.name === 'e2ee_http_request_duration_seconds_count').map((s) => s.labels.route));
  t.ok([...routes].every((r) => r === 'unmatched' || /^\/[\w/:.-]*$/.test(r)), `routes are templates: ${[...routes].join(', ')}`);
});

t.test("the worker's changes on Virgil are in the audit trail", async (t) => {
  const res = await h.admin('GET', `/admin/v1/audit?appId=${tenant.appId}&guid=metrics-hiking`);
  const entries = res.json().data.items as Array<{ actor: string; action: string; details: { members?: string[] } }>;
  t.same(entries.map((e) => e.action), ['group.member_removed', 'group.created'], 'created, then carol removed');
  t.same(entries[1].details, { members: ['alice', 'bob', 'carol'] }, 'who got access at creation');
  t.same(entries[0].details, { members: ['carol'] }, 'who lost it');
  t.match(entries[0].actor, /^worker:[^/]+\/\d+$/, 'the worker process that acted');
  const refused = await h.admin('GET', `/admin/v1/audit?appId=${tenant.appId}&guid=metrics-refused`);
  t.same(refused.json().data.items, [], 'a run that changed nothing on Virgil audits nothing');

  // What a re-add after a member's key change records (the call the worker makes for it).
  await recordMemberReadded(h.ctx.db, workerActor(), { tenantId: tenant.appId, guid: 'metrics-hiking' }, 'bob', { id: 'c'.repeat(64), previousCardId: 'b'.repeat(64) });
  const readded = (await h.admin('GET', `/admin/v1/audit?appId=${tenant.appId}&action=group.member_readded`)).json().data.items;
  t.same(readded.map((e: { guid: string; details: unknown }) => [e.guid, e.details]), [['metrics-hiking', { members: ['bob'], cardId: 'c'.repeat(64), previousCardId: 'b'.repeat(64) }]]);
});

t.test('readiness checks the queue when there is one', async (t) => {
  const ready = await h.app.inject({ method: 'GET', url: '/ready' });
  t.equal(ready.statusCode, 200);
  t.same(ready.json().data.checks, { database: 'ok', queue: 'ok' });
  await t.resolves(stack.worker.probe(), 'the worker runs');
});

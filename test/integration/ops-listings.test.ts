/**
 * The operator's admin API: a tenant's groups by status in keyset pages, the users its groups wait
 * for, its summary and recent webhook deliveries, the audit trail of admin actions, the OpenAPI
 * document against the live route table, and the health endpoints. The worker does not run here:
 * group outcomes are recorded through the repository, as a run would.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import t from 'tap';
import { Retention } from '../../src/groups/retention.js';
import { readGroupSnapshot } from '../../src/groups/group-repository.js';
import { recordFailure, recordOutcome } from '../../src/groups/run-records.js';
import type { GroupStatus } from '../../src/db/schema.js';
import { buildAdminApp } from '../../src/http/app.js';
import { PAGE_CSP } from '../../src/http/routes/web-pages.js';
import { SECURITY_HEADERS } from '../../src/http/plugins/security-headers.js';
import { startTestApp } from '../helpers/app.js';
import { basicAuthHeader, cometchatPayload } from '../helpers/deliveries.js';
import { sendStandard } from '../helpers/worker-stack.js';
import { waitFor } from '../helpers/wait.js';

const h = await startTestApp(t, { env: { ADMIN_TOKENS: `${randomBytes(24).toString('base64url')},${randomBytes(24).toString('base64url')}` } });
// startTestApp's own token is replaced by the two above: read them back from the configuration.
const [tokenA, tokenB] = h.ctx.config.adminTokens;
const as = (token: string) => (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown) => h.app.inject({
  method, url, headers: { authorization: `Bearer ${token}` }, ...(body === undefined ? {} : { payload: body as object }),
});
const admin = as(tokenA);
const adminB = as(tokenB);
const onboard = async (appId: string) => {
  const virgil = await h.emulator.createApp();
  const secrets = {
    callerSecret: randomBytes(32).toString('base64url'),
    webhookPassword: randomBytes(16).toString('hex'),
    signingSecret: `whsec_${randomBytes(32).toString('base64')}`,
  };
  const res = await admin('POST', '/admin/v1/tenants', {
    appId, virgil, userAuth: { algorithm: 'HS256', secret: secrets.callerSecret },
    webhooks: { basicAuth: { username: 'hooks', password: secrets.webhookPassword }, signingSecret: secrets.signingSecret },
  });
  if (res.statusCode !== 201) throw new Error(`onboarding ${appId}: ${res.statusCode} ${res.body}`);
  return {
    appId, virgil, ...secrets, userAuthSecret: secrets.callerSecret, webhookBasic: { username: 'hooks', password: secrets.webhookPassword },
    view: res.json().data, userToken: () => '',
  };
};
const tenant = await onboard('acme');
const other = await onboard('other');
const data = async (url: string) => {
  const res = await admin('GET', url);
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
  return res.json().data;
};

// Groups g01..g13, recorded as the worker would leave them.
const base = Date.now() - 60_000;
const guids = Array.from({ length: 13 }, (_, i) => `g${String(i + 1).padStart(2, '0')}`);
for (const [i, guid] of guids.entries()) {
  await sendStandard(h, tenant, 'group.created', { guid, occurredAt: new Date(base + i), owner: 'alice', members: ['bob'] });
}
async function record(guid: string, status: GroupStatus, extra: { pending?: string[]; error?: { code: string; message: string } } = {}) {
  const snapshot = (await readGroupSnapshot(h.ctx.db, tenant.appId, guid))!;
  if (status === 'failed') {
    await recordFailure(h.ctx.db, tenant.appId, guid, { error: extra.error!, final: true, permanent: true, version: snapshot.desiredVersion, retryAfterMs: 0 });
    return;
  }
  await recordOutcome(h.ctx.db, tenant.appId, guid, snapshot.desiredVersion, {
    status, virgilMembers: ['alice', 'bob'], pendingRegistration: extra.pending ?? [], lastError: null, attempts: 0,
  });
}
for (const guid of ['g01', 'g02', 'g03', 'g04', 'g05']) await record(guid, 'failed', { error: { code: 'VIRGIL_REJECTED', message: `Virgil answered 400 for ${guid}` } });
for (const guid of ['g06', 'g07', 'g08']) await record(guid, 'synced');
await record('g09', 'pending', { pending: ['zoe', 'yan'] });
await record('g10', 'pending', { pending: ['zoe'] });
await record('g11', 'over_capacity');
await record('g12', 'deleted');
// g13 is left as the intake wrote it: pending, not yet reconciled.

t.test('groups by status, in keyset pages', async (t) => {
  const failed: Array<{ guid: string; status: string; lastError: { code: string } | null }> = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: { items: typeof failed; nextCursor: string | null } = await data(`/admin/v1/tenants/acme/groups?status=failed&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
    t.ok(page.items.length <= 2);
    failed.push(...page.items);
    cursor = page.nextCursor;
    pages++;
  } while (cursor !== null);
  t.equal(pages, 3, '5 failed groups in pages of 2');
  t.same(failed.map((g) => g.guid), ['g01', 'g02', 'g03', 'g04', 'g05']);
  t.ok(failed.every((g) => g.status === 'failed' && g.lastError?.code === 'VIRGIL_REJECTED'), 'each with its lastError');

  const first = (await data('/admin/v1/tenants/acme/groups?limit=100')).items as Array<Record<string, unknown>>;
  t.same(first.map((g) => g.guid), guids, 'no filter: every group, in guid order');
  t.same(Object.keys(first[0]).sort(), ['guid', 'lastError', 'pendingRegistrationCount', 'status', 'unsyncedSince', 'updatedAt', 'virgilMemberCount']);
  const byGuid = new Map(first.map((g) => [g.guid, g]));
  t.equal(byGuid.get('g09')!.pendingRegistrationCount, 2);
  t.equal(byGuid.get('g06')!.virgilMemberCount, 2);
  t.equal(byGuid.get('g06')!.unsyncedSince, null, 'a reconciled group waits for nothing');
  t.ok(byGuid.get('g13')!.unsyncedSince, 'a group not reconciled yet shows since when it waits');
  t.equal(byGuid.get('g13')!.status, 'pending');

  for (const [status, expected] of [['synced', ['g06', 'g07', 'g08']], ['pending', ['g09', 'g10', 'g13']], ['over_capacity', ['g11']], ['deleted', ['g12']]] as const) {
    t.same((await data(`/admin/v1/tenants/acme/groups?status=${status}`)).items.map((g: { guid: string }) => g.guid), expected, status);
  }

  // A page boundary holds while groups are added: keyset pages neither repeat nor skip.
  const page1 = await data('/admin/v1/tenants/acme/groups?status=synced&limit=2');
  await sendStandard(h, tenant, 'group.created', { guid: 'g00', occurredAt: new Date(base), owner: 'alice' });
  await sendStandard(h, tenant, 'group.created', { guid: 'g99', occurredAt: new Date(base), owner: 'alice' });
  await record('g00', 'synced');
  await record('g99', 'synced');
  const page2 = await data(`/admin/v1/tenants/acme/groups?status=synced&limit=2&cursor=${page1.nextCursor}`);
  t.same([...page1.items, ...page2.items].map((g: { guid: string }) => g.guid), ['g06', 'g07', 'g08', 'g99']);

  t.same((await data('/admin/v1/tenants/other/groups')).items, [], 'another tenant sees none of them');
});

t.test('listing requests are checked', async (t) => {
  const cases: Array<[string, number, string]> = [
    ['/admin/v1/tenants/acme/groups?status=broken', 400, 'VALIDATION_FAILED'],
    ['/admin/v1/tenants/acme/groups?limit=0', 400, 'VALIDATION_FAILED'],
    ['/admin/v1/tenants/acme/groups?limit=101', 400, 'VALIDATION_FAILED'],
    ['/admin/v1/tenants/acme/groups?page=2', 400, 'VALIDATION_FAILED'],
    ['/admin/v1/tenants/acme/webhook-deliveries?cursor=abc', 400, 'VALIDATION_FAILED'],
    ['/admin/v1/tenants/nobody/groups', 404, 'TENANT_NOT_FOUND'],
    ['/admin/v1/tenants/nobody/summary', 404, 'TENANT_NOT_FOUND'],
    ['/admin/v1/tenants/nobody/pending-users', 404, 'TENANT_NOT_FOUND'],
    ['/admin/v1/tenants/nobody/webhook-deliveries', 404, 'TENANT_NOT_FOUND'],
    ['/admin/v1/audit?guid=g01', 400, 'GUID_WITHOUT_APP_ID'],
    ['/admin/v1/audit?action=tenant.exploded', 400, 'VALIDATION_FAILED'],
  ];
  for (const [url, status, code] of cases) {
    const res = await admin('GET', url);
    t.equal(res.statusCode, status, url);
    t.equal(res.json().error.code, code, url);
  }
  for (const url of ['/admin/v1/tenants/acme/groups', '/admin/v1/tenants/acme/summary', '/admin/v1/audit', '/admin/v1/tenants/acme/webhook-deliveries']) {
    const res = await h.app.inject({ method: 'GET', url });
    t.equal(res.statusCode, 401, `${url} needs the admin token`);
  }
});

t.test('users pending registration', async (t) => {
  t.same(await data('/admin/v1/tenants/acme/pending-users'), { items: [{ uid: 'yan', groups: 1 }, { uid: 'zoe', groups: 2 }], nextCursor: null });
  const first = await data('/admin/v1/tenants/acme/pending-users?limit=1');
  t.same(first, { items: [{ uid: 'yan', groups: 1 }], nextCursor: 'yan' });
  t.same(await data('/admin/v1/tenants/acme/pending-users?limit=1&cursor=yan'), { items: [{ uid: 'zoe', groups: 2 }], nextCursor: null });
});

t.test('webhook deliveries and the summary', async (t) => {
  const cometchat = (trigger: string, password: string) => h.app.inject({
    method: 'POST', url: '/v1/webhooks/acme/cometchat',
    headers: { authorization: basicAuthHeader('hooks', password), 'content-type': 'application/json' },
    payload: cometchatPayload(trigger, { guid: 'cc-1', owner: 'alice', members: ['alice'], createdAt: Math.floor(base / 1000) }),
  });
  t.equal((await cometchat('group_created', tenant.webhookPassword)).json().data.status, 'accepted');
  t.equal((await cometchat('group_created', tenant.webhookPassword)).json().data.status, 'duplicate');
  t.equal((await cometchat('message_sent', tenant.webhookPassword)).json().data.status, 'ignored');
  t.equal((await cometchat('group_created', 'wrong-password')).statusCode, 401);

  // 15 standard groups (g00..g13, g99) + these 4; written to the log in the background.
  const deliveries = await waitFor(async () => {
    const items = (await data('/admin/v1/tenants/acme/webhook-deliveries?limit=100')).items as Array<Record<string, unknown>>;
    return items.length === 19 ? items : undefined;
  }, 'the delivery log');
  t.same(Object.keys(deliveries[0]).sort(), ['eventId', 'format', 'id', 'receivedAt', 'result', 'statusCode', 'trigger']);
  t.same(deliveries.slice(0, 4).map((d) => [d.format, d.trigger, d.result, d.statusCode]), [
    ['cometchat', null, 'unauthorized', 401],
    ['cometchat', 'message_sent', 'ignored', 200],
    ['cometchat', 'group_created', 'duplicate', 200],
    ['cometchat', 'group_created', 'accepted', 200],
  ], 'newest first, with trigger and result');
  t.equal(deliveries[2].eventId, deliveries[3].eventId, 'the duplicate names the event it repeats');
  t.same(deliveries[4], { ...deliveries[4], format: 'standard', trigger: 'group.created', result: 'accepted', statusCode: 200 });
  t.ok(deliveries.every((d) => !Number.isNaN(Date.parse(d.receivedAt as string))));
  const ids = deliveries.map((d) => BigInt(d.id as string));
  t.ok(ids.every((id, i) => i === 0 || id < ids[i - 1]), 'ordered by id, newest first');
  const page = await data(`/admin/v1/tenants/acme/webhook-deliveries?limit=3&cursor=${deliveries[2].id}`);
  t.same(page.items.map((d: { id: string }) => d.id), deliveries.slice(3, 6).map((d) => d.id), 'the cursor continues after the given id');
  const raw = (await admin('GET', '/admin/v1/tenants/acme/webhook-deliveries?limit=100')).body;
  for (const secret of [tenant.webhookPassword, tenant.signingSecret, 'wrong-password', basicAuthHeader('hooks', tenant.webhookPassword)]) {
    t.notOk(raw.includes(secret), 'no credential in the delivery log');
  }
  t.notOk(raw.includes('"members"') || raw.includes('Group cc-1'), 'no payload in the delivery log');
  t.same((await data('/admin/v1/tenants/other/webhook-deliveries')).items, []);

  const summary = await data('/admin/v1/tenants/acme/summary');
  t.same(summary.groups, { synced: 5, pending: 4, failed: 5, over_capacity: 1, deleted: 1, total: 16 }, 'cc-1 waits for its first run');
  t.equal(summary.appId, 'acme');
  t.equal(summary.status, 'active');
  t.equal(summary.membersPendingRegistration, 2, 'zoe and yan');
  t.same(summary.webhookDeliveriesLastHour, { accepted: 16, duplicate: 1, ignored: 1, unauthorized: 1 });
  const oldest = Date.parse(summary.oldestUnsyncedChangeAt);
  const waiting = await h.ctx.db.selectFrom('groups').select(['guid', 'unsynced_since']).where('tenant_id', '=', 'acme').where('unsynced_since', 'is not', null).orderBy('guid').execute();
  t.same(waiting.map((g) => g.guid), ['cc-1', 'g13'], 'the groups not reconciled yet');
  t.equal(oldest, Math.min(...waiting.map((g) => g.unsynced_since!.getTime())), 'the oldest waiting change is the earliest of them');
  t.ok(oldest > Date.now() - 600_000, 'recorded when the change arrived');

  const quiet = await data('/admin/v1/tenants/other/summary');
  t.same(quiet, {
    appId: 'other', status: 'active', groups: { synced: 0, pending: 0, failed: 0, over_capacity: 0, deleted: 0, total: 0 },
    membersPendingRegistration: 0, oldestUnsyncedChangeAt: null, webhookDeliveriesLastHour: {},
  });
});

t.test('the audit trail of admin actions', async (t) => {
  t.equal((await admin('PATCH', '/admin/v1/tenants/other', { jwtTtlSeconds: 900, rateLimits: { userPerMinute: 100 } })).statusCode, 200);
  t.equal((await adminB('PATCH', '/admin/v1/tenants/other', { virgil: { appKeyId: other.virgil.appKeyId, appKey: other.virgil.appKey } })).statusCode, 200);
  t.equal((await admin('DELETE', '/admin/v1/tenants/other')).statusCode, 200);
  t.equal((await admin('PATCH', '/admin/v1/tenants/other', { status: 'active' })).statusCode, 200);
  t.equal((await admin('POST', '/admin/v1/tenants/acme/groups/g01/resync')).statusCode, 202);
  t.equal((await admin('PATCH', '/admin/v1/tenants/other', { jwtTtlSeconds: 5 })).statusCode, 400, 'a refused change…');

  const entries = (await data('/admin/v1/audit?appId=other')).items as Array<{ actor: string; action: string; tenantId: string; guid: string | null; details: Record<string, unknown>; occurredAt: string }>;
  t.same(entries.map((e) => e.action), ['tenant.enabled', 'tenant.disabled', 'tenant.app_key_rotated', 'tenant.updated', 'tenant.onboarded'], '…is not audited; newest first');
  const [enabled, , rotated, updated, onboarded] = entries;
  t.match(onboarded.actor, /^admin:[0-9a-f]{12}$/, 'the actor is a fingerprint of the token');
  t.not(rotated.actor, onboarded.actor, 'each token has its own fingerprint');
  t.equal(enabled.actor, onboarded.actor);
  t.same(onboarded.details, { virgilAppId: other.virgil.appId, appKeyId: other.virgil.appKeyId, userAuthAlgorithm: 'HS256', ip: '127.0.0.1' });
  t.same(updated.details, { fields: ['jwtTtlSeconds', 'rateLimits'], ip: '127.0.0.1' });
  t.same(rotated.details, { appKeyId: other.virgil.appKeyId, ip: '127.0.0.1' });
  t.ok(entries.every((e) => e.tenantId === 'other' && !Number.isNaN(Date.parse(e.occurredAt))));

  const resync = (await data('/admin/v1/audit?appId=acme&guid=g01')).items;
  t.same(resync.map((e: { action: string; guid: string }) => [e.action, e.guid]), [['group.resync_requested', 'g01']]);
  t.same((await data('/admin/v1/audit?action=tenant.onboarded')).items.map((e: { tenantId: string }) => e.tenantId), ['other', 'acme']);

  const page1 = await data('/admin/v1/audit?limit=3');
  const page2 = await data(`/admin/v1/audit?limit=3&cursor=${page1.nextCursor}`);
  const all = (await data('/admin/v1/audit?limit=100')).items;
  t.same([...page1.items, ...page2.items].map((e: { id: string }) => e.id), all.slice(0, 6).map((e: { id: string }) => e.id), 'keyset pages');
  t.equal(all.length, 7);

  const text = (await admin('GET', '/admin/v1/audit?limit=100')).body;
  for (const secret of [tenant.virgil.appKey, tenant.callerSecret, tenant.webhookPassword, tenant.signingSecret, other.virgil.appKey, other.callerSecret, tokenA, tokenB]) {
    t.notOk(text.includes(secret), 'no secret in the audit trail');
  }

  // Retention: entries older than AUDIT_RETENTION_DAYS go, oldest first, in batches; 0 keeps them all.
  const oldIds = all.slice(-3).map((e: { id: string }) => e.id);
  await h.ctx.db.updateTable('audit_log').set({ occurred_at: sql<Date>`now() - interval '401 days'` }).where('id', 'in', oldIds).execute();
  t.equal((await new Retention({ db: h.ctx.db, log: h.ctx.log, webhookEventDays: 30, auditDays: 0 }).pruneOnce()).auditEntries, 0, 'AUDIT_RETENTION_DAYS=0: kept');
  const pruned = await new Retention({ db: h.ctx.db, log: h.ctx.log, webhookEventDays: 30, auditDays: 400, batchSize: 2 }).pruneOnce();
  t.equal(pruned.auditEntries, 3, 'the three old entries are pruned, two a batch');
  const left = (await data('/admin/v1/audit?limit=100')).items.map((e: { id: string }) => e.id);
  t.same(left, all.slice(0, -3).map((e: { id: string }) => e.id), 'the recent ones are kept');
});

t.test('the OpenAPI document covers every route, and documents none that does not exist', async (t) => {
  const publicDoc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json();
  t.equal(publicDoc.openapi, '3.0.3');
  t.ok(publicDoc.paths['/v1/virgil-jwt']?.get, 'the extension API is public');
  t.ok(publicDoc.paths['/ready']?.get && publicDoc.paths['/health']?.get);
  t.notOk(Object.keys(publicDoc.paths).some((p) => p.startsWith('/admin') || p === '/metrics'), 'nothing behind the admin token in the public document');
  t.equal((await h.app.inject({ method: 'GET', url: '/admin/openapi.json' })).statusCode, 401, 'the whole document needs the admin token');

  for (const [name, app] of [['public port', h.app], ['admin port', await buildAdminApp(h.ctx)]] as const) {
    if (app !== h.app) {
      await app.ready();
      t.teardown(() => app.close());
    }
    const doc = (await app.inject({ method: 'GET', url: '/admin/openapi.json', headers: { authorization: `Bearer ${tokenA}` } })).json();
    const toOpenApi = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/(.)\/$/, '$1');
    const live = app.routeInventory().filter((r) => r.method !== 'HEAD');
    const key = (method: string, path: string) => `${method.toUpperCase()} ${path}`;
    const documented = new Set(Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => key(m, toOpenApi(path)))));
    const served = new Set(live.filter((r) => !r.hidden).map((r) => key(r.method, toOpenApi(r.url))));
    t.same([...served].filter((k) => !documented.has(k)), [], `${name}: every route is documented`);
    t.same([...documented].filter((k) => !served.has(k)), [], `${name}: every documented route exists`);
    t.ok(served.size >= (name === 'public port' ? 19 : 15), `${name}: ${served.size} operations`);
    // Hidden routes are only the documents themselves, the pages and CORS preflights.
    const hidden = live.filter((r) => r.hidden).map((r) => r.url);
    t.same(hidden.filter((url) => !/^(\*|\/openapi\.json|\/admin\/openapi\.json|\/docs(\/.*)?|\/admin\/console(\/.*)?)$/.test(url)), [], `${name}: hidden routes are documents and pages`);
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { security?: unknown[]; tags?: string[] }>>)) {
      for (const op of Object.values(ops)) {
        if (path.startsWith('/admin/')) t.same(op.security, [{ adminToken: [] }], `${path} needs the admin token`);
        if (path.startsWith('/admin/')) t.same(op.tags, ['admin']);
      }
    }
    if (name === 'public port') {
      t.same(doc.paths['/v1/virgil-jwt'].get.security, [{ appId: [], callerToken: [] }]);
      t.same(doc.paths['/metrics'].get.security, [{ adminToken: [] }], '/metrics needs the admin token on the public port');
      t.ok(doc.paths['/admin/v1/tenants/{appId}/groups'].get.parameters.some((p: { name: string }) => p.name === 'status'));
    } else {
      t.equal(doc.paths['/metrics'].get.security, undefined, '/metrics is open on the admin port');
      t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);
    }
  }
});

t.test('health, readiness, pages and their headers', async (t) => {
  const health = await h.app.inject({ method: 'GET', url: '/health' });
  t.same(health.json(), { data: { status: 'ok' } });
  const ready = await h.app.inject({ method: 'GET', url: '/ready' });
  t.equal(ready.statusCode, 200);
  t.same(ready.json(), { data: { status: 'ready', checks: { database: 'ok' } } }, 'no queue in this app: the database alone');
  for (const url of ['/admin/console', '/admin/console/console.js', '/admin/console/style.css', '/docs', '/docs/docs.js']) {
    const res = await h.app.inject({ method: 'GET', url });
    t.equal(res.statusCode, 200, url);
    t.equal(res.headers['content-security-policy'], PAGE_CSP, `${url}: the pages' policy`);
    t.equal(res.headers['x-frame-options'], 'DENY');
    t.match(res.headers['content-type'], /^text\/(html|javascript|css)/);
  }
  t.match(PAGE_CSP, /script-src 'self'/);
  t.notMatch(PAGE_CSP, /unsafe/);
  t.equal((await h.app.inject({ method: 'GET', url: '/admin/v1/tenants' })).headers['content-security-policy'], SECURITY_HEADERS['content-security-policy'], 'the API keeps its deny-all policy');
  t.equal((await h.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401, '/metrics needs the admin token on the public port');
  const metrics = await admin('GET', '/metrics');
  t.equal(metrics.statusCode, 200);
  t.match(metrics.headers['content-type'], /^text\/plain/);
  t.match(metrics.body, /e2ee_groups\{status="failed"\} 5/);
});

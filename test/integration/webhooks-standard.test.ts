/**
 * POST /v1/webhooks/{appId}: the Standard Webhooks-signed neutral format, and the desired-state
 * rules behind both intake formats (every type, duplicates, reordering, random histories).
 */
import t, { type Test } from 'tap';
import { sql } from 'kysely';
import { startTestApp } from '../helpers/app.js';
import { failingRequester, RecordingRequester } from '../helpers/recording-requester.js';
import { desiredGroup, webhookRowCounts } from '../helpers/db.js';
import { generateSigningSecret, signStandardWebhook, standardDelivery, standardEvent } from '../helpers/deliveries.js';
import { writeDesiredState } from '../../src/groups/record-event.js';
import { waitFor } from '../helpers/wait.js';
import { checkShuffledDeliveries, randomHistory, seededRandom, shuffledWithDuplicates, testSeed, type ModelEvent } from '../helpers/group-model.js';

const recorder = new RecordingRequester();
const h = await startTestApp(t, { reconcile: recorder });
const tenant = await h.onboardTenant();
const runtime = (await h.ctx.tenants.get(tenant.appId))!;
const db = h.ctx.db;

const base = Date.now() - 3_600_000; // event times in the last hour
const at = (second: number) => new Date(base + second * 1000);

function deliver(body: unknown, opts: { id?: string; timestamp?: number; appId?: string; secret?: string } = {}) {
  const d = standardDelivery(opts.secret ?? tenant.signingSecret, body, opts);
  return h.app.inject({ method: 'POST', url: `/v1/webhooks/${opts.appId ?? tenant.appId}`, headers: d.headers, payload: d.payload });
}

async function send(type: string, guid: string, second: number, extra: { owner?: string; members?: string[] } = {}) {
  const res = await deliver(standardEvent(type, { guid, occurredAt: at(second), ...extra }));
  if (res.statusCode !== 200) throw new Error(`${type}: ${res.statusCode} ${res.body}`);
  return res.json().data as { status: string; eventId: string };
}

const desired = (guid: string) => desiredGroup(db, tenant.appId, guid);

const rowCounts = () => webhookRowCounts(db, recorder);

t.test('every event type changes the desired state as specified', async (t) => {
  const guid = 'g-types';
  const requestsBefore = recorder.requests.length;

  const created = await send('group.created', guid, 10, { owner: 'olivia', members: ['alice', 'bob'] });
  t.equal(created.status, 'accepted');
  let g = await desired(guid);
  t.same(g, { guid, identity: runtime.groupIdentity(guid), ownerUid: 'olivia', deleted: false, members: ['alice', 'bob', 'olivia'], desiredVersion: 1 });
  const row = await db.selectFrom('groups').selectAll().where('tenant_id', '=', tenant.appId).where('guid', '=', guid).executeTakeFirstOrThrow();
  t.equal(row.status, 'pending');
  const outbox = await db.selectFrom('reconcile_outbox').selectAll().where('tenant_id', '=', tenant.appId).where('guid', '=', guid).execute();
  t.equal(outbox.length, 1, 'the change put the group in the outbox');
  t.same(recorder.requests.slice(requestsBefore), [{ tenantId: tenant.appId, guid }], 'a reconcile was requested after commit');

  await send('group.member_added', guid, 11, { members: ['carol'] });
  await send('group.member_joined', guid, 12, { members: ['dave'] });
  g = await desired(guid);
  t.same(g!.members, ['alice', 'bob', 'carol', 'dave', 'olivia']);
  t.equal(g!.desiredVersion, 3, 'each change bumps desired_version');

  await send('group.member_left', guid, 13, { members: ['alice'] });
  await send('group.member_kicked', guid, 14, { members: ['bob'] });
  await send('group.member_banned', guid, 15, { members: ['carol'] });
  g = await desired(guid);
  t.same(g!.members, ['dave', 'olivia'], 'left, kicked and banned members are removed');
  t.equal(g!.desiredVersion, 6);

  const requests = recorder.requests.length;
  const unbanned = await send('group.member_unbanned', guid, 16, { members: ['carol'] });
  t.equal(unbanned.status, 'accepted');
  g = await desired(guid);
  t.same(g!.members, ['dave', 'olivia'], 'unban does not re-add');
  t.equal(g!.desiredVersion, 6, 'unban changes nothing');
  t.equal(recorder.requests.length, requests, 'no reconcile for a change-less event');
  const stored = await db.selectFrom('webhook_events').select(['type', 'source']).where('event_key', '=', unbanned.eventId).executeTakeFirstOrThrow();
  t.same(stored, { type: 'group.member_unbanned', source: 'standard' }, 'the unban is recorded');

  await send('group.member_scope_changed', guid, 17, { members: ['erin'] });
  t.same((await desired(guid))!.members, ['dave', 'erin', 'olivia'], 'a scope change implies membership');

  await send('group.owner_transferred', guid, 18, { owner: 'frank' });
  g = await desired(guid);
  t.equal(g!.ownerUid, 'frank');
  t.same(g!.members, ['dave', 'erin', 'frank', 'olivia'], 'the new owner is a member; the old one stays');

  await send('group.deleted', guid, 19);
  g = await desired(guid);
  t.match(g, { deleted: true, members: [] }, 'a deleted group wants no members');
  const deletedRow = await db.selectFrom('groups').select(['status', 'desired_version']).where('tenant_id', '=', tenant.appId).where('guid', '=', guid).executeTakeFirstOrThrow();
  t.equal(deletedRow.status, 'pending', 'pending until the worker confirms the deletion');
  const kept = await db.selectFrom('group_members').select('uid').where('tenant_id', '=', tenant.appId).where('guid', '=', guid).execute();
  t.equal(kept.length, 7, 'member decisions are kept as history');

  await send('group.member_added', guid, 20, { members: ['gina'] });
  t.match(await desired(guid), { deleted: true, members: [] }, 'membership events do not revive a deleted group');

  await send('group.created', guid, 21, { owner: 'olivia', members: ['hank'] });
  g = await desired(guid);
  t.match(g, { deleted: false, ownerUid: 'olivia', members: ['hank', 'olivia'] }, 'a later create revives the group as a new incarnation');
});

t.test('a redelivered webhook-id is a harmless duplicate', async (t) => {
  const guid = 'g-dup';
  const body = standardEvent('group.member_added', { guid, occurredAt: at(5), members: ['u1'] });
  const first = await deliver(body, { id: 'msg_dup_1' });
  t.equal(first.statusCode, 200);
  t.same(first.json(), { data: { status: 'accepted', eventId: 'msg_dup_1' } });
  const before = await rowCounts();
  const version = (await desired(guid))!.desiredVersion;

  const again = await deliver(body, { id: 'msg_dup_1' });
  t.equal(again.statusCode, 200);
  t.same(again.json(), { data: { status: 'duplicate', eventId: 'msg_dup_1' } });
  const different = await deliver(standardEvent('group.member_kicked', { guid, occurredAt: at(9), members: ['u1'] }), { id: 'msg_dup_1' });
  t.same(different.json(), { data: { status: 'duplicate', eventId: 'msg_dup_1' } }, 'the id decides, not the body');

  t.same(await rowCounts(), before, 'nothing stored, nothing requested');
  t.same(await desired(guid), { guid, identity: runtime.groupIdentity(guid), ownerUid: null, deleted: false, members: ['u1'], desiredVersion: version });
});

t.test('reordered events converge to the time-ordered result', async (t) => {
  await send('group.member_kicked', 'r1', 20, { members: ['k'] });
  await send('group.member_added', 'r1', 10, { members: ['k'] });
  t.same((await desired('r1'))!.members, [], 'a kick is not undone by an older add arriving late');

  await send('group.member_added', 'r2', 20, { members: ['k'] });
  await send('group.member_kicked', 'r2', 10, { members: ['k'] });
  t.same((await desired('r2'))!.members, ['k'], 'an older kick arriving late changes nothing');

  await send('group.deleted', 'r3', 20);
  await send('group.created', 'r3', 10, { owner: 'o', members: ['a'] });
  t.match(await desired('r3'), { deleted: true }, 'delete before create, dated after it: deleted');

  await send('group.created', 'r4', 20, { owner: 'o' });
  await send('group.deleted', 'r4', 10);
  t.match(await desired('r4'), { deleted: false, members: ['o'] }, 'an older delete arriving late changes nothing');

  await send('group.member_added', 'r5', 30, { members: ['x'] });
  await send('group.created', 'r5', 10, { owner: 'o', members: ['a'] });
  t.match(await desired('r5'), { ownerUid: 'o', members: ['a', 'o', 'x'] }, 'members added before the create arrives are kept');

  await send('group.owner_transferred', 'r6', 30, { owner: 'c' });
  await send('group.owner_transferred', 'r6', 20, { owner: 'b' });
  await send('group.created', 'r6', 10, { owner: 'a' });
  t.match(await desired('r6'), { ownerUid: 'c', members: ['a', 'b', 'c'] }, 'the latest owner transfer wins');

  for (const [guid, order] of [['r7', ['add', 'kick']], ['r8', ['kick', 'add']]] as const) {
    for (const step of order) await send(step === 'add' ? 'group.member_added' : 'group.member_kicked', guid, 10, { members: ['m'] });
    t.same((await desired(guid))!.members, [], `same-time add and kick (${order.join(' then ')}): removal wins`);
  }
  for (const [guid, order] of [['r9', ['create', 'delete']], ['r10', ['delete', 'create']]] as const) {
    for (const step of order) await send(step === 'create' ? 'group.created' : 'group.deleted', guid, 10, { ...(step === 'create' ? { owner: 'o' } : {}) });
    t.match(await desired(guid), { deleted: true }, `same-time create and delete (${order.join(' then ')}): deletion wins`);
  }

  const late = await send('group.member_added', 'r1', 5, { members: ['k'] });
  const stored = await db.selectFrom('webhook_events').select('occurred_at').where('event_key', '=', late.eventId).executeTakeFirstOrThrow();
  t.equal(stored.occurred_at.getTime(), at(5).getTime(), 'an outdated event is still recorded with its own time');

  t.equal(await desired('never-seen'), null, 'no row for a group no event named');
  await send('group.member_unbanned', 'only-unbanned', 10, { members: ['u'] });
  t.equal(await desired('only-unbanned'), null, 'an unban alone creates nothing');
});

t.test('the signature is checked over the raw bytes, with rotation and tolerance', async (t) => {
  const spaced = `{ "type": "group.member_added",\n  "occurredAt": "${at(1).toISOString()}", "group": {"guid": "raw"}, "members": ["z"] }`;
  t.equal((await deliver(spaced)).statusCode, 200, 'the body is verified as sent, whitespace and all');

  const old = generateSigningSecret();
  const body = JSON.stringify(standardEvent('group.member_added', { guid: 'raw', occurredAt: at(2), members: ['y'] }));
  const ts = Math.floor(Date.now() / 1000);
  const rotated = await h.app.inject({
    method: 'POST', url: `/v1/webhooks/${tenant.appId}`, payload: body,
    headers: {
      'content-type': 'application/json; charset=utf-8', 'webhook-id': 'msg_rot', 'webhook-timestamp': String(ts),
      'webhook-signature': `v1a,${Buffer.alloc(64).toString('base64')} ${signStandardWebhook(old, 'msg_rot', ts, body)} ${signStandardWebhook(tenant.signingSecret, 'msg_rot', ts, body)}`,
    },
  });
  t.equal(rotated.statusCode, 200, 'any listed v1 signature may match');

  const edge = await deliver(standardEvent('group.member_added', { guid: 'raw', occurredAt: at(3), members: ['x'] }), { timestamp: Math.floor(Date.now() / 1000) - 290 });
  t.equal(edge.statusCode, 200, 'a timestamp inside the tolerance is accepted');
});

t.test('bad deliveries get a 4xx with a clear code and change nothing', async (t) => {
  const disabled = await h.onboardTenant();
  t.equal((await h.admin('DELETE', `/admin/v1/tenants/${disabled.appId}`)).statusCode, 200);
  const unsigned = await h.onboardTenant({ body: { webhooks: { basicAuth: null, signingSecret: null } } });

  const good = standardEvent('group.member_added', { guid: 'bad', occurredAt: at(1), members: ['u'] });
  const now = Math.floor(Date.now() / 1000);
  const signedRaw = (payload: string, headers: Record<string, string> = {}) => {
    const d = standardDelivery(tenant.signingSecret, payload);
    return { headers: { ...d.headers, ...headers }, payload };
  };
  const withHeaders = (mutate: (hd: Record<string, string>) => void, body: unknown = good) => {
    const d = standardDelivery(tenant.signingSecret, body);
    mutate(d.headers);
    return { headers: d.headers, payload: d.payload };
  };
  const tooMany = Array.from({ length: 1001 }, (_, i) => `user-${i}`);

  const cases: Array<[string, { url?: string; headers: Record<string, string>; payload: string }, number, string]> = [
    ['unknown tenant', { url: '/v1/webhooks/no-such-app', ...standardDelivery(tenant.signingSecret, good) }, 404, 'TENANT_NOT_FOUND'],
    ['malformed app id', { url: '/v1/webhooks/%20bad', ...standardDelivery(tenant.signingSecret, good) }, 404, 'TENANT_NOT_FOUND'],
    ['disabled tenant', { url: `/v1/webhooks/${disabled.appId}`, ...standardDelivery(disabled.signingSecret, good) }, 403, 'TENANT_DISABLED'],
    ['tenant without signing secret', { url: `/v1/webhooks/${unsigned.appId}`, ...standardDelivery(tenant.signingSecret, good) }, 403, 'WEBHOOK_NOT_CONFIGURED'],
    ['missing webhook-signature', withHeaders((hd) => delete hd['webhook-signature']), 401, 'WEBHOOK_HEADERS_MISSING'],
    ['missing webhook-id', withHeaders((hd) => delete hd['webhook-id']), 401, 'WEBHOOK_HEADERS_MISSING'],
    ['missing webhook-timestamp', withHeaders((hd) => delete hd['webhook-timestamp']), 401, 'WEBHOOK_HEADERS_MISSING'],
    ['webhook-id with spaces', withHeaders((hd) => { hd['webhook-id'] = 'a b'; }), 400, 'WEBHOOK_ID_INVALID'],
    ['non-numeric timestamp', withHeaders((hd) => { hd['webhook-timestamp'] = '2026-01-01'; }), 401, 'WEBHOOK_TIMESTAMP_INVALID'],
    ['stale timestamp', standardDelivery(tenant.signingSecret, good, { timestamp: now - 310 }), 401, 'WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE'],
    ['future timestamp', standardDelivery(tenant.signingSecret, good, { timestamp: now + 310 }), 401, 'WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE'],
    ['wrong secret', standardDelivery(generateSigningSecret(), good), 401, 'WEBHOOK_SIGNATURE_INVALID'],
    ['another tenant\'s secret', standardDelivery(disabled.signingSecret, good), 401, 'WEBHOOK_SIGNATURE_INVALID'],
    ['body changed after signing', withHeaders(() => {}, good), 401, 'WEBHOOK_SIGNATURE_INVALID'],
    ['signature of another id', withHeaders((hd) => { hd['webhook-id'] = 'msg_other'; }), 401, 'WEBHOOK_SIGNATURE_INVALID'],
    ['only v1a signatures', withHeaders((hd) => { hd['webhook-signature'] = hd['webhook-signature'].replace('v1,', 'v1a,'); }), 401, 'WEBHOOK_SIGNATURE_INVALID'],
    ['garbage signature', withHeaders((hd) => { hd['webhook-signature'] = 'v1,!!!'; }), 401, 'WEBHOOK_SIGNATURE_INVALID'],
    ['malformed JSON', signedRaw('{"type": "group.member_added",'), 400, 'MALFORMED_JSON'],
    ['empty body', signedRaw(''), 400, 'MALFORMED_JSON'],
    // A NUL in a field the service uses breaks the id rule; anywhere else it would be harmless.
    ['NUL character in a uid', signedRaw(JSON.stringify({ ...good, members: ['a\u0000b'] })), 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['JSON that is not an object', signedRaw('[1,2]'), 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['unknown type', signedRaw(JSON.stringify({ ...good, type: 'message.sent' })), 400, 'WEBHOOK_TYPE_UNSUPPORTED'],
    ['unknown field', signedRaw(JSON.stringify({ ...good, member: ['u'] })), 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['missing guid', signedRaw(JSON.stringify({ ...good, group: {} })), 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['guid too long', signedRaw(JSON.stringify({ ...good, group: { guid: 'g'.repeat(256) } })), 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['empty uid', signedRaw(JSON.stringify({ ...good, members: [''] })), 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['uid with a control character', signedRaw(JSON.stringify({ ...good, members: ['a\nb'] })), 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['uid that is a number', signedRaw(JSON.stringify({ ...good, members: [42] })), 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['member event without members', signedRaw(JSON.stringify({ ...good, members: [] })), 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['members on a delete', signedRaw(JSON.stringify(standardEvent('group.deleted', { guid: 'bad', occurredAt: at(1), members: ['u'] }))), 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['owner transfer without owner', signedRaw(JSON.stringify(standardEvent('group.owner_transferred', { guid: 'bad', occurredAt: at(1) }))), 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['1,001 members', signedRaw(JSON.stringify({ ...good, members: tooMany })), 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['occurredAt without offset', signedRaw(JSON.stringify({ ...good, occurredAt: '2026-01-01T00:00:00' })), 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['occurredAt impossible date', signedRaw(JSON.stringify({ ...good, occurredAt: '2026-02-30T00:00:00Z' })), 422, 'WEBHOOK_OCCURRED_AT_INVALID'],
    ['occurredAt far in the future', signedRaw(JSON.stringify({ ...good, occurredAt: new Date(Date.now() + 3_600_000).toISOString() })), 422, 'WEBHOOK_OCCURRED_AT_INVALID'],
    ['occurredAt before 2000', signedRaw(JSON.stringify({ ...good, occurredAt: '1999-12-31T23:59:59Z' })), 422, 'WEBHOOK_OCCURRED_AT_INVALID'],
    ['text/plain body', signedRaw(JSON.stringify(good), { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['body over 1 MiB', signedRaw(JSON.stringify({ ...good, pad: 'x'.repeat(1024 * 1024) })), 413, 'PAYLOAD_TOO_LARGE'],
  ];

  const before = await rowCounts();
  for (const [name, req, status, code] of cases) {
    // 'body changed after signing' sends a body other than the one signed.
    const payload = name === 'body changed after signing' ? req.payload.replace('"u"', '"v"') : req.payload;
    const res = await h.app.inject({ method: 'POST', url: req.url ?? `/v1/webhooks/${tenant.appId}`, headers: req.headers, payload });
    t.equal(res.statusCode, status, `${name}: status`);
    t.equal(res.json().error?.code, code, `${name}: ${res.body.slice(0, 200)}`);
  }
  t.same(await rowCounts(), before, 'no row written, no reconcile requested');
  t.notOk(h.logLines.join('').includes(tenant.signingSecret.slice(6)), 'the secret never reaches the logs');
});

t.test('the event is durable before the answer, even when the reconcile request fails', async (t) => {
  const failing = failingRequester();
  const replica = await startTestApp(t, { shareWith: h, reconcile: failing });
  const d = standardDelivery(tenant.signingSecret, standardEvent('group.member_added', { guid: 'durable', occurredAt: at(1), members: ['d'] }));
  const res = await replica.app.inject({ method: 'POST', url: `/v1/webhooks/${tenant.appId}`, headers: d.headers, payload: d.payload });
  t.equal(res.statusCode, 200);
  t.same(res.json(), { data: { status: 'accepted', eventId: d.id } });
  const event = await db.selectFrom('webhook_events').select(['payload', 'type']).where('event_key', '=', d.id).executeTakeFirstOrThrow();
  t.equal(event.payload, d.payload, 'the payload is stored as received, byte for byte');
  const outbox = await db.selectFrom('reconcile_outbox').select('enqueued_at').where('tenant_id', '=', tenant.appId).where('guid', '=', 'durable').executeTakeFirstOrThrow();
  t.equal(outbox.enqueued_at, null, 'the outbox row waits for the sweeper');
  t.same((await desired('durable'))!.members, ['d']);
});

t.test('a group whose request is still with the queue is not enqueued again', async (t) => {
  const guid = 'queued-once';
  const requested = () => recorder.requests.filter((r) => r.tenantId === tenant.appId && r.guid === guid).length;
  const handedAt = async () => (await db.selectFrom('reconcile_outbox').select('enqueued_at')
    .where('tenant_id', '=', tenant.appId).where('guid', '=', guid).executeTakeFirst())?.enqueued_at;

  await send('group.created', guid, 100, { owner: 'o', members: ['a'] });
  t.equal(requested(), 1, 'the first change is enqueued');
  const first = await handedAt();
  await send('group.member_added', guid, 101, { members: ['b'] });
  await send('group.member_added', guid, 102, { members: ['c'] });
  t.equal(requested(), 1, 'later changes find the request still with the queue: no second job');
  t.same(await handedAt(), first, 'the hand-over keeps its time (the redelivery check counts from it)');
  t.same((await desired(guid))!.members, ['a', 'b', 'c', 'o'], 'every change is applied');

  // A run recorded its outcome: the request is fulfilled, so the next change asks again.
  await sql`DELETE FROM reconcile_outbox WHERE tenant_id = ${tenant.appId} AND guid = ${guid}`.execute(db);
  await send('group.member_added', guid, 103, { members: ['d'] });
  t.equal(requested(), 2, 'a change after the outcome is enqueued');

  // The queue could not take a request: the next change enqueues (the sweeper would too).
  await sql`UPDATE reconcile_outbox SET enqueued_at = NULL WHERE tenant_id = ${tenant.appId} AND guid = ${guid}`.execute(db);
  await send('group.member_added', guid, 104, { members: ['e'] });
  t.equal(requested(), 3, 'a change after a failed hand-over is enqueued');
});

t.test('an event that waits for a group lock sees the decisions the lock holder committed', async (t) => {
  // The intake reads member decisions in the statement that locks the groups, with a snapshot taken
  // before the lock: a writer that held the lock and committed meanwhile must not be missed.
  const guid = 'raced';
  await send('group.created', guid, 200, { owner: 'o', members: ['a'] });
  let pending: ReturnType<typeof send> | undefined;
  await db.transaction().execute(async (trx) => {
    await sql`SELECT 1 FROM groups WHERE tenant_id = ${tenant.appId} AND guid = ${guid} FOR UPDATE`.execute(trx);
    pending = send('group.member_added', guid, 250, { members: ['x'] });
    await waitFor(async () => Number((await sql<{ n: string }>`
      SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`.execute(db)).rows[0]!.n) > 0,
    'the event to wait for the group lock');
    // A newer decision (x removed at 300) committed while the event waits.
    await writeDesiredState(trx, {
      members: [{ tenantId: tenant.appId, guid, decisions: new Map([['x', { isMember: false, at: at(300) }]]) }],
      registers: [], requests: [], handedToQueue: false,
    });
  });
  t.equal((await pending!).status, 'accepted');
  t.same((await desired(guid))!.members, ['a', 'o'], 'the older addition of x lost to the removal it waited for');
  const x = await db.selectFrom('group_members').select(['is_member', 'changed_at'])
    .where('tenant_id', '=', tenant.appId).where('guid', '=', guid).where('uid', '=', 'x').executeTakeFirstOrThrow();
  t.same([x.is_member, x.changed_at.toISOString()], [false, at(300).toISOString()]);
});

// -------------------------------------------------------------------------------------------------
// Order independence through HTTP and PostgreSQL (the in-memory version of the property is in
// test/unit/desired-state.test.ts): random histories delivered shuffled, with duplicates, must end
// where applying them in time order ends.

async function checkHttpRound(t: Test, name: string, fallbackSeed: number, groups: number, length: [number, number], concurrency: number) {
  const seed = testSeed(t, fallbackSeed, `${name} seed`);
  const rng = seededRandom(seed);
  const uids = ['a', 'b', 'c', 'd', 'e', 'f'];
  const histories = Array.from({ length: groups }, (_, i) => randomHistory(rng, `${name}-${i}`, {
    base, uids, length: length[0] + Math.floor(rng() * (length[1] - length[0] + 1)), slots: 10, stepMs: 1000,
  }));
  const ids = new Map<ModelEvent, string>();
  histories.flat().forEach((e, i) => ids.set(e, `${name}-${i}`));
  await checkShuffledDeliveries(t, {
    histories,
    deliveries: shuffledWithDuplicates(rng, histories.flat(), 0.25),
    send: (e) => deliver(standardEvent(e.type, { guid: e.guid, occurredAt: new Date(e.at), owner: e.owner, ...(e.members.length ? { members: e.members } : {}) }), { id: ids.get(e) }),
    concurrency, desired, seed,
  });
}

t.test('property: shuffled deliveries with duplicates converge (HTTP and PostgreSQL)', async (t) => {
  await checkHttpRound(t, 'many', 0xa11ce, 200, [3, 10], 16);
  // Few groups, many events each, high concurrency: the per-group lock under contention.
  await checkHttpRound(t, 'hot', 0xb0b, 6, [40, 60], 24);
});

/**
 * POST /v1/webhooks/{appId}/cometchat: CometChat's envelopes with HTTP Basic auth, every group
 * trigger, ignored triggers, content-hash deduplication, inferred event times, bad deliveries,
 * retention of stored deliveries, and random histories delivered shuffled with duplicates.
 */
import { sql } from 'kysely';
import t from 'tap';
import { Retention } from '../../src/groups/retention.js';
import { startTestApp } from '../helpers/app.js';
import { RecordingRequester } from '../helpers/recording-requester.js';
import { desiredGroup, webhookRowCounts } from '../helpers/db.js';
import { basicAuthHeader, cometchatPayload, type CometChatPayloadOptions } from '../helpers/deliveries.js';
import { checkShuffledDeliveries, randomHistory, seededRandom, shuffledWithDuplicates, testSeed, type ModelEvent } from '../helpers/group-model.js';

const recorder = new RecordingRequester();
const h = await startTestApp(t, { reconcile: recorder });
const tenant = await h.onboardTenant();
const runtime = (await h.ctx.tenants.get(tenant.appId))!;
const db = h.ctx.db;
const auth = basicAuthHeader(tenant.webhookBasic.username, tenant.webhookBasic.password);

/** Whole seconds an hour ago: CometChat times are unix seconds. */
const base = Math.floor(Date.now() / 1000) - 3600;

function post(body: unknown, opts: { authorization?: string | null; contentType?: string; appId?: string; raw?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'Application/json' };
  const authorization = opts.authorization === undefined ? auth : opts.authorization;
  if (authorization !== null) headers.authorization = authorization;
  return h.app.inject({
    method: 'POST', url: `/v1/webhooks/${opts.appId ?? tenant.appId}/cometchat`, headers,
    payload: opts.raw ?? JSON.stringify(body),
  });
}

async function trigger(name: string, opts: CometChatPayloadOptions) {
  const res = await post(cometchatPayload(name, opts));
  if (res.statusCode !== 200) throw new Error(`${name}: ${res.statusCode} ${res.body}`);
  return res.json().data as { status: string; eventId?: string; trigger?: string };
}

const desired = (guid: string) => desiredGroup(db, tenant.appId, guid);
const occurredAt = async (eventId: string) =>
  (await db.selectFrom('webhook_events').select('occurred_at').where('event_key', '=', eventId).executeTakeFirstOrThrow()).occurred_at.getTime();

const rowCounts = () => webhookRowCounts(db, recorder);

t.test('every group trigger changes the desired state; other triggers are ignored', async (t) => {
  const guid = 'cc-types';
  const created = await trigger('group_created', { guid, owner: 'olivia', members: ['olivia'], createdAt: base + 10, by: 'olivia' });
  t.equal(created.status, 'accepted');
  t.match(created.eventId, /^[0-9a-f]{64}$/, 'the event id is the content hash');
  t.equal(await occurredAt(created.eventId!), (base + 10) * 1000, 'group_created happens at group.createdAt');
  t.same(await desired(guid), { guid, identity: runtime.groupIdentity(guid), ownerUid: 'olivia', deleted: false, members: ['olivia'], desiredVersion: 1 });
  t.same(recorder.requests.at(-1), { tenantId: tenant.appId, guid });

  const added = await trigger('group_member_added', { guid, members: ['alice', 'bob'], by: 'olivia', updatedAt: base + 11 });
  t.equal(await occurredAt(added.eventId!), (base + 11) * 1000, 'member events happen at group.updatedAt');
  await trigger('group_member_joined', { guid, members: ['carol'], updatedAt: base + 12 });
  t.same((await desired(guid))!.members, ['alice', 'bob', 'carol', 'olivia']);

  await trigger('group_member_left', { guid, members: ['alice'], updatedAt: base + 13 });
  await trigger('group_member_kicked', { guid, members: ['bob'], by: 'olivia', updatedAt: base + 14 });
  await trigger('group_member_banned', { guid, members: ['carol'], by: 'olivia', updatedAt: base + 15 });
  t.same((await desired(guid))!.members, ['olivia'], 'left, kicked and banned members are removed');
  const version = (await desired(guid))!.desiredVersion;

  await trigger('group_member_unbanned', { guid, members: ['carol'], by: 'olivia', updatedAt: base + 16 });
  t.same(await desired(guid), { guid, identity: runtime.groupIdentity(guid), ownerUid: 'olivia', deleted: false, members: ['olivia'], desiredVersion: version }, 'unban re-adds nobody');

  await trigger('group_member_scope_changed', { guid, members: ['dave'], by: 'olivia', scope: 'admin', oldScope: 'participant', updatedAt: base + 17 });
  t.same((await desired(guid))!.members, ['dave', 'olivia'], 'a scope change implies membership');

  await trigger('group_owner_transferred', { guid, owner: 'erin', oldOwner: 'olivia', updatedAt: base + 18 });
  t.match(await desired(guid), { ownerUid: 'erin', members: ['dave', 'erin', 'olivia'] }, 'the new owner is a member');

  const before = await rowCounts();
  for (const name of ['group_updated', 'message_sent', 'user_blocked', 'group_member_removed']) {
    const res = await post(name === 'message_sent' ? { trigger: name, data: { message: { id: '1' } }, appId: 'x', region: 'us', webhook: 'w' } : cometchatPayload(name, { guid, owner: 'zed', members: ['zed'] }));
    t.equal(res.statusCode, 200, `${name}: 200`);
    t.same(res.json(), { data: { status: 'ignored', trigger: name } });
  }
  t.same(await rowCounts(), before, 'ignored triggers store nothing');

  await trigger('group_deleted', { guid, owner: 'erin', updatedAt: base + 19 });
  t.match(await desired(guid), { deleted: true, members: [] });
});

t.test('a retried delivery is a duplicate, whatever its key order', async (t) => {
  const payload = cometchatPayload('group_member_added', { guid: 'cc-dup', members: ['u1'], updatedAt: base + 5 });
  const first = await post(payload);
  t.equal(first.json().data.status, 'accepted');
  const before = await rowCounts();

  const again = await post(payload);
  t.same(again.json(), { data: { status: 'duplicate', eventId: first.json().data.eventId } });
  const reordered = Object.fromEntries(Object.entries(payload).reverse());
  const spaced = JSON.stringify(reordered, null, 2);
  const third = await post(null, { raw: spaced, contentType: 'application/json; charset=utf-8' });
  t.same(third.json(), { data: { status: 'duplicate', eventId: first.json().data.eventId } }, 'canonical content, not bytes, identifies a delivery');
  t.same(await rowCounts(), before);
});

t.test('reordered deliveries converge, using the inferred event times', async (t) => {
  await trigger('group_member_kicked', { guid: 'cc-r1', members: ['k'], updatedAt: base + 20 });
  await trigger('group_member_added', { guid: 'cc-r1', members: ['k'], updatedAt: base + 10 });
  t.same((await desired('cc-r1'))!.members, [], 'a late add older than the kick does not re-add');

  await trigger('group_deleted', { guid: 'cc-r2', updatedAt: base + 30 });
  await trigger('group_created', { guid: 'cc-r2', owner: 'o', members: ['o'], createdAt: base + 10 });
  t.match(await desired('cc-r2'), { deleted: true });

  await trigger('group_member_added', { guid: 'cc-r3', members: ['m'], updatedAt: base + 10 });
  await trigger('group_member_kicked', { guid: 'cc-r3', members: ['m'], updatedAt: base + 10 });
  t.same((await desired('cc-r3'))!.members, [], 'same-second add and kick: removal wins');
});

t.test('one id rule: a member a webhook adds is a uid whose caller token works, with the same identity', async (t) => {
  await trigger('group_member_added', { guid: 'cc-ids', members: ['josé'], updatedAt: base + 10 });
  t.same((await desired('cc-ids'))!.members, ['josé'], 'a non-ASCII uid becomes a member');
  const res = await h.app.inject({ method: 'GET', url: '/v1/virgil-jwt', headers: { appid: tenant.appId, authorization: `Bearer ${tenant.userToken('josé')}` } });
  t.equal(res.statusCode, 200, 'and the same uid gets a Virgil JWT');
  const runtime = (await h.ctx.tenants.get(tenant.appId))!;
  t.equal(res.json().data.identity, runtime.userIdentity('josé'), 'one identity for both');
  const spaced = await h.app.inject({
    method: 'POST', url: `/v1/webhooks/${tenant.appId}/cometchat`,
    headers: { authorization: basicAuthHeader(tenant.webhookBasic.username, tenant.webhookBasic.password), 'content-type': 'application/json' },
    payload: cometchatPayload('group_member_added', { guid: 'cc-ids', members: ['a b'] }),
  });
  t.equal(spaced.json().error?.code, 'WEBHOOK_PAYLOAD_INVALID', 'an id the token rule refuses is refused here too');
});

t.test('event times fall back to the receive time when the payload has none worth trusting', async (t) => {
  const check = async (name: string, opts: Partial<CometChatPayloadOptions>, expected: 'received' | number) => {
    const started = Date.now();
    const data = await trigger('group_member_added', { guid: 'cc-time', members: [`m-${name.replace(/\W+/g, '-')}`], ...opts });
    const time = await occurredAt(data.eventId!);
    if (expected === 'received') t.ok(time >= started && time <= Date.now(), `${name}: receive time`);
    else t.equal(time, expected, `${name}: ${expected}`);
  };
  await check('no updatedAt', {}, 'received');
  await check('updatedAt far in the future', { updatedAt: base + 86_400 * 30 }, 'received');
  await check('updatedAt before 2000', { updatedAt: 900_000_000 }, 'received');
  await check('updatedAt in milliseconds', { updatedAt: (base + 7) * 1000 }, (base + 7) * 1000);
});

t.test('authentication comes first, bad deliveries get a clear 4xx and change nothing', async (t) => {
  const disabled = await h.onboardTenant();
  t.equal((await h.admin('DELETE', `/admin/v1/tenants/${disabled.appId}`)).statusCode, 200);
  const noBasic = await h.onboardTenant({ body: { webhooks: { basicAuth: null, signingSecret: null } } });
  const { username, password } = tenant.webhookBasic;
  const good = cometchatPayload('group_member_added', { guid: 'cc-bad', members: ['u'], updatedAt: base });
  const data = good.data as Record<string, unknown>;
  const manyMembers = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`user-${i}`, { uid: `user-${i}` }]));

  const cases: Array<[string, Parameters<typeof post>[0], Parameters<typeof post>[1], number, string]> = [
    ['unknown tenant', good, { appId: 'no-such-app' }, 404, 'TENANT_NOT_FOUND'],
    ['disabled tenant', good, { appId: disabled.appId, authorization: basicAuthHeader(disabled.webhookBasic.username, disabled.webhookBasic.password) }, 403, 'TENANT_DISABLED'],
    ['tenant without basic auth', good, { appId: noBasic.appId }, 403, 'WEBHOOK_NOT_CONFIGURED'],
    ['no Authorization header', good, { authorization: null }, 401, 'WEBHOOK_UNAUTHORIZED'],
    ['wrong password', good, { authorization: basicAuthHeader(username, `${password}x`) }, 401, 'WEBHOOK_UNAUTHORIZED'],
    ['wrong username', good, { authorization: basicAuthHeader(`${username}x`, password) }, 401, 'WEBHOOK_UNAUTHORIZED'],
    ['password of another tenant', good, { authorization: basicAuthHeader(username, disabled.webhookBasic.password) }, 401, 'WEBHOOK_UNAUTHORIZED'],
    ['bearer scheme', good, { authorization: `Bearer ${password}` }, 401, 'WEBHOOK_UNAUTHORIZED'],
    ['base64 without a colon', good, { authorization: `Basic ${Buffer.from(username + password).toString('base64')}` }, 401, 'WEBHOOK_UNAUTHORIZED'],
    ['not base64', good, { authorization: 'Basic !!!' }, 401, 'WEBHOOK_UNAUTHORIZED'],
    ['malformed JSON without credentials', null, { authorization: null, raw: '{"trigger":' }, 401, 'WEBHOOK_UNAUTHORIZED'],
    ['malformed JSON', null, { raw: '{"trigger":' }, 400, 'MALFORMED_JSON'],
    ['empty body', null, { raw: '' }, 400, 'MALFORMED_JSON'],
    ['not an object', [1, 2], {}, 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['no trigger', { data }, {}, 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['group trigger without data', { trigger: 'group_member_added' }, {}, 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['group without guid', { ...good, data: { ...data, group: { name: 'x' } } }, {}, 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['guid too long', { ...good, data: { ...data, group: { guid: 'g'.repeat(256) } } }, {}, 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['member trigger without members', { ...good, data: { group: { guid: 'cc-bad' } } }, {}, 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['members as a list', { ...good, data: { ...data, members: ['u'] } }, {}, 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['member uid too long', { ...good, data: { ...data, members: { ['u'.repeat(256)]: {} } } }, {}, 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['1,001 members', { ...good, data: { ...data, members: manyMembers } }, {}, 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['owner transfer without owner', cometchatPayload('group_owner_transferred', { guid: 'cc-bad' }), {}, 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ['text/plain', good, { contentType: 'text/plain' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
  ];
  const before = await rowCounts();
  for (const [name, body, opts, status, code] of cases) {
    const res = await post(body, opts);
    t.equal(res.statusCode, status, `${name}: status`);
    t.equal(res.json().error?.code, code, `${name}: ${res.body.slice(0, 200)}`);
    if (code === 'WEBHOOK_UNAUTHORIZED') t.match(res.headers['www-authenticate'], /^Basic /, `${name}: challenge`);
  }
  t.same(await rowCounts(), before, 'no row written, no reconcile requested');
  t.notOk(h.logLines.join('').includes(password), 'the password never reaches the logs');
});

t.test('stored deliveries older than the retention are pruned; a later redelivery changes nothing', async (t) => {
  const guid = 'cc-retention';
  const created = cometchatPayload('group_created', { guid, owner: 'olivia', members: ['olivia'], createdAt: base + 10, by: 'olivia' });
  const added = cometchatPayload('group_member_added', { guid, members: ['bob'], updatedAt: base + 20, by: 'olivia' });
  const left = cometchatPayload('group_member_left', { guid, members: ['bob'], updatedAt: base + 30 });
  for (const payload of [created, added, left]) t.equal((await post(payload)).statusCode, 200);
  const ids = await db.selectFrom('webhook_events').select(['id', 'type']).where('tenant_id', '=', tenant.appId)
    .where(sql<boolean>`(payload::jsonb)->'data'->'group'->>'guid' = ${guid}`).orderBy('id').execute();
  t.same(ids.map((r) => r.type), ['group.created', 'group.member_added', 'group.member_left']);
  // The first two were received 31 days ago; the last one today.
  await db.updateTable('webhook_events').set({ received_at: sql`now() - interval '31 days'` })
    .where('id', 'in', ids.slice(0, 2).map((r) => r.id)).execute();
  const before = await desired(guid);
  t.same(before?.members, ['olivia'], 'bob has left');

  const retention = new Retention({ db, log: h.ctx.log, webhookEventDays: 30, batchSize: 1 });
  t.equal((await retention.pruneOnce()).webhookEvents, 2, 'the two old deliveries are deleted, one row per batch');
  const kept = await db.selectFrom('webhook_events').select('id').where('id', 'in', ids.map((r) => r.id)).execute();
  t.same(kept.map((r) => r.id), [ids[2].id], 'the recent one is kept');
  t.equal((await retention.pruneOnce()).webhookEvents, 0, 'nothing left to prune');

  // CometChat retries an old delivery: accepted again (its key is forgotten), without effect.
  const redelivered = await post(added);
  t.equal(redelivered.statusCode, 200);
  t.equal(redelivered.json().data.status, 'accepted');
  t.same(await desired(guid), before, 'the desired state is unchanged: bob stays out');
  t.equal((await post(left)).json().data.status, 'duplicate', 'a kept delivery is still a duplicate');
});

t.test('property: shuffled CometChat deliveries with duplicates converge', async (t) => {
  const seed = testSeed(t, 0xc0ffee);
  const rng = seededRandom(seed);
  const uids = ['a', 'b', 'c', 'd', 'e'];
  const histories = Array.from({ length: 80 }, (_, i) => randomHistory(rng, `cc-prop-${i}`, {
    base: base * 1000, uids, length: 3 + Math.floor(rng() * 8), slots: 10, stepMs: 1000,
  }));
  const toPayload = (e: ModelEvent) => {
    const name = e.type.replace('group.', 'group_'); // group.member_added → group_member_added
    const seconds = e.at / 1000;
    return cometchatPayload(name, {
      guid: e.guid,
      ...(e.owner !== undefined ? { owner: e.owner } : {}),
      ...(e.type !== 'group.deleted' && e.type !== 'group.owner_transferred' ? { members: e.members } : {}),
      ...(e.type === 'group.created' ? { createdAt: seconds } : { updatedAt: seconds }),
    });
  };
  const payloads = new Map(histories.flat().map((e) => [e, toPayload(e)]));
  await checkShuffledDeliveries(t, {
    histories, deliveries: shuffledWithDuplicates(rng, histories.flat(), 0.25), send: (e) => post(payloads.get(e)),
    concurrency: 16, desired, seed,
  });
});

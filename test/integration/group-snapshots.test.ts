/**
 * Authoritative snapshots (src/groups/snapshot.ts) through the admin API and PostgreSQL: a snapshot
 * at T is a create at T naming the whole membership, a deletion snapshot a delete at T; later
 * events win, older ones lose, repeats change nothing, and random mixes of snapshots and webhooks
 * delivered in any order end where applying them in time order ends.
 */
import t from 'tap';
import { startTestApp } from '../helpers/app.js';
import { failingRequester, RecordingRequester } from '../helpers/recording-requester.js';
import { desiredGroup, webhookRowCounts } from '../helpers/db.js';
import { standardDelivery, standardEvent } from '../helpers/deliveries.js';
import { checkShuffledDeliveries, randomHistory, seededRandom, shuffledWithDuplicates, testSeed, type ModelEvent } from '../helpers/group-model.js';

const recorder = new RecordingRequester();
const h = await startTestApp(t, { reconcile: recorder });
const tenant = await h.onboardTenant();
const db = h.ctx.db;

const base = Date.now() - 3_600_000;
const at = (second: number) => new Date(base + second * 1000);
const path = (guid: string) => `/admin/v1/tenants/${tenant.appId}/groups/${encodeURIComponent(guid)}`;
const desired = (guid: string) => desiredGroup(db, tenant.appId, guid);
const enqueuedAt = async (guid: string) => (await db.selectFrom('reconcile_outbox').select('enqueued_at')
  .where('tenant_id', '=', tenant.appId).where('guid', '=', guid).executeTakeFirstOrThrow()).enqueued_at;

async function webhook(type: string, guid: string, second: number, extra: { owner?: string; members?: string[] } = {}) {
  const d = standardDelivery(tenant.signingSecret, standardEvent(type, { guid, occurredAt: at(second), ...extra }));
  const res = await h.app.inject({ method: 'POST', url: `/v1/webhooks/${tenant.appId}`, headers: d.headers, payload: d.payload });
  if (res.statusCode !== 200) throw new Error(`${type}: ${res.statusCode} ${res.body}`);
}

async function put(guid: string, second: number, members: string[], owner?: string | null) {
  const res = await h.admin('PUT', path(guid), { members, asOf: at(second).toISOString(), ...(owner !== undefined ? { owner } : {}) });
  if (res.statusCode !== 200) throw new Error(`PUT ${guid}: ${res.statusCode} ${res.body}`);
  return res.json().data as { guid: string; created: boolean; desiredChanged: boolean; group: { status: string; desiredMembers: string[] } };
}

async function del(guid: string, second: number) {
  const res = await h.admin('DELETE', `${path(guid)}?asOf=${encodeURIComponent(at(second).toISOString())}`);
  if (res.statusCode !== 200) throw new Error(`DELETE ${guid}: ${res.statusCode} ${res.body}`);
  return res.json().data as { created: boolean; desiredChanged: boolean; group: { status: string; desiredMembers: string[] } };
}

t.test('a snapshot sets the whole membership as of asOf; later events win, older ones lose', async (t) => {
  const guid = 'snap-basic';
  await webhook('group.created', guid, 10, { owner: 'olivia', members: ['alice', 'bob'] });
  await webhook('group.member_added', guid, 12, { members: ['carol'] });
  const requests = recorder.requests.length;

  const first = await put(guid, 20, ['alice', 'dave'], 'olivia');
  t.same({ created: first.created, desiredChanged: first.desiredChanged }, { created: false, desiredChanged: true });
  t.same(first.group.desiredMembers, ['alice', 'dave', 'olivia'], 'bob and carol are removed, dave added, the owner is a member');
  t.equal(first.group.status, 'pending');
  t.same(recorder.requests.slice(requests), [{ tenantId: tenant.appId, guid }], 'a reconcile was requested after the commit');
  t.not(await enqueuedAt(guid), null, 'the outbox row says it was handed to the queue (the sweeper leaves it alone)');
  const version = (await desired(guid))!.desiredVersion;

  const repeat = await put(guid, 20, ['dave', 'alice', 'alice'], 'olivia');
  t.equal(repeat.desiredChanged, false, 'the same snapshot again changes nothing');
  t.equal((await desired(guid))!.desiredVersion, version, 'and bumps no version');
  t.equal(recorder.requests.length, requests + 1, 'nor requests a reconcile');

  // Late webhooks: older than the snapshot lose, newer ones win.
  await webhook('group.member_added', guid, 15, { members: ['erin'] });
  await webhook('group.member_kicked', guid, 18, { members: ['dave'] });
  await webhook('group.member_joined', guid, 19, { members: ['bob'] });
  t.same((await desired(guid))!.members, ['alice', 'dave', 'olivia'], 'events older than the snapshot change nothing, known member or not');
  await webhook('group.member_kicked', guid, 21, { members: ['alice'] });
  await webhook('group.member_added', guid, 22, { members: ['frank'] });
  t.same((await desired(guid))!.members, ['dave', 'frank', 'olivia'], 'later events still apply');

  const older = await put(guid, 5, ['zed']);
  t.equal(older.desiredChanged, false, 'an older snapshot loses entirely');
  t.same((await desired(guid))!.members, ['dave', 'frank', 'olivia']);

  // A kick at exactly asOf beats the snapshot's add (removal wins ties), whichever comes first.
  await webhook('group.member_kicked', guid, 30, { members: ['gina'] });
  await put(guid, 30, ['dave', 'gina']);
  const last = (await desired(guid))!;
  t.same(last.members, ['dave'], 'gina, kicked at the same time, stays out; the owner is a member only when a snapshot names it');
  t.equal(last.ownerUid, 'olivia', 'a snapshot without an owner keeps the owner register');
});

t.test('a snapshot whose reconcile request fails is left to the outbox sweeper', async (t) => {
  const failing = failingRequester();
  const replica = await startTestApp(t, { shareWith: h, reconcile: failing });
  const res = await replica.admin('PUT', path('snap-unqueued'), { members: ['alice'], asOf: at(30).toISOString() });
  t.equal(res.statusCode, 200, res.body);
  t.equal(await enqueuedAt('snap-unqueued'), null, 'the outbox row waits for the sweeper');
});

t.test('a new group, a deletion snapshot, and a revival by a later snapshot', async (t) => {
  const guid = 'snap-new';
  const created = await put(guid, 10, ['alice', 'bob'], null);
  t.same({ created: created.created, changed: created.desiredChanged }, { created: true, changed: true });
  t.same((await desired(guid))!.members, ['alice', 'bob']);

  const gone = await del(guid, 20);
  t.equal(gone.desiredChanged, true);
  t.same(gone.group.desiredMembers, []);
  t.equal((await desired(guid))!.deleted, true);
  t.equal((await del(guid, 20)).desiredChanged, false, 'deleting twice is harmless');

  await webhook('group.created', guid, 15, { owner: 'olivia', members: ['carol'] });
  await webhook('group.member_added', guid, 19, { members: ['dave'] });
  t.equal((await desired(guid))!.deleted, true, 'a create older than the deletion snapshot loses');

  await put(guid, 25, ['erin']);
  const revived = (await desired(guid))!;
  t.same({ deleted: revived.deleted, members: revived.members }, { deleted: false, members: ['erin'] }, 'a later snapshot revives the group with exactly its members');

  const unknown = await del('snap-never-seen', 5);
  t.same({ created: unknown.created, status: unknown.group.status }, { created: true, status: 'pending' }, 'deleting an unknown group records it deleted');
  await webhook('group.created', 'snap-never-seen', 4, { owner: 'olivia' });
  t.equal((await desired('snap-never-seen'))!.deleted, true, 'so an older create arriving later stays deleted');
});

t.test('bad snapshots are 4xx and change nothing', async (t) => {
  const before = await webhookRowCounts(db, recorder);
  const asOf = at(1).toISOString();
  const cases: Array<[string, 'PUT' | 'DELETE', string, unknown, number, string]> = [
    ['asOf not ISO-8601', 'PUT', path('snap-bad'), { members: ['a'], asOf: 'yesterday' }, 400, 'SNAPSHOT_AS_OF_INVALID'],
    ['asOf without a zone', 'PUT', path('snap-bad'), { members: ['a'], asOf: '2026-01-01T00:00:00' }, 400, 'SNAPSHOT_AS_OF_INVALID'],
    ['asOf far in the future', 'PUT', path('snap-bad'), { members: ['a'], asOf: new Date(Date.now() + 3_600_000).toISOString() }, 400, 'SNAPSHOT_AS_OF_IN_FUTURE'],
    ['a member with a space', 'PUT', path('snap-bad'), { members: ['a b'], asOf }, 400, 'VALIDATION_FAILED'],
    ['an unknown field', 'PUT', path('snap-bad'), { members: [], asOf, extra: 1 }, 400, 'VALIDATION_FAILED'],
    ['members missing', 'PUT', path('snap-bad'), { asOf }, 400, 'VALIDATION_FAILED'],
    ['unknown tenant', 'PUT', `/admin/v1/tenants/nobody/groups/g`, { members: [], asOf }, 404, 'TENANT_NOT_FOUND'],
    ['delete without asOf', 'DELETE', path('snap-bad'), undefined, 400, 'VALIDATION_FAILED'],
    ['delete with a bad asOf', 'DELETE', `${path('snap-bad')}?asOf=soon`, undefined, 400, 'SNAPSHOT_AS_OF_INVALID'],
  ];
  for (const [what, method, url, body, status, code] of cases) {
    const res = await h.admin(method, url, body);
    t.equal(res.statusCode, status, `${what}: ${status}`);
    t.equal(res.json().error?.code, code, `${what}: ${code}`);
  }
  t.same(await webhookRowCounts(db, recorder), before, 'no row and no request');
});

// Order independence with snapshots in the mix: creations and deletions of random histories are
// sent as snapshots half of the time (the model treats both forms alike), everything shuffled with
// duplicates and sent concurrently.
t.test('property: snapshots mixed with webhooks, shuffled with duplicates, converge', async (t) => {
  const seed = testSeed(t, 0x5a95, 'snapshot mix seed');
  const rng = seededRandom(seed);
  const uids = ['a', 'b', 'c', 'd', 'e', 'f'];
  const histories = Array.from({ length: 40 }, (_, i) => randomHistory(rng, `mix-${i}`, { base, uids, length: 3 + Math.floor(rng() * 8), slots: 10, stepMs: 1000 }));
  const asSnapshot = new Set(histories.flat().filter((e) => (e.type === 'group.created' || e.type === 'group.deleted') && rng() < 0.5));
  const ids = new Map<ModelEvent, string>();
  histories.flat().forEach((e, i) => ids.set(e, `mix-${i}`));
  await checkShuffledDeliveries(t, {
    histories,
    deliveries: shuffledWithDuplicates(rng, histories.flat(), 0.25),
    send: async (e) => {
      if (asSnapshot.has(e) && e.type === 'group.deleted') {
        return h.admin('DELETE', `${path(e.guid)}?asOf=${encodeURIComponent(new Date(e.at).toISOString())}`);
      }
      if (asSnapshot.has(e)) return h.admin('PUT', path(e.guid), { members: e.members, asOf: new Date(e.at).toISOString(), ...(e.owner ? { owner: e.owner } : {}) });
      const d = standardDelivery(tenant.signingSecret, standardEvent(e.type, { guid: e.guid, occurredAt: new Date(e.at), owner: e.owner, ...(e.members.length ? { members: e.members } : {}) }), { id: ids.get(e) });
      return h.app.inject({ method: 'POST', url: `/v1/webhooks/${tenant.appId}`, headers: d.headers, payload: d.payload });
    },
    concurrency: 12,
    desired: async (guid) => {
      const g = await desired(guid);
      return g && { deleted: g.deleted, ownerUid: g.ownerUid, members: g.members };
    },
    seed,
  });
});

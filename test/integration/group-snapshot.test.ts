/**
 * applyGroupSnapshot: a group's whole membership as read at time T. Listed members are added and
 * every other known member removed at T; later decisions still win, older ones lose, ties remove;
 * lifecycle and owner are untouched; a repeat changes nothing; random histories mixed with
 * snapshots end the same whatever the order (over members known from the start).
 */
import t from 'tap';
import { applyGroupSnapshot } from '../../src/groups/snapshot.js';
import { startTestApp } from '../helpers/app.js';
import { desiredGroup } from '../helpers/db.js';
import { seededRandom, testSeed } from '../helpers/group-model.js';
import { RecordingRequester } from '../helpers/recording-requester.js';
import { standardDelivery } from '../helpers/deliveries.js';

const h = await startTestApp(t, { reconcile: new RecordingRequester() });
const tenant = await h.onboardTenant();
const runtime = (await h.ctx.tenants.get(tenant.appId))!;
const db = h.ctx.db;
const base = Date.now() - 3_600_000;
const at = (s: number) => new Date(base + s * 1000);

const snapshot = (guid: string, s: number, members: string[]) =>
  applyGroupSnapshot(db, tenant.appId, (g) => runtime.groupIdentity(g), { guid, at: at(s), members });
const members = async (guid: string) => (await desiredGroup(db, tenant.appId, guid))?.members;

async function event(guid: string, type: string, s: number, uids: string[]) {
  const res = await h.app.inject({
    method: 'POST', url: `/v1/webhooks/${tenant.appId}`,
    ...standardDelivery(tenant.signingSecret, { type, occurredAt: at(s).toISOString(), group: { guid }, ...(uids.length ? { members: uids } : {}) }),
  });
  if (res.statusCode !== 200) throw new Error(`${type}: ${res.statusCode} ${res.body}`);
}

t.test('a snapshot adds the listed, removes the other known members, and respects event time', async (t) => {
  const guid = 'snap-rules';
  t.same(await snapshot(guid, 10, ['alice', 'bob']), { desiredChanged: true, created: true }, 'a first snapshot creates the group');
  t.same(await members(guid), ['alice', 'bob']);
  const outbox = await db.selectFrom('reconcile_outbox').select('guid').where('guid', '=', guid).execute();
  t.equal(outbox.length, 1, 'a reconcile is requested in the outbox, in the same transaction');

  t.same(await snapshot(guid, 10, ['alice', 'bob']), { desiredChanged: false, created: false }, 'the same snapshot again changes nothing');
  await event(guid, 'group.member_added', 12, ['carol']);
  t.same(await snapshot(guid, 11, ['alice', 'bob']), { desiredChanged: false, created: false }, 'an older snapshot does not remove a later addition');
  t.same(await members(guid), ['alice', 'bob', 'carol']);

  t.same(await snapshot(guid, 20, ['alice', 'dave']), { desiredChanged: true, created: false });
  t.same(await members(guid), ['alice', 'dave'], 'bob and carol (known) are removed, dave added');
  await event(guid, 'group.member_added', 15, ['bob']);
  await event(guid, 'group.member_left', 15, ['dave']);
  t.same(await members(guid), ['alice', 'dave'], 'events older than the snapshot lose');
  await event(guid, 'group.member_left', 21, ['dave']);
  await event(guid, 'group.member_added', 21, ['bob']);
  t.same(await members(guid), ['alice', 'bob'], 'later events win');
  await event(guid, 'group.member_added', 30, ['erin']);
  await snapshot(guid, 30, ['alice', 'bob']);
  t.same(await members(guid), ['alice', 'bob'], 'on a tie the removal wins');
  await event(guid, 'group.member_added', 25, ['carol']);
  t.same(await members(guid), ['alice', 'bob'], 'a late addition older than the snapshot that removed the member loses');
});

t.test('a snapshot leaves lifecycle and owner alone', async (t) => {
  const guid = 'snap-lifecycle';
  await event(guid, 'group.created', 10, ['alice']);
  await event(guid, 'group.deleted', 20, []);
  t.same(await snapshot(guid, 30, ['alice', 'bob']), { desiredChanged: false, created: false }, 'a deleted group is not revived');
  t.match(await desiredGroup(db, tenant.appId, guid), { deleted: true, members: [] });
  await event(guid, 'group.created', 40, []);
  t.same(await members(guid), [], 'membership before the new incarnation does not count');
  await snapshot(guid, 50, ['bob']);
  t.same(await members(guid), ['bob']);
  t.equal((await desiredGroup(db, tenant.appId, guid))!.ownerUid, null);
});

t.test('histories mixed with snapshots end the same in any order, once every member is known', async (t) => {
  const seed = testSeed(t, Math.floor(Math.random() * 2 ** 31));
  const random = seededRandom(seed);
  const uids = ['u1', 'u2', 'u3', 'u4'];
  const pick = () => uids.filter(() => random() < 0.5);
  type Step = { kind: 'snapshot'; s: number; members: string[] } | { kind: 'event'; s: number; type: string; uids: string[] };
  const steps: Step[] = [];
  for (let s = 1; s <= 12; s++) {
    if (random() < 0.3) steps.push({ kind: 'snapshot', s, members: pick() });
    else steps.push({ kind: 'event', s, type: random() < 0.5 ? 'group.member_added' : 'group.member_left', uids: [uids[Math.floor(random() * uids.length)]] });
  }
  const results: string[][] = [];
  for (let run = 0; run < 3; run++) {
    const guid = `snap-order-${seed}-${run}`;
    const order = run === 0 ? steps : [...steps].sort(() => random() - 0.5);
    // A snapshot removes only members it knows of: known to every run from the start, the final
    // state depends on nothing but the steps.
    await event(guid, 'group.member_left', 0, uids);
    for (const step of order) {
      if (step.kind === 'snapshot') await snapshot(guid, step.s, step.members);
      else await event(guid, step.type, step.s, step.uids);
    }
    results.push((await members(guid)) ?? []);
  }
  t.same(results[1], results[0], 'a shuffled order ends the same');
  t.same(results[2], results[0], 'another shuffled order ends the same');
});

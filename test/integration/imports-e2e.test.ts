/**
 * Adopting a live app end to end, with the group worker on the Virgil emulator and real E3Kit
 * clients: a snapshot import of groups that already exist on Virgil and groups that do not, then
 * late webhooks older and newer than the snapshots; a full import from a local server speaking
 * CometChat's REST shapes (pagination, a 429 with Retry-After, a burst of 5xx), and a drift repair
 * that makes a kick whose webhook was lost.
 */
import { sql } from 'kysely';
import t, { type Test } from 'tap';
import { startFakeCometChat } from '../helpers/cometchat-server.js';
import { FAST_WORKER, registeredUsers, sendCometChat, serviceView, startWorkerStack, waitForStatus } from '../helpers/worker-stack.js';
import { waitFor } from '../helpers/wait.js';

const cometchat = await startFakeCometChat(t);
const stack = await startWorkerStack(t, {
  app: { env: { COMETCHAT_API_URL: cometchat.template } },
  worker: { ...FAST_WORKER, imports: { ...FAST_WORKER.imports, cometchatPageSize: 2 } },
});
const { h } = stack;
// One tenant for both parts: its own users, and CometChat credentials for the import and drift repair.
const tenant = await h.onboardTenant({ body: { cometchat: { region: 'eu', restApiKey: 'cc-rest-key-123456' } } });
const svc = await serviceView(t, h, tenant.appId);
const uids = ['alice', 'bob', 'carol', 'dave'];
const users = await registeredUsers(t, h, tenant, uids);
const ownerCard = await users.get('alice')!.findUsers(svc.identity);

const groupErrorCode = (err: unknown) => (err as { name?: string; errorCode?: number }).name === 'GroupError' ? (err as { errorCode: number }).errorCode : null;
const load = (uid: string, guid: string) => users.get(uid)!.loadGroup(svc.groupIdentity(guid), ownerCard);

async function cannotLoad(t: Test, uid: string, guid: string) {
  const err = await load(uid, guid).then(() => null, (e: unknown) => e);
  t.ok(err && [3, 11].includes(groupErrorCode(err) ?? -1), `${uid} cannot load ${guid}`);
}

async function reads(t: Test, reader: string, guid: string) {
  const sender = await load('alice', guid);
  const message = await sender.encrypt(`to ${guid}`);
  const group = await load(reader, guid);
  t.equal(await group.decrypt(message, await users.get(reader)!.findUsers(users.get('alice')!.identity)), `to ${guid}`, `${reader} reads ${guid}`);
}

async function importDone(appId: string, id: string) {
  return waitFor(async () => {
    const v = (await h.admin('GET', `/admin/v1/tenants/${appId}/imports/${id}`)).json().data;
    return v.status === 'completed' || v.status === 'failed' ? v : undefined;
  }, `import ${id}`, 60_000);
}

t.test('a snapshot import over groups on Virgil and new ones, then late webhooks older and newer', async (t) => {
  const t0 = Math.floor(Date.now() / 1000) - 3_600; // CometChat times, seconds
  await sendCometChat(h, tenant, 'group_created', { guid: 'adopt-old', owner: 'alice', members: ['alice', 'bob', 'carol'], createdAt: t0 });
  await waitForStatus(h, tenant.appId, 'adopt-old', (s) => s.status === 'synced' && s.virgilMembers.length === 3);

  const asOf = t0 + 100;
  const file = [
    { guid: 'adopt-old', owner: 'alice', members: ['alice', 'dave'], asOf: new Date(asOf * 1000).toISOString() },
    { guid: 'adopt-new', owner: 'alice', members: ['alice', 'bob', 'carol'], asOf: new Date(asOf * 1000).toISOString() },
  ].map((l) => JSON.stringify(l)).join('\n');
  const res = await h.app.inject({
    method: 'POST', url: `/admin/v1/tenants/${tenant.appId}/imports`,
    headers: { authorization: `Bearer ${h.adminToken}`, 'content-type': 'application/x-ndjson' }, payload: file,
  });
  t.equal(res.statusCode, 201);
  const done = await importDone(tenant.appId, res.json().data.id);
  t.match(done, { status: 'completed', progress: { groupsApplied: 2, groupsChanged: 2, groupsCreated: 1 } });

  // Late webhooks: older than the snapshots (they lose), newer (they win).
  await sendCometChat(h, tenant, 'group_member_added', { guid: 'adopt-old', members: ['carol'], by: 'alice', updatedAt: asOf - 10 });
  await sendCometChat(h, tenant, 'group_member_kicked', { guid: 'adopt-new', members: ['bob'], by: 'alice', updatedAt: asOf - 5 });
  await sendCometChat(h, tenant, 'group_member_kicked', { guid: 'adopt-new', members: ['carol'], by: 'alice', updatedAt: asOf + 10 });
  await sendCometChat(h, tenant, 'group_member_added', { guid: 'adopt-old', members: ['bob'], by: 'alice', updatedAt: asOf + 20 });

  const old = await waitForStatus(h, tenant.appId, 'adopt-old', (s) => s.status === 'synced' && s.virgilMembers.includes('bob') && s.virgilMembers.includes('dave'));
  t.same(old.virgilMembers, ['alice', 'bob', 'dave'], 'existing group: carol removed by the snapshot (her older add lost), dave added, bob back by a newer add');
  const fresh = await waitForStatus(h, tenant.appId, 'adopt-new', (s) => s.status === 'synced' && !s.virgilMembers.includes('carol'));
  t.same(fresh.virgilMembers, ['alice', 'bob'], 'new group: created on Virgil; the older kick of bob lost, the newer kick of carol won');
  t.same(await svc.participants('adopt-old', uids), ['alice', 'bob', 'dave']);
  t.same(await svc.participants('adopt-new', uids), ['alice', 'bob']);
  await reads(t, 'dave', 'adopt-old');
  await reads(t, 'bob', 'adopt-new');
  await cannotLoad(t, 'carol', 'adopt-old');
  await cannotLoad(t, 'carol', 'adopt-new');
});

t.test('a CometChat import through pages, a 429 and a 5xx burst; then drift repair makes a lost kick', async (t) => {
  const cc = tenant;
  const app = cometchat.app(cc.appId, 'cc-rest-key-123456');
  const ccSvc = svc;
  const ccUsers = users;
  // Five groups (three pages of two), one with five members (three pages of two).
  cometchat.createGroup(cc.appId, 'cc-1', 'alice', ['bob']);
  cometchat.createGroup(cc.appId, 'cc-2', 'alice', ['bob', 'x1', 'x2', 'x3']);
  cometchat.createGroup(cc.appId, 'cc-3', 'bob', []);
  cometchat.createGroup(cc.appId, 'cc-4', 'alice', ['x4']);
  cometchat.createGroup(cc.appId, 'cc-5', 'alice', ['bob', 'x5']);
  cometchat.fail(1, 429, 1);
  cometchat.fail(3, 503);
  const started = cometchat.requests.length;

  const res = await h.admin('POST', `/admin/v1/tenants/${cc.appId}/imports`, { source: 'cometchat' });
  t.equal(res.statusCode, 201);
  t.match(res.json().data, { source: 'cometchat', status: 'queued', upload: null });
  t.equal((await h.admin('POST', `/admin/v1/tenants/${cc.appId}/imports`, { source: 'cometchat' })).json().error.code, 'IMPORT_ALREADY_RUNNING');
  const done = await importDone(cc.appId, res.json().data.id);
  t.match(done, { status: 'completed', progress: { processed: 5, total: 5, groupsApplied: 5, groupsCreated: 5 }, errors: { count: 0 } });
  const seen = cometchat.requests.slice(started);
  t.same(seen.slice(0, 5).map((r) => r.status), [429, 503, 503, 503, 200], 'the 429 and the 5xx burst were retried');
  t.ok(seen.filter((r) => r.path === '/groups').every((r) => r.query.get('perPage') === '2'), 'groups read two a page');
  t.equal(seen.filter((r) => r.path === '/groups/cc-2/members' && r.status === 200).length, 3, 'cc-2\'s five members read over three pages');

  let status = await waitForStatus(h, cc.appId, 'cc-2', (s) => s.status === 'pending' && s.virgilMembers.length === 2);
  t.same(status.desiredMembers, ['alice', 'bob', 'x1', 'x2', 'x3']);
  t.same(status.pendingRegistration, ['x1', 'x2', 'x3'], 'unregistered members wait for their cards');
  status = await waitForStatus(h, cc.appId, 'cc-5', (s) => s.virgilMembers.includes('bob'));
  t.same(status.virgilMembers, ['alice', 'bob']);
  const aliceCard = await ccUsers.get('bob')!.findUsers(ccUsers.get('alice')!.identity);
  const bobGroup = await ccUsers.get('bob')!.loadGroup(ccSvc.groupIdentity('cc-5'), await ccUsers.get('bob')!.findUsers(ccSvc.identity));
  const before = await (await ccUsers.get('alice')!.loadGroup(ccSvc.groupIdentity('cc-5'), await ccUsers.get('alice')!.findUsers(ccSvc.identity))).encrypt('imported');
  t.equal(await bobGroup.decrypt(before, aliceCard), 'imported', 'bob reads the imported group');

  // Drift repair: on, a first sweep (nothing to change), then a kick whose webhook is lost.
  let res2 = await h.admin('PATCH', `/admin/v1/tenants/${cc.appId}`, { cometchat: { region: 'eu', driftRepair: { intervalSeconds: 3600 } } });
  t.equal(res2.json().data.cometchat.driftRepair.intervalSeconds, 3600);
  const sweep = async (previous: string | null) => {
    t.equal((await h.admin('POST', `/admin/v1/tenants/${cc.appId}/drift-repair`)).statusCode, 202);
    return waitFor(async () => {
      const v = (await h.admin('GET', `/admin/v1/tenants/${cc.appId}/drift-repair`)).json().data;
      return v.lastRunAt !== null && v.lastRunAt !== previous ? v : undefined;
    }, 'a drift repair sweep');
  };
  const first = await sweep(null);
  t.match(first, { enabled: true, intervalSeconds: 3600, groupsRead: 5, groupsChanged: 0, lastError: null });
  t.ok(first.cursor > 0, 'the cursor moved');

  cometchat.setMembers(cc.appId, 'cc-5', ['alice', 'x5']); // bob kicked on CometChat; the webhook never arrives
  const second = await sweep(first.lastRunAt);
  t.ok(second.groupsRead - first.groupsRead <= 2, `the second sweep read only what changed since the cursor (${second.groupsRead - first.groupsRead} groups)`);
  t.equal(second.groupsChanged, 1, 'the kick was made');
  status = await waitForStatus(h, cc.appId, 'cc-5', (s) => s.status === 'pending' && !s.virgilMembers.includes('bob'));
  t.same(status.virgilMembers, ['alice']);
  const err = await ccUsers.get('bob')!.loadGroup(ccSvc.groupIdentity('cc-5'), await ccUsers.get('bob')!.findUsers(ccSvc.identity)).then(() => null, (e: unknown) => e);
  t.ok(err && [3, 11].includes(groupErrorCode(err) ?? -1), 'bob cannot load the group any more');
  t.ok(app.groups.size === 5);

  // A deletion whose webhook is lost: gone from CometChat's listings. Without `deletions` nothing
  // is deleted (the tenant also has groups from other sources).
  cometchat.deleteGroup(cc.appId, 'cc-4');
  const third = await sweep(second.lastRunAt);
  t.equal(third.groupsChanged, second.groupsChanged, 'deletions off: nothing deleted');
  t.not((await h.admin('GET', `/admin/v1/tenants/${cc.appId}/groups/cc-4`)).json().data.status, 'deleted');

  // With deletions on, every live group CometChat does not know is asked for once (404) and deleted.
  res2 = await h.admin('PATCH', `/admin/v1/tenants/${cc.appId}`, { cometchat: { region: 'eu', driftRepair: { intervalSeconds: 3600, deletions: true } } });
  t.same(res2.json().data.cometchat.driftRepair, { intervalSeconds: 3600, deletions: true });
  const unknown = (await sql<{ guid: string }>`SELECT guid FROM groups WHERE tenant_id = ${cc.appId} AND NOT deleted ORDER BY guid`.execute(h.ctx.db)).rows
    .map((r) => r.guid).filter((guid) => !app.groups.has(guid));
  t.ok(unknown.includes('cc-4'), `live groups CometChat does not know: ${unknown.join(', ')}`);
  const before4 = cometchat.requests.length;
  const fourth = await sweep(third.lastRunAt);
  t.equal(fourth.groupsChanged - third.groupsChanged, unknown.length, 'each of them deleted');
  // (The changed-groups pass may read a recently changed group again: those answer 200.)
  const missed = cometchat.requests.slice(before4).filter((r) => r.path.endsWith('/members') && r.status === 404).map((r) => r.path).sort();
  t.same(missed, unknown.map((guid) => `/groups/${guid}/members`).sort(), 'each unlisted group was asked for once');
  status = await waitForStatus(h, cc.appId, 'cc-4', (s) => s.status === 'deleted');
  t.equal(status.status, 'deleted');
  const fifth = await sweep(fourth.lastRunAt);
  t.equal(fifth.groupsChanged, fourth.groupsChanged, 'a deleted group is not asked for again');

  res2 = await h.admin('PATCH', `/admin/v1/tenants/${cc.appId}`, { cometchat: { region: 'eu', driftRepair: null } });
  t.equal((await h.admin('POST', `/admin/v1/tenants/${cc.appId}/drift-repair`)).json().error.code, 'DRIFT_REPAIR_OFF');
});

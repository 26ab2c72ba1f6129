/**
 * The group-owner worker end to end: CometChat and neutral webhooks over the HTTP API, the queue on
 * real Redis, the worker acting as the tenant's service identity on the Virgil emulator, and real
 * E3Kit clients reading and writing group messages.
 */
import t, { type Test } from 'tap';
import { requestResync as recordResyncRequest } from '../../src/groups/outbox-repository.js';
import {
  groupStatus, registeredUsers, sendCometChat, sendStandard, serviceView, startWorkerStack, userClient, waitForStatus,
} from '../helpers/worker-stack.js';
import { waitFor } from '../helpers/wait.js';

// Pending members are re-checked only after a minute here, so a prompt sync after registering can
// only come from the nudge sent when the user fetches a Virgil JWT.
const stack = await startWorkerStack(t, { worker: { pendingRecheckDelaysMs: [60_000] } });
const { h } = stack;
const tenant = await h.onboardTenant();
const svc = await serviceView(t, h, tenant.appId);
const users = await registeredUsers(t, h, tenant, ['alice', 'bob', 'carol', 'dave', 'erin']);
const client = (uid: string) => users.get(uid)!;
const ownerCard = await client('alice').findUsers(svc.identity);

// CometChat times are unix seconds; every event gets a later second than the previous one.
let clock = Math.floor(Date.now() / 1000) - 600;
const tick = () => ++clock;

const groupErrorCode = (err: unknown) => (err as { name?: string; errorCode?: number }).name === 'GroupError' ? (err as { errorCode: number }).errorCode : null;

async function load(uid: string, guid: string) {
  return client(uid).loadGroup(svc.groupIdentity(guid), ownerCard);
}

async function cannotLoad(t: Test, uid: string, guid: string, what: string) {
  const err = await load(uid, guid).then(() => null, (e: unknown) => e);
  t.ok(err, `${what}: ${uid} cannot load the group`);
  t.ok([3, 11].includes(groupErrorCode(err) ?? -1), `${what}: the error is E3Kit's no-access/not-found (${(err as Error | null)?.message})`);
}

t.test('CometChat webhooks create the group; members read each other; kick, ban and leave cut access; delete ends it', async (t) => {
  const guid = 'cc-hiking';
  await sendCometChat(h, tenant, 'group_created', { guid, owner: 'alice', members: ['alice'], createdAt: tick() });
  await sendCometChat(h, tenant, 'group_member_added', { guid, owner: 'alice', members: ['bob', 'carol', 'dave', 'erin'], by: 'alice', updatedAt: tick() });
  let status = await waitForStatus(h, tenant.appId, guid, (s) => s.status === 'synced');
  t.same(status.virgilMembers, ['alice', 'bob', 'carol', 'dave', 'erin']);
  t.same(status.desiredMembers, ['alice', 'bob', 'carol', 'dave', 'erin']);
  t.same(status.pendingRegistration, []);
  t.equal(status.identity, svc.groupIdentity(guid));
  t.same(await svc.participants(guid, [...users.keys()]), ['alice', 'bob', 'carol', 'dave', 'erin'], 'Virgil holds exactly the members');

  const groups = new Map<string, Awaited<ReturnType<typeof load>>>();
  for (const uid of users.keys()) groups.set(uid, await load(uid, guid));
  const aliceCard = await client('bob').findUsers(client('alice').identity);
  const hello = await groups.get('alice')!.encrypt('hello hikers');
  for (const uid of ['bob', 'carol', 'dave', 'erin']) {
    t.equal(await groups.get(uid)!.decrypt(hello, aliceCard), 'hello hikers', `${uid} reads alice`);
  }
  const bobCard = await client('alice').findUsers(client('bob').identity);
  t.equal(await groups.get('alice')!.decrypt(await groups.get('bob')!.encrypt('hi from bob'), bobCard), 'hi from bob', 'alice reads bob');

  // carol is kicked, dave banned, erin leaves: each one a new epoch without them.
  await sendCometChat(h, tenant, 'group_member_kicked', { guid, members: ['carol'], by: 'alice', updatedAt: tick() });
  await sendCometChat(h, tenant, 'group_member_banned', { guid, members: ['dave'], by: 'alice', updatedAt: tick() });
  await sendCometChat(h, tenant, 'group_member_left', { guid, members: ['erin'], updatedAt: tick() });
  status = await waitForStatus(h, tenant.appId, guid, (s) => s.status === 'synced' && s.virgilMembers.length === 2);
  t.same(status.virgilMembers, ['alice', 'bob']);
  t.same(await svc.participants(guid, [...users.keys()]), ['alice', 'bob']);

  await groups.get('alice')!.update();
  const secret = await groups.get('alice')!.encrypt('after the kick');
  await groups.get('bob')!.update();
  t.equal(await groups.get('bob')!.decrypt(secret, aliceCard), 'after the kick', 'bob still reads new messages');
  for (const uid of ['carol', 'dave', 'erin']) {
    const stale = groups.get(uid)!;
    const decrypted = await stale.decrypt(secret, aliceCard).then(() => 'decrypted', (e: unknown) => groupErrorCode(e));
    t.equal(decrypted, 10, `${uid}'s old group object cannot read the new epoch (GroupIsOutdated)`);
    const updated = await stale.update().then(() => 'updated', (e: unknown) => groupErrorCode(e));
    t.ok(updated === 11 || updated === 3, `${uid} cannot update the group`);
    await cannotLoad(t, uid, guid, 'removed');
  }

  // Unban does not re-add; scope change and owner transfer keep the service identity as owner.
  await sendCometChat(h, tenant, 'group_member_unbanned', { guid, members: ['dave'], by: 'alice', updatedAt: tick() });
  await sendCometChat(h, tenant, 'group_owner_transferred', { guid, owner: 'carol', oldOwner: 'alice', updatedAt: tick() });
  status = await waitForStatus(h, tenant.appId, guid, (s) => s.status === 'synced' && s.virgilMembers.includes('carol'));
  t.same(status.virgilMembers, ['alice', 'bob', 'carol'], 'the new platform owner is a participant again; dave stays out');
  const reloaded = await load('carol', guid);
  t.equal(reloaded.initiator, svc.identity, 'the service identity still owns the Virgil group');
  await cannotLoad(t, 'dave', guid, 'unbanned');

  await sendCometChat(h, tenant, 'group_deleted', { guid, updatedAt: tick() });
  status = await waitForStatus(h, tenant.appId, guid, (s) => s.status === 'deleted');
  t.same(status.desiredMembers, []);
  t.same(status.virgilMembers, []);
  t.equal(await svc.participants(guid, []), null, 'the group is gone from Virgil');
  for (const uid of ['alice', 'bob', 'carol']) await cannotLoad(t, uid, guid, 'deleted');
});

t.test('a member added before registering is added promptly once they fetch a JWT and register (neutral signed webhooks)', async (t) => {
  const guid = 'std-late-joiner';
  const base = Date.now() - 120_000;
  await sendStandard(h, tenant, 'group.created', { guid, occurredAt: new Date(base), owner: 'alice', members: ['bob', 'frank'] });
  let status = await waitForStatus(h, tenant.appId, guid, (s) => s.status === 'pending');
  t.same(status.pendingRegistration, ['frank']);
  t.same(status.virgilMembers, ['alice', 'bob'], 'registered members are added while frank is pending');
  t.same(await svc.participants(guid, ['alice', 'bob', 'frank']), ['alice', 'bob']);

  const aliceGroup = await load('alice', guid);
  const early = await aliceGroup.encrypt('before frank registered');

  // frank fetches a Virgil JWT (which nudges the worker) and registers right after.
  const frank = await userClient(t, h, tenant, 'frank');
  await frank.register();
  status = await waitForStatus(h, tenant.appId, guid, (s) => s.status === 'synced', 15_000);
  t.same(status.virgilMembers, ['alice', 'bob', 'frank']);
  t.same(status.pendingRegistration, []);
  const frankGroup = await frank.loadGroup(svc.groupIdentity(guid), await frank.findUsers(svc.identity));
  const aliceCard = await frank.findUsers(client('alice').identity);
  t.equal(await frankGroup.decrypt(early, aliceCard), 'before frank registered', 'frank reads the history');

  await sendStandard(h, tenant, 'group.member_kicked', { guid, occurredAt: new Date(base + 1000), members: ['frank'] });
  status = await waitForStatus(h, tenant.appId, guid, (s) => s.status === 'synced' && !s.virgilMembers.includes('frank'));
  t.same(status.virgilMembers, ['alice', 'bob']);
  const err = await frank.loadGroup(svc.groupIdentity(guid), await frank.findUsers(svc.identity)).then(() => null, (e: unknown) => e);
  t.ok(err && [3, 11].includes(groupErrorCode(err) ?? -1), 'kicked frank cannot load the group');
});

t.test('a group of more than 99 members is over capacity, never a partial group', async (t) => {
  const guid = 'std-crowd';
  const base = Date.now() - 60_000;
  const crowd = Array.from({ length: 99 }, (_, i) => `fan${String(i).padStart(3, '0')}`);
  await sendStandard(h, tenant, 'group.created', { guid, occurredAt: new Date(base), owner: 'alice', members: ['bob', ...crowd] });
  let status = await waitForStatus(h, tenant.appId, guid, (s) => s.status === 'over_capacity');
  t.equal(status.desiredMembers.length, 101);
  t.equal(status.lastError?.code, 'GROUP_OVER_CAPACITY');
  t.match(status.lastError?.message, /at most 99/);
  t.same(status.virgilMembers, [], 'nobody was added');
  t.equal(await svc.participants(guid, []), null, 'no group was created on Virgil');

  await sendStandard(h, tenant, 'group.member_left', { guid, occurredAt: new Date(base + 1000), members: ['fan000', 'fan001'] });
  status = await waitForStatus(h, tenant.appId, guid, (s) => s.status === 'pending');
  t.equal(status.desiredMembers.length, 99, '99 members fit');
  t.same(status.virgilMembers, ['alice', 'bob'], 'the registered members are in');
  t.equal(status.pendingRegistration.length, 97);
  t.equal(status.lastError, null);
});

t.test('admin group status and resync', async (t) => {
  const guid = 'cc-admin';
  await sendCometChat(h, tenant, 'group_created', { guid, owner: 'alice', members: ['alice', 'bob'], createdAt: tick() });
  const status = await waitForStatus(h, tenant.appId, guid, (s) => s.status === 'synced');
  t.same(Object.keys(status).sort(), ['desiredMembers', 'guid', 'identity', 'keyChanges', 'lastError', 'lastReAddAt', 'membershipVersion', 'pendingRegistration', 'status', 'updatedAt', 'virgilMembers']);
  t.ok(!Number.isNaN(Date.parse(status.updatedAt)));

  const missingGroup = await h.admin('GET', `/admin/v1/tenants/${tenant.appId}/groups/nope`);
  t.equal(missingGroup.statusCode, 404);
  t.equal(missingGroup.json().error.code, 'GROUP_NOT_FOUND');
  const missingTenant = await h.admin('GET', '/admin/v1/tenants/no-such-app/groups/nope');
  t.equal(missingTenant.statusCode, 404);
  t.equal(missingTenant.json().error.code, 'TENANT_NOT_FOUND');
  t.equal((await h.admin('POST', '/admin/v1/tenants/no-such-app/groups/nope/resync')).json().error.code, 'TENANT_NOT_FOUND');
  t.equal((await h.admin('POST', `/admin/v1/tenants/${tenant.appId}/groups/nope/resync`)).json().error.code, 'GROUP_NOT_FOUND');
  const badGuid = await h.admin('GET', `/admin/v1/tenants/${tenant.appId}/groups/${'x'.repeat(300)}`);
  t.equal(badGuid.statusCode, 400);
  t.equal(badGuid.json().error.code, 'VALIDATION_FAILED');
  const noToken = await h.app.inject({ method: 'GET', url: `/admin/v1/tenants/${tenant.appId}/groups/${guid}` });
  t.equal(noToken.statusCode, 401);

  // Someone deletes the group on Virgil behind our back; a resync restores it.
  await svc.client.deleteGroup(svc.groupIdentity(guid));
  t.equal(await svc.participants(guid, []), null);
  const before = status.updatedAt;
  const resync = await h.admin('POST', `/admin/v1/tenants/${tenant.appId}/groups/${guid}/resync`);
  t.equal(resync.statusCode, 202);
  t.same(resync.json(), { data: { guid, status: 'queued' } });
  // Wait on Virgil itself: a run that began before the deletion may still record `synced` after it,
  // so a new updatedAt alone does not prove the resync's run has happened.
  const restored = await waitFor(async () => {
    const participants = await svc.participants(guid, ['alice', 'bob']);
    return participants !== null && participants.length === 2 ? participants : undefined;
  }, 'the resync to re-create the group on Virgil');
  t.same(restored, ['alice', 'bob'], 'resync re-created the group');
  await waitForStatus(h, tenant.appId, guid, (s) => s.status === 'synced' && s.updatedAt !== before);
  const group = await load('bob', guid);
  t.ok(group.participants.includes(client('bob').identity));
});

t.test('tenant changes: a new config version rebuilds the service identity; a disabled tenant is left alone', async (t) => {
  const patched = await h.admin('PATCH', `/admin/v1/tenants/${tenant.appId}`, { jwtTtlSeconds: 900 });
  t.equal(patched.statusCode, 200);
  const guid = 'cc-after-patch';
  await sendCometChat(h, tenant, 'group_created', { guid, owner: 'bob', members: ['bob', 'carol'], createdAt: tick() });
  const status = await waitForStatus(h, tenant.appId, guid, (s) => s.status === 'synced');
  t.same(status.virgilMembers, ['bob', 'carol']);
  const builds = h.logLines.map((line) => JSON.parse(line) as { msg: string; tenantId?: string; configVersion?: number })
    .filter((entry) => entry.msg === 'service identity ready' && entry.tenantId === tenant.appId);
  t.ok(builds.length >= 2 && new Set(builds.map((b) => b.configVersion)).size >= 2, 'the service identity was rebuilt for the new config version');
  const group = await load('carol', guid);
  t.equal(group.initiator, svc.identity, 'same service identity, same groups');

  t.equal((await h.admin('DELETE', `/admin/v1/tenants/${tenant.appId}`)).statusCode, 200);
  const refused = await h.admin('POST', `/admin/v1/tenants/${tenant.appId}/groups/${guid}/resync`);
  t.equal(refused.statusCode, 409);
  t.equal(refused.json().error.code, 'TENANT_DISABLED');
  t.equal((await groupStatus(h, tenant.appId, guid))?.status, 'synced', 'status stays readable');
  t.equal((await h.admin('PATCH', `/admin/v1/tenants/${tenant.appId}`, { status: 'active' })).statusCode, 200);
});

t.test('a tenant whose service card is missing on Virgil gets it published by the worker', async (t) => {
  const other = await h.onboardTenant();
  const credentials = (await h.ctx.tenants.get(other.appId))!;
  const onboardedSecond = Math.floor(Date.now() / 1000); // the service card's timestamp is at most this
  const cardId = other.view.serviceCardId!;
  t.ok(cardId, 'onboarding published a card');
  const revoke = await fetch(`${h.emulator.url}/card/v5/actions/revoke/${cardId}`, {
    method: 'POST',
    headers: { authorization: `Virgil ${credentials.jwtSigner.sign(credentials.serviceIdentity).token}`, 'content-type': 'application/json' },
    body: '{}',
  });
  t.equal(revoke.status, 200, 'the service card is revoked (as if the tenant predates card publishing)');

  const [ann] = [...(await registeredUsers(t, h, other, ['ann'])).values()];
  // A card's id hashes its content, which has a one-second timestamp: republishing the same key
  // within the second of onboarding would repeat the revoked card exactly (Virgil answers 409).
  await waitFor(() => Math.floor(Date.now() / 1000) > onboardedSecond, 'a second after the onboarding card', { intervalMs: 20 });
  await t.rejects(ann.findUsers(credentials.serviceIdentity), 'no service card on Virgil now');
  await sendStandard(h, other, 'group.created', { guid: 'std-recovered', occurredAt: new Date(Date.now() - 5_000), owner: 'ann', members: [] });
  const status = await waitForStatus(h, other.appId, 'std-recovered', (s) => s.status === 'synced');
  t.same(status.virgilMembers, ['ann']);
  const ownerCard = await ann.findUsers(credentials.serviceIdentity);
  const group = await ann.loadGroup((await h.ctx.tenants.get(other.appId))!.groupIdentity('std-recovered'), ownerCard);
  t.equal(group.initiator, credentials.serviceIdentity);
  const view = (await h.admin('GET', `/admin/v1/tenants/${other.appId}`)).json().data;
  t.equal(view.serviceCardId, ownerCard.id, 'the new card id is recorded');
  t.not(view.serviceCardId, cardId);
});

t.test('BullMQ on PostgreSQL (the embedded default) runs the same pipeline', async (t) => {
  // Sweeper defaults except the interval (keeps the default code path covered).
  const pgStack = await startWorkerStack(t, { redisUrl: null, worker: { sweeper: { intervalMs: 300 } } });
  const pgTenant = await pgStack.h.onboardTenant();
  const pgUsers = await registeredUsers(t, pgStack.h, pgTenant, ['ann', 'ben']);
  t.equal(pgStack.worker.queue.connection.kind, 'postgres');
  await pgStack.queue.enqueue(pgTenant.appId, 'nothing-here'); // a job for an unknown group is harmless
  const d = 'pg-group';
  await sendStandard(pgStack.h, pgTenant, 'group.created', { guid: d, occurredAt: new Date(Date.now() - 1000), owner: 'ann', members: ['ben'] });
  const status = await waitForStatus(pgStack.h, pgTenant.appId, d, (s) => s.status === 'synced');
  t.same(status.virgilMembers, ['ann', 'ben']);
  const pgSvc = await serviceView(t, pgStack.h, pgTenant.appId);
  const group = await pgUsers.get('ben')!.loadGroup(pgSvc.groupIdentity(d), await pgUsers.get('ben')!.findUsers(pgSvc.identity));
  t.same([...group.participants].sort(), [pgSvc.identity, pgSvc.userIdentity('ann'), pgSvc.userIdentity('ben')].sort());
  t.equal((await groupStatus(pgStack.h, pgTenant.appId, d))?.lastError, null);

  // A request that only reached the outbox (the queue was not told) is picked up by the sweeper.
  t.ok(await recordResyncRequest(pgStack.h.ctx.db, pgTenant.appId, d));
  await waitFor(async () => (await pgStack.h.ctx.db.selectFrom('reconcile_outbox').select('guid').where('tenant_id', '=', pgTenant.appId).execute()).length === 0,
    'the sweeper to enqueue the outbox row and the run to clear it');
  t.pass('the outbox row was swept, reconciled and cleared');
});

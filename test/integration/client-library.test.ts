/**
 * The client library on Node with @virgilsecurity/e3kit-node, against the real API (over HTTP), the
 * emulator and the group worker: the login flow with real backups, batched lookups, a sender's key
 * rotation, groups kept current, and encryption that fails closed.
 */
import t from 'tap';
import { connect, isE2eeError, type E2eeClient, type EThreeInstance, type FetchLike } from '../../src/client/index.js';
import { createE3Client } from '../helpers/virgil-clients.js';
import { sendCometChat, startWorkerStack, waitForStatus } from '../helpers/worker-stack.js';
import { waitFor } from '../helpers/wait.js';

const stack = await startWorkerStack(t, { app: { listen: true } });
const { h } = stack;
const tenant = await h.onboardTenant();
const runtime = (await h.ctx.tenants.get(tenant.appId))!;

/** Every API call the clients make, as `METHOD /path`. */
const apiCalls: string[] = [];
const countingFetch: FetchLike = async (url, init) => {
  apiCalls.push(`${init?.method ?? 'GET'} ${new URL(url).pathname}`);
  return fetch(url, init);
};

interface DeviceOptions { fetch?: FetchLike; wrap?: (eThree: EThreeInstance) => EThreeInstance }

/** A new device of `uid`: its own E3Kit storage, connected through the API. */
function device(uid: string, options: DeviceOptions = {}): Promise<E2eeClient> {
  return connect({
    apiUrl: h.url!,
    appId: tenant.appId,
    getAuthToken: () => tenant.userToken(uid),
    fetch: options.fetch ?? countingFetch,
    eThree: async (getToken) => {
      const eThree = await createE3Client({ apiUrl: h.emulator.url, getToken, t }) as unknown as EThreeInstance;
      return options.wrap ? options.wrap(eThree) : eThree;
    },
  });
}

const alice = await device('alice');
await alice.login('alice-pw');
const bob = await device('bob');
await bob.login('bob-pw');

t.test('connect and the login flow, with real backups', async (t) => {
  t.equal(alice.identity, runtime.userIdentity('alice'), 'the identity the API derives');
  t.equal(alice.groupOwnerIdentity, tenant.view.groupOwnerIdentity, 'the group owner');
  t.equal(await alice.login('alice-pw'), 'local-key', 'the key on this device');
  const second = await device('alice');
  t.equal((await second.login('not-the-password').catch((e: unknown) => e) as { code?: string }).code, 'WRONG_PASSWORD', 'a wrong backup password');
  t.equal(await second.login('alice-pw'), 'restored', 'another device restores from the backup');

  const unbacked = await device('dave');
  await unbacked.eThree.register();
  const other = await device('dave');
  const missing = await other.login('dave-pw').catch((e: unknown) => e);
  t.ok(isE2eeError(missing, 'KEY_BACKUP_MISSING'), 'a card without a backup stops the login');
  const rotation = await other.rotateKey('dave-pw');
  t.type(rotation.groupsNotified, 'boolean', `rotation on request (groups notified: ${rotation.groupsNotified})`);
  t.equal(await (await device('dave')).login('dave-pw'), 'restored', 'the new key is backed up');
});

t.test('identity lookups are batched and cached', async (t) => {
  const client = await device('erin');
  apiCalls.length = 0;
  const [users, frank, group] = await Promise.all([client.identities.users(['alice', 'bob']), client.identities.user('frank'), client.identities.group('hiking')]);
  t.same(users, [runtime.userIdentity('alice'), runtime.userIdentity('bob')]);
  t.equal(frank, runtime.userIdentity('frank'));
  t.equal(group, runtime.groupIdentity('hiking'));
  t.same(apiCalls, ['POST /v1/get-identities'], 'one request for all of them');
  await Promise.all([client.identities.user('alice'), client.identities.group('hiking')]);
  t.same(apiCalls, ['POST /v1/get-identities'], 'answered from the cache');
});

t.test('a sender rotates: old messages verify by their time, new ones go to the new key', async (t) => {
  const toBobOld = await alice.encryptFor('bob', 'to the old key');
  const sent = await bob.encryptFor('alice', 'signed with the old key');
  const sentAt = new Date();
  t.equal(await alice.decryptFrom('bob', sent, { encryptedAt: sentAt }), 'signed with the old key');
  // Cards carry whole seconds: the new card must be dated after the message for the time to decide.
  await waitFor(() => Math.floor(Date.now() / 1000) > Math.floor(sentAt.getTime() / 1000), 'the next second');
  await bob.rotateKey('bob-pw-2');

  const fresh = await device('alice');
  await fresh.login('alice-pw');
  t.equal(await fresh.decryptFrom('bob', sent, { encryptedAt: sentAt }), 'signed with the old key', 'with encryptedAt, the card active then verifies it');
  t.equal((await fresh.decryptFrom('bob', sent).catch((e: unknown) => e) as { code?: string }).code, 'DECRYPT_FAILED', 'without it, the new card does not');
  const toBobNew = await alice.encryptFor('bob', 'to the new key');
  t.equal(await bob.decryptFrom('alice', toBobNew), 'to the new key', 'a cached card is never used to encrypt: bob can read it');
  t.equal((await bob.decryptFrom('alice', toBobOld).catch((e: unknown) => e) as { code?: string }).code, 'DECRYPT_FAILED', 'what was encrypted to the old key is lost (as documented)');
});

t.test('a worker-made group: the sender never calls update(), the removed member cannot read on', async (t) => {
  const carol = await device('carol');
  await carol.login('carol-pw');
  const now = Math.floor(Date.now() / 1000);
  await sendCometChat(h, tenant, 'group_created', { guid: 'hiking', owner: 'alice', members: ['alice', 'bob', 'carol'], createdAt: now });
  await waitForStatus(h, tenant.appId, 'hiking', (s) => s.status === 'synced' && s.virgilMembers.length === 3);
  const [aliceGroup, bobGroup, carolGroup] = await Promise.all([alice.group('hiking'), bob.group('hiking'), carol.group('hiking')]);
  t.equal(aliceGroup.identity, runtime.groupIdentity('hiking'));
  t.ok(aliceGroup.participants.includes(tenant.view.groupOwnerIdentity), 'loaded through the group owner');
  const before = await aliceGroup.encrypt('before');
  t.equal(await carolGroup.decrypt(before, { senderUid: 'alice', encryptedAt: new Date() }), 'before');
  await aliceGroup.encrypt('before, again');
  t.same(aliceGroup.stats, { updates: 0, loads: 1, versioned: true }, 'membershipVersion unchanged: no update');

  await sendCometChat(h, tenant, 'group_member_kicked', { guid: 'hiking', members: ['carol'], updatedAt: now + 1 });
  await waitForStatus(h, tenant.appId, 'hiking', (s) => s.status === 'synced' && !s.virgilMembers.includes('carol'));
  const after = await aliceGroup.encrypt('after');
  t.equal(await bobGroup.decrypt(after, { senderUid: 'alice' }), 'after', 'a remaining member reads on (updating by itself)');
  t.equal((await carolGroup.decrypt(after, { senderUid: 'alice' }).catch((e: unknown) => e) as { code?: string }).code, 'GROUP_UNAVAILABLE', 'the removed member cannot');
  t.same(aliceGroup.stats, { updates: 1, loads: 1, versioned: true }, 'the sender\'s library updated once, because membershipVersion rose');
  t.equal(await carol.membership('hiking'), null, 'the service no longer counts carol as a member');
  t.equal((await carolGroup.encrypt('still here?').catch((e: unknown) => e) as { code?: string }).code, 'NOT_A_MEMBER', 'so her client encrypts nothing for the group');

  // bob loses his key: a new one, and the service re-adds his new card (POST /v1/keys/changed).
  const versionBefore = (await bob.membership('hiking'))!.membershipVersion;
  await bob.eThree.cleanup();
  t.same(await bob.rotateKey('bob-pw-3'), { groupsNotified: true }, 'rotation tells the service');
  await waitFor(async () => ((await bob.membership('hiking'))?.membershipVersion ?? 0) > versionBefore, 'the worker to re-add bob\'s new card');
  const rejoined = await bob.group('hiking');
  t.equal(await rejoined.decrypt(after, { senderUid: 'alice' }), 'after', 'bob reads the group again, history included');
  t.equal(await rejoined.decrypt(await aliceGroup.encrypt('welcome back'), { senderUid: 'alice' }), 'welcome back');
});

t.test('fail closed: errors are typed, and nothing comes back in clear', async (t) => {
  const secret = 'meet me at the old mill at midnight';
  // Neither needs its key for what is tried: the failures come first.
  const echoing = await device('alice', {
    // An E3Kit that hands the text back instead of encrypting it.
    wrap: (eThree) => new Proxy(eThree, { get: (target, name) => (name === 'authEncrypt' ? async (text: string) => text : Reflect.get(target, name, target)) }),
  });
  const offline = await device('alice', {
    fetch: async (url, init) => {
      if (new URL(url).pathname.startsWith('/v1/groups/')) throw new TypeError('fetch failed');
      return countingFetch(url, init);
    },
  });

  const cases: Array<{ what: string; code: string; attempt: () => Promise<string> }> = [
    {
      what: 'the card service failing', code: 'ENCRYPT_FAILED',
      attempt: async () => {
        h.emulator.setFaults([{ route: 'cards', status: 503 }]);
        try { return await alice.encryptFor('bob', secret); } finally { h.emulator.clearFaults(); }
      },
    },
    { what: 'a recipient without a card', code: 'USER_NOT_REGISTERED', attempt: () => alice.encryptFor('zed', secret) },
    { what: 'an E3Kit that returns its input', code: 'ENCRYPT_FAILED', attempt: () => echoing.encryptFor('bob', secret) },
    { what: 'the service unreachable before a group send', code: 'NETWORK_ERROR', attempt: async () => (await offline.group('hiking')).encrypt(secret) },
  ];
  for (const { what, code, attempt } of cases) {
    const outcome = await attempt().then((value) => ({ value }), (error: unknown) => ({ error }));
    t.notOk('value' in outcome, `${what}: nothing is returned`);
    const error = (outcome as { error: Error }).error;
    t.ok(isE2eeError(error) && error.code === code, `${what}: ${code} (got ${String(error)})`);
    t.notMatch(`${error.message}\n${error.stack}`, secret, `${what}: the error does not quote the text`);
  }
});

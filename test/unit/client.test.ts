/**
 * The client library's rules with no servers: a fake extension API (the `fetch` it is given) and a
 * fake E3Kit (the shapes of src/client/e3kit.ts). Token refresh on an injected clock, batching,
 * envelopes, the login flow's branches, the group update rule (membershipVersion, the fallback
 * without it, outdated messages, rotated senders) and fail-closed encryption. Real E3Kit and the real
 * API are in test/integration/client-library.test.ts and client-browser.test.ts.
 */
import t from 'tap';
import { connect, E2eeError, isE2eeError, type EThreeGroup, type EThreeInstance, type FetchLike, type VirgilCard } from '../../src/client/index.js';
import { ExtensionApi } from '../../src/client/api.js';
import { BatchLoader } from '../../src/client/batch-loader.js';
import { checkedCiphertext } from '../../src/client/ciphertext.js';
import { VirgilTokenSource } from '../../src/client/virgil-tokens.js';

const b64 = (text: string) => Buffer.from(text.padEnd(48, '.')).toString('base64');
const unb64 = (text: string) => Buffer.from(text, 'base64').toString().replace(/\.+$/, '');

/** The extension API as seen through fetch: every request is recorded as `METHOD /path`. */
class FakeService {
  constructor(readonly identity = 'id-alice') {}
  readonly calls: string[] = [];
  now = 1_000_000;
  tokenLifetimeMs = 20 * 60_000;
  tokens = 0;
  /** guid → membership; `routes: false` answers like a server without the group routes. */
  groups = new Map<string, { version: number; member: boolean }>();
  groupRoutes = true;
  keysChanged = 0;
  failGroupLookups = false;
  authTokens: string[] = [];

  readonly fetch: FetchLike = async (url, init = {}) => {
    const path = new URL(url).pathname;
    this.calls.push(`${init.method ?? 'GET'} ${path}`);
    this.authTokens.push(init.headers?.authorization ?? '');
    const json = (status: number, body: unknown) => ({ status, text: async () => JSON.stringify(body) });
    if (path === '/v1/virgil-jwt') {
      this.tokens += 1;
      return json(200, { data: { virgilToken: `vt${this.tokens}`, identity: this.identity, groupOwnerIdentity: 'id-owner', expiresAt: new Date(this.now + this.tokenLifetimeMs).toISOString() } });
    }
    if (path === '/v1/get-identities') {
      const body = JSON.parse(init.body ?? '{}') as { uids?: string[]; guids?: string[] };
      return json(200, { data: {
        userIdentities: (body.uids ?? []).map((uid) => ({ [uid]: `id-${uid}` })),
        groupIdentities: (body.guids ?? []).map((guid) => ({ [guid]: `gid-${guid}` })),
      } });
    }
    if (!this.groupRoutes) return json(404, { error: { code: 'ROUTE_NOT_FOUND', message: 'No route' } });
    if (path.startsWith('/v1/groups/')) {
      if (this.failGroupLookups) throw new TypeError('fetch failed');
      const guid = decodeURIComponent(path.slice('/v1/groups/'.length));
      const group = this.groups.get(guid);
      if (!group?.member) return json(404, { error: { code: 'GROUP_NOT_FOUND', message: 'No such group' } });
      return json(200, { data: { guid, identity: `gid-${guid}`, groupOwnerIdentity: 'id-owner', membershipVersion: group.version, status: 'synced', updatedAt: new Date(this.now).toISOString() } });
    }
    if (path === '/v1/keys/changed') {
      this.keysChanged += 1;
      return { status: 202, text: async () => '' };
    }
    return json(404, { error: { code: 'ROUTE_NOT_FOUND', message: 'No route' } });
  };

  count(call: string): number {
    return this.calls.filter((c) => c === call).length;
  }
}

/** A Virgil world for the fake E3Kit: cards and group epochs shared by all fake clients. */
class FakeVirgil {
  cards = new Map<string, VirgilCard>([['id-owner', { id: 'card-owner', identity: 'id-owner' }]]);
  backups = new Map<string, string>();
  epochs = new Map<string, number>();
  /** Identities allowed to read a group's tickets. */
  readers = new Map<string, Set<string>>();
  searches = 0;
}

class FakeGroup implements EThreeGroup {
  epoch: number;
  updates = 0;
  constructor(readonly world: FakeVirgil, readonly groupId: string, readonly me: string, readonly echo: boolean) {
    this.epoch = world.epochs.get(groupId) ?? 0;
  }
  get participants() { return [...(this.world.readers.get(this.groupId) ?? [])]; }
  async encrypt(data: string) { return this.echo ? data : b64(`g|${this.groupId}|${this.epoch}|${this.world.cards.get(this.me)!.id}|${data}`); }
  async decrypt(data: string, senderCard: VirgilCard) {
    const [, , epoch, signer, text] = unb64(data).split('|');
    if (Number(epoch) > this.epoch) throw Object.assign(new Error('outdated'), { name: 'GroupError', errorCode: 10 });
    if (signer !== senderCard.id) throw Object.assign(new Error('verification'), { name: 'GroupError', errorCode: 7 });
    return text;
  }
  async update() {
    this.updates += 1;
    if (!this.world.readers.get(this.groupId)?.has(this.me)) throw Object.assign(new Error('no access'), { name: 'GroupError', errorCode: 11 });
    this.epoch = this.world.epochs.get(this.groupId) ?? 0;
  }
}

class FakeEThree implements EThreeInstance {
  localKey = false;
  groups = new Map<string, FakeGroup>();
  echo = false;
  constructor(readonly world: FakeVirgil, readonly identity: string) {}
  async hasLocalPrivateKey() { return this.localKey; }
  async register() {
    if (this.world.cards.has(this.identity)) throw Object.assign(new Error('exists'), { name: 'IdentityAlreadyExistsError' });
    this.world.cards.set(this.identity, { id: `card-${this.identity}-1`, identity: this.identity });
    this.localKey = true;
  }
  async rotatePrivateKey() {
    const card = this.world.cards.get(this.identity)!;
    this.world.cards.set(this.identity, { id: `${card.id}+`, identity: this.identity });
    this.localKey = true;
  }
  async cleanup() { this.localKey = false; this.groups.clear(); }
  async backupPrivateKey(password: string) { this.world.backups.set(this.identity, password); }
  async restorePrivateKey(password: string) {
    const backup = this.world.backups.get(this.identity);
    if (backup === undefined) throw Object.assign(new Error('none'), { name: 'PrivateKeyNoBackupError' });
    if (backup !== password) throw Object.assign(new Error('wrong'), { name: 'WrongKeyknoxPasswordError' });
    this.localKey = true;
  }
  async changePassword(oldPassword: string, newPassword: string) { await this.restorePrivateKey(oldPassword); this.world.backups.set(this.identity, newPassword); }
  async resetPrivateKeyBackup() { this.world.backups.delete(this.identity); }
  async findUsers(identities: string[]) {
    this.world.searches += 1;
    const missing = identities.filter((identity) => !this.world.cards.has(identity));
    if (missing.length > 0) throw Object.assign(new Error('not found'), { name: 'UsersNotFoundError', identities: missing });
    return Object.fromEntries(identities.map((identity) => [identity, this.world.cards.get(identity)!]));
  }
  async authEncrypt(message: string, card: VirgilCard) { return this.echo ? message : b64(`d|${card.id}|${this.world.cards.get(this.identity)!.id}|${message}`); }
  async authDecrypt(message: string, card: VirgilCard) {
    const [, , signer, text] = unb64(message).split('|');
    if (signer !== card.id) throw Object.assign(new Error('Signature verification failed'), { name: 'FoundationError' });
    return text;
  }
  async getGroup(groupId: string) { return this.groups.get(groupId) ?? null; }
  async loadGroup(groupId: string) {
    if (!this.world.readers.get(groupId)?.has(this.identity)) throw Object.assign(new Error('no access'), { name: 'GroupError', errorCode: 11 });
    const group = new FakeGroup(this.world, groupId, this.identity, this.echo);
    this.groups.set(groupId, group);
    return group;
  }
}

async function fakeClient(opts: { service?: FakeService; world?: FakeVirgil; identity?: string } = {}) {
  const identity = opts.identity ?? 'id-alice';
  const service = opts.service ?? new FakeService(identity);
  const world = opts.world ?? new FakeVirgil();
  const eThree = new FakeEThree(world, identity);
  const client = await connect({
    apiUrl: 'https://e2ee.test/', appId: 'app', getAuthToken: () => 'caller-token', fetch: service.fetch, now: () => service.now,
    eThree: async () => eThree,
  });
  return { client, service, world, eThree };
}

t.test('Virgil tokens: reused until the refresh margin, refreshed before expiry, one request at a time', async (t) => {
  const service = new FakeService();
  const api = new ExtensionApi({ apiUrl: 'https://e2ee.test', appId: 'app', getAuthToken: () => 'x', fetch: service.fetch });
  const tokens = new VirgilTokenSource(api, { now: () => service.now, refreshMarginMs: 60_000 });
  const first = await Promise.all([tokens.getToken(), tokens.getToken(), tokens.getToken()]);
  t.same(first, ['vt1', 'vt1', 'vt1'], 'concurrent callers share one request');
  service.now += 20 * 60_000 - 60_001;
  t.equal(await tokens.getToken(), 'vt1', 'still outside the margin');
  service.now += 2;
  t.equal(await tokens.getToken(), 'vt2', 'within a minute of expiry: a new token, before the old one expires');
  service.tokenLifetimeMs = 30_000;
  service.now += 20 * 60_000;
  t.equal(await tokens.getToken(), 'vt3');
  service.now += 14_000;
  t.equal(await tokens.getToken(), 'vt3', 'a short-lived token is kept for half its life');
  service.now += 2_000;
  t.equal(await tokens.getToken(), 'vt4');
  t.equal(service.count('GET /v1/virgil-jwt'), 4);
});

t.test('the API client: envelopes, typed errors, one retry with a new caller token after a 401', async (t) => {
  const responses: Array<{ status: number; body: string }> = [];
  const seen: string[] = [];
  const fetch: FetchLike = async (_url, init) => {
    seen.push(init?.headers?.authorization ?? '');
    const next = responses.shift()!;
    return { status: next.status, text: async () => next.body };
  };
  let callerTokens = 0;
  const api = new ExtensionApi({ apiUrl: 'https://e2ee.test', appId: 'app', getAuthToken: () => `caller-${++callerTokens}`, fetch });
  responses.push({ status: 401, body: '{"error":{"code":"TOKEN_EXPIRED","message":"expired"}}' }, { status: 200, body: '{"data":{"userIdentities":[{"a":"id-a"}],"groupIdentities":[]}}' });
  t.same((await api.identities(['a'], [])).users.get('a'), 'id-a', 'retried once');
  t.same(seen, ['Bearer caller-1', 'Bearer caller-2'], 'with a fresh caller token');
  responses.push({ status: 429, body: '{"error":{"code":"RATE_LIMITED","message":"slow down"}}' });
  await t.rejects(api.virgilToken(), { name: 'E2eeError', code: 'API_ERROR', status: 429, apiCode: 'RATE_LIMITED' });
  responses.push({ status: 502, body: '<html>bad gateway</html>' });
  await t.rejects(api.virgilToken(), { code: 'NETWORK_ERROR', status: 502 }, 'a proxy page is not our envelope');
  responses.push({ status: 404, body: '{"error":{"code":"ROUTE_NOT_FOUND","message":"No route"}}' });
  t.same(await api.groupMembership('g'), { supported: false }, 'a server without the route');
  responses.push({ status: 404, body: 'Not Found' });
  t.same(await api.groupMembership('g'), { supported: false }, 'a non-JSON 404');
  responses.push({ status: 404, body: '{"error":{"code":"GROUP_NOT_FOUND","message":"No such group"}}' });
  t.same(await api.groupMembership('g'), { supported: true, value: null }, 'not a member');
  responses.push({ status: 404, body: '{"error":{"code":"TENANT_NOT_FOUND","message":"?"}}' });
  await t.rejects(api.groupMembership('g'), { code: 'API_ERROR', apiCode: 'TENANT_NOT_FOUND' }, 'other 404s are errors');
  const down = new ExtensionApi({ apiUrl: 'https://e2ee.test', appId: 'app', getAuthToken: () => 'x', fetch: async () => { throw new TypeError('fetch failed'); } });
  await t.rejects(down.virgilToken(), { code: 'NETWORK_ERROR' });
});

t.test('batch loader: one call per turn, chunked, cached, errors per key', async (t) => {
  const calls: string[][] = [];
  let now = 0;
  const loader = new BatchLoader<string>(async (keys) => {
    calls.push(keys);
    return new Map(keys.map((key) => [key, key === 'bad' ? new Error('no such key') : key.toUpperCase()]));
  }, { maxBatch: 2, maxAgeMs: 100, now: () => now });
  const results = await Promise.allSettled([loader.get('a'), loader.get('b'), loader.get('a'), loader.get('c'), loader.get('bad')]);
  t.same(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)), ['A', 'B', 'A', 'C', 'no such key']);
  t.same(calls, [['a', 'b'], ['c', 'bad']], 'asked once per key, in chunks of maxBatch');
  t.equal(await loader.get('a'), 'A');
  t.equal(calls.length, 2, 'cached');
  now = 101;
  await loader.get('a');
  t.equal(calls.length, 3, 'reloaded after maxAgeMs');
  await loader.get('a', 0);
  t.equal(calls.length, 4, 'maxAge 0: always fresh');
});

t.test('identity lookups share one get-identities request and are cached for good', async (t) => {
  const { client, service } = await fakeClient();
  const [users, carol, group] = await Promise.all([client.identities.users(['alice', 'bob']), client.identities.user('carol'), client.identities.group('g1')]);
  t.same([users, carol, group], [['id-alice', 'id-bob'], 'id-carol', 'gid-g1']);
  t.equal(service.count('POST /v1/get-identities'), 1, 'one request for uids and guids asked together');
  await client.identities.users(['bob', 'carol']);
  t.equal(service.count('POST /v1/get-identities'), 1, 'cached');
});

t.test('login: local key, restore, register and back up, no backup, wrong password', async (t) => {
  const world = new FakeVirgil();
  const first = await fakeClient({ world });
  t.equal(await first.client.login('pw'), 'registered');
  t.equal(world.backups.get('id-alice'), 'pw', 'backed up at once');
  t.equal(await first.client.login('pw'), 'local-key');
  const second = await fakeClient({ world });
  await t.rejects(second.client.login('nope'), { code: 'WRONG_PASSWORD' });
  t.equal(await second.client.login('pw'), 'restored');
  await t.rejects(second.client.login(''), { code: 'INVALID_ARGUMENT' });

  const unbacked = new FakeVirgil();
  unbacked.cards.set('id-alice', { id: 'card-id-alice-1', identity: 'id-alice' });
  const device = await fakeClient({ world: unbacked });
  const error = await device.client.login('pw').catch((e: unknown) => e);
  t.ok(isE2eeError(error, 'KEY_BACKUP_MISSING'), 'a card without a backup is never silently replaced');
  t.match((error as Error).message, /rotateKey/);
  t.equal(unbacked.cards.get('id-alice')!.id, 'card-id-alice-1', 'the card is untouched');
  t.same(await device.client.rotateKey('pw2'), { groupsNotified: true }, 'rotation, when asked for, tells the service');
  t.equal(device.service.keysChanged, 1, 'POST /v1/keys/changed');
  t.equal(unbacked.backups.get('id-alice'), 'pw2');
  device.service.groupRoutes = false;
  t.same(await device.client.rotateKey('pw3'), { groupsNotified: false }, 'a service without the route');
});

t.test('groups: update() only when membershipVersion moved, before every send without it', async (t) => {
  const { client, service, world, eThree } = await fakeClient();
  world.cards.set('id-alice', { id: 'card-alice', identity: 'id-alice' });
  eThree.localKey = true;
  world.readers.set('gid-g1', new Set(['id-owner', 'id-alice', 'id-bob']));
  service.groups.set('g1', { version: 1, member: true });
  const group = await client.group('g1');
  t.equal(group.identity, 'gid-g1');
  await group.encrypt('one');
  await group.encrypt('two');
  t.same(group.stats, { updates: 0, loads: 1, versioned: true }, 'loaded once; the version did not move');
  world.epochs.set('gid-g1', 1);
  world.readers.get('gid-g1')!.delete('id-bob');
  service.groups.set('g1', { version: 2, member: true });
  const afterKick = await group.encrypt('three');
  t.equal(unb64(afterKick).split('|')[2], '1', 'encrypted for the new epoch');
  await group.encrypt('four');
  t.equal(group.stats.updates, 1, 'one update for one change');

  service.groups.set('g1', { version: 2, member: false });
  const refused = await group.encrypt('five').catch((e: unknown) => e);
  t.ok(isE2eeError(refused, 'NOT_A_MEMBER'), 'not a member: nothing is encrypted');

  service.groupRoutes = false;
  await group.encrypt('six');
  await group.encrypt('seven');
  t.same(group.stats, { updates: 3, loads: 1, versioned: false }, 'a service without membership versions: an update before each send');
  service.groupRoutes = true;
  service.groups.set('g1', { version: 2, member: true });
  service.failGroupLookups = true;
  await t.rejects(group.encrypt('eight'), { code: 'NETWORK_ERROR' }, 'the service cannot say whether the group is current: no encryption');
});

t.test('groups: decrypt updates on a newer epoch, re-reads a rotated sender, and names a forged one', async (t) => {
  const world = new FakeVirgil();
  const alice = await fakeClient({ world });
  const bob = await fakeClient({ world, identity: 'id-bob' });
  await alice.client.login('a');
  await bob.client.login('b');
  world.readers.set('gid-g1', new Set(['id-owner', 'id-alice', 'id-bob']));
  for (const s of [alice.service, bob.service]) s.groups.set('g1', { version: 1, member: true });
  const aliceGroup = await alice.client.group('g1');
  const bobGroup = await bob.client.group('g1');
  t.equal(await bobGroup.decrypt(await aliceGroup.encrypt('hello'), { senderUid: 'alice' }), 'hello');

  world.epochs.set('gid-g1', 1);
  alice.service.groups.set('g1', { version: 2, member: true });
  const newer = await aliceGroup.encrypt('new epoch');
  t.equal(await bobGroup.decrypt(newer, { senderUid: 'alice' }), 'new epoch', 'outdated: updated and retried');
  t.equal(bobGroup.stats.updates, 1);

  await alice.eThree.cleanup();
  await alice.client.rotateKey('a2');
  alice.eThree.groups.set('gid-g1', new FakeGroup(world, 'gid-g1', 'id-alice', false));
  const afterRotation = await (await alice.client.group('g1')).encrypt('rotated');
  t.equal(await bobGroup.decrypt(afterRotation, { senderUid: 'alice' }), 'rotated', 'a stale card is looked up again');
  await t.rejects(bobGroup.decrypt(afterRotation, { senderUid: 'bob' }), { code: 'SENDER_NOT_VERIFIED' }, 'the claimed sender did not sign it');

  world.readers.get('gid-g1')!.delete('id-bob');
  world.epochs.set('gid-g1', 2);
  alice.service.groups.set('g1', { version: 3, member: true });
  const afterKick = await (await alice.client.group('g1')).encrypt('after kick');
  await t.rejects(bobGroup.decrypt(afterKick, { senderUid: 'alice' }), { code: 'GROUP_UNAVAILABLE' }, 'removed: cannot decrypt what follows');
});

t.test('fail closed: no path returns the plaintext as ciphertext', async (t) => {
  const secret = 'the plaintext that must never leave';
  const { client, world, eThree, service } = await fakeClient();
  await client.login('pw');
  world.cards.set('id-bob', { id: 'card-bob', identity: 'id-bob' });
  eThree.echo = true;
  for (const [what, attempt] of [
    ['1:1', () => client.encryptFor('bob', secret)],
    ['group', async () => {
      world.readers.set('gid-g2', new Set(['id-owner', 'id-alice']));
      service.groups.set('g2', { version: 1, member: true });
      return (await client.group('g2')).encrypt(secret);
    }],
  ] as const) {
    const error = await attempt().then(() => null, (e: unknown) => e);
    t.ok(isE2eeError(error, 'ENCRYPT_FAILED'), `${what}: an E3Kit that hands the text back is an error`);
    t.notMatch(String((error as Error).message), secret, `${what}: the error does not quote the text`);
  }
  eThree.echo = false;
  await t.rejects(client.encryptFor('nobody', secret), { code: 'USER_NOT_REGISTERED' }, 'a recipient without a card');
  await t.rejects(client.encryptFor('bob', 42 as unknown as string), { code: 'INVALID_ARGUMENT' });
  t.throws(() => checkedCiphertext('short', 'x'), E2eeError);
  t.throws(() => checkedCiphertext(Buffer.from('x'.repeat(100)), 'x'), E2eeError, 'not a string');
  t.throws(() => checkedCiphertext('not base64 at all! '.repeat(5), 'x'), E2eeError);
  t.equal(checkedCiphertext(b64('ok'), 'x'), b64('ok'));
});

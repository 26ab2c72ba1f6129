/**
 * The extension API as CometChat clients call it: GET /v1/virgil-jwt and POST /v1/get-identities,
 * on a real PostgreSQL and the Virgil emulator. Tokens are checked with virgil-sdk's JwtVerifier.
 */
import t from 'tap';
import { startTestApp } from '../helpers/app.js';
import { getIdentitiesCall, virgilJwtCall, virgilTokenChecker } from '../helpers/extension-client.js';
import { RecordingRequester } from '../helpers/recording-requester.js';
import { sameWindow } from '../helpers/windows.js';

const recorder = new RecordingRequester();
const h = await startTestApp(t, { reconcile: recorder });
const tenant = await h.onboardTenant();
const other = await h.onboardTenant();
const shortTtl = await h.onboardTenant({ body: { jwtTtlSeconds: 300 } });
const aliceToken = tenant.userToken('alice');

async function identityOf(app = h.app, appId = tenant.appId, token = aliceToken): Promise<string> {
  const res = await virgilJwtCall(app, appId, token);
  if (res.statusCode !== 200) throw new Error(`virgil-jwt: ${res.statusCode} ${res.body}`);
  return res.json().data.identity;
}

t.test('virgil-jwt answers a genuine Virgil JWT for the caller', async (t) => {
  const check = await virgilTokenChecker(tenant.virgil.appKey, tenant.virgil.appKeyId);
  const before = Math.floor(Date.now() / 1000);
  const res = await virgilJwtCall(h.app, tenant.appId, aliceToken);
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^application\/json/);
  const body = res.json();
  t.same(Object.keys(body), ['data'], 'a data envelope');
  t.same(Object.keys(body.data).sort(), ['expiresAt', 'groupOwnerIdentity', 'identity', 'virgilToken']);
  const { virgilToken, identity, expiresAt, groupOwnerIdentity } = body.data;

  const { valid, jwt } = check(virgilToken);
  t.ok(valid, 'virgil-sdk JwtVerifier accepts it with the app public key');
  t.equal(jwt.header.alg, 'VEDS512');
  t.equal(jwt.header.kid, tenant.virgil.appKeyId, 'kid = APP_KEY_ID');
  t.equal(jwt.header.typ, 'JWT');
  t.equal(jwt.header.cty, 'virgil-jwt;v=1');
  t.equal(jwt.body.iss, `virgil-${tenant.virgil.appId}`, 'iss = virgil-<APP_ID>');
  t.equal(jwt.body.sub, `identity-${identity}`, 'sub = identity-<identity>');
  t.equal(jwt.identity(), identity);
  t.equal(jwt.appId(), tenant.virgil.appId);
  t.equal(jwt.body.exp - jwt.body.iat, 1200, 'default TTL of 20 minutes');
  t.ok(jwt.body.iat >= before && jwt.body.iat <= before + 5, 'issued now');
  t.notOk(jwt.isExpired(), 'not expired');
  t.equal(expiresAt, new Date(jwt.body.exp * 1000).toISOString(), 'expiresAt is exp as ISO-8601');
  t.equal(groupOwnerIdentity, tenant.view.groupOwnerIdentity, "the tenant's service identity");
  t.match(identity, /^[0-9a-f]{32}$/, '32 lowercase hex characters');

  const otherCheck = await virgilTokenChecker(other.virgil.appKey, other.virgil.appKeyId);
  t.notOk(otherCheck(virgilToken).valid, "another app's key does not verify it");

  const ttl = await virgilJwtCall(h.app, shortTtl.appId, shortTtl.userToken('alice'));
  const ttlJwt = (await virgilTokenChecker(shortTtl.virgil.appKey, shortTtl.virgil.appKeyId))(ttl.json().data.virgilToken);
  t.ok(ttlJwt.valid);
  t.equal(ttlJwt.jwt.body.exp - ttlJwt.jwt.body.iat, 300, "the tenant's TTL");
});

t.test('virgil-jwt tells the group worker the user is active', async (t) => {
  recorder.activeUsers.length = 0;
  await identityOf(h.app, tenant.appId, tenant.userToken('bob'));
  t.same(recorder.activeUsers, [{ tenantId: tenant.appId, uid: 'bob' }]);
  const failed = await virgilJwtCall(h.app, tenant.appId, 'not-a-token');
  t.equal(failed.statusCode, 401);
  t.equal(recorder.activeUsers.length, 1, 'not for refused callers');
});

t.test('identities are deterministic, distinct and namespaced', async (t) => {
  const alice = await identityOf();
  t.equal(await identityOf(), alice, 'same uid, same identity');
  t.equal(await identityOf(h.app, tenant.appId, tenant.userToken('alice', {}, 60)), alice, 'independent of the caller token');
  const bob = await identityOf(h.app, tenant.appId, tenant.userToken('bob'));
  t.not(bob, alice, 'distinct users');
  const elsewhere = await identityOf(h.app, other.appId, other.userToken('alice'));
  t.not(elsewhere, alice, 'the same uid in another tenant is another identity');

  const res = await getIdentitiesCall(h.app, tenant.appId, aliceToken, { uids: ['alice', 'bob'], guids: ['alice'] });
  t.equal(res.statusCode, 200);
  const { userIdentities, groupIdentities } = res.json().data;
  t.same(userIdentities, [{ alice }, { bob }], 'get-identities agrees with virgil-jwt');
  t.not(groupIdentities[0].alice, alice, 'groups and users live in separate namespaces');
  t.match(groupIdentities[0].alice, /^[0-9a-f]{32}$/);
  t.not(groupIdentities[0].alice, tenant.view.groupOwnerIdentity);
});

t.test('identities survive a restart (a second app on the same database)', async (t) => {
  const first = await getIdentitiesCall(h.app, tenant.appId, aliceToken, { uids: ['alice', 'carol@example.com'], guids: ['team-1'] });
  const again = await startTestApp(t, { shareWith: h });
  const second = await getIdentitiesCall(again.app, tenant.appId, aliceToken, { uids: ['alice', 'carol@example.com'], guids: ['team-1'] });
  t.equal(second.statusCode, 200);
  t.same(second.json(), first.json(), 'same identities from the new process');
  t.equal(await identityOf(again.app), await identityOf(h.app));
});

t.test('get-identities: one single-key object per id, in request order', async (t) => {
  const uids = ['zed', 'alice', 'alice', 'user@example.com', '__proto__', 'constructor', 'a-b_c.d', '~!@#$%^&*()', 'quote"and\\backslash', '</script>'];
  const res = await getIdentitiesCall(h.app, tenant.appId, aliceToken, { uids, guids: ['g2', 'g1'] });
  t.equal(res.statusCode, 200);
  const { userIdentities, groupIdentities } = res.json().data;
  t.same(userIdentities.map((o: object) => Object.keys(o)), uids.map((u) => [u]), 'keys in request order, duplicates kept');
  t.equal(userIdentities[1].alice, userIdentities[2].alice);
  t.same(groupIdentities.map((o: object) => Object.keys(o)[0]), ['g2', 'g1']);
  t.match(JSON.parse(res.body).data.userIdentities[4], { ['__proto__']: /^[0-9a-f]{32}$/ }, '"__proto__" is an ordinary key');

  const onlyGroups = await getIdentitiesCall(h.app, tenant.appId, aliceToken, { guids: ['g1'] });
  t.same(onlyGroups.json().data.userIdentities, [], 'a missing list answers []');
  const nothing = await getIdentitiesCall(h.app, tenant.appId, aliceToken, {});
  t.same(nothing.json(), { data: { userIdentities: [], groupIdentities: [] } });
  const empty = await getIdentitiesCall(h.app, tenant.appId, aliceToken, { uids: [], guids: [] });
  t.same(empty.json(), { data: { userIdentities: [], groupIdentities: [] } });

  const max = await getIdentitiesCall(h.app, tenant.appId, aliceToken, {
    uids: Array.from({ length: 600 }, (_, i) => `u${i}`), guids: Array.from({ length: 400 }, (_, i) => `g${i}`),
  });
  t.equal(max.statusCode, 200, '1,000 ids in total are accepted');
  t.equal(max.json().data.userIdentities.length, 600);
  const long = 'x'.repeat(255);
  const longest = await getIdentitiesCall(h.app, tenant.appId, aliceToken, { uids: [long] });
  t.equal(longest.statusCode, 200, 'a 255-character id is accepted');
  const named = await getIdentitiesCall(h.app, tenant.appId, aliceToken, { uids: ['josé', '李雷'] });
  t.equal(named.statusCode, 200, 'ids in any script are accepted');
});

t.test('get-identities refuses bad input with stable codes', async (t) => {
  const cases: Array<[string, unknown, number, string]> = [
    ['1,001 ids', { uids: Array.from({ length: 501 }, (_, i) => `u${i}`), guids: Array.from({ length: 500 }, (_, i) => `g${i}`) }, 413, 'TOO_MANY_IDS'],
    ['1,001 uids', { uids: Array.from({ length: 1001 }, (_, i) => `u${i}`) }, 413, 'TOO_MANY_IDS'],
    ['an empty id', { uids: [''] }, 400, 'VALIDATION_FAILED'],
    ['an id with an invisible joiner', { uids: ['zo\u200de'] }, 400, 'VALIDATION_FAILED'],
    ['an id with a space', { uids: ['a b'] }, 400, 'VALIDATION_FAILED'],
    ['an id with a control character', { guids: ['a\u0000b'] }, 400, 'VALIDATION_FAILED'],
    ['a 256-character id', { uids: ['x'.repeat(256)] }, 400, 'VALIDATION_FAILED'],
    ['a 10 KB id', { uids: ['x'.repeat(10_240)] }, 400, 'VALIDATION_FAILED'],
    ['a number as id', { uids: [42] }, 400, 'VALIDATION_FAILED'],
    ['null as id', { guids: [null] }, 400, 'VALIDATION_FAILED'],
    ['a string instead of a list', { uids: 'alice' }, 400, 'VALIDATION_FAILED'],
    ['null instead of a list', { uids: null }, 400, 'VALIDATION_FAILED'],
    ['an unknown field', { uids: ['a'], extra: true }, 400, 'VALIDATION_FAILED'],
    ['an array body', [{ uids: ['a'] }], 400, 'VALIDATION_FAILED'],
    ['a string body', '"alice"', 400, 'VALIDATION_FAILED'],
    ['malformed JSON', '{"uids": [', 400, 'MALFORMED_JSON'],
  ];
  for (const [name, body, status, code] of cases) {
    const res = await getIdentitiesCall(h.app, tenant.appId, aliceToken, body);
    t.equal(res.statusCode, status, `${name}: ${status}`);
    t.equal(res.json().error?.code, code, `${name}: ${code}`);
  }
  const tooMany = await getIdentitiesCall(h.app, tenant.appId, aliceToken, { uids: Array.from({ length: 1001 }, (_, i) => `u${i}`) });
  t.same(tooMany.json().error.details, { max: 1000, received: 1001 });
  const unknownField = await getIdentitiesCall(h.app, tenant.appId, aliceToken, { uids: ['a'], extra: true });
  t.match(unknownField.json().error.details.errors[0], { property: 'extra' }, 'names the unknown field');

  const text = await getIdentitiesCall(h.app, tenant.appId, aliceToken, 'uids=alice', { 'content-type': 'text/plain' });
  t.equal(text.statusCode, 415);
  t.equal(text.json().error.code, 'UNSUPPORTED_MEDIA_TYPE');
  const form = await getIdentitiesCall(h.app, tenant.appId, aliceToken, 'uids=alice', { 'content-type': 'application/x-www-form-urlencoded' });
  t.equal(form.statusCode, 415);
  const huge = await getIdentitiesCall(h.app, tenant.appId, aliceToken, { uids: ['x'.repeat(300 * 1024)] });
  t.equal(huge.statusCode, 413, 'a body over the limit');
  t.equal(huge.json().error.code, 'PAYLOAD_TOO_LARGE');
  const noBody = await h.app.inject({ method: 'POST', url: '/v1/get-identities', headers: { appid: tenant.appId, authorization: `Bearer ${aliceToken}` } });
  t.equal(noBody.statusCode, 400, 'no body');

  const unauthenticated = await h.app.inject({
    method: 'POST', url: '/v1/get-identities', headers: { appid: tenant.appId, 'content-type': 'application/json' }, payload: '{"uids": [',
  });
  t.equal(unauthenticated.statusCode, 401, 'the caller is authenticated before the body is read');
  const wrongMethod = await h.app.inject({ method: 'GET', url: '/v1/get-identities', headers: { appid: tenant.appId, authorization: `Bearer ${aliceToken}` } });
  t.equal(wrongMethod.statusCode, 404);
  t.equal(wrongMethod.json().error.code, 'ROUTE_NOT_FOUND');
});

t.test('paths with two leading slashes, as CometChat SDKs send them', async (t) => {
  const jwt = await virgilJwtCall(h.app, tenant.appId, aliceToken, '//v1/virgil-jwt');
  t.equal(jwt.statusCode, 200);
  t.equal(jwt.json().data.identity, await identityOf());
  const ids = await h.app.inject({
    method: 'POST', url: '//v1/get-identities',
    headers: { appid: tenant.appId, authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json' },
    payload: { uids: ['alice'] },
  });
  t.equal(ids.statusCode, 200);
  const query = await virgilJwtCall(h.app, tenant.appId, aliceToken, '/v1/virgil-jwt?sdk=js');
  t.equal(query.statusCode, 200, 'a query string is ignored');
  const trailing = await virgilJwtCall(h.app, tenant.appId, aliceToken, '/v1/virgil-jwt/');
  t.equal(trailing.statusCode, 200, 'a trailing slash is ignored');
});

t.test('CORS: preflight with the headers CometChat SDKs send', async (t) => {
  const preflight = await h.app.inject({
    method: 'OPTIONS', url: '//v1/get-identities',
    headers: {
      origin: 'https://chat.example.com',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'appid,authtoken,resource,sdk,chatapiversion,authorization,content-type',
    },
  });
  t.equal(preflight.statusCode, 204);
  t.equal(preflight.headers['access-control-allow-origin'], '*');
  const allowed = String(preflight.headers['access-control-allow-headers']).split(/,\s*/);
  for (const header of ['appid', 'authtoken', 'resource', 'sdk', 'chatapiversion', 'authorization', 'content-type']) {
    t.ok(allowed.includes(header), `allows ${header}`);
  }
  t.same(String(preflight.headers['access-control-allow-methods']).split(/,\s*/).sort(), ['GET', 'OPTIONS', 'POST']);
  t.ok(Number(preflight.headers['access-control-max-age']) > 0, 'preflights are cached');
  t.notOk(preflight.headers['access-control-allow-credentials'], 'no credentials mode');
  const bare = await h.app.inject({ method: 'OPTIONS', url: '/v1/virgil-jwt' });
  t.equal(bare.statusCode, 204, 'an OPTIONS request without Origin is answered the same way');

  const actual = await h.app.inject({
    method: 'GET', url: '/v1/virgil-jwt', headers: { origin: 'https://chat.example.com', appid: tenant.appId, authorization: `Bearer ${aliceToken}` },
  });
  t.equal(actual.headers['access-control-allow-origin'], '*');
  t.notOk(actual.headers['access-control-expose-headers'], 'a success has no header to expose');
  const refused = await h.app.inject({ method: 'GET', url: '/v1/virgil-jwt', headers: { origin: 'https://chat.example.com', appid: tenant.appId } });
  t.equal(refused.headers['access-control-allow-origin'], '*', 'errors are readable by the page too');
  t.equal(refused.headers['access-control-expose-headers'], 'www-authenticate', 'the challenge is readable by the page');
});

t.test('rate limits per user and per tenant answer 429 with Retry-After', async (t) => {
  // The app's counters follow the real clock (one-minute windows; the window logic is unit tested on
  // a fake clock). No waiting for a boundary: the sequence runs on fresh tenants and is repeated once
  // (with fresh tenants again) if a minute boundary fell inside it; assertions run on the answers.
  const { value: run } = await sameWindow(async () => {
    const perUser = await h.onboardTenant({ body: { rateLimits: { userPerMinute: 3 } } });
    const perTenant = await h.onboardTenant({ body: { rateLimits: { tenantPerMinute: 4 } } });
    const dave = perUser.userToken('dave');
    const first: number[] = [];
    for (let i = 0; i < 2; i++) first.push((await virgilJwtCall(h.app, perUser.appId, dave)).statusCode);
    const ids = (await getIdentitiesCall(h.app, perUser.appId, dave, { uids: ['x'] })).statusCode;
    const limited = await virgilJwtCall(h.app, perUser.appId, dave);
    const erin = (await virgilJwtCall(h.app, perUser.appId, perUser.userToken('erin'))).statusCode;
    const elsewhere = (await virgilJwtCall(h.app, tenant.appId, tenant.userToken('dave'))).statusCode;
    const tenantUsers: number[] = [];
    for (let i = 0; i < 4; i++) tenantUsers.push((await virgilJwtCall(h.app, perTenant.appId, perTenant.userToken(`user${i}`))).statusCode);
    const tenantLimited = await virgilJwtCall(h.app, perTenant.appId, perTenant.userToken('fresh-user'));
    const otherTenant = (await virgilJwtCall(h.app, other.appId, other.userToken('user0'))).statusCode;
    return { perUser, first, ids, limited, erin, elsewhere, tenantUsers, tenantLimited, otherTenant };
  });
  const { perUser, limited, tenantLimited } = run;

  for (const status of run.first) t.equal(status, 200);
  t.equal(run.ids, 200, 'both endpoints count');
  t.equal(limited.statusCode, 429);
  t.equal(limited.json().error.code, 'RATE_LIMITED');
  const retryAfter = Number(limited.headers['retry-after']);
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter} s`);
  t.equal(limited.json().error.details.retryAfterSeconds, retryAfter);
  t.equal(limited.headers['access-control-expose-headers'], 'retry-after', 'Retry-After is readable by the page');
  t.equal(run.erin, 200, 'other users are not affected');
  t.equal(run.elsewhere, 200, 'the same uid in another tenant is not affected');

  for (const status of run.tenantUsers) t.equal(status, 200);
  t.equal(tenantLimited.statusCode, 429, 'the tenant limit covers all its users');
  t.ok(Number(tenantLimited.headers['retry-after']) >= 1);
  t.equal(run.otherTenant, 200, 'other tenants are not affected');

  const refused = await virgilJwtCall(h.app, perUser.appId, 'bad');
  t.equal(refused.statusCode, 401, 'refused callers are told so, not rate limited');
});

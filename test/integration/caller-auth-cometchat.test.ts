/**
 * Callers authenticated by CometChat's own auth tokens (userAuth type cometchat), against a local
 * server speaking CometChat's REST shapes: valid, unknown, flushed (refused once the verified cache
 * has expired), cached refusals, CometChat down (503, never a pass), and the settings it needs.
 * Cache lifetimes run on the test's clock.
 */
import t, { type Test } from 'tap';
import { startTestApp } from '../helpers/app.js';
import { startFakeCometChat } from '../helpers/cometchat-server.js';

let clock = Date.now();
const cometchat = await startFakeCometChat(t);
const h = await startTestApp(t, { now: () => clock, env: { COMETCHAT_API_URL: cometchat.template } });

const ccAppId = 'ccapp1';
cometchat.app(ccAppId, 'rest-key-0123456789');
const tenant = await h.onboardTenant({
  appId: ccAppId,
  body: { userAuth: { type: 'cometchat' }, cometchat: { region: 'eu', restApiKey: 'rest-key-0123456789' } },
});
const lookups = () => cometchat.requests.filter((r) => r.path.startsWith('/users/')).length;

async function call(headers: Record<string, string>) {
  return h.app.inject({ method: 'GET', url: '/v1/virgil-jwt', headers: { appid: tenant.appId, ...headers } });
}

async function expectUid(t: Test, headers: Record<string, string>, uid: string, what: string) {
  const res = await call(headers);
  t.equal(res.statusCode, 200, `${what}: 200 ${res.statusCode === 200 ? '' : res.body}`);
  if (res.statusCode === 200) t.equal(res.json().data.identity, (await h.ctx.tenants.get(tenant.appId))!.userIdentity(uid), `${what}: ${uid}`);
}

async function expectRefused(t: Test, headers: Record<string, string>, status: number, code: string, what: string) {
  const res = await call(headers);
  t.equal(res.statusCode, status, `${what}: ${status}`);
  t.equal(res.json().error?.code, code, `${what}: ${code}`);
  return res;
}

t.test('settings: the view, and the cometchat mode needs CometChat credentials', async (t) => {
  const view = (await h.admin('GET', `/admin/v1/tenants/${tenant.appId}`)).json().data;
  t.same(view.userAuth, { type: 'cometchat', verifiedCacheSeconds: 60, refusedCacheSeconds: 10 });
  t.same(view.cometchat, { appId: ccAppId, region: 'eu', restApiKeyConfigured: true, requestsPerMinute: 5000, driftRepair: null });
  t.notOk(JSON.stringify(view).includes('rest-key-0123456789'), 'the REST key is never shown');
  const row = await h.ctx.db.selectFrom('tenants').select('cometchat_rest_api_key').where('app_id', '=', tenant.appId).executeTakeFirstOrThrow();
  t.match(row.cometchat_rest_api_key, /^ev1\./, 'sealed at rest');
  t.equal(h.ctx.keyring.open(row.cometchat_rest_api_key!, { tenant: tenant.appId, field: 'cometchat_rest_api_key' }), 'rest-key-0123456789', 'bound to its tenant and field');

  const virgil = await h.emulator.createApp();
  const res = await h.admin('POST', '/admin/v1/tenants', { appId: 'cc-no-credentials', virgil, userAuth: { type: 'cometchat' } });
  t.equal(res.statusCode, 422);
  t.equal(res.json().error.code, 'COMETCHAT_NOT_CONFIGURED');
  const removal = await h.admin('PATCH', `/admin/v1/tenants/${tenant.appId}`, { cometchat: null });
  t.equal(removal.statusCode, 422, 'the credentials cannot be removed while the mode uses them');
  t.equal(removal.json().error.code, 'COMETCHAT_NOT_CONFIGURED');
  const badApp = await h.admin('POST', '/admin/v1/tenants', { appId: 'cc_under_score', virgil, userAuth: { type: 'cometchat' }, cometchat: { region: 'us', restApiKey: 'k'.repeat(20) } });
  t.equal(badApp.json().error.code, 'INVALID_COMETCHAT_SETTINGS', 'an app id that cannot be a CometChat host needs cometchat.appId');
});

t.test('a valid token, with the uid read from it or sent', async (t) => {
  const token = cometchat.issueToken(ccAppId, 'alice');
  const before = lookups();
  await expectUid(t, { authtoken: token }, 'alice', 'uid from the token');
  await expectUid(t, { authtoken: token }, 'alice', 'again');
  t.equal(lookups(), before + 1, 'the second call is answered from the cache');
  await expectUid(t, { authtoken: token, uid: 'alice' }, 'alice', 'with the uid header');
  await expectRefused(t, { authtoken: token, uid: 'bob' }, 401, 'TOKEN_INVALID', 'alice\'s token with uid bob');
  await expectRefused(t, {}, 401, 'TOKEN_MISSING', 'no authtoken header');
  await expectRefused(t, { authtoken: 'opaque-token-without-uid' }, 401, 'TOKEN_INVALID', 'a token without the uid shape and no uid header');
  await expectRefused(t, { authorization: `Bearer ${tenant.userToken('alice')}` }, 401, 'TOKEN_MISSING', 'a bearer JWT is not what this tenant takes');
});

t.test('an unknown token is refused, and the refusal cached briefly', async (t) => {
  const forged = 'alice_1700000000abcdefabcdefabcdefabcdefabcdef';
  const before = lookups();
  await expectRefused(t, { authtoken: forged }, 401, 'TOKEN_INVALID', 'unknown');
  await expectRefused(t, { authtoken: forged }, 401, 'TOKEN_INVALID', 'unknown, again');
  t.equal(lookups(), before + 1, 'the refusal is cached');
  clock += 11_000;
  await expectRefused(t, { authtoken: forged }, 401, 'TOKEN_INVALID', 'after the refusal cache');
  t.equal(lookups(), before + 2, 'asked again once the refusal expired');
});

t.test('a flushed token is refused once the verified cache expires', async (t) => {
  const token = cometchat.issueToken(ccAppId, 'carol');
  await expectUid(t, { authtoken: token }, 'carol', 'before the flush');
  cometchat.flushTokens(ccAppId, 'carol');
  clock += 30_000;
  await expectUid(t, { authtoken: token }, 'carol', 'within the verified cache (60 s)');
  clock += 31_000;
  await expectRefused(t, { authtoken: token }, 401, 'TOKEN_INVALID', 'flushed, after the cache');
  const before = lookups();
  await expectRefused(t, { authtoken: token }, 401, 'TOKEN_INVALID', 'and stays refused');
  t.equal(lookups(), before, 'from the refusal cache');
});

t.test('CometChat down, failing or rate limiting is a 503, never a pass, and not cached', async (t) => {
  const token = cometchat.issueToken(ccAppId, 'dave');
  cometchat.down = true;
  let res = await expectRefused(t, { authtoken: token }, 503, 'COMETCHAT_UNAVAILABLE', 'unreachable');
  t.equal(res.headers['retry-after'], '5');
  cometchat.down = false;
  cometchat.fail(1, 500);
  await expectRefused(t, { authtoken: token }, 503, 'COMETCHAT_UNAVAILABLE', 'a 500');
  cometchat.fail(1, 429, 1);
  await expectRefused(t, { authtoken: token }, 503, 'COMETCHAT_UNAVAILABLE', 'a 429');
  await expectUid(t, { authtoken: token }, 'dave', 'back: the token works at once (no failure was cached)');

  res = await h.admin('PATCH', `/admin/v1/tenants/${tenant.appId}`, { cometchat: { region: 'eu', restApiKey: 'a-wrong-rest-key' } });
  t.equal(res.statusCode, 200, 'the key can change without the rest');
  t.equal(res.json().data.cometchat.restApiKeyConfigured, true);
  await expectRefused(t, { authtoken: cometchat.issueToken(ccAppId, 'erin') }, 503, 'TENANT_AUTH_MISCONFIGURED', 'a REST key CometChat refuses');
  res = await h.admin('PATCH', `/admin/v1/tenants/${tenant.appId}`, { cometchat: { region: 'eu', restApiKey: 'rest-key-0123456789' } });
  t.equal(res.statusCode, 200);
});

/**
 * The admin tenant API: bearer tokens compared in constant time, onboarding, listing, updates and
 * disabling, strict bodies (nothing changes on a refused call), and changes reaching the request
 * path at once — on this process and on another replica sharing the database.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import t, { type Test } from 'tap';
import { matchSecret as matchAdminToken } from '../../src/lib/constant-time.js';
import { generateEd25519KeyPair } from '../../src/virgil/keys.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { nowSeconds, signJwt, virgilJwtCall, virgilTokenChecker } from '../helpers/extension-client.js';
import { createHash } from 'node:crypto';
import { waitUntil } from '../helpers/wait.js';
import { sameWindow } from '../helpers/windows.js';

const h = await startTestApp(t);

async function snapshot(app: TestApp = h) {
  return app.ctx.db.selectFrom('tenants').select(['app_id', 'config_version', 'status', 'virgil_app_key_id', 'user_auth_key', 'jwt_ttl_seconds'])
    .orderBy('app_id').execute();
}

async function onboardBody(appId = `app-${randomBytes(4).toString('hex')}`) {
  return {
    appId,
    virgil: await h.emulator.createApp(),
    userAuth: { algorithm: 'HS256', secret: randomBytes(32).toString('base64url') },
  };
}

/** Cross-replica invalidation is asynchronous (a PostgreSQL notification): wait for its effect. */
const REPLICA_WAIT_MS = 10_000;
const eventually = <T>(probe: () => Promise<T>, ok: (v: T) => boolean, what: string) => waitUntil(probe, ok, what, { timeoutMs: REPLICA_WAIT_MS, intervalMs: 10 });

t.test('admin authentication', async (t) => {
  const call = (authorization?: string) => h.app.inject({ method: 'GET', url: '/admin/v1/tenants', headers: authorization ? { authorization } : {} });
  for (const [name, header] of [
    ['no header', undefined], ['a wrong token', `Bearer ${'x'.repeat(32)}`], ['a prefix of the token', `Bearer ${h.adminToken.slice(0, -1)}`],
    ['the token plus a character', `Bearer ${h.adminToken}x`], ['Basic scheme', `Basic ${Buffer.from(`admin:${h.adminToken}`).toString('base64')}`],
    ['the bare token', h.adminToken],
  ] as const) {
    const res = await call(header);
    t.equal(res.statusCode, 401, `${name}: 401`);
    t.equal(res.json().error.code, 'ADMIN_UNAUTHORIZED', `${name}: ADMIN_UNAUTHORIZED`);
    t.match(res.headers['www-authenticate'], /^Bearer /);
  }
  t.equal((await call(`Bearer ${h.adminToken}`)).statusCode, 200);
  const user = await h.onboardTenant();
  t.equal((await call(`Bearer ${user.userToken('alice')}`)).statusCode, 401, "a tenant's caller token is not an admin token");
  const unauthenticatedWrite = await h.app.inject({ method: 'POST', url: '/admin/v1/tenants', payload: await onboardBody() });
  t.equal(unauthenticatedWrite.statusCode, 401, 'checked before the body');

  const hash = (s: string) => createHash('sha256').update(s).digest();
  const tokens = ['first-token-0123456789', 'second-token-0123456789'].map(hash);
  t.equal(matchAdminToken('first-token-0123456789', tokens), 0);
  t.equal(matchAdminToken('second-token-0123456789', tokens), 1);
  t.equal(matchAdminToken('second-token-012345678', tokens), -1);
  t.equal(matchAdminToken('', tokens), -1);
});

t.test('onboard, get, list', async (t) => {
  const body = await onboardBody('acme-chat');
  const res = await h.admin('POST', '/admin/v1/tenants', body);
  t.equal(res.statusCode, 201);
  const view = res.json().data;
  t.match(view, {
    appId: 'acme-chat', status: 'active', groupOwnerIdentity: /^[0-9a-f]{32}$/, serviceCardId: /^[0-9a-f]{64}$/,
    virgil: { appId: body.virgil.appId, appKeyId: body.virgil.appKeyId },
    userAuth: { algorithm: 'HS256', uidClaim: 'sub', clockToleranceSeconds: 0, maxTokenLifetimeSeconds: 86_400 },
    webhooks: { basicAuth: null, signingSecretConfigured: false },
    jwtTtlSeconds: 1200, rateLimits: null, configVersion: 1, disabledAt: null,
  });
  t.ok(Date.parse(view.createdAt) > 0);
  t.notOk(JSON.stringify(view).includes(body.virgil.appKey), 'no APP_KEY');
  t.notOk(JSON.stringify(view).includes(body.userAuth.secret), 'no caller secret');

  const again = await h.admin('POST', '/admin/v1/tenants', body);
  t.equal(again.statusCode, 409);
  t.equal(again.json().error.code, 'TENANT_EXISTS');

  const got = await h.admin('GET', '/admin/v1/tenants/acme-chat');
  t.equal(got.statusCode, 200);
  t.same(got.json().data, view);
  const missing = await h.admin('GET', '/admin/v1/tenants/no-such-app');
  t.equal(missing.statusCode, 404);
  t.equal(missing.json().error.code, 'TENANT_NOT_FOUND');
  const badId = await h.admin('GET', `/admin/v1/tenants/${encodeURIComponent('bad id!')}`);
  t.equal(badId.statusCode, 400);
  t.equal(badId.json().error.code, 'VALIDATION_FAILED');

  for (let i = 0; i < 3; i++) await h.onboardTenant({ appId: `list-${i}` });
  const all = (await snapshot()).map((r) => r.app_id);
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await h.admin('GET', `/admin/v1/tenants?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
    t.equal(page.statusCode, 200);
    const data = page.json().data;
    t.ok(data.items.length <= 2);
    seen.push(...data.items.map((v: { appId: string }) => v.appId));
    cursor = data.nextCursor;
    pages++;
  } while (cursor && pages < 20);
  t.same(seen, all, 'pages cover every tenant once, in appId order');
  const defaults = await h.admin('GET', '/admin/v1/tenants');
  t.equal(defaults.json().data.items.length, all.length, 'default page size covers a small list');
  t.equal(defaults.json().data.nextCursor, null);
  for (const query of ['limit=0', 'limit=101', 'limit=abc', 'limit=-1', 'limit=1.5', 'cursor=bad%20id', 'page=2']) {
    const bad = await h.admin('GET', `/admin/v1/tenants?${query}`);
    t.equal(bad.statusCode, 400, `?${query}: 400`);
    t.equal(bad.json().error.code, 'VALIDATION_FAILED');
  }
});

t.test('refused admin calls change nothing', async (t) => {
  const existing = await h.onboardTenant();
  const before = await snapshot();
  const valid = await onboardBody();
  const cases: Array<[string, unknown, number, string, Record<string, string>?]> = [
    ['an unknown top-level field', { ...valid, plan: 'gold' }, 400, 'VALIDATION_FAILED'],
    ['an unknown nested field', { ...valid, userAuth: { ...valid.userAuth, kid: 'x' } }, 400, 'VALIDATION_FAILED'],
    ['an unknown virgil field', { ...valid, virgil: { ...valid.virgil, region: 'eu' } }, 400, 'VALIDATION_FAILED'],
    ['a missing virgil block', { appId: valid.appId, userAuth: valid.userAuth }, 400, 'VALIDATION_FAILED'],
    ['a number as appId', { ...valid, appId: 42 }, 400, 'VALIDATION_FAILED'],
    ['an appId with a slash', { ...valid, appId: 'a/b' }, 400, 'VALIDATION_FAILED'],
    ['a string TTL', { ...valid, jwtTtlSeconds: '1200' }, 400, 'VALIDATION_FAILED'],
    ['a TTL too short', { ...valid, jwtTtlSeconds: 10 }, 400, 'VALIDATION_FAILED'],
    ['an unknown algorithm', { ...valid, userAuth: { algorithm: 'none', secret: valid.userAuth.secret } }, 400, 'VALIDATION_FAILED'],
    ['a short caller secret', { ...valid, userAuth: { algorithm: 'HS256', secret: 'short' } }, 400, 'VALIDATION_FAILED'],
    ['a token lifetime limit under a minute', { ...valid, userAuth: { ...valid.userAuth, maxTokenLifetimeSeconds: 59 } }, 400, 'VALIDATION_FAILED'],
    ['a token lifetime limit over 30 days', { ...valid, userAuth: { ...valid.userAuth, maxTokenLifetimeSeconds: 2_592_001 } }, 400, 'VALIDATION_FAILED'],
    ['an unbounded token lifetime limit', { ...valid, userAuth: { ...valid.userAuth, maxTokenLifetimeSeconds: 1e308 } }, 400, 'VALIDATION_FAILED'],
    ['a fractional token lifetime limit', { ...valid, userAuth: { ...valid.userAuth, maxTokenLifetimeSeconds: 600.5 } }, 400, 'VALIDATION_FAILED'],
    ['a string token lifetime limit', { ...valid, userAuth: { ...valid.userAuth, maxTokenLifetimeSeconds: '600' } }, 400, 'VALIDATION_FAILED'],
    ['an APP_KEY that is not base64', { ...valid, virgil: { ...valid.virgil, appKey: 'not base64!' } }, 400, 'VALIDATION_FAILED'],
    ['an APP_KEY that is not a key', { ...valid, virgil: { ...valid.virgil, appKey: Buffer.from(randomBytes(48)).toString('base64') } }, 422, 'INVALID_APP_KEY'],
    ['an RSA tenant without a public key', { ...valid, userAuth: { algorithm: 'RS256', secret: valid.userAuth.secret } }, 422, 'INVALID_USER_AUTH_KEY'],
    ['a bad signing secret', { ...valid, webhooks: { signingSecret: `whsec_${randomBytes(18).toString('base64')}` } }, 422, 'INVALID_SIGNING_SECRET'],
    ['an existing appId', { ...valid, appId: existing.appId }, 409, 'TENANT_EXISTS'],
    ['malformed JSON', '{"appId": "x",', 400, 'MALFORMED_JSON', { 'content-type': 'application/json' }],
    ['an empty JSON body', '', 400, 'MALFORMED_JSON', { 'content-type': 'application/json' }],
    ['a form body', 'appId=x', 415, 'UNSUPPORTED_MEDIA_TYPE', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['an array body', [valid], 400, 'VALIDATION_FAILED'],
    ['a body over the limit', { ...valid, padding: 'x'.repeat(300 * 1024) }, 413, 'PAYLOAD_TOO_LARGE'],
  ];
  for (const [name, body, status, code, headers] of cases) {
    const res = await h.app.inject({
      method: 'POST', url: '/admin/v1/tenants',
      headers: { authorization: `Bearer ${h.adminToken}`, ...(headers ?? { 'content-type': 'application/json' }) },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });
    t.equal(res.statusCode, status, `${name}: ${status}`);
    t.equal(res.json().error?.code, code, `${name}: ${code}`);
  }

  const patches: Array<[string, unknown, number, string]> = [
    ['an empty patch', {}, 400, 'VALIDATION_FAILED'],
    ['an unknown field', { plan: 'gold' }, 400, 'VALIDATION_FAILED'],
    ['an unknown status', { status: 'deleted' }, 400, 'VALIDATION_FAILED'],
    ['a new Virgil appId', { virgil: { appId: 'abcdef' } }, 422, 'VIRGIL_APP_ID_IMMUTABLE'],
    ['an APP_KEY that is not a key', { virgil: { appKeyId: 'ab12', appKey: randomBytes(48).toString('base64') } }, 422, 'INVALID_APP_KEY'],
    ['a key id Virgil does not know', { virgil: { appKeyId: 'ab12' } }, 422, 'VIRGIL_CREDENTIALS_REJECTED'],
    ['a null TTL', { jwtTtlSeconds: null }, 400, 'VALIDATION_FAILED'],
    ['a token lifetime limit over 30 days', { userAuth: { algorithm: 'HS256', secret: existing.userAuthSecret, maxTokenLifetimeSeconds: 2_592_001 } }, 400, 'VALIDATION_FAILED'],
    ['a null token lifetime limit', { userAuth: { algorithm: 'HS256', secret: existing.userAuthSecret, maxTokenLifetimeSeconds: null } }, 400, 'VALIDATION_FAILED'],
  ];
  for (const [name, body, status, code] of patches) {
    const res = await h.admin('PATCH', `/admin/v1/tenants/${existing.appId}`, body);
    t.equal(res.statusCode, status, `PATCH ${name}: ${status}`);
    t.equal(res.json().error?.code, code, `PATCH ${name}: ${code}`);
  }
  const unknown = await h.admin('PATCH', '/admin/v1/tenants/no-such-app', { jwtTtlSeconds: 600 });
  t.equal(unknown.statusCode, 404);
  const deleteUnknown = await h.admin('DELETE', '/admin/v1/tenants/no-such-app');
  t.equal(deleteUnknown.statusCode, 404);

  t.same(await snapshot(), before, 'the tenants table is unchanged');
  t.equal((await virgilJwtCall(h.app, existing.appId, existing.userToken('alice'))).statusCode, 200, 'the tenant still works');
});

async function virgilJwtOf(t: Test, app: TestApp, appId: string, token: string) {
  const res = await virgilJwtCall(app.app, appId, token);
  t.equal(res.statusCode, 200, `virgil-jwt on ${app === h ? 'the first' : 'the second'} app`);
  return res.json().data.virgilToken as string;
}

t.test('APP_KEY rotation applies on the next request, on every replica', async (t) => {
  const tenant = await h.onboardTenant();
  const replica = await startTestApp(t, { shareWith: h });
  const token = tenant.userToken('alice');
  const oldCheck = await virgilTokenChecker(tenant.virgil.appKey, tenant.virgil.appKeyId);
  t.ok(oldCheck(await virgilJwtOf(t, h, tenant.appId, token)).valid, 'old key before rotation');
  t.ok(oldCheck(await virgilJwtOf(t, replica, tenant.appId, token)).valid, 'the replica has cached the tenant');

  const next = generateEd25519KeyPair();
  const nextKeyId = randomBytes(16).toString('hex');
  await h.emulator.registerApp({ appId: tenant.virgil.appId, appKeyId: nextKeyId, appPublicKey: next.publicKey });
  const patched = await h.admin('PATCH', `/admin/v1/tenants/${tenant.appId}`, { virgil: { appKeyId: nextKeyId, appKey: next.privateKey } });
  t.equal(patched.statusCode, 200);
  t.equal(patched.json().data.virgil.appKeyId, nextKeyId);
  t.equal(patched.json().data.configVersion, 2);
  t.notOk(patched.body.includes(next.privateKey), 'the new APP_KEY is not echoed');

  const newCheck = await virgilTokenChecker(next.privateKey, nextKeyId);
  const here = await virgilJwtOf(t, h, tenant.appId, token);
  t.ok(newCheck(here).valid, 'the next request is signed with the new key');
  t.equal(newCheck(here).jwt.header.kid, nextKeyId, 'and names the new key id');
  t.notOk(oldCheck(here).valid, 'the old key no longer verifies it');

  const there = await eventually(() => virgilJwtOf(t, replica, tenant.appId, token), (v) => newCheck(v).valid, 'the replica to sign with the new key');
  t.ok(newCheck(there).valid, 'the replica signs with the new key');
  // No timing budget: the wait gives up long before the replica's cache would expire on its own,
  // so getting here means the invalidation arrived by notification.
  t.ok(replica.ctx.config.tenantCacheTtlSeconds * 1000 > REPLICA_WAIT_MS, 'invalidation reached the replica by notification, not by cache expiry');
});

t.test('PATCH settings, DELETE disables, PATCH status re-enables (on every replica)', async (t) => {
  const tenant = await h.onboardTenant();
  const replica = await startTestApp(t, { shareWith: h });
  const token = tenant.userToken('alice');
  t.equal((await virgilJwtCall(replica.app, tenant.appId, token)).statusCode, 200, 'cached on the replica');

  const ttl = await h.admin('PATCH', `/admin/v1/tenants/${tenant.appId}`, { jwtTtlSeconds: 600, rateLimits: { userPerMinute: 1000 } });
  t.equal(ttl.statusCode, 200);
  t.match(ttl.json().data, { jwtTtlSeconds: 600, rateLimits: { userPerMinute: 1000 } });
  const check = await virgilTokenChecker(tenant.virgil.appKey, tenant.virgil.appKeyId);
  const { jwt } = check(await virgilJwtOf(t, h, tenant.appId, token));
  t.equal(jwt.body.exp - jwt.body.iat, 600, 'the new TTL applies to the next token');

  const deleted = await h.admin('DELETE', `/admin/v1/tenants/${tenant.appId}`);
  t.equal(deleted.statusCode, 200);
  t.match(deleted.json().data, { appId: tenant.appId, status: 'disabled', disabledAt: String });
  const refused = await virgilJwtCall(h.app, tenant.appId, token);
  t.equal(refused.statusCode, 403);
  t.equal(refused.json().error.code, 'TENANT_DISABLED');
  const onReplica = await eventually(() => virgilJwtCall(replica.app, tenant.appId, token), (r) => r.statusCode === 403, 'the replica to refuse the disabled tenant');
  t.equal(onReplica.statusCode, 403, 'disabled on the replica too');
  t.equal(onReplica.json().error.code, 'TENANT_DISABLED');
  t.equal((await h.admin('GET', `/admin/v1/tenants/${tenant.appId}`)).json().data.status, 'disabled', 'still listed');
  t.equal((await h.admin('DELETE', `/admin/v1/tenants/${tenant.appId}`)).statusCode, 200, 'disabling twice is harmless');

  const enabled = await h.admin('PATCH', `/admin/v1/tenants/${tenant.appId}`, { status: 'active' });
  t.equal(enabled.statusCode, 200);
  t.match(enabled.json().data, { status: 'active', disabledAt: null });
  t.equal((await virgilJwtCall(h.app, tenant.appId, token)).statusCode, 200, 'works again');
  const back = await eventually(() => virgilJwtCall(replica.app, tenant.appId, token), (r) => r.statusCode === 200, 'the replica to accept the re-enabled tenant');
  t.equal(back.statusCode, 200, 'on the replica too');
});

t.test('the caller-token lifetime limit: default, PATCH applies at once, rows stored before it existed', async (t) => {
  const tenant = await h.onboardTenant();
  const token = (lifetime: number) => { const iat = nowSeconds(); return signJwt('HS256', tenant.userAuthSecret, { sub: 'alice', iat, exp: iat + lifetime }); };
  const status = async (lifetime: number) => (await virgilJwtCall(h.app, tenant.appId, token(lifetime))).statusCode;
  t.equal((await h.admin('GET', `/admin/v1/tenants/${tenant.appId}`)).json().data.userAuth.maxTokenLifetimeSeconds, 86_400, 'the view shows the default');
  t.equal(await status(86_400), 200, 'a day is accepted by default');
  t.equal(await status(86_401), 401, 'a day and a second is not');

  const patched = await h.admin('PATCH', `/admin/v1/tenants/${tenant.appId}`, { userAuth: { algorithm: 'HS256', secret: tenant.userAuthSecret, maxTokenLifetimeSeconds: 600 } });
  t.equal(patched.statusCode, 200);
  t.equal(patched.json().data.userAuth.maxTokenLifetimeSeconds, 600, 'the view shows the new limit');
  const refused = await virgilJwtCall(h.app, tenant.appId, token(601));
  t.equal(refused.statusCode, 401, 'the next request obeys the new limit');
  t.equal(refused.json().error?.code, 'TOKEN_INVALID');
  t.match(refused.json().error?.message, /more than 600 seconds/);
  t.equal(await status(600), 200, 'exactly the new limit');
  const raised = await h.admin('PATCH', `/admin/v1/tenants/${tenant.appId}`, { userAuth: { algorithm: 'HS256', secret: tenant.userAuthSecret, maxTokenLifetimeSeconds: 2_592_000 } });
  t.equal(raised.json().data.userAuth.maxTokenLifetimeSeconds, 2_592_000);
  t.equal(await status(2_592_000), 200, 'the largest limit');

  await sql`update tenants set user_auth = user_auth - 'maxTokenLifetimeSeconds' where app_id = ${tenant.appId}`.execute(h.ctx.db);
  const legacy = await h.admin('PATCH', `/admin/v1/tenants/${tenant.appId}`, { jwtTtlSeconds: 900 });
  t.equal(legacy.statusCode, 200);
  t.equal(legacy.json().data.userAuth.maxTokenLifetimeSeconds, 86_400, 'a row without the setting shows the default');
  t.equal(await status(86_401), 401, 'and the default applies to it');
  t.equal(await status(86_400), 200);
});

t.test('the admin API is rate limited per token and per address', async (t) => {
  // The app's counters use the real clock (windows on the minute; the window logic itself is unit
  // tested on a fake clock). No waiting for a boundary: the sequence runs on a fresh app and is
  // repeated once if a minute boundary fell inside it; the assertions run on the recorded answers.
  const { value: run } = await sameWindow(async () => {
    const limited = await startTestApp(t, { shareWith: h, env: { RATE_LIMIT_ADMIN_PER_MINUTE: '5' } });
    const call = (authorization?: string) => limited.app.inject({ method: 'GET', url: '/admin/v1/tenants?limit=1', headers: authorization ? { authorization } : {} });
    const allowed: number[] = [];
    for (let i = 0; i < 5; i++) allowed.push((await call(`Bearer ${h.adminToken}`)).statusCode);
    const res = await call(`Bearer ${h.adminToken}`);
    const guesses: number[] = [];
    for (let i = 0; i < 5; i++) guesses.push((await call('Bearer wrong-token-guess-0000')).statusCode);
    const slowed = (await call('Bearer wrong-token-guess-0000')).statusCode;
    return { allowed, res, guesses, slowed };
  });
  for (const status of run.allowed) t.equal(status, 200);
  t.equal(run.res.statusCode, 429);
  t.equal(run.res.json().error.code, 'RATE_LIMITED');
  t.ok(Number(run.res.headers['retry-after']) >= 1, 'with Retry-After');

  for (const status of run.guesses) t.equal(status, 401, 'guesses are refused');
  t.equal(run.slowed, 429, 'then slowed down');
});

/**
 * Caller tokens from identity providers (userAuth type jwks) against a local JWKS server: RS256 and
 * ES256 keys, key rotation, the refetch cooldown for unknown key ids, the provider down (cached keys
 * keep working, new ones are 503), key-pointing headers ignored, and each preset's claim checks.
 * Time is the test's clock (cache age and cooldown), never waited for.
 */
import t, { type Test } from 'tap';
import { startTestApp } from '../helpers/app.js';
import { signingKey, signToken, startJwksServer, type SigningKey } from '../helpers/jwks-server.js';

let clock = Date.now();
const seconds = () => Math.floor(clock / 1000);
const h = await startTestApp(t, { now: () => clock });
const jwks = await startJwksServer(t);
const elsewhere = await startJwksServer(t);

const rsa1 = await signingKey('rsa-1', 'RS256');
const ec1 = await signingKey('ec-1', 'ES256');
const rsa2 = await signingKey('rsa-2', 'RS256');
const attacker = await signingKey('rsa-1', 'RS256'); // the kid of a real key, another key pair
const ISSUER = 'https://id.acme.test';

async function jwksTenant(name: string, userAuth: Record<string, unknown>, keys: SigningKey[]) {
  jwks.sets.set(name, keys);
  return h.onboardTenant({ body: { userAuth: { type: 'jwks', jwksUrl: jwks.at(name), ...userAuth } } });
}

function claims(extra: Record<string, unknown> = {}) {
  return { sub: 'alice', iss: ISSUER, aud: 'chat', iat: seconds(), exp: seconds() + 600, ...extra };
}

async function call(appId: string, token: string) {
  return h.app.inject({ method: 'GET', url: '/v1/virgil-jwt', headers: { appid: appId, authorization: `Bearer ${token}` } });
}

async function expectOk(t: Test, appId: string, token: string, what: string, uid = 'alice') {
  const res = await call(appId, token);
  t.equal(res.statusCode, 200, `${what}: 200 ${res.statusCode === 200 ? '' : res.body}`);
  if (res.statusCode === 200) t.equal(res.json().data.identity, (await h.ctx.tenants.get(appId))!.userIdentity(uid), `${what}: the identity of ${uid}`);
}

async function expectRefused(t: Test, appId: string, token: string, status: number, code: string, what: string) {
  const res = await call(appId, token);
  t.equal(res.statusCode, status, `${what}: ${status}`);
  t.equal(res.json().error?.code, code, `${what}: ${code}`);
  return res;
}

const generic = await jwksTenant('generic', { issuer: ISSUER, audience: 'chat', algorithms: ['RS256', 'ES256'] }, [rsa1, ec1]);
const hits = () => jwks.hits.get('generic') ?? 0;

t.test('RS256 and ES256 tokens verify against the provider\'s keys; everything else is refused', async (t) => {
  await expectOk(t, generic.appId, await signToken(rsa1, claims()), 'RS256');
  await expectOk(t, generic.appId, await signToken(ec1, claims({ sub: 'bob' })), 'ES256', 'bob');
  t.equal(hits(), 1, 'one fetch serves both');

  await expectRefused(t, generic.appId, await signToken(rsa1, claims({ iss: 'https://evil.test' })), 401, 'TOKEN_INVALID', 'another issuer');
  await expectRefused(t, generic.appId, await signToken(rsa1, claims({ aud: 'admin' })), 401, 'TOKEN_INVALID', 'another audience');
  await expectRefused(t, generic.appId, await signToken(rsa1, claims({ exp: seconds() - 10 })), 401, 'TOKEN_EXPIRED', 'expired');
  await expectRefused(t, generic.appId, await signToken(rsa1, claims({ exp: seconds() + 90 * 86_400 })), 401, 'TOKEN_INVALID', 'longer than the lifetime limit');
  await expectRefused(t, generic.appId, await signToken(rsa1, claims({ exp: undefined })), 401, 'TOKEN_INVALID', 'no exp');
  await expectRefused(t, generic.appId, await signToken(rsa1, claims({ sub: 'a b' })), 401, 'TOKEN_INVALID', 'a uid breaking the id rule');
  await expectRefused(t, generic.appId, await signToken(attacker, claims()), 401, 'TOKEN_INVALID', 'a known kid signed by another key');
  const hs = `${Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'rsa-1' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.c2ln`;
  await expectRefused(t, generic.appId, hs, 401, 'TOKEN_INVALID', 'HS256 (never allowed with a JWKS)');
  const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`;
  await expectRefused(t, generic.appId, none, 401, 'TOKEN_INVALID', 'alg none');
  const missing = await h.app.inject({ method: 'GET', url: '/v1/virgil-jwt', headers: { appid: generic.appId } });
  t.equal(missing.json().error.code, 'TOKEN_MISSING');
  t.equal(hits(), 1, 'no refused token caused a fetch');
});

t.test('headers pointing at other keys (jku, x5u, jwk) are ignored', async (t) => {
  elsewhere.sets.set('evil', [attacker]);
  const evilKey = { ...attacker.jwk };
  for (const header of [{ jku: elsewhere.at('evil') }, { x5u: elsewhere.at('evil') }, { jwk: evilKey }, { jku: elsewhere.at('evil'), jwk: evilKey, kid: 'evil-kid' }]) {
    await expectRefused(t, generic.appId, await signToken(attacker, claims(), header), 401, 'TOKEN_INVALID', `attacker key with ${Object.keys(header).join('+')}`);
  }
  t.equal(elsewhere.hits.get('evil') ?? 0, 0, 'the URL in the token was never fetched');
});

t.test('key rotation: a new kid is picked up, the old one works until the provider drops it', async (t) => {
  jwks.sets.set('generic', [rsa1, ec1, rsa2]);
  const before = hits();
  clock += 31_000; // past the refetch cooldown
  await expectOk(t, generic.appId, await signToken(rsa2, claims()), 'the new key');
  t.equal(hits(), before + 1, 'fetched once for the unknown kid');
  await expectOk(t, generic.appId, await signToken(rsa1, claims()), 'the old key still works');

  jwks.sets.set('generic', [ec1, rsa2]);
  await expectOk(t, generic.appId, await signToken(rsa1, claims()), 'the removed key works from the cache until it is refreshed');
  clock += 601_000; // the cached set is now older than its maximum age
  await expectRefused(t, generic.appId, await signToken(rsa1, claims()), 401, 'TOKEN_INVALID', 'after the refresh the removed key is refused');
  t.equal(hits(), before + 2, 'refreshed once');
  await expectOk(t, generic.appId, await signToken(rsa2, claims()), 'the current key still works');
});

t.test('unknown kids refetch at most once per cooldown', async (t) => {
  clock += 31_000;
  // EC keys: unknown kids cost the same to the service, and far less to make here than RSA keys.
  const bogus = await signingKey('made-up', 'ES256');
  const before = hits();
  await expectRefused(t, generic.appId, await signToken(bogus, claims()), 401, 'TOKEN_INVALID', 'an unknown kid');
  t.equal(hits(), before + 1, 'one refetch');
  for (let i = 0; i < 5; i++) await expectRefused(t, generic.appId, await signToken(await signingKey(`made-up-${i}`, 'ES256'), claims()), 401, 'TOKEN_INVALID', `unknown kid ${i}`);
  t.equal(hits(), before + 1, 'no refetch within the cooldown');
  clock += 31_000;
  await expectRefused(t, generic.appId, await signToken(bogus, claims()), 401, 'TOKEN_INVALID', 'an unknown kid after the cooldown');
  t.equal(hits(), before + 2, 'one more refetch');
});

t.test('the provider down: cached keys keep working, new keys are 503, nothing hammers it', async (t) => {
  jwks.down = true;
  const before = hits();
  clock += 700_000; // the cache is past its age: a refresh is tried and fails
  await expectOk(t, generic.appId, await signToken(rsa2, claims()), 'a cached key (stale)');
  t.equal(hits(), before + 1, 'the refresh was tried once');
  await expectOk(t, generic.appId, await signToken(ec1, claims()), 'another cached key');
  t.equal(hits(), before + 1, 'and not again within the cooldown');
  const fresh = await signingKey('ec-3', 'ES256');
  const res = await expectRefused(t, generic.appId, await signToken(fresh, claims()), 503, 'JWKS_UNAVAILABLE', 'a key the cache does not hold');
  t.equal(res.headers['retry-after'], '5');
  t.equal(hits(), before + 1, 'no fetch for it within the cooldown of the failure');
  clock += 31_000;
  await expectRefused(t, generic.appId, await signToken(fresh, claims()), 503, 'JWKS_UNAVAILABLE', 'after the cooldown: tried and failed again');
  t.equal(hits(), before + 2);

  const never = await jwksTenant('never-fetched', { issuer: ISSUER, algorithms: ['RS256'] }, [rsa1]);
  await expectRefused(t, never.appId, await signToken(rsa1, claims()), 503, 'JWKS_UNAVAILABLE', 'a tenant whose keys were never fetched');

  jwks.down = false;
  jwks.sets.set('generic', [ec1, rsa2, fresh]);
  clock += 31_000;
  await expectOk(t, generic.appId, await signToken(fresh, claims()), 'back up: the new key is fetched');
});

t.test('a changed JWKS URL takes a new key set', async (t) => {
  const tenant = await jwksTenant('before-change', { issuer: ISSUER, algorithms: ['RS256'] }, [rsa1]);
  await expectOk(t, tenant.appId, await signToken(rsa1, claims()), 'first URL');
  jwks.sets.set('after-change', [rsa2]);
  const res = await h.admin('PATCH', `/admin/v1/tenants/${tenant.appId}`, { userAuth: { type: 'jwks', jwksUrl: jwks.at('after-change'), issuer: ISSUER, algorithms: ['RS256'] } });
  t.equal(res.statusCode, 200);
  t.match(res.json().data.userAuth, { type: 'jwks', jwksUrl: jwks.at('after-change'), issuer: ISSUER, algorithms: ['RS256'], uidClaim: 'sub' });
  await expectOk(t, tenant.appId, await signToken(rsa2, claims()), 'the new URL\'s key');
  await expectRefused(t, tenant.appId, await signToken(rsa1, claims()), 401, 'TOKEN_INVALID', 'the old URL\'s key');
  t.equal(jwks.hits.get('after-change'), 1);
});

t.test('presets: the values an operator fills in, and each provider\'s claim checks', async (t) => {
  const now = seconds();
  const base = { iat: now, exp: now + 600 };

  const firebase = await jwksTenant('firebase', { preset: 'firebase', projectId: 'acme-chat' }, [rsa1]);
  const view = (await h.admin('GET', `/admin/v1/tenants/${firebase.appId}`)).json().data.userAuth;
  t.match(view, { type: 'jwks', preset: 'firebase', issuer: 'https://securetoken.google.com/acme-chat', audience: 'acme-chat', algorithms: ['RS256'] }, 'firebase: iss, aud and algorithm from the project id');
  const fb = { ...base, iss: 'https://securetoken.google.com/acme-chat', aud: 'acme-chat', sub: 'alice', auth_time: now - 60 };
  await expectOk(t, firebase.appId, await signToken(rsa1, fb), 'firebase');
  await expectRefused(t, firebase.appId, await signToken(rsa1, { ...fb, auth_time: undefined }), 401, 'TOKEN_INVALID', 'firebase without auth_time');
  await expectRefused(t, firebase.appId, await signToken(rsa1, { ...fb, auth_time: now + 3600 }), 401, 'TOKEN_INVALID', 'firebase auth_time in the future');
  await expectRefused(t, firebase.appId, await signToken(rsa1, { ...fb, aud: 'other-project' }), 401, 'TOKEN_INVALID', 'firebase token of another project');

  const auth0 = await jwksTenant('auth0', { preset: 'auth0', domain: 'acme.eu.auth0.com', audience: 'https://api.acme.test' }, [rsa1]);
  const a0 = { ...base, iss: 'https://acme.eu.auth0.com/', aud: ['https://api.acme.test', 'https://acme.eu.auth0.com/userinfo'], sub: 'auth0|alice' };
  await expectOk(t, auth0.appId, await signToken(rsa1, a0), 'auth0 (aud as a list)', 'auth0|alice');
  await expectRefused(t, auth0.appId, await signToken(rsa1, { ...a0, iss: 'https://acme.eu.auth0.com' }), 401, 'TOKEN_INVALID', 'auth0 issuer without the trailing slash');

  const clerk = await jwksTenant('clerk', { preset: 'clerk', frontendApi: 'clerk.acme.test', authorizedParties: ['https://app.acme.test'] }, [rsa1]);
  const ck = { ...base, iss: 'https://clerk.acme.test', sub: 'user_2abc' };
  await expectOk(t, clerk.appId, await signToken(rsa1, { ...ck, azp: 'https://app.acme.test' }), 'clerk from an authorized origin', 'user_2abc');
  await expectOk(t, clerk.appId, await signToken(rsa1, ck), 'clerk without azp (minted outside a browser)', 'user_2abc');
  await expectRefused(t, clerk.appId, await signToken(rsa1, { ...ck, azp: 'https://evil.test' }), 401, 'TOKEN_INVALID', 'clerk from another origin');

  const supabase = await jwksTenant('supabase', { preset: 'supabase', projectRef: 'abcdefgh' }, [ec1]);
  const sb = { ...base, iss: 'https://abcdefgh.supabase.co/auth/v1', aud: 'authenticated', sub: '8f2c7a1e-0000-4000-8000-000000000001', role: 'authenticated' };
  await expectOk(t, supabase.appId, await signToken(ec1, sb), 'supabase (ES256)', sb.sub);
  await expectRefused(t, supabase.appId, await signToken(ec1, { ...sb, aud: 'anon' }), 401, 'TOKEN_INVALID', 'supabase anon token');

  const pool = 'eu-west-1_AbC123';
  const cognitoIss = `https://cognito-idp.eu-west-1.amazonaws.com/${pool}`;
  const cognitoId = await jwksTenant('cognito-id', { preset: 'cognito', region: 'eu-west-1', userPoolId: pool, clientId: 'client123' }, [rsa1]);
  const cg = { ...base, iss: cognitoIss, sub: 'alice' };
  await expectOk(t, cognitoId.appId, await signToken(rsa1, { ...cg, aud: 'client123', token_use: 'id' }), 'cognito id token');
  await expectRefused(t, cognitoId.appId, await signToken(rsa1, { ...cg, aud: 'client123', token_use: 'access' }), 401, 'TOKEN_INVALID', 'cognito: an access token where id tokens are expected');
  const cognitoAccess = await jwksTenant('cognito-access', { preset: 'cognito', region: 'eu-west-1', userPoolId: pool, clientId: 'client123', tokenUse: 'access' }, [rsa1]);
  await expectOk(t, cognitoAccess.appId, await signToken(rsa1, { ...cg, client_id: 'client123', token_use: 'access' }), 'cognito access token (no aud)');
  await expectRefused(t, cognitoAccess.appId, await signToken(rsa1, { ...cg, client_id: 'other', token_use: 'access' }), 401, 'TOKEN_INVALID', 'cognito access token of another client');
  await expectRefused(t, cognitoAccess.appId, await signToken(rsa1, { ...cg, aud: 'client123', token_use: 'id' }), 401, 'TOKEN_INVALID', 'cognito: an id token where access tokens are expected');
});

t.test('bad jwks settings are refused at onboarding', async (t) => {
  const cases: Array<[string, Record<string, unknown>, number, string]> = [
    ['no URL, issuer or algorithms', { type: 'jwks' }, 422, 'INVALID_USER_AUTH_PRESET'],
    ['plain http to a remote host', { type: 'jwks', jwksUrl: 'http://id.acme.test/jwks.json', issuer: ISSUER, algorithms: ['RS256'] }, 422, 'INVALID_JWKS_URL'],
    ['credentials in the URL', { type: 'jwks', jwksUrl: 'https://u:p@id.acme.test/jwks.json', issuer: ISSUER, algorithms: ['RS256'] }, 422, 'INVALID_JWKS_URL'],
    ['an HMAC algorithm', { type: 'jwks', jwksUrl: 'https://id.acme.test/jwks.json', issuer: ISSUER, algorithms: ['HS256'] }, 400, 'VALIDATION_FAILED'],
    ['firebase without a project', { type: 'jwks', preset: 'firebase' }, 422, 'INVALID_USER_AUTH_PRESET'],
    ['auth0 without an audience', { type: 'jwks', preset: 'auth0', domain: 'acme.auth0.com' }, 422, 'INVALID_USER_AUTH_PRESET'],
    ['clerk without authorized parties', { type: 'jwks', preset: 'clerk', frontendApi: 'clerk.acme.test' }, 422, 'INVALID_USER_AUTH_PRESET'],
    ['an unknown preset', { type: 'jwks', preset: 'okta' }, 400, 'VALIDATION_FAILED'],
    ['a secret with jwks', { type: 'jwks', preset: 'firebase', projectId: 'p', secret: 'x'.repeat(40) }, 400, 'VALIDATION_FAILED'],
  ];
  const virgil = await h.emulator.createApp();
  for (const [what, userAuth, status, code] of cases) {
    const res = await h.admin('POST', '/admin/v1/tenants', { appId: `bad-${Math.random().toString(36).slice(2, 8)}`, virgil, userAuth });
    t.equal(res.statusCode, status, `${what}: ${status}`);
    t.equal(res.json().error?.code, code, `${what}: ${code}`);
  }
});

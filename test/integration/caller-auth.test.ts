/**
 * Who may call the extension API: the tenant is resolved from the appId header first, then the
 * caller's JWT is verified with that tenant's key, pinned algorithm, required exp and optional
 * pinned iss/aud, and a lifetime bounded by the tenant's limit. Every refusal is a 4xx with a
 * stable code.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { callerTokenVerifierFor } from '../../src/auth/caller-token.js';
import { startTestApp } from '../helpers/app.js';
import { nowSeconds, signJwt, virgilJwtCall } from '../helpers/extension-client.js';
import { unsignedToken } from '../helpers/tokens.js';

const h = await startTestApp(t);
const hs = await h.onboardTenant();
const hsOther = await h.onboardTenant();

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPem = rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString();
const rs = await h.onboardTenant({ body: { userAuth: { algorithm: 'RS256', publicKey: rsaPem } } });
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const es = await h.onboardTenant({ body: { userAuth: { algorithm: 'ES256', publicKey: ec.publicKey.export({ format: 'pem', type: 'spki' }).toString() } } });
const ed = generateKeyPairSync('ed25519');
const eddsa = await h.onboardTenant({ body: { userAuth: { algorithm: 'EdDSA', publicKey: ed.publicKey.export({ format: 'pem', type: 'spki' }).toString() } } });
const pinnedSecret = randomBytes(32).toString('hex');
const pinned = await h.onboardTenant({
  body: { userAuth: { algorithm: 'HS512', secret: pinnedSecret, issuer: 'https://auth.acme.test', audience: 'chat', uidClaim: 'user_id', clockToleranceSeconds: 30 } },
});

const claims = (extra: Record<string, unknown> = {}) => ({ sub: 'alice', iat: nowSeconds(), exp: nowSeconds() + 600, ...extra });

async function expectRefused(t: Test, appId: string, token: string | undefined, code: string, name: string, status = 401) {
  const res = await virgilJwtCall(h.app, appId, token);
  t.equal(res.statusCode, status, `${name}: ${status}`);
  t.equal(res.json().error?.code, code, `${name}: ${code}`);
  t.notOk(res.json().data, `${name}: no data`);
  return res;
}

async function expectAccepted(t: Test, appId: string, token: string, name: string) {
  const res = await virgilJwtCall(h.app, appId, token);
  t.equal(res.statusCode, 200, `${name}: accepted`);
  return res;
}

t.test('the tenant comes first: missing, malformed, unknown and disabled app ids', async (t) => {
  await expectRefused(t, undefined as unknown as string, hs.userToken('alice'), 'APP_ID_MISSING', 'no appId header', 400);
  await expectRefused(t, '', hs.userToken('alice'), 'APP_ID_MISSING', 'empty appId', 400);
  await expectRefused(t, '../etc', hs.userToken('alice'), 'APP_ID_INVALID', 'malformed appId', 400);
  await expectRefused(t, 'x'.repeat(65), hs.userToken('alice'), 'APP_ID_INVALID', 'a 65-character appId', 400);
  await expectRefused(t, 'no-such-app', hs.userToken('alice'), 'TENANT_NOT_FOUND', 'unknown appId', 404);
  await expectRefused(t, 'no-such-app', undefined, 'TENANT_NOT_FOUND', 'unknown appId without a token', 404);
  const upper = await virgilJwtCall(h.app, undefined, hs.userToken('alice'));
  t.equal(upper.statusCode, 400);
  const caseless = await h.app.inject({ method: 'GET', url: '/v1/virgil-jwt', headers: { AppId: hs.appId, Authorization: `Bearer ${hs.userToken('alice')}` } });
  t.equal(caseless.statusCode, 200, 'header names are case-insensitive (CometChat sends "appId")');

  const doomed = await h.onboardTenant();
  await expectAccepted(t, doomed.appId, doomed.userToken('alice'), 'before disabling');
  const disabled = await h.admin('DELETE', `/admin/v1/tenants/${doomed.appId}`);
  t.equal(disabled.statusCode, 200);
  await expectRefused(t, doomed.appId, doomed.userToken('alice'), 'TENANT_DISABLED', 'disabled tenant', 403);
  await expectRefused(t, doomed.appId, undefined, 'TENANT_DISABLED', 'disabled tenant without a token', 403);
  const ids = await h.app.inject({
    method: 'POST', url: '/v1/get-identities', headers: { appid: doomed.appId, authorization: `Bearer ${doomed.userToken('alice')}`, 'content-type': 'application/json' },
    payload: { uids: ['a'] },
  });
  t.equal(ids.statusCode, 403, 'get-identities too');
});

t.test('missing or malformed Authorization', async (t) => {
  const missing = await expectRefused(t, hs.appId, undefined, 'TOKEN_MISSING', 'no Authorization');
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="e2ee-extension"', 'an RFC 6750 challenge');
  for (const [name, value] of [['Basic', 'Basic YWxpY2U6cHc='], ['empty Bearer', 'Bearer '], ['scheme only', 'Bearer'], ['token only', hs.userToken('alice')]]) {
    const res = await h.app.inject({ method: 'GET', url: '/v1/virgil-jwt', headers: { appid: hs.appId, authorization: value } });
    t.equal(res.statusCode, 401, `${name}: 401`);
    t.equal(res.json().error.code, 'TOKEN_MISSING', `${name}: TOKEN_MISSING`);
  }
  const lower = await h.app.inject({ method: 'GET', url: '/v1/virgil-jwt', headers: { appid: hs.appId, authorization: `bearer ${hs.userToken('alice')}` } });
  t.equal(lower.statusCode, 200, 'the scheme name is case-insensitive');
  const cometchatHeaders = await h.app.inject({
    method: 'GET', url: '/v1/virgil-jwt',
    headers: { appid: hs.appId, authtoken: 'cometchat-auth-token', resource: 'WEB', sdk: 'javascript@4', chatapiversion: 'v3.0', authorization: `Bearer ${hs.userToken('alice')}` },
  });
  t.equal(cometchatHeaders.statusCode, 200, "CometChat's own headers are accepted and ignored");
});

t.test('HS256 tokens: forged, expired, unsigned and foreign tokens are refused', async (t) => {
  await expectAccepted(t, hs.appId, hs.userToken('alice'), 'a valid token');
  const invalid = await expectRefused(t, hs.appId, hsOther.userToken('alice'), 'TOKEN_INVALID', "another tenant's token");
  t.equal(invalid.headers['www-authenticate'], 'Bearer realm="e2ee-extension", error="invalid_token"');
  await expectRefused(t, hsOther.appId, hs.userToken('alice'), 'TOKEN_INVALID', 'and the other way round');
  const expired = await expectRefused(t, hs.appId, hs.userToken('alice', {}, -10), 'TOKEN_EXPIRED', 'expired 10 s ago');
  t.match(expired.headers['www-authenticate'], /error="invalid_token", error_description="The token has expired"/);
  await expectRefused(t, hs.appId, signJwt('HS256', hs.userAuthSecret, { sub: 'alice', iat: nowSeconds() }), 'TOKEN_INVALID', 'no exp');
  await expectRefused(t, hs.appId, signJwt('HS256', hs.userAuthSecret, claims({ exp: String(nowSeconds() + 600) })), 'TOKEN_INVALID', 'exp as a string');
  await expectRefused(t, hs.appId, signJwt('HS256', hs.userAuthSecret, claims({ nbf: nowSeconds() + 300 })), 'TOKEN_INVALID', 'not valid before a future time');
  await expectRefused(t, hs.appId, unsignedToken(claims()), 'TOKEN_INVALID', 'alg none');
  const noneWithSignature = `${unsignedToken(claims())}${hs.userToken('alice').split('.')[2]}`;
  await expectRefused(t, hs.appId, noneWithSignature, 'TOKEN_INVALID', 'alg none with a signature');
  const noneUpper = signJwt('HS256', hs.userAuthSecret, claims(), { alg: 'NONE' });
  await expectRefused(t, hs.appId, noneUpper, 'TOKEN_INVALID', 'alg NONE');
  await expectRefused(t, hs.appId, signJwt('HS512', hs.userAuthSecret, claims()), 'TOKEN_INVALID', 'right secret, wrong algorithm (HS512)');
  await expectRefused(t, hs.appId, signJwt('RS256', rsa.privateKey, claims()), 'TOKEN_INVALID', 'RS256 token at an HS256 tenant');

  const [head, body, sig] = hs.userToken('alice').split('.');
  const mallory = Buffer.from(JSON.stringify(claims({ sub: 'mallory' }))).toString('base64url');
  await expectRefused(t, hs.appId, `${head}.${mallory}.${sig}`, 'TOKEN_INVALID', 'tampered claims');
  const flipped = Buffer.from(sig, 'base64url');
  flipped[0] ^= 1;
  await expectRefused(t, hs.appId, `${head}.${body}.${flipped.toString('base64url')}`, 'TOKEN_INVALID', 'tampered signature');
  await expectRefused(t, hs.appId, `${head}.${body}`, 'TOKEN_INVALID', 'two segments');
  await expectRefused(t, hs.appId, 'not-a-jwt', 'TOKEN_INVALID', 'garbage');
  await expectRefused(t, hs.appId, `${head}.${body}.${sig}.${sig}`, 'TOKEN_INVALID', 'four segments');
  await expectRefused(t, hs.appId, `${head}.${'A'.repeat(9000)}.${sig}`, 'TOKEN_INVALID', 'a 9 KB token');
  await expectRefused(t, hs.appId, `${Buffer.from('{"alg":').toString('base64url')}.${body}.${sig}`, 'TOKEN_INVALID', 'a header that is not JSON');
});

t.test('the uid claim must be a usable id', async (t) => {
  const sign = (sub: unknown) => signJwt('HS256', hs.userAuthSecret, claims({ sub }));
  for (const [name, sub] of [['empty', ''], ['an invisible joiner', 'zo\u200de'], ['with a space', 'a b'], ['a control character', 'a\u0007b'], ['256 characters', 'x'.repeat(256)], ['a number', 42], ['an array', ['alice']], ['null', null]] as const) {
    const res = await expectRefused(t, hs.appId, sign(sub), 'TOKEN_INVALID', `sub ${name}`);
    t.match(res.json().error.message, /"sub" claim/);
  }
  await expectRefused(t, hs.appId, signJwt('HS256', hs.userAuthSecret, { iat: nowSeconds(), exp: nowSeconds() + 60 }), 'TOKEN_INVALID', 'no sub');
  // The id rule of every entry point (src/lib/ids.ts): names in any script are uids.
  const unicode = await expectAccepted(t, hs.appId, sign('josé'), 'a non-ASCII uid');
  t.match(unicode.json().data.identity, /^[0-9a-f]{32}$/);
  const email = await expectAccepted(t, hs.appId, sign('carol@example.com'), 'an email as uid');
  t.match(email.json().data.identity, /^[0-9a-f]{32}$/);
});

t.test('asymmetric tenants: RS256, ES256 and EdDSA, and no algorithm confusion', async (t) => {
  await expectAccepted(t, rs.appId, signJwt('RS256', rsa.privateKey, claims()), 'RS256');
  await expectAccepted(t, es.appId, signJwt('ES256', ec.privateKey, claims()), 'ES256');
  await expectAccepted(t, eddsa.appId, signJwt('EdDSA', ed.privateKey, claims()), 'EdDSA');

  await expectRefused(t, rs.appId, signJwt('HS256', rsaPem, claims()), 'TOKEN_INVALID', 'HS256 signed with the RSA public key as secret (key confusion)');
  await expectRefused(t, rs.appId, signJwt('HS256', rsa.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'), claims()), 'TOKEN_INVALID', 'HS256 with the DER public key');
  await expectRefused(t, rs.appId, signJwt('HS256', hs.userAuthSecret, claims()), 'TOKEN_INVALID', 'an HS256 token at an RS256 tenant');
  await expectRefused(t, rs.appId, signJwt('RS512', rsa.privateKey, claims()), 'TOKEN_INVALID', 'RS512 at an RS256 tenant');
  await expectRefused(t, rs.appId, signJwt('RS256', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, claims()), 'TOKEN_INVALID', 'another RSA key');
  await expectRefused(t, rs.appId, unsignedToken(claims()), 'TOKEN_INVALID', 'alg none at an RS256 tenant');
  await expectRefused(t, rs.appId, signJwt('RS256', rsa.privateKey, claims({ exp: nowSeconds() - 5 })), 'TOKEN_EXPIRED', 'expired RS256');
  await expectRefused(t, es.appId, signJwt('ES256', generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey, claims()), 'TOKEN_INVALID', 'another EC key');
  await expectRefused(t, es.appId, signJwt('EdDSA', ed.privateKey, claims()), 'TOKEN_INVALID', 'EdDSA at an ES256 tenant');
  await expectRefused(t, eddsa.appId, signJwt('EdDSA', generateKeyPairSync('ed25519').privateKey, claims()), 'TOKEN_INVALID', 'another Ed25519 key');
  await expectRefused(t, eddsa.appId, signJwt('HS256', ed.publicKey.export({ format: 'pem', type: 'spki' }).toString(), claims()), 'TOKEN_INVALID', 'HS256 with the Ed25519 public key as secret');
});

t.test('pinned issuer and audience, a custom uid claim and clock tolerance', async (t) => {
  const good = { iss: 'https://auth.acme.test', aud: 'chat', user_id: 'u-42', iat: nowSeconds(), exp: nowSeconds() + 600 };
  const sign = (c: Record<string, unknown>) => signJwt('HS512', pinnedSecret, c);
  const accepted = await expectAccepted(t, pinned.appId, sign(good), 'all claims right');
  const asSub = await expectAccepted(t, hs.appId, hs.userToken('u-42'), 'the same uid at another tenant');
  t.not(accepted.json().data.identity, asSub.json().data.identity, 'identities are per tenant');
  await expectAccepted(t, pinned.appId, sign({ ...good, aud: ['other', 'chat'] }), 'aud as a list containing the audience');
  await expectAccepted(t, pinned.appId, sign({ ...good, exp: nowSeconds() - 10 }), 'expired 10 s ago, within the 30 s tolerance');
  await expectRefused(t, pinned.appId, sign({ ...good, exp: nowSeconds() - 60 }), 'TOKEN_EXPIRED', 'expired 60 s ago');
  const { iss: _iss, ...noIss } = good;
  await expectRefused(t, pinned.appId, sign(noIss), 'TOKEN_INVALID', 'no iss');
  await expectRefused(t, pinned.appId, sign({ ...good, iss: 'https://evil.test' }), 'TOKEN_INVALID', 'wrong iss');
  const { aud: _aud, ...noAud } = good;
  await expectRefused(t, pinned.appId, sign(noAud), 'TOKEN_INVALID', 'no aud');
  await expectRefused(t, pinned.appId, sign({ ...good, aud: 'admin' }), 'TOKEN_INVALID', 'wrong aud');
  const { user_id: _uid, ...noUid } = good;
  const noClaim = await expectRefused(t, pinned.appId, sign({ ...noUid, sub: 'alice' }), 'TOKEN_INVALID', 'sub but no user_id claim');
  t.match(noClaim.json().error.message, /"user_id" claim/);
  await expectRefused(t, pinned.appId, signJwt('HS256', pinnedSecret, good), 'TOKEN_INVALID', 'HS256 at an HS512 tenant');
});

t.test('token lifetimes are bounded: exp far ahead and iat in the future are refused', async (t) => {
  const challenge = 'Bearer realm="e2ee-extension", error="invalid_token"';
  const refuse = async (appId: string, token: string, name: string, message: RegExp) => {
    const res = await expectRefused(t, appId, token, 'TOKEN_INVALID', name);
    t.equal(res.headers['www-authenticate'], challenge, `${name}: the challenge`);
    t.match(res.json().error?.message, message, `${name}: says why`);
  };
  const sign = (c: Record<string, unknown>) => signJwt('HS256', hs.userAuthSecret, { sub: 'alice', ...c });
  const lives = /lives too long: exp is more than 86400 seconds after iat/;
  const iat = nowSeconds();
  await refuse(hs.appId, sign({ iat, exp: 1e308 }), 'exp = 1e308', lives);
  await refuse(hs.appId, sign({ exp: 1e308 }), 'exp = 1e308 without iat', lives);
  await refuse(hs.appId, sign({ iat, exp: iat + 86_401 }), 'a day and a second after iat', lives);
  await refuse(hs.appId, sign({ nbf: iat - 60, exp: iat - 60 + 86_401 }), 'a day and a second after nbf', lives);
  await refuse(hs.appId, sign({ exp: nowSeconds() + 90_000 }), 'a day and an hour from now', lives);
  await expectAccepted(t, hs.appId, sign({ iat, exp: iat + 86_400 }), 'exactly a day after iat');
  await refuse(hs.appId, sign({ iat: nowSeconds() + 3_600, exp: nowSeconds() + 3_660 }), 'iat an hour ahead', /issued in the future/);
  await refuse(rs.appId, signJwt('RS256', rsa.privateKey, { sub: 'alice', iat, exp: 1e308 }), 'exp = 1e308 at an RS256 tenant', lives);

  // The pinned tenant allows 30 s of clock skew.
  const good = { iss: 'https://auth.acme.test', aud: 'chat', user_id: 'u-42' };
  const pinnedSign = (c: Record<string, unknown>) => signJwt('HS512', pinnedSecret, { ...good, ...c });
  await expectAccepted(t, pinned.appId, pinnedSign({ iat: nowSeconds() + 10, exp: nowSeconds() + 600 }), 'iat 10 s ahead, within the tolerance');
  await refuse(pinned.appId, pinnedSign({ iat: nowSeconds() + 3_600, exp: nowSeconds() + 3_900 }), 'iat an hour ahead, beyond the tolerance', /issued in the future/);
});

t.test('one verifier per tenant version; a new caller secret applies on the next request', async (t) => {
  const runtime = (await h.ctx.tenants.get(hs.appId))!;
  t.equal(callerTokenVerifierFor(runtime), callerTokenVerifierFor(runtime), 'built once, reused');
  const oldToken = hs.userToken('alice');
  await expectAccepted(t, hs.appId, oldToken, 'before the change');
  const newSecret = randomBytes(32).toString('base64url');
  const patched = await h.admin('PATCH', `/admin/v1/tenants/${hs.appId}`, { userAuth: { algorithm: 'HS256', secret: newSecret } });
  t.equal(patched.statusCode, 200);
  await expectRefused(t, hs.appId, oldToken, 'TOKEN_INVALID', 'a token signed with the old secret');
  await expectAccepted(t, hs.appId, signJwt('HS256', newSecret, claims()), 'a token signed with the new secret');
  const next = (await h.ctx.tenants.get(hs.appId))!;
  t.not(next, runtime, 'the tenant runtime was replaced');
  t.not(callerTokenVerifierFor(next), callerTokenVerifierFor(runtime), 'so was its verifier');
});

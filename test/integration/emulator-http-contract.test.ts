/**
 * The emulator's HTTP contract, request by request (Fastify inject): auth codes, bad input (never a
 * 5xx), Keyknox v1/v2 rules, Pythia, and the management API.
 */
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { initPythia, VirgilPythiaCrypto } from '@virgilsecurity/pythia-crypto';
import { buildEmulatorApp } from '../../src/http/emulator/index.js';
import { virgilSign } from '../../src/virgil/jwt.js';
import { generateEd25519KeyPair, importEd25519PrivateKey } from '../../src/virgil/keys.js';
import { mintVirgilJwt, type VirgilAppCredentials } from '../helpers/virgil-clients.js';

let clockOffset = 0;
const { app: server, context } = await buildEmulatorApp({ now: () => Math.floor(Date.now() / 1000) + clockOffset });
t.teardown(() => server.close());
const app = context.apps.create();
const otherApp = context.apps.create();

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
interface Call { method?: Method; url: string; body?: unknown; raw?: string; contentType?: string; headers?: Record<string, string> }

async function call(identity: string | null, { method = 'POST', url, body, raw, contentType, headers = {} }: Call, creds: VirgilAppCredentials = app) {
  const payload = raw ?? (body === undefined ? undefined : JSON.stringify(body));
  const response = await server.inject({
    method,
    url,
    headers: {
      ...(identity === null ? {} : { authorization: `Virgil ${mintVirgilJwt(creds, identity)}` }),
      ...(payload === undefined ? {} : { 'content-type': contentType ?? 'application/json' }),
      ...headers,
    },
    ...(payload === undefined ? {} : { payload }),
  });
  const json = response.body ? JSON.parse(response.body) : undefined;
  return { status: response.statusCode, json, hash: response.headers['virgil-keyknox-hash'] as string | undefined };
}

/** Asserts a Virgil error: status, code, and the `{code, message}` shape the clients need. */
function isError(t: Test, result: { status: number; json: any }, status: number, code: number, what: string) {
  t.equal(result.status, status, `${what}: HTTP ${status}`);
  t.equal(result.json?.code, code, `${what}: code ${code}`);
  t.ok(typeof result.json?.message === 'string' && result.json.message.length > 0, `${what}: message`);
}

function craftedToken(header: object, body: object, key = app.appKey): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode(header)}.${encode(body)}`;
  return `${unsigned}.${virgilSign(unsigned, importEd25519PrivateKey(key)!).toString('base64url')}`;
}

t.test('authentication', async (t) => {
  const search = { url: '/card/v5/actions/search', body: { identities: ['x'] } };
  isError(t, await call(null, search), 401, 20300, 'no header');
  isError(t, await call(null, { ...search, headers: { authorization: 'Bearer abc' } }), 401, 20300, 'other scheme');
  isError(t, await call(null, { ...search, headers: { authorization: 'Virgil a.b' } }), 401, 20301, 'malformed');
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'VEDS512', kid: app.appKeyId, typ: 'JWT', cty: 'virgil-jwt;v=1' };
  const body = { iss: `virgil-${app.appId}`, sub: 'identity-x', iat: now, exp: now + 60 };
  isError(t, await call(null, { ...search, headers: { authorization: `Virgil ${craftedToken({ ...header, alg: 'HS256' }, body)}` } }), 401, 20302, 'wrong alg');
  isError(t, await call(null, { ...search, headers: { authorization: `Virgil ${craftedToken(header, { ...body, sub: 'x' })}` } }), 401, 20302, 'bad sub');
  isError(t, await call(null, { ...search, headers: { authorization: `Virgil ${craftedToken(header, { ...body, iss: `virgil-${otherApp.appId}` })}` } }), 401, 20303, 'key of another app');
  isError(t, await call('x', search, { ...app, appKey: generateEd25519KeyPair().privateKey }), 401, 20303, 'wrong key');

  clockOffset = 600 + 20; // expired 20 s ago: inside the 30 s leeway
  t.equal((await call('x', search)).status, 200, 'clock leeway');
  clockOffset = 600 + 60;
  isError(t, await call('x', search), 401, 20304, 'expired');
  clockOffset = 0;
});

t.test('bad requests get stable 4xx codes', async (t) => {
  isError(t, await call('u', { url: '/card/v5', body: { content_snapshot: 'e30=' } }), 400, 30001, 'missing signatures');
  isError(t, await call('u', { url: '/card/v5', body: { content_snapshot: '!!not base64', signatures: [{ signer: 'self', signature: 'AA==' }] } }), 400, 30002, 'bad base64');
  isError(t, await call('u', { url: '/card/v5', body: { content_snapshot: Buffer.from('nope').toString('base64'), signatures: [{ signer: 'self', signature: 'AA==' }] } }), 400, 30100, 'content not JSON');
  isError(t, await call('u', { url: '/card/v5/actions/search', raw: '{"identities":' }), 400, 30000, 'malformed JSON');
  isError(t, await call('u', { url: '/card/v5/actions/search', raw: 'identities=u', contentType: 'text/plain' }), 415, 30004, 'not JSON');
  isError(t, await call('u', { url: '/card/v5/actions/search', body: { identities: [] } }), 400, 30001, 'empty identities');
  isError(t, await call('u', { url: '/card/v5/actions/search', body: { identities: [7] } }), 400, 30001, 'identities of numbers');
  isError(t, await call('u', { url: '/card/v5/actions/search', body: { identities: ['x'.repeat(1024 * 1024)] } }), 413, 30003, 'oversized body');
  isError(t, await call('u', { method: 'GET', url: '/card/v5/xyz' }), 404, 10001, 'unknown card');
  isError(t, await call('u', { url: '/no/such/route', body: {} }), 404, 10404, 'unknown route');
  t.same((await call('u', { url: '//card/v5/actions/search', body: { identities: ['u'] } })).json, [], 'leading // is normalised');

  // Whatever the body, never a 5xx, always a JSON error body.
  const garbage = [null, 0, 'x', [], {}, { root: 1 }, { identities: 'a' }, { meta: 'AA==', value: '' }, { blinded_password: 5 }];
  const routes = ['/card/v5', '/card/v5/actions/search', '/card/v5/actions/revoke/abc', '/card/v5/actions/outdated', '/keyknox/v2/push', '/keyknox/v2/pull', '/keyknox/v2/keys', '/keyknox/v2/reset', '/pythia/v1/brainkey'];
  let fiveHundreds = 0;
  for (const url of routes) for (const body of garbage) {
    const result = await call('fuzz', { url, body });
    if (result.status >= 500) fiveHundreds += 1;
    if (result.status >= 400 && !(result.json?.code > 0)) t.fail(`${url} ${JSON.stringify(body)} → ${result.status} without a code`);
  }
  isError(t, await call('u', { method: 'PUT', url: '/keyknox/v1', body: { meta: 'AA==', value: '***' } }), 400, 30002, 'bad base64 in keyknox value');
  isError(t, await call('u', { url: '/keyknox/v2/push', raw: '{"__proto__":{"polluted":true},"identities":["a"]}' }), 400, 30000, 'prototype poisoning');
  t.equal(fiveHundreds, 0, 'no 5xx for bad input');
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
});

t.test('keyknox v1', async (t) => {
  const empty = await call('kv1', { method: 'GET', url: '/keyknox/v1' });
  t.same(empty.json, { meta: '', value: '', version: '1.0' });
  t.ok(empty.hash, 'hash header on an empty record');
  const first = await call('kv1', { method: 'PUT', url: '/keyknox/v1', body: { meta: 'AQ==', value: 'Ag==' } });
  t.same(first.json, { meta: 'AQ==', value: 'Ag==', version: '1.0' });
  isError(t, await call('kv1', { method: 'PUT', url: '/keyknox/v1', body: { meta: 'AQ==', value: 'Aw==' } }), 400, 50010, 'no previous hash');
  isError(t, await call('kv1', { method: 'PUT', url: '/keyknox/v1', body: { meta: 'AQ==', value: 'Aw==' }, headers: { 'virgil-keyknox-previous-hash': 'AAAA' } }), 400, 50010, 'wrong previous hash');
  isError(t, await call('kv1', { method: 'PUT', url: '/keyknox/v1', body: { meta: '', value: 'Aw==' }, headers: { 'virgil-keyknox-previous-hash': first.hash! } }), 400, 50022, 'half-empty value');
  const second = await call('kv1', { method: 'PUT', url: '/keyknox/v1', body: { meta: 'AQ==', value: 'Aw==' }, headers: { 'virgil-keyknox-previous-hash': first.hash! } });
  t.equal(second.json.version, '2.0');
  t.not(second.hash, first.hash);
  t.equal((await call('kv1', { method: 'GET', url: '/keyknox/v1' })).hash, second.hash, 'pull returns the current hash');
  t.equal((await call('other-user', { method: 'GET', url: '/keyknox/v1' })).json.value, '', 'records are per identity');
  t.equal((await call('kv1', { method: 'GET', url: '/keyknox/v1' }, otherApp)).json.value, '', 'records are per app');
  const reset = await call('kv1', { url: '/keyknox/v1/reset' });
  t.same(reset.json, { meta: '', value: '', version: '3.0' });
  t.equal((await call('kv1', { method: 'PUT', url: '/keyknox/v1', body: { meta: 'AQ==', value: 'BA==' } })).status, 200, 'a reset record takes any push');
});

t.test('keyknox v2', async (t) => {
  const at = { root: 'group-sessions', path: 'session-1', key: '0' };
  isError(t, await call('owner', { url: '/keyknox/v2/push', body: { ...at, meta: 'AQ==', value: 'AQ==' } }), 400, 50021, 'missing identities');
  isError(t, await call('owner', { url: '/keyknox/v2/push', body: { ...at, identities: [], meta: 'AQ==', value: 'AQ==' } }), 400, 50021, 'empty identities');
  isError(t, await call('owner', { url: '/keyknox/v2/push', body: { path: 'p', key: '0', identities: ['a'], meta: 'AQ==', value: 'AQ==' } }), 400, 50020, 'missing root');

  const created = await call('owner', { url: '/keyknox/v2/push', body: { ...at, identities: ['owner', 'alice', 'alice', 'bob'], meta: 'AQ==', value: 'AQ==' } });
  t.same(created.json, { owner: 'owner', ...at, identities: ['owner', 'alice', 'bob'], meta: 'AQ==', value: 'AQ==' }, 'identities de-duplicated');
  isError(t, await call('owner', { url: '/keyknox/v2/push', body: { ...at, identities: ['owner'], meta: 'AQ==', value: 'AQ==' } }), 400, 50010, 'existing record without previous hash');
  const added = await call('owner', { url: '/keyknox/v2/push', body: { ...at, identities: ['carol'], meta: 'Ag==', value: 'Ag==' }, headers: { 'virgil-keyknox-previous-hash': created.hash! } });
  t.same(added.json.identities, ['owner', 'alice', 'bob', 'carol']);

  const pull = (who: string) => call(who, { url: '/keyknox/v2/pull', body: { ...at, identity: 'owner' } });
  t.equal((await pull('alice')).json.value, 'AQ==', 'alice keeps her own copy');
  t.equal((await pull('carol')).json.value, 'Ag==', 'carol gets the copy pushed for her');
  t.same((await pull('mallory')).json, { owner: 'owner', ...at, identities: [], meta: '', value: '' }, 'non-recipient gets an empty value');
  t.same((await call('mallory', { url: '/keyknox/v2/keys', body: { root: at.root, path: at.path, identity: 'owner' } })).json, []);
  t.same((await call('bob', { url: '/keyknox/v2/keys', body: { root: at.root, path: at.path, identity: 'owner' } })).json, ['0']);

  await call('alice', { url: '/keyknox/v2/reset', body: { root: at.root, path: at.path, identity: 'bob' } });
  t.same((await pull('bob')).json.identities, ['owner', 'alice', 'bob', 'carol'], 'nobody resets another owner’s records');
  const removed = await call('owner', { url: '/keyknox/v2/reset', body: { root: at.root, path: at.path, identity: 'bob' } });
  t.equal(removed.status, 200);
  t.equal((await pull('owner')).hash, added.hash, 'removing a recipient keeps the hash');
  t.same((await call('bob', { url: '/keyknox/v2/keys', body: { root: at.root, path: at.path, identity: 'owner' } })).json, []);
  t.same((await pull('alice')).json.identities, ['owner', 'alice', 'carol']);

  t.equal((await call('owner', { url: '/keyknox/v2/reset', body: { root: at.root, path: at.path } })).status, 200);
  t.same((await call('owner', { url: '/keyknox/v2/keys', body: { root: at.root, path: at.path, identity: 'owner' } })).json, [], 'reset deletes');
  t.equal((await call('owner', { url: '/keyknox/v2/reset', body: { root: 'nothing', path: 'here' } })).status, 200, 'resetting nothing is fine');
});

t.test('pythia brainkey', async (t) => {
  await initPythia();
  const pythia = new VirgilPythiaCrypto();
  const { blindedPassword } = pythia.blind('password');
  const seed = async (identity: string, creds = app) =>
    (await call(identity, { url: '/pythia/v1/brainkey', body: { blinded_password: blindedPassword.toString('base64') } }, creds)).json.seed as string;
  const first = await seed('p1');
  t.equal(Buffer.from(first, 'base64').length, 384, 'a Pythia transformed password');
  t.equal(await seed('p1'), first, 'deterministic per user');
  t.not(await seed('p2'), first, 'tweaked per identity');
  t.not(await seed('p1', otherApp), first, 'tweaked per app');
  isError(t, await call('p1', { url: '/pythia/v1/brainkey', body: {} }), 400, 30001, 'missing blinded_password');
  isError(t, await call('p1', { url: '/pythia/v1/brainkey', body: { blinded_password: '%%%' } }), 400, 30002, 'bad base64');
  isError(t, await call('p1', { url: '/pythia/v1/brainkey', body: { blinded_password: 'AAAA' } }), 400, 60010, 'wrong size');
});

// e3kit-browser calls the Virgil routes from the page's origin; every such request needs a preflight.
t.test('CORS: Virgil routes answer web pages, before authentication and faults', async (t) => {
  const origin = 'https://chat.example';
  const requested = 'authorization,content-type,virgil-agent,virgil-keyknox-previous-hash';
  context.faults.set([{ route: '*', status: 503 }]);
  for (const [method, url] of [['POST', '/card/v5/actions/search'], ['PUT', '/keyknox/v1'], ['POST', '/keyknox/v2/push'], ['POST', '/pythia/v1/brainkey']]) {
    const preflight = await server.inject({ method: 'OPTIONS', url, headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': requested } });
    t.equal(preflight.statusCode, 204, `${url}: preflight answered without a token, despite the fault rule`);
    t.equal(preflight.headers['access-control-allow-origin'], '*');
    t.match(preflight.headers['access-control-allow-methods'], method);
    for (const header of requested.split(',')) t.match(preflight.headers['access-control-allow-headers'], header, `${url}: allows ${header}`);
  }
  const faulted = await server.inject({ method: 'GET', url: '/keyknox/v1', headers: { origin } });
  t.equal(faulted.statusCode, 503, 'the fault still applies to the request itself');
  t.equal(faulted.headers['access-control-allow-origin'], '*', 'and the page can read it');
  context.faults.clear();

  const unauthenticated = await server.inject({ method: 'GET', url: '/keyknox/v1', headers: { origin } });
  t.equal(unauthenticated.statusCode, 401);
  t.equal(unauthenticated.headers['access-control-allow-origin'], '*', 'errors are readable too');
  const pulled = await server.inject({ method: 'GET', url: '/keyknox/v1', headers: { origin, authorization: `Virgil ${mintVirgilJwt(app, 'cors-reader')}` } });
  t.ok(pulled.headers['virgil-keyknox-hash'], 'a Keyknox answer carries its hash');
  t.same(String(pulled.headers['access-control-expose-headers']).split(', '), ['virgil-keyknox-hash', 'x-virgil-is-superseeded'],
    'which the page may read (changePassword sends it back as the previous hash)');

  for (const url of ['/_emulator/health', '/_emulator/apps']) {
    const preflight = await server.inject({ method: 'OPTIONS', url, headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    t.notOk(preflight.headers['access-control-allow-origin'], `${url}: no CORS for the management API`);
    t.notOk((await server.inject({ method: 'GET', url, headers: { origin } })).headers['access-control-allow-origin'], `${url}: not on answers either`);
  }
});

const JSON_TYPE = { 'content-type': 'application/json' };

t.test('management API', async (t) => {
  const created = await server.inject({ method: 'POST', url: '/_emulator/apps', headers: JSON_TYPE });
  t.equal(created.statusCode, 201);
  const fresh = created.json();
  t.match(fresh, { appId: /^[0-9a-f]{32}$/, appKeyId: /^[0-9a-f]{32}$/ });
  t.ok(importEd25519PrivateKey(fresh.appKey), 'appKey is base64 PKCS#8 Ed25519');
  t.equal((await server.inject({ method: 'POST', url: '/_emulator/apps', payload: {} })).statusCode, 201, '{} creates an app too');

  const keys = generateEd25519KeyPair();
  const registration = { appId: randomBytes(16).toString('hex'), appKeyId: 'key-1', appPublicKey: keys.publicKey };
  t.equal((await server.inject({ method: 'POST', url: '/_emulator/apps', payload: registration })).statusCode, 201);
  t.equal((await server.inject({ method: 'POST', url: '/_emulator/apps', payload: registration })).statusCode, 200, 'idempotent');
  isError(t, asResult(await server.inject({ method: 'POST', url: '/_emulator/apps', payload: { ...registration, appPublicKey: generateEd25519KeyPair().publicKey } })), 403, 40302, 'another key for an existing key id');
  isError(t, asResult(await server.inject({ method: 'POST', url: '/_emulator/apps', payload: { ...registration, appPublicKey: 'AAAA' } })), 400, 30001, 'not a public key');
  const registered = { appId: registration.appId, appKeyId: 'key-1', appKey: keys.privateKey };
  t.equal((await call('reg', { url: '/card/v5/actions/search', body: { identities: ['reg'] } }, registered)).status, 200, 'tokens of a registered app work');

  const withJwt = await server.inject({ method: 'GET', url: '/_emulator/health', headers: { authorization: `Virgil ${mintVirgilJwt(app, 'x')}` } });
  t.equal(withJwt.statusCode, 403, 'a Virgil JWT never opens the management API');
  t.same((await server.inject({ method: 'GET', url: '/_emulator/health' })).json().status, 'ok');

  t.equal((await server.inject({ method: 'PUT', url: '/_emulator/faults', payload: { rules: [{ route: 'nowhere' }] } })).statusCode, 400);
  t.equal((await server.inject({ method: 'PUT', url: '/_emulator/faults', payload: { rules: [{ route: 'keyknox', status: 500, errorRate: 1 }] } })).statusCode, 200);
  t.equal((await call('f', { method: 'GET', url: '/keyknox/v1' })).status, 500);
  isError(t, asResult(await server.inject({ method: 'DELETE', url: '/_emulator/faults' })), 415, 30005, 'DELETE without a JSON content type');
  isError(t, asResult(await server.inject({ method: 'DELETE', url: '/_emulator/faults', payload: { all: true } })), 400, 30001, 'DELETE with a body');
  t.equal((await server.inject({ method: 'DELETE', url: '/_emulator/faults', headers: JSON_TYPE })).statusCode, 204);
  t.equal((await call('f', { method: 'GET', url: '/keyknox/v1' })).status, 200);

  isError(t, asResult(await server.inject({ method: 'POST', url: '/_emulator/reset', payload: { everything: true } })), 400, 30001, 'unknown reset option');
  t.equal((await server.inject({ method: 'POST', url: '/_emulator/reset', headers: JSON_TYPE })).statusCode, 200, 'a JSON reset without a body');
  t.equal((await server.inject({ method: 'POST', url: '/_emulator/reset', payload: {} })).statusCode, 200);
  t.equal((await call('kv1', { method: 'GET', url: '/keyknox/v1' })).json.value, '', 'reset empties the data, apps stay');

  const guarded = await buildEmulatorApp({ adminToken: 'let-me-in' });
  t.teardown(() => guarded.app.close());
  t.equal((await guarded.app.inject({ method: 'POST', url: '/_emulator/apps', headers: JSON_TYPE })).statusCode, 401);
  t.equal((await guarded.app.inject({ method: 'POST', url: '/_emulator/apps', headers: { ...JSON_TYPE, authorization: 'Bearer wrong' } })).statusCode, 401);
  t.equal((await guarded.app.inject({ method: 'POST', url: '/_emulator/apps', headers: { ...JSON_TYPE, authorization: 'Bearer let-me-in' } })).statusCode, 201);
});

function asResult(response: { statusCode: number; body: string }) {
  return { status: response.statusCode, json: response.body ? JSON.parse(response.body) : undefined };
}

// What any web page the developer visits can make a browser send to the emulator on loopback.
t.test('management API: requests a web page can forge are refused', async (t) => {
  // Each attack gets its own victim, so one that got through cannot hide another.
  const plantVictim = async (t: Test) => {
    const victim = context.apps.create();
    t.equal((await call('victim', { method: 'PUT', url: '/keyknox/v1', body: { meta: 'AQ==', value: 'Ag==' } }, victim)).status, 200, 'victim data stored');
    return async (what: string) => {
      t.ok(context.apps.publicKeyFor(victim.appId, victim.appKeyId), `${what}: the victim app survives`);
      t.equal((await call('victim', { method: 'GET', url: '/keyknox/v1' }, victim)).json?.value, 'Ag==', `${what}: the victim data survives`);
    };
  };

  await t.test('DNS rebinding: a name of the page that resolves to 127.0.0.1', async (t) => {
    const dataSurvives = await plantVictim(t);
    for (const host of ['evil.example', 'evil.example:8787', 'localhost.evil.example', '127.0.0.1.nip.io:8787', 'localhost:8787@evil.example']) {
      isError(t, asResult(await server.inject({ method: 'POST', url: '/_emulator/reset', headers: { host }, payload: { apps: true } })), 403, 40301, `reset, Host ${host}`);
      isError(t, asResult(await server.inject({ method: 'GET', url: '/_emulator/apps', headers: { host } })), 403, 40301, `list apps, Host ${host}`);
    }
    await dataSurvives('rebinding');
    for (const host of ['localhost', 'localhost:8787', '127.0.0.1:8787', '127.8.9.10', '[::1]:8787', '[::1]']) {
      t.equal((await server.inject({ method: 'GET', url: '/_emulator/health', headers: { host } })).statusCode, 200, `Host ${host} is loopback`);
    }

    const guarded = await buildEmulatorApp({ adminToken: 'let-me-in' });
    t.teardown(() => guarded.app.close());
    isError(t, asResult(await guarded.app.inject({ method: 'GET', url: '/_emulator/apps', headers: { host: 'evil.example' } })), 401, 40100, 'with a token configured, none given');
    t.equal((await guarded.app.inject({ method: 'GET', url: '/_emulator/apps', headers: { host: 'emulator.internal:8787', authorization: 'Bearer let-me-in' } })).statusCode, 200, 'the admin token opens it under any Host');
  });

  await t.test('simple (preflight-free) requests: text/plain, form, no content type', async (t) => {
    const dataSurvives = await plantVictim(t);
    const simple: Array<{ headers: Record<string, string>; payload?: string }> = [
      { headers: {} },
      { headers: { 'content-type': 'text/plain;charset=UTF-8' }, payload: '' },
      { headers: { 'content-type': 'text/plain' }, payload: '{"apps":true}' },
      { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' },
      { headers: { 'content-type': 'multipart/form-data; boundary=x' }, payload: '--x--\r\n' },
      { headers: { 'content-type': 'text/plain; application/json' }, payload: '{}' },
    ];
    for (const request of simple) {
      const what = `reset with content-type ${request.headers['content-type'] ?? '(none)'}`;
      isError(t, asResult(await server.inject({ method: 'POST', url: '/_emulator/reset', ...request })), 415, 30005, what);
      isError(t, asResult(await server.inject({ method: 'POST', url: '/_emulator/apps', ...request })), 415, 30005, what.replace('reset', 'create an app'));
    }
    await dataSurvives('simple requests');

    const preflight = await server.inject({
      method: 'OPTIONS', url: '/_emulator/reset',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    t.notOk(preflight.headers['access-control-allow-origin'], 'a preflight gets no CORS answer');
    t.equal((await server.inject({ method: 'POST', url: '/_emulator/reset', headers: { 'content-type': 'application/json; charset=utf-8' }, payload: '{}' })).statusCode, 200, 'JSON with a charset is JSON');
  });

  await t.test('adding a key to an existing app takes the admin token', async (t) => {
    const owned = context.apps.create();
    const attacker = generateEd25519KeyPair();
    const addKey = { appId: owned.appId, appKeyId: 'attacker-key', appPublicKey: attacker.publicKey };
    isError(t, asResult(await server.inject({ method: 'POST', url: '/_emulator/apps', payload: addKey })), 403, 40302, 'new key for an existing app, no token configured');
    const forged = { appId: owned.appId, appKeyId: 'attacker-key', appKey: attacker.privateKey };
    isError(t, await call('service-identity', { url: '/card/v5/actions/search', body: { identities: ['x'] } }, forged), 401, 20303, 'a token signed with the refused key');
    t.same(context.apps.list().find((a) => a.appId === owned.appId)?.appKeyIds, [owned.appKeyId], 'the app keeps its one key');
    t.equal((await server.inject({ method: 'POST', url: '/_emulator/apps', payload: { ...addKey, appId: randomBytes(16).toString('hex') } })).statusCode, 201, 'a new app is still open on loopback');

    const guarded = await buildEmulatorApp({ adminToken: 'let-me-in' });
    t.teardown(() => guarded.app.close());
    const guardedApp = guarded.context.apps.create();
    const rotate = { ...addKey, appId: guardedApp.appId };
    isError(t, asResult(await guarded.app.inject({ method: 'POST', url: '/_emulator/apps', payload: rotate })), 401, 40100, 'without the token');
    t.equal((await guarded.app.inject({ method: 'POST', url: '/_emulator/apps', payload: rotate, headers: { authorization: 'Bearer let-me-in' } })).statusCode, 201, 'with the token');
    t.ok(guarded.context.apps.publicKeyFor(guardedApp.appId, 'attacker-key'), 'the key is registered');
    isError(t, asResult(await guarded.app.inject({ method: 'POST', url: '/_emulator/apps', payload: { ...rotate, appPublicKey: generateEd25519KeyPair().publicKey }, headers: { authorization: 'Bearer let-me-in' } })), 409, 40900, 'another key under a taken key id');
  });
});

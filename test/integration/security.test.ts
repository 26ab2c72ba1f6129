/**
 * Security properties across the public and admin APIs: security headers on every kind of answer,
 * and no secret in any response body or log line (captured at trace level) of a full admin and
 * user flow, failures included.
 */
import { randomBytes } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import t from 'tap';
import { SECURITY_HEADERS } from '../../src/http/plugins/security-headers.js';
import { generateEd25519KeyPair } from '../../src/virgil/keys.js';
import { startTestApp } from '../helpers/app.js';
import { getIdentitiesCall, signJwt, nowSeconds, virgilJwtCall } from '../helpers/extension-client.js';
import { postTwilioWebhook, sid, twilioDate, twilioTestSettings } from '../helpers/twilio.js';

t.test('security headers on every kind of answer', async (t) => {
  const h = await startTestApp(t);
  const tenant = await h.onboardTenant();
  const token = tenant.userToken('alice');
  const answers: Array<[string, Promise<LightMyRequestResponse>, number]> = [
    ['virgil-jwt', virgilJwtCall(h.app, tenant.appId, token), 200],
    ['get-identities', getIdentitiesCall(h.app, tenant.appId, token, { uids: ['a'] }), 200],
    ['a refused caller', virgilJwtCall(h.app, tenant.appId, 'bad'), 401],
    ['an unknown tenant', virgilJwtCall(h.app, 'nope', token), 404],
    ['a bad body', getIdentitiesCall(h.app, tenant.appId, token, '{'), 400],
    ['a wrong content type', getIdentitiesCall(h.app, tenant.appId, token, 'x', { 'content-type': 'text/plain' }), 415],
    ['an unknown route', h.app.inject({ method: 'GET', url: '/v2/nothing' }), 404],
    ['health', h.app.inject({ method: 'GET', url: '/health' }), 200],
    ['a preflight', h.app.inject({ method: 'OPTIONS', url: '/v1/virgil-jwt', headers: { origin: 'https://x.test', 'access-control-request-method': 'GET' } }), 204],
    ['admin', h.admin('GET', '/admin/v1/tenants'), 200],
    ['admin refused', h.app.inject({ method: 'GET', url: '/admin/v1/tenants' }), 401],
  ];
  for (const [name, pending, status] of answers) {
    const res = await pending;
    t.equal(res.statusCode, status, `${name}: ${status}`);
    for (const [header, value] of Object.entries(SECURITY_HEADERS)) t.equal(res.headers[header], value, `${name}: ${header}`);
    t.notOk(res.headers['x-powered-by'], `${name}: no x-powered-by`);
  }
  t.equal(SECURITY_HEADERS['cache-control'], 'no-store');
  t.equal(SECURITY_HEADERS['x-content-type-options'], 'nosniff');
  t.equal(SECURITY_HEADERS['x-frame-options'], 'DENY');
  t.equal(SECURITY_HEADERS['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
  t.equal(Object.keys(SECURITY_HEADERS).length, 5, 'the API set of the OWASP REST cheat sheet, nothing HTML-only');
  t.match(SECURITY_HEADERS['strict-transport-security'], /^max-age=\d+/);
});

t.test('no secret in any response or log line of a full flow', async (t) => {
  const h = await startTestApp(t, { logLevel: 'trace' });
  const bodies: string[] = [];
  const record = (res: LightMyRequestResponse) => {
    bodies.push(res.body, JSON.stringify(res.headers));
    return res;
  };
  const secrets = new Map<string, string>();
  const secret = (name: string, value: string) => { secrets.set(name, value); return value; };

  // Onboarding, with every kind of secret.
  const virgil = await h.emulator.createApp();
  secret('APP_KEY', virgil.appKey);
  const appId = 'leak-check';
  const twilio = twilioTestSettings(`https://chat.example.com/v1/webhooks/${appId}/twilio`);
  secret('Twilio auth token', twilio.authToken);
  secret('Twilio API key secret', twilio.apiKeySecret);
  const onboard = {
    appId, virgil, twilio,
    userAuth: { algorithm: 'HS256', secret: secret('caller secret', randomBytes(32).toString('base64url')) },
    webhooks: {
      basicAuth: { username: 'cometchat', password: secret('webhook password', randomBytes(16).toString('hex')) },
      signingSecret: secret('signing secret', `whsec_${randomBytes(32).toString('base64')}`),
    },
    cometchat: { region: 'us', restApiKey: secret('CometChat REST API key', randomBytes(16).toString('hex')) },
  };
  t.equal(record(await h.admin('POST', '/admin/v1/tenants', onboard)).statusCode, 201);
  record(await h.admin('POST', '/admin/v1/tenants', onboard)); // 409
  record(await h.admin('POST', '/admin/v1/tenants', { ...onboard, appId: 'leak-2', extra: onboard.userAuth.secret })); // 400
  record(await h.admin('POST', '/admin/v1/tenants', { ...onboard, appId: 'leak-3', virgil: { ...virgil, appKey: secret('bad APP_KEY', randomBytes(48).toString('base64')) } })); // 422
  record(await h.admin('GET', `/admin/v1/tenants/${appId}`));
  record(await h.admin('GET', '/admin/v1/tenants'));
  record(await h.app.inject({ method: 'GET', url: '/admin/v1/tenants', headers: { authorization: `Bearer ${secret('guessed admin token', randomBytes(24).toString('base64url'))}` } }));

  // Users.
  const callerToken = secret('caller token', signJwt('HS256', onboard.userAuth.secret, { sub: 'alice', exp: nowSeconds() + 600 }));
  t.equal(record(await virgilJwtCall(h.app, appId, callerToken)).statusCode, 200);
  record(await getIdentitiesCall(h.app, appId, callerToken, { uids: ['alice', 'bob'], guids: ['g1'] }));
  record(await getIdentitiesCall(h.app, appId, callerToken, '{"uids": ['));
  record(await virgilJwtCall(h.app, appId, secret('forged token', signJwt('HS256', 'x'.repeat(32), { sub: 'alice', exp: nowSeconds() + 600 }))));
  record(await virgilJwtCall(h.app, appId, secret('expired token', signJwt('HS256', onboard.userAuth.secret, { sub: 'alice', exp: nowSeconds() - 600 }))));
  const twilioToken = record(await h.app.inject({ method: 'GET', url: '/v1/twilio-token', headers: { appid: appId, authorization: `Bearer ${callerToken}` } }));
  t.equal(twilioToken.statusCode, 200);
  const conversation = { AccountSid: twilio.accountSid, EventType: 'onParticipantAdded', ConversationSid: sid('CH'), ParticipantSid: sid('MB'), Identity: 'alice', DateCreated: twilioDate() };
  t.equal((await postTwilioWebhook(h.app, appId, twilio, conversation)).status, 200);
  t.equal((await postTwilioWebhook(h.app, appId, twilio, conversation, { authToken: 'f'.repeat(32) })).status, 401);

  // Rotation of every secret, then the same calls again.
  const next = generateEd25519KeyPair();
  const nextKeyId = randomBytes(16).toString('hex');
  await h.emulator.registerApp({ appId: virgil.appId, appKeyId: nextKeyId, appPublicKey: next.publicKey });
  const rotation = {
    virgil: { appKeyId: nextKeyId, appKey: secret('rotated APP_KEY', next.privateKey) },
    userAuth: { algorithm: 'HS256', secret: secret('rotated caller secret', randomBytes(32).toString('base64url')) },
    webhooks: {
      basicAuth: { username: 'cometchat', password: secret('rotated webhook password', randomBytes(16).toString('hex')) },
      signingSecret: secret('rotated signing secret', `whsec_${randomBytes(32).toString('base64')}`),
    },
    twilio: { secondaryAuthToken: secret('Twilio secondary auth token', randomBytes(16).toString('hex')), apiKeySecret: secret('rotated Twilio API key secret', randomBytes(24).toString('base64url')) },
    cometchat: { region: 'eu', restApiKey: secret('rotated CometChat REST API key', randomBytes(16).toString('hex')) },
  };
  t.equal(record(await h.admin('PATCH', `/admin/v1/tenants/${appId}`, rotation)).statusCode, 200);
  record(await h.admin('PATCH', `/admin/v1/tenants/${appId}`, { ...rotation, unknown: rotation.userAuth.secret })); // 400
  const rotatedToken = secret('rotated caller token', signJwt('HS256', rotation.userAuth.secret, { sub: 'alice', exp: nowSeconds() + 600 }));
  t.equal(record(await virgilJwtCall(h.app, appId, rotatedToken)).statusCode, 200);
  record(await virgilJwtCall(h.app, appId, callerToken)); // the old secret no longer works
  t.equal(record(await h.admin('DELETE', `/admin/v1/tenants/${appId}`)).statusCode, 200);
  record(await virgilJwtCall(h.app, appId, rotatedToken)); // 403

  // What the service generated and keeps encrypted.
  const row = await h.ctx.db.selectFrom('tenants').selectAll().where('app_id', '=', appId).executeTakeFirstOrThrow();
  secret('service private key', h.ctx.keyring.open(row.service_private_key, { tenant: appId, field: 'service_private_key' }));
  const identitySecret = h.ctx.keyring.open(row.identity_secret, { tenant: appId, field: 'identity_secret' });
  secret('identity secret (base64)', identitySecret);
  secret('identity secret (hex)', Buffer.from(identitySecret, 'base64').toString('hex'));
  secret('admin token', h.adminToken);
  secret('master key', h.masterKeys.split(':')[1]);

  const logs = h.logLines.join('');
  t.ok(h.logLines.length > 20, `log lines were captured (${h.logLines.length})`);
  t.equal(h.ctx.log.level, 'trace', 'at trace level');
  t.match(logs, /incoming request/, 'request logging is on');
  t.match(logs, /tenant onboarded/);
  const responses = bodies.join('\n');
  for (const [name, value] of secrets) {
    t.ok(value.length >= 16, `${name} is a real value`);
    const forms = [value, Buffer.from(value, 'base64').toString('base64url')].filter((f) => f.length >= 16);
    t.notOk(forms.some((f) => logs.includes(f)), `${name} is in no log line`);
    if (!name.includes('token')) t.notOk(forms.some((f) => responses.includes(f)), `${name} is in no response`);
  }
  // Virgil JWTs and Twilio Access Tokens are what the API hands out, but they are credentials: never logged.
  const issued = bodies.map((b) => /"virgilToken":"([^"]+)"/.exec(b)?.[1]).filter(Boolean) as string[];
  t.equal(issued.length, 2);
  for (const jwt of issued) t.notOk(logs.includes(jwt), 'an issued Virgil JWT is in no log line');
  const accessToken = twilioToken.json().data.token as string;
  t.notOk(logs.includes(accessToken) || logs.includes(accessToken.split('.')[2]), 'an issued Twilio Access Token is in no log line');
});

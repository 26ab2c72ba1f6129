/**
 * Twilio tenants on the API side (no worker): settings sealed and never shown, merged by PATCH,
 * rotated and removed; GET /v1/twilio-token checked against twilio's own AccessToken; signed
 * Conversations webhooks changing the desired state, and every refused delivery (bad, missing or
 * foreign signature, another URL, an altered replay) answered 401 with nothing changed.
 */
import { randomBytes } from 'node:crypto';
import { createVerifier } from 'fast-jwt';
import t from 'tap';
import twilio from 'twilio';
import { Keyring } from '../../src/crypto/envelope.js';
import { rewrapSecrets } from '../../src/tenants/rewrap.js';
import { startTestApp } from '../helpers/app.js';
import { desiredGroup, webhookRowCounts } from '../helpers/db.js';
import { RecordingRequester } from '../helpers/recording-requester.js';
import { formBody, postTwilioWebhook, sid, twilioDate, twilioSignature, twilioTestSettings, type Params } from '../helpers/twilio.js';

const recorder = new RecordingRequester();
const h = await startTestApp(t, { reconcile: recorder });
const db = h.ctx.db;

// Behind a proxy: Twilio calls the public URL, the service sees another host and path prefix.
const appId = 'twilio-app';
const settings = twilioTestSettings(`https://chat.example.com/e2ee/v1/webhooks/${appId}/twilio`);
const tenant = await h.onboardTenant({ appId, body: { twilio: settings } });
const runtime = async () => (await h.ctx.tenants.get(appId))!;
const rowCounts = () => webhookRowCounts(db, recorder);

const tokenCall = (uid: string | null, app = appId) => h.app.inject({
  method: 'GET', url: '/v1/twilio-token',
  headers: { appid: app, ...(uid === null ? {} : { authorization: `Bearer ${tenant.userToken(uid)}` }) },
});

t.test('Twilio settings: sealed at rest, shown without secrets, merged by PATCH, removable', async (t) => {
  const { accountSid, apiKeySid, conversationsServiceSid, webhookUrl } = settings;
  t.same(tenant.view.twilio, { accountSid, apiKeySid, conversationsServiceSid, webhookUrl, accessTokenTtlSeconds: 3600, deleteMissingConversations: false, secondaryAuthTokenConfigured: false });
  const row = await db.selectFrom('tenants').selectAll().where('app_id', '=', appId).executeTakeFirstOrThrow();
  for (const [column, value] of [['twilio_auth_token', settings.authToken], ['twilio_api_key_secret', settings.apiKeySecret]] as const) {
    t.match(row[column], /^ev1\./, `${column} is sealed`);
    t.equal(h.ctx.keyring.open(row[column]!, { tenant: appId, field: column }), value);
  }
  t.notOk(JSON.stringify(row.twilio).includes(settings.authToken), 'the settings column holds no secret');

  const next = randomBytes(16).toString('hex');
  const rotated = await h.admin('PATCH', `/admin/v1/tenants/${appId}`, { twilio: { secondaryAuthToken: next, accessTokenTtlSeconds: 600 } });
  t.equal(rotated.statusCode, 200);
  t.match(rotated.json().data.twilio, { secondaryAuthTokenConfigured: true, accessTokenTtlSeconds: 600, accountSid });
  t.same((await runtime()).twilio!.authTokens, [settings.authToken, next], 'both tokens sign webhooks during the rotation');
  t.notOk(rotated.body.includes(next) || rotated.body.includes(settings.apiKeySecret), 'no secret in the answer');

  const other = await h.onboardTenant();
  const incomplete = await h.admin('PATCH', `/admin/v1/tenants/${other.appId}`, { twilio: { accountSid: sid('AC'), authToken: next } });
  t.equal(incomplete.statusCode, 422);
  t.equal(incomplete.json().error.code, 'TWILIO_SETTINGS_INCOMPLETE');
  t.same(incomplete.json().error.details.missing, ['twilio.apiKeySid', 'twilio.conversationsServiceSid', 'twilio.webhookUrl', 'twilio.apiKeySecret']);
  for (const [what, body, status, code] of [
    ['a fragment', { ...settings, webhookUrl: `${settings.webhookUrl}#rc=3` }, 422, 'INVALID_TWILIO_WEBHOOK_URL'],
    ['credentials in the URL', { ...settings, webhookUrl: 'https://u:p@chat.example.com/hook' }, 422, 'INVALID_TWILIO_WEBHOOK_URL'],
    ['an account SID as auth token', { ...settings, authToken: settings.accountSid }, 400, 'VALIDATION_FAILED'],
    ['a service SID of the wrong type', { ...settings, conversationsServiceSid: sid('CH') }, 400, 'VALIDATION_FAILED'],
    ['a TTL over a day', { ...settings, accessTokenTtlSeconds: 86_401 }, 400, 'VALIDATION_FAILED'],
    ['an unknown field', { ...settings, region: 'ie1' }, 400, 'VALIDATION_FAILED'],
  ] as const) {
    const res = await h.admin('PATCH', `/admin/v1/tenants/${other.appId}`, { twilio: body });
    t.equal(res.statusCode, status, `${what}: ${status}`);
    t.equal(res.json().error.code, code, `${what}: ${code}`);
  }
  t.equal((await h.admin('GET', `/admin/v1/tenants/${other.appId}`)).json().data.twilio, null, 'nothing was stored');
  const set = await h.admin('PATCH', `/admin/v1/tenants/${other.appId}`, { twilio: twilioTestSettings('https://x.example/hook') });
  t.equal(set.statusCode, 200, 'complete settings are accepted by PATCH');
  const removed = await h.admin('PATCH', `/admin/v1/tenants/${other.appId}`, { twilio: null });
  t.equal(removed.json().data.twilio, null);
  const row2 = await db.selectFrom('tenants').select(['twilio_auth_token', 'twilio_api_key_secret']).where('app_id', '=', other.appId).executeTakeFirstOrThrow();
  t.same(row2, { twilio_auth_token: null, twilio_api_key_secret: null }, 'removing the settings removes their secrets');
  const notConfigured = await postTwilioWebhook(h.app, other.appId, settings, { EventType: 'onConversationAdded' });
  t.equal(notConfigured.status, 403);
  t.equal(notConfigured.body.error!.code, 'WEBHOOK_NOT_CONFIGURED');

  // Master key rotation re-seals the Twilio secrets too (and back, for the app under test).
  const current = h.masterKeys.split(',').map((k) => ({ id: k.split(':')[0], key: Buffer.from(k.split(':')[1], 'base64') }));
  const k2 = { id: 'k2', key: randomBytes(32) };
  const ring = new Keyring([k2, ...current]);
  await rewrapSecrets(db, ring);
  const rewrapped = await db.selectFrom('tenants').selectAll().where('app_id', '=', appId).executeTakeFirstOrThrow();
  for (const column of ['twilio_auth_token', 'twilio_secondary_auth_token', 'twilio_api_key_secret'] as const) {
    t.match(rewrapped[column], /^ev1\.k2\./, `${column} re-sealed with the new key`);
  }
  t.equal(ring.open(rewrapped.twilio_secondary_auth_token!, { tenant: appId, field: 'twilio_secondary_auth_token' }), next);
  await rewrapSecrets(db, new Keyring([...current, k2]));
  h.ctx.tenants.invalidateAll();

  const ended = await h.admin('PATCH', `/admin/v1/tenants/${appId}`, { twilio: { secondaryAuthToken: null, accessTokenTtlSeconds: 3600 } });
  t.equal(ended.json().data.twilio.secondaryAuthTokenConfigured, false, 'the rotation ends');
});

t.test('GET /v1/twilio-token: what twilio\'s AccessToken makes, for the caller, with the tenant\'s TTL', async (t) => {
  for (const ttl of [3600, 120]) {
    if (ttl !== 3600) t.equal((await h.admin('PATCH', `/admin/v1/tenants/${appId}`, { twilio: { accessTokenTtlSeconds: ttl } })).statusCode, 200);
    const res = await tokenCall('josé@example.com');
    t.equal(res.statusCode, 200);
    const { token, identity, expiresAt } = res.json().data;
    t.same(Object.keys(res.json().data).sort(), ['expiresAt', 'identity', 'token']);
    t.equal(identity, 'josé@example.com', 'the identity is the caller\'s uid');
    const claims = createVerifier({ key: settings.apiKeySecret, algorithms: ['HS256'], complete: true })(token);
    t.equal(claims.payload.exp - claims.payload.iat, ttl, `the tenant's TTL (${ttl} s)`);
    t.equal(new Date(claims.payload.exp * 1000).toISOString(), expiresAt);
    // Twilio's library, given the same inputs, makes exactly these bytes (its clock set to our iat).
    const reference = new twilio.jwt.AccessToken(settings.accountSid, settings.apiKeySid, settings.apiKeySecret, { identity, ttl });
    reference.addGrant(new twilio.jwt.AccessToken.ChatGrant({ serviceSid: settings.conversationsServiceSid }));
    const realNow = Date.now;
    Date.now = () => claims.payload.iat * 1000;
    try {
      t.equal(reference.toJwt(), token, 'byte-identical to twilio\'s AccessToken with a ChatGrant for the service');
    } finally {
      Date.now = realNow;
    }
    t.same(claims.payload.grants, { identity, chat: { service_sid: settings.conversationsServiceSid } });
  }
  t.equal((await tokenCall(null)).statusCode, 401, 'callers authenticate as for /v1/virgil-jwt');
  t.equal((await tokenCall(null)).json().error.code, 'TOKEN_MISSING');
  const plain = await h.onboardTenant();
  const refused = await h.app.inject({ method: 'GET', url: '/v1/twilio-token', headers: { appid: plain.appId, authorization: `Bearer ${plain.userToken('alice')}` } });
  t.equal(refused.statusCode, 403);
  t.equal(refused.json().error.code, 'TWILIO_NOT_CONFIGURED');
});

t.test('signed webhooks create, fill, empty and delete a conversation\'s group; duplicates and other events change nothing', async (t) => {
  const guid = sid('CH');
  const common = { AccountSid: settings.accountSid, ChatServiceSid: settings.conversationsServiceSid, Source: 'API', RetryCount: '0' };
  const base = Date.now() - 60_000;
  const send = async (params: Params) => {
    const sent = await postTwilioWebhook(h.app, appId, settings, { ...common, ConversationSid: guid, ...params });
    t.equal(sent.status, 200, `${params.EventType}: 200`);
    return sent.body.data!;
  };
  const created = await send({ EventType: 'onConversationAdded', State: 'active', FriendlyName: 'Trip', DateCreated: twilioDate(base) });
  t.match(created, { status: 'accepted', eventId: /^[0-9a-f]{64}$/ });
  t.same(await desiredGroup(db, appId, guid), { guid, identity: (await runtime()).groupIdentity(guid), ownerUid: null, deleted: false, members: [], desiredVersion: 1 });
  t.same(recorder.requests.at(-1), { tenantId: appId, guid });

  const participants = new Map<string, string>();
  for (const [i, uid] of ['alice', 'bob', 'carol'].entries()) {
    participants.set(uid, sid('MB'));
    await send({ EventType: 'onParticipantAdded', ParticipantSid: participants.get(uid)!, Identity: uid, DateCreated: twilioDate(base + 1000 * (i + 1)) });
  }
  t.same((await desiredGroup(db, appId, guid))!.members, ['alice', 'bob', 'carol']);

  const before = await rowCounts();
  const bobAdded = { EventType: 'onParticipantAdded', ParticipantSid: participants.get('bob')!, Identity: 'bob', DateCreated: twilioDate(base + 2000) };
  t.match(await send({ ...bobAdded, RetryCount: '1' }), { status: 'duplicate' }, 'a retried delivery is a duplicate');
  t.match(await send({ EventType: 'onParticipantAdded', ParticipantSid: sid('MB'), 'MessagingBinding.Address': '+15550100', DateCreated: twilioDate(base) }),
    { status: 'ignored', trigger: 'onParticipantAdded', reason: 'no_identity' }, 'an SMS participant is ignored');
  t.match(await send({ EventType: 'onMessageAdded', Body: 'ciphertext', Author: 'alice' }), { status: 'ignored', reason: 'event_not_used' });
  t.match(await send({ EventType: 'onParticipantAdded', ChatServiceSid: sid('IS'), ParticipantSid: sid('MB'), Identity: 'mallory' }), { status: 'ignored', reason: 'other_service' });
  t.same(await rowCounts(), before, 'none of them changed anything');

  await send({ EventType: 'onParticipantRemoved', ParticipantSid: participants.get('carol')!, Identity: 'carol', DateCreated: twilioDate(base + 3000), DateUpdated: twilioDate(base + 3000) });
  t.same((await desiredGroup(db, appId, guid))!.members, ['alice', 'bob'], 'carol is removed');
  // A late delivery of carol's addition (older) does not bring her back.
  await send({ EventType: 'onParticipantAdded', ParticipantSid: participants.get('carol')!, Identity: 'carol', DateCreated: twilioDate(base + 3000), RetryCount: '1', Attributes: '{}' })
    .then((d) => t.equal(d.status, 'duplicate'));
  t.same((await desiredGroup(db, appId, guid))!.members, ['alice', 'bob']);

  await send({ EventType: 'onConversationRemoved', State: 'active', DateCreated: twilioDate(base), DateUpdated: twilioDate(base) });
  t.match(await desiredGroup(db, appId, guid), { deleted: true, members: [] });
  const stored = await db.selectFrom('webhook_events').select(['source', 'type', 'payload']).where('tenant_id', '=', appId).orderBy('id').execute();
  t.same(stored.map((e) => e.type), ['group.created', 'group.member_added', 'group.member_added', 'group.member_added', 'group.member_kicked', 'group.deleted']);
  t.ok(stored.every((e) => e.source === 'twilio'));
  t.match(stored[1].payload, /EventType=onParticipantAdded/, 'the form body is stored as received');
});

t.test('refused deliveries: 401 before or after the body, nothing changed', async (t) => {
  const guid = sid('CH');
  const params: Params = {
    AccountSid: settings.accountSid, ChatServiceSid: settings.conversationsServiceSid, EventType: 'onParticipantAdded', ConversationSid: guid,
    ParticipantSid: sid('MB'), Identity: 'alice', Source: 'API', DateCreated: twilioDate(), RetryCount: '0',
  };
  const good = twilioSignature(settings.authToken, settings.webhookUrl, params);
  t.ok(twilio.validateRequest(settings.authToken, good, settings.webhookUrl, params), 'the test\'s signature is one twilio\'s validator accepts');
  const before = await rowCounts();
  const cases: Array<[string, Promise<{ status: number; body: { error?: { code: string } } }>, string]> = [
    ['no signature', postTwilioWebhook(h.app, appId, settings, params, { signature: null }), 'WEBHOOK_SIGNATURE_MISSING'],
    ['an empty signature', postTwilioWebhook(h.app, appId, settings, params, { signature: ' ' }), 'WEBHOOK_SIGNATURE_MISSING'],
    ['garbage', postTwilioWebhook(h.app, appId, settings, params, { signature: 'garbage' }), 'WEBHOOK_SIGNATURE_INVALID'],
    ['another auth token', postTwilioWebhook(h.app, appId, settings, params, { authToken: randomBytes(16).toString('hex') }), 'WEBHOOK_SIGNATURE_INVALID'],
    ['the URL the service sees (not the public one)', postTwilioWebhook(h.app, appId, settings, params, { signedUrl: `http://localhost:80/v1/webhooks/${appId}/twilio` }), 'WEBHOOK_SIGNATURE_INVALID'],
    ['another public URL', postTwilioWebhook(h.app, appId, settings, params, { signedUrl: settings.webhookUrl.replace('chat.', 'evil.') }), 'WEBHOOK_SIGNATURE_INVALID'],
    ['a replay with another identity', postTwilioWebhook(h.app, appId, settings, params, { signature: good, body: formBody({ ...params, Identity: 'mallory' }) }), 'WEBHOOK_SIGNATURE_INVALID'],
    ['a replay with an added parameter', postTwilioWebhook(h.app, appId, settings, params, { signature: good, body: `${formBody(params)}&Identity=mallory` }), 'WEBHOOK_SIGNATURE_INVALID'],
    ['a replay into another conversation', postTwilioWebhook(h.app, appId, settings, params, { signature: good, body: formBody({ ...params, ConversationSid: sid('CH') }) }), 'WEBHOOK_SIGNATURE_INVALID'],
    ['a removed secondary token', postTwilioWebhook(h.app, appId, settings, params, { authToken: 'f'.repeat(32) }), 'WEBHOOK_SIGNATURE_INVALID'],
  ];
  for (const [what, pending, code] of cases) {
    const res = await pending;
    t.equal(res.status, 401, `${what}: 401`);
    t.equal(res.body.error?.code, code, `${what}: ${code}`);
  }
  const json = await postTwilioWebhook(h.app, appId, settings, params, { contentType: 'application/json', body: JSON.stringify(params) });
  t.equal(json.status, 415, 'JSON is not a Conversations webhook');
  for (const [what, body] of [['a raw NUL byte', `${formBody(params)}&Attributes=a\u0000b`], ['unencoded UTF-8', `${formBody(params)}&FriendlyName=café`]]) {
    const res = await postTwilioWebhook(h.app, appId, settings, params, { body });
    t.equal(res.status, 400, `${what}: 400`);
    t.equal(res.body.error?.code, 'MALFORMED_FORM');
  }
  const odd = { ...params, ParticipantSid: sid('MB'), Identity: 'bob', Attributes: '{"x":"\u0000 \ud800 \u202e"}', FriendlyName: 'café 李 %00', DateCreated: twilioDate() };
  const decoded = await postTwilioWebhook(h.app, appId, settings, { ...odd, Extra: String.fromCharCode(0, 0xd800, 0x202e) });
  t.equal(decoded.status, 200, 'any content in fields the service does not use, percent-encoded, is accepted');
  const after = await rowCounts();
  t.equal(Number(after.events), Number(before.events) + 1, 'only the well-formed, signed delivery was stored');
  t.same((await desiredGroup(db, appId, guid))!.members, ['bob']);
  const accepted = await postTwilioWebhook(h.app, appId, settings, params, { signature: good });
  t.equal(accepted.status, 200, 'the genuine delivery is then accepted');
  t.same((await desiredGroup(db, appId, guid))!.members, ['alice', 'bob']);
});

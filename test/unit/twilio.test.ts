/**
 * Twilio's protocols, against Twilio's own published library (the `twilio` package, a dev
 * dependency): X-Twilio-Signature computed three ways (our code, an independent HMAC in the test
 * helper, twilio's getExpectedTwilioSignature) and checked by twilio's validateRequest; Access
 * Tokens byte-identical to twilio's AccessToken; the mapping of Conversations webhooks onto group
 * events (types, identities, times, deduplication).
 */
import { createHmac } from 'node:crypto';
import t from 'tap';
import twilio from 'twilio';
import { createVerifier } from 'fast-jwt';
import { TwilioAccessTokenSigner } from '../../src/twilio/access-token.js';
import { signatureMatches, twilioSignature as ourSignature, urlForms, type FormParams } from '../../src/twilio/request-signature.js';
import { parseFormBody } from '../../src/webhooks/twilio-form.js';
import { parseTwilioDelivery } from '../../src/webhooks/twilio-payload.js';
import { DomainError } from '../../src/lib/errors.js';
import { formBody, sid, twilioDate, twilioSignature, twilioTestSettings, type Params } from '../helpers/twilio.js';

const settings = twilioTestSettings('https://chat.example.com/v1/webhooks/acme/twilio?tenant=acme');

/** The parameters as our parser reads them off the wire. */
const wire = (params: Params): FormParams => parseFormBody(Buffer.from(formBody(params))).params;

const participantAdded: Params = {
  AccountSid: settings.accountSid, ChatServiceSid: settings.conversationsServiceSid, EventType: 'onParticipantAdded',
  ConversationSid: sid('CH'), ParticipantSid: sid('MB'), Identity: 'josé@example.com', Source: 'SDK', ClientIdentity: 'alice',
  RoleSid: `RL${'a'.repeat(32)}`, Attributes: '{"note": "a + b = c & d"}', DateCreated: '2026-11-20T10:00:00Z', RetryCount: '0',
  'MessagingBinding.Address': '', Tags: ['b', 'a', 'b'],
};

t.test('X-Twilio-Signature: ours, the test helper\'s and twilio\'s are the same, and twilio validates ours', async (t) => {
  const params = wire(participantAdded);
  const mine = ourSignature(settings.authToken, settings.webhookUrl, params).toString('base64');
  t.equal(mine, twilioSignature(settings.authToken, settings.webhookUrl, participantAdded), 'the independent HMAC in the test helper agrees');
  t.equal(mine, twilio.getExpectedTwilioSignature(settings.authToken, settings.webhookUrl, participantAdded), 'twilio computes the same (repeated keys, +, &, UTF-8 included)');
  t.ok(twilio.validateRequest(settings.authToken, mine, settings.webhookUrl, participantAdded), 'twilio\'s validator accepts it');
  t.ok(signatureMatches({ header: mine, authTokens: [settings.authToken], url: settings.webhookUrl, params }), 'and so do we');
});

t.test('the URL is taken as configured, with and without the default port, as twilio\'s validator does', async (t) => {
  const params = wire(participantAdded);
  t.same(urlForms('https://chat.example.com/hook?a=1'), ['https://chat.example.com/hook?a=1', 'https://chat.example.com:443/hook?a=1']);
  t.same(urlForms('http://[::1]:8080/hook'), ['http://[::1]:8080/hook', 'http://[::1]/hook']);
  t.same(urlForms('https://u@chat.example.com:443/p%27s'), ['https://u@chat.example.com:443/p%27s', 'https://u@chat.example.com/p%27s']);
  for (const signedUrl of ['https://chat.example.com:443/v1/webhooks/acme/twilio?tenant=acme', settings.webhookUrl]) {
    const header = twilioSignature(settings.authToken, signedUrl, participantAdded);
    t.ok(twilio.validateRequest(settings.authToken, header, settings.webhookUrl, participantAdded), `twilio accepts a signature over ${signedUrl}`);
    t.ok(signatureMatches({ header, authTokens: [settings.authToken], url: settings.webhookUrl, params }), `we accept a signature over ${signedUrl}`);
  }
  for (const [what, signedUrl] of [
    ['another host', 'https://evil.example.com/v1/webhooks/acme/twilio?tenant=acme'],
    ['http instead of https', 'http://chat.example.com/v1/webhooks/acme/twilio?tenant=acme'],
    ['another port', 'https://chat.example.com:8443/v1/webhooks/acme/twilio?tenant=acme'],
    ['no query', 'https://chat.example.com/v1/webhooks/acme/twilio'],
    ['another path', 'https://chat.example.com/v1/webhooks/other/twilio?tenant=acme'],
  ]) {
    const header = twilioSignature(settings.authToken, signedUrl, participantAdded);
    t.notOk(twilio.validateRequest(settings.authToken, header, settings.webhookUrl, participantAdded), `twilio refuses ${what}`);
    t.notOk(signatureMatches({ header, authTokens: [settings.authToken], url: settings.webhookUrl, params }), `we refuse ${what}`);
  }
});

t.test('any accepted auth token signs; anything altered or malformed does not', async (t) => {
  const params = wire(participantAdded);
  const next = createHmac('sha256', 'x').update('rotation').digest('hex').slice(0, 32);
  const byNext = twilioSignature(next, settings.webhookUrl, participantAdded);
  t.ok(signatureMatches({ header: byNext, authTokens: [settings.authToken, next], url: settings.webhookUrl, params }), 'the secondary token during a rotation');
  t.notOk(signatureMatches({ header: byNext, authTokens: [settings.authToken], url: settings.webhookUrl, params }), 'not once it is removed');
  const header = twilioSignature(settings.authToken, settings.webhookUrl, participantAdded);
  const altered = wire({ ...participantAdded, Identity: 'mallory' });
  t.notOk(signatureMatches({ header, authTokens: [settings.authToken], url: settings.webhookUrl, params: altered }), 'an altered parameter');
  const added = wire({ ...participantAdded, Extra: '1' });
  t.notOk(signatureMatches({ header, authTokens: [settings.authToken], url: settings.webhookUrl, params: added }), 'an added parameter');
  for (const bad of ['', 'not base64!', header.slice(0, -2), `${header}AAAA`, Buffer.alloc(20).toString('base64')]) {
    t.notOk(signatureMatches({ header: bad, authTokens: [settings.authToken], url: settings.webhookUrl, params }), `header ${JSON.stringify(bad.slice(0, 12))}`);
  }
});

t.test('Access Tokens are byte-identical to twilio\'s AccessToken with a ChatGrant', async (t) => {
  for (const [identity, ttl] of [['alice', 3600], ['李雷@example.com', 86_400], ['bob', 60]] as const) {
    // twilio's library reads the clock twice (for `jti`, then jsonwebtoken for `iat`): a token made
    // across a second boundary has two different seconds, which no single clock reading reproduces.
    let theirs = '';
    let iat = 0;
    for (let attempt = 0; attempt < 5; attempt++) {
      const reference = new twilio.jwt.AccessToken(settings.accountSid, settings.apiKeySid, settings.apiKeySecret, { identity, ttl });
      reference.addGrant(new twilio.jwt.AccessToken.ChatGrant({ serviceSid: settings.conversationsServiceSid }));
      theirs = reference.toJwt();
      const payload = JSON.parse(Buffer.from(theirs.split('.')[1], 'base64url').toString()) as { iat: number; jti: string };
      iat = payload.iat;
      if (payload.jti.endsWith(`-${iat}`)) break;
    }
    const signer = new TwilioAccessTokenSigner({ ...settings, serviceSid: settings.conversationsServiceSid, ttlSeconds: ttl });
    const ours = signer.sign(identity, iat * 1000 + 999);
    t.equal(ours.token, theirs, `${identity}, ttl ${ttl}: the same bytes`);
    t.equal(ours.expiresAt.getTime(), (iat + ttl) * 1000);
    const claims = createVerifier({ key: settings.apiKeySecret, algorithms: ['HS256'], complete: true, clockTimestamp: iat * 1000 })(ours.token);
    t.same(claims.header, { alg: 'HS256', typ: 'JWT', cty: 'twilio-fpa;v=1' });
    t.same(claims.payload.grants, { identity, chat: { service_sid: settings.conversationsServiceSid } });
    t.equal(claims.payload.iss, settings.apiKeySid);
    t.equal(claims.payload.sub, settings.accountSid);
    t.equal(claims.payload.jti, `${settings.apiKeySid}-${iat}`);
  }
});

t.test('Conversations webhooks become group events', async (t) => {
  const received = Date.parse('2026-11-20T10:05:00Z');
  const parse = (params: Params) => parseTwilioDelivery(wire(params), { serviceSid: settings.conversationsServiceSid, receivedMs: received }, formBody(params));
  const event = (params: Params) => {
    const d = parse(params);
    if (d.kind !== 'event') throw new Error(`ignored: ${d.reason}`);
    return d.event;
  };
  const conversation = participantAdded.ConversationSid as string;

  const added = event(participantAdded);
  t.match(added, { source: 'twilio', type: 'group.member_added', guid: conversation, owner: null, members: ['josé@example.com'] });
  t.equal(added.occurredAt.toISOString(), '2026-11-20T10:00:00.000Z', 'an addition happens at DateCreated');
  t.match(added.key, /^[0-9a-f]{64}$/);
  t.equal(event({ ...participantAdded, RetryCount: '1', 'I-Twilio-Extra': 'x' }).key, added.key, 'a retry is the same event');
  t.not(event({ ...participantAdded, ParticipantSid: sid('MB'), DateCreated: '2026-11-20T10:01:00Z' }).key, added.key, 'a re-added user is another event');

  const removed = { ...participantAdded, EventType: 'onParticipantRemoved', DateUpdated: '2026-11-20T10:00:30Z' };
  t.match(event(removed), { type: 'group.member_kicked', members: ['josé@example.com'] });
  t.equal(event(removed).occurredAt.getTime(), received, 'a removal happens when it is received, not at the participant\'s last update');
  t.equal(event({ ...removed, DateUpdated: '2026-11-20T10:06:00Z' }).occurredAt.toISOString(), '2026-11-20T10:06:00.000Z', '…or at a later DateUpdated');
  t.match(event({ ...removed, ClientIdentity: 'josé@example.com' }), { type: 'group.member_left' }, 'leaving from an SDK');

  const created = { AccountSid: settings.accountSid, ChatServiceSid: settings.conversationsServiceSid, EventType: 'onConversationAdded', ConversationSid: conversation, DateCreated: '2026-11-20T09:00:00Z', State: 'active' };
  t.match(event(created), { type: 'group.created', owner: null, members: [], occurredAt: new Date('2026-11-20T09:00:00Z') });
  t.match(event({ ...created, EventType: 'onConversationRemoved', DateUpdated: '2026-11-20T09:30:00Z' }), { type: 'group.deleted', members: [], occurredAt: new Date(received) });
  t.equal(event({ ...created, DateCreated: '2036-01-01T00:00:00Z' }).occurredAt.getTime(), received, 'an implausible date becomes the receive time');
  t.equal(event({ ...created, DateCreated: 'Fri, 20 Nov 2026 09:00:00 +0000' }).occurredAt.getTime(), received, 'so does an unreadable one');
  t.equal(event({ ...created, DateCreated: twilioDate(received - 1000) }).occurredAt.getTime(), received - 1000);

  const { Identity: _identity, ...smsParticipant } = participantAdded;
  for (const [what, params, reason] of [
    ['a message', { ...participantAdded, EventType: 'onMessageAdded' }, 'event_not_used'],
    ['a pre-action event', { ...participantAdded, EventType: 'onParticipantAdd' }, 'event_not_used'],
    ['an update', { ...participantAdded, EventType: 'onParticipantUpdated' }, 'event_not_used'],
    ['an SMS participant', { ...smsParticipant, 'MessagingBinding.Address': '+15550100' }, 'no_identity'],
    ['another service', { ...participantAdded, ChatServiceSid: sid('IS') }, 'other_service'],
  ] as const) {
    t.match(parse(params), { kind: 'ignored', reason }, `${what} is ignored`);
  }

  for (const [what, params, code] of [
    ['no EventType', { ...participantAdded, EventType: [] }, 'WEBHOOK_PAYLOAD_INVALID'],
    ['a bad conversation SID', { ...participantAdded, ConversationSid: 'CHnope' }, 'WEBHOOK_PAYLOAD_INVALID'],
    ['an identity with a space', { ...participantAdded, Identity: 'john smith' }, 'WEBHOOK_PAYLOAD_INVALID'],
    ['two identities', { ...participantAdded, Identity: ['a', 'b'] }, 'WEBHOOK_PAYLOAD_INVALID'],
  ] as const) {
    const err = (() => { try { parse(params as Params); return null; } catch (e) { return e; } })();
    t.ok(err instanceof DomainError && err.code === code && err.kind === 'invalid', `${what}: 400 ${code}`);
  }
});

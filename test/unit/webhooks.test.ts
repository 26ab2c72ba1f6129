/**
 * Webhook intake without a server: Standard Webhooks signatures, Basic auth parsing, event times,
 * and both payload parsers (neutral format and CometChat envelopes), as pure functions.
 */
import t from 'tap';
import { DomainError } from '../../src/lib/errors.js';
import { basicCredentialsMatch, parseBasicAuthorization } from '../../src/webhooks/basic-auth.js';
import { parseCometChatDelivery } from '../../src/webhooks/cometchat-payload.js';
import { isPlausibleEventTime, parseRfc3339, unixTimeToMs } from '../../src/webhooks/event-time.js';
import { parseStandardEvent } from '../../src/webhooks/standard-payload.js';
import { verifyStandardWebhook } from '../../src/webhooks/standard-signature.js';
import { basicAuthHeader, cometchatPayload, generateSigningSecret, signStandardWebhook, standardDelivery, standardEvent } from '../helpers/deliveries.js';

const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);
const nowSeconds = NOW / 1000;
const codeOf = (fn: () => unknown) => {
  try { fn(); } catch (err) { return err instanceof DomainError ? err.code : `not a DomainError: ${(err as Error).message}`; }
  return 'no error';
};

t.test('Standard Webhooks signatures', async (t) => {
  const secret = generateSigningSecret();
  const body = '{"type":"group.deleted"}';
  const d = standardDelivery(secret, body, { id: 'msg_1', timestamp: nowSeconds });
  const verify = (headers: Record<string, string>, rawBody = body, at = NOW, s = secret) =>
    verifyStandardWebhook({ secret: s, headers, rawBody: Buffer.from(rawBody), nowMs: at });
  t.same(verify(d.headers), { id: 'msg_1', timestamp: nowSeconds }, 'a valid delivery');
  t.equal(codeOf(() => verify(d.headers, `${body} `)), 'WEBHOOK_SIGNATURE_INVALID', 'one more byte of body');
  t.equal(codeOf(() => verify(d.headers, body, NOW, generateSigningSecret())), 'WEBHOOK_SIGNATURE_INVALID', 'another secret');
  t.equal(codeOf(() => verify({ ...d.headers, 'webhook-id': 'msg_2' })), 'WEBHOOK_SIGNATURE_INVALID', 'the id is signed');
  t.equal(codeOf(() => verify(d.headers, body, NOW + 301_000)), 'WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE', 'replayed more than 5 min later');
  t.equal(codeOf(() => verify(d.headers, body, NOW - 301_000)), 'WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE', 'from the future');
  t.same(verify(d.headers, body, NOW + 299_000).id, 'msg_1', 'within the tolerance');
  t.equal(codeOf(() => verify({ ...d.headers, 'webhook-timestamp': '1e9' })), 'WEBHOOK_TIMESTAMP_INVALID');
  t.equal(codeOf(() => verify({ ...d.headers, 'webhook-id': 'has space' })), 'WEBHOOK_ID_INVALID');
  const { 'webhook-signature': _sig, ...noSignature } = d.headers;
  t.equal(codeOf(() => verify(noSignature)), 'WEBHOOK_HEADERS_MISSING');
  const rotated = standardDelivery(secret, body, { id: 'msg_3', timestamp: nowSeconds, extraSignatures: ['v1,AAAA', 'v1a,xyz'] });
  t.equal(verify(rotated.headers).id, 'msg_3', 'any listed v1 signature may match (rotation)');
  const v1a = signStandardWebhook(secret, 'msg_4', nowSeconds, body).replace(/^v1,/, 'v1a,');
  t.equal(codeOf(() => verify({ ...d.headers, 'webhook-id': 'msg_4', 'webhook-signature': v1a })), 'WEBHOOK_SIGNATURE_INVALID', 'other schemes are not ours');
});

t.test('HTTP Basic authorization', async (t) => {
  t.same(parseBasicAuthorization(basicAuthHeader('cometchat', 'pa:ss wörd')), { username: 'cometchat', password: 'pa:ss wörd' }, 'a colon in the password');
  t.same(parseBasicAuthorization(`basic ${Buffer.from('u:p').toString('base64')}`), { username: 'u', password: 'p' }, 'the scheme is case-insensitive');
  t.equal(parseBasicAuthorization(undefined), null);
  t.equal(parseBasicAuthorization('Bearer abc'), null);
  t.equal(parseBasicAuthorization(`Basic ${Buffer.from('no-colon').toString('base64')}`), null);
  t.equal(parseBasicAuthorization('Basic !!!'), null);
  const expected = { username: 'u', password: 'p' };
  t.ok(basicCredentialsMatch({ username: 'u', password: 'p' }, expected));
  t.notOk(basicCredentialsMatch({ username: 'u', password: 'q' }, expected));
  t.notOk(basicCredentialsMatch({ username: 'v', password: 'p' }, expected));
});

t.test('event times', async (t) => {
  t.equal(parseRfc3339('2026-06-01T12:00:00Z'), NOW);
  t.equal(parseRfc3339('2026-06-01t14:00:00.123456789+02:00'), NOW + 123, 'offsets, lowercase t, sub-ms digits dropped');
  t.ok(Number.isNaN(parseRfc3339('2026-02-30T00:00:00Z')), 'no calendar roll-over');
  t.ok(Number.isNaN(parseRfc3339('2026-06-01T12:00:00')), 'an offset is required');
  t.ok(Number.isNaN(parseRfc3339('2026-06-01T24:00:00Z')));
  t.equal(unixTimeToMs(1_700_000_000), 1_700_000_000_000, 'seconds');
  t.equal(unixTimeToMs(1_700_000_000_123), 1_700_000_000_123, 'milliseconds');
  for (const bad of [0, -1, '1700000000', Number.NaN, null]) t.ok(Number.isNaN(unixTimeToMs(bad)), `${String(bad)} is no time`);
  t.ok(isPlausibleEventTime(NOW + 299_000, NOW), 'up to 5 min ahead');
  t.notOk(isPlausibleEventTime(NOW + 301_000, NOW), 'not further');
  t.notOk(isPlausibleEventTime(Date.UTC(1999, 11, 31), NOW), 'not before 2000');
});

t.test('the neutral payload', async (t) => {
  const event = parseStandardEvent(standardEvent('group.created', { guid: 'g1', occurredAt: new Date(NOW - 1000), owner: 'o', members: ['a', 'a', 'b'] }), 'msg_1', NOW);
  t.match(event, { source: 'standard', key: 'msg_1', type: 'group.created', guid: 'g1', owner: 'o', members: ['a', 'b'] }, 'members without duplicates');
  t.equal(event.occurredAt.getTime(), NOW - 1000);
  t.equal(parseStandardEvent(standardEvent('group.member_added', { guid: 'g', occurredAt: new Date(NOW), owner: 'o', members: ['a'] }), 'm', NOW).owner, null, 'the owner matters only for creation and transfer');
  const bad = (body: unknown) => codeOf(() => parseStandardEvent(body, 'm', NOW));
  t.equal(bad(standardEvent('group.renamed', { guid: 'g', occurredAt: new Date(NOW) })), 'WEBHOOK_TYPE_UNSUPPORTED');
  t.not(bad(standardEvent('group.member_added', { guid: 'g', occurredAt: new Date(NOW), members: [] })), 'no error', 'a member event needs members');
  t.not(bad(standardEvent('group.deleted', { guid: 'g', occurredAt: new Date(NOW), members: ['a'] })), 'no error', 'a deletion takes no members');
  t.not(bad(standardEvent('group.owner_transferred', { guid: 'g', occurredAt: new Date(NOW) })), 'no error', 'a transfer needs the new owner');
  t.equal(bad(standardEvent('group.deleted', { guid: 'g', occurredAt: new Date(NOW + 600_000) })), 'WEBHOOK_OCCURRED_AT_INVALID', 'a time too far ahead');
});

t.test('the CometChat envelope', async (t) => {
  const seconds = Math.floor(NOW / 1000) - 60;
  const parsed = parseCometChatDelivery(cometchatPayload('group_member_added', { guid: 'g1', members: ['a', 'b'], updatedAt: seconds }), NOW);
  t.equal(parsed.kind, 'event');
  const event = parsed.kind === 'event' ? parsed.event : null;
  t.match(event, { source: 'cometchat', type: 'group.member_added', guid: 'g1', owner: null, members: ['a', 'b'] });
  t.equal(event?.occurredAt.getTime(), seconds * 1000, 'the time is data.group.updatedAt');
  t.match(event?.key, /^[0-9a-f]{64}$/, 'the key is a content hash');
  const again = parseCometChatDelivery(cometchatPayload('group_member_added', { guid: 'g1', members: ['a', 'b'], updatedAt: seconds }), NOW + 5_000);
  t.equal(again.kind === 'event' && again.event.key, event?.key, 'the same delivery has the same key');
  const noTime = parseCometChatDelivery(cometchatPayload('group_member_left', { guid: 'g1', members: ['a'] }), NOW);
  t.equal(noTime.kind === 'event' && noTime.event.occurredAt.getTime(), NOW, 'no usable time: the receive time');
  const created = parseCometChatDelivery(cometchatPayload('group_created', { guid: 'g2', owner: 'o', createdAt: seconds }), NOW);
  t.match(created.kind === 'event' && created.event, { type: 'group.created', owner: 'o', occurredAt: new Date(seconds * 1000) }, 'creation uses createdAt');
  t.same(parseCometChatDelivery({ trigger: 'message_sent', data: {}, appId: 'x', region: 'us', webhook: 'w' }, NOW), { kind: 'ignored', trigger: 'message_sent' });
  t.not(codeOf(() => parseCometChatDelivery(cometchatPayload('group_member_added', { guid: 'g', members: [] }), NOW)), 'no error', 'a member trigger needs members');
  t.not(codeOf(() => parseCometChatDelivery(cometchatPayload('group_owner_transferred', { guid: 'g' }), NOW)), 'no error', 'a transfer needs the new owner');
  t.not(codeOf(() => parseCometChatDelivery(cometchatPayload('group_member_added', { guid: 'g', members: ['a b'] }), NOW)), 'no error', 'uids follow the id rule');
});

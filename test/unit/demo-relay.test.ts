/**
 * The demo chat's relay (the stand-in chat platform): the webhooks it sends for each change, in a
 * strictly increasing order of event times, the parser's acceptance of them, and that it stores and
 * hands out ciphertext only.
 */
import t from 'tap';
import { DemoRelay, type PlatformWebhook } from '../../src/demo/relay.js';
import { parseCometChatDelivery } from '../../src/webhooks/cometchat-payload.js';

const ciphertext = (n: number) => Buffer.from(`ciphertext ${n} `.repeat(8)).toString('base64');

t.test('changes become CometChat webhooks the service accepts, each later than the one before', async (t) => {
  const sent: PlatformWebhook[] = [];
  const now = 1_800_000_000_000;
  const relay = new DemoRelay({ appId: 'demo', deliver: async (webhook) => { sent.push(webhook); }, now: () => now });
  const group = await relay.createGroup('alice', 'Hiking', ['bob']);
  t.same(group.members, ['alice', 'bob']);
  await relay.kick('alice', group.guid, 'bob');
  await relay.addMember('alice', group.guid, 'bob');
  await relay.addMember('alice', group.guid, 'carol');
  t.same(sent.map((w) => w.trigger), ['group_created', 'group_member_kicked', 'group_member_added', 'group_member_added']);
  const events = sent.map((w) => parseCometChatDelivery(w, now));
  t.same(events.map((e) => (e.kind === 'event' ? [e.event.type, e.event.members] : e.kind)), [
    ['group.created', ['alice', 'bob']], ['group.member_kicked', ['bob']], ['group.member_added', ['bob']], ['group.member_added', ['carol']],
  ]);
  const times = events.map((e) => (e.kind === 'event' ? e.event.occurredAt.getTime() : 0));
  t.ok(times.every((time, i) => i === 0 || time > times[i - 1]), 'strictly increasing event times, even within one second');
  t.same(relay.groupsOf('bob')[0].members, ['alice', 'bob', 'carol']);
  await t.rejects(relay.kick('alice', group.guid, 'alice'), { code: 'DEMO_OWNER_CANNOT_BE_KICKED' });
});

t.test('a failed delivery changes nothing', async (t) => {
  const relay = new DemoRelay({ appId: 'demo', deliver: async () => { throw new Error('service down'); } });
  await t.rejects(relay.createGroup('alice', 'Hiking', ['bob']), /service down/);
  t.same(relay.groupsOf('alice'), []);
});

t.test('messages: ciphertext only, members post, removed members still receive', async (t) => {
  const relay = new DemoRelay({ appId: 'demo', deliver: async () => {} });
  const { guid } = await relay.createGroup('alice', 'Hiking', ['bob', 'carol']);
  t.throws(() => relay.post('alice', guid, 'Meet at 9'), { code: 'DEMO_NOT_CIPHERTEXT' }, 'plaintext is refused');
  const first = relay.post('alice', guid, ciphertext(1));
  await relay.kick('alice', guid, 'bob');
  t.throws(() => relay.post('bob', guid, ciphertext(2)), { code: 'DEMO_NOT_A_MEMBER' }, 'a removed member cannot post');
  const second = relay.post('carol', guid, ciphertext(3));
  t.same(relay.messages('bob', guid).map((m) => m.id), [first.id, second.id], 'a removed member still receives (and cannot decrypt) new messages');
  t.same(relay.messages('carol', guid, first.id).map((m) => m.id), [second.id], 'after an id');
  t.throws(() => relay.messages('dave' as never, guid), { code: 'DEMO_GROUP_NOT_FOUND' });
  t.same(relay.stored().messages.map((m) => m.ciphertext), [ciphertext(1), ciphertext(3)], 'stored exactly as posted');
});

/**
 * Content the service does not use must never stop an event from applying. A user controls their own
 * display name and metadata, so a kick whose payload carries a name with a lone UTF-16 surrogate,
 * an escaped NUL, metadata nested tens of thousands of levels deep, huge numbers or duplicate keys
 * must still remove the member; and no body at all, however hostile, gets a 5xx.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { startTestApp } from '../../helpers/app.js';
import { desiredGroup } from '../../helpers/db.js';
import { basicAuthHeader, cometchatPayload, standardDelivery, standardEvent } from '../../helpers/deliveries.js';
import { seededRandom, testSeed } from '../../helpers/group-model.js';
import { RecordingRequester } from '../../helpers/recording-requester.js';

const h = await startTestApp(t, { reconcile: new RecordingRequester() });
const tenant = await h.onboardTenant();
const auth = basicAuthHeader(tenant.webhookBasic.username, tenant.webhookBasic.password);
let clock = Math.floor(Date.now() / 1000) - 3600;

const cometchat = (raw: string) => h.app.inject({
  method: 'POST', url: `/v1/webhooks/${tenant.appId}/cometchat`, headers: { authorization: auth, 'content-type': 'application/json' }, payload: raw,
});

/** JSON text for hostile values; text, because JSON.stringify cannot write some of them. */
function hostileJson(rng: () => number, depth = 0): string {
  const pick = Math.floor(rng() * 10);
  switch (pick) {
    case 0: return '"Mallory \\ud83d"'; // a lone high surrogate
    case 1: return '"\\udc00 tail"'; // a lone low surrogate
    case 2: return '"nul \\u0000 inside"';
    case 3: return '1e400'; // parses as Infinity
    case 4: return '-0.0000000000000000000000000001e-400';
    case 5: return `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    case 6: return `${'{"a":'.repeat(20_000)}null${'}'.repeat(20_000)}`;
    case 7: return '{"dup":1,"dup":"two","__proto__":{"polluted":true}}';
    case 8: return JSON.stringify(randomBytes(64).toString('latin1'));
    default: return depth < 2 ? `[${hostileJson(rng, depth + 1)},${hostileJson(rng, depth + 1)}]` : 'true';
  }
}

t.test('a kick, ban or leave removes its member whatever the fields the service does not use hold', async (t) => {
  const rng = seededRandom(testSeed(t, 0x5eed_c0de));
  const triggers = ['group_member_kicked', 'group_member_banned', 'group_member_left'];
  for (let i = 0; i < 24; i++) {
    const guid = `hostile-${i}`;
    const added = await cometchat(JSON.stringify(cometchatPayload('group_member_added', { guid, members: ['victim', 'other'], updatedAt: ++clock })));
    t.equal(added.statusCode, 200, `${guid}: member added`);
    const trigger = triggers[i % triggers.length];
    const value = hostileJson(rng);
    // The member's display name, the group's name and metadata, the actor and the envelope's extras
    // all carry the hostile value; the guid, the member uid and the time stay valid.
    const raw = `{"trigger":${JSON.stringify(trigger)},"appId":"x","region":"us","webhook":"w","extra":${value},`
      + `"data":{"group":{"guid":${JSON.stringify(guid)},"name":${value},"metadata":{"deep":${value}},"updatedAt":${++clock}},`
      + `"by":{"uid":"mod","name":${value}},"members":{"victim":{"uid":"victim","name":${value},"metadata":${value}}}},"trigger":${JSON.stringify(trigger)}}`;
    const res = await cometchat(raw);
    t.equal(res.statusCode, 200, `${guid} (${trigger}, value kind ${value.slice(0, 12)}…): accepted`, { body: res.body.slice(0, 300) });
    t.same((await desiredGroup(h.ctx.db, tenant.appId, guid))?.members, ['other'], `${guid}: the member is gone`);
  }
});

t.test('hostile bodies get a 4xx with a code, never a 5xx, in both formats', async (t) => {
  const rng = seededRandom(testSeed(t, 0xbad_b0d7));
  const fields = ['trigger', 'guid', 'owner', 'members', 'member', 'updatedAt'];
  for (let i = 0; i < 30; i++) {
    const value = hostileJson(rng);
    const field = fields[i % fields.length];
    const group = `{"guid":${field === 'guid' ? value : '"g-hostile"'},"owner":${field === 'owner' ? value : '"o"'},"updatedAt":${field === 'updatedAt' ? value : ++clock}}`;
    const members = field === 'members' ? value : `{${field === 'member' ? `${JSON.stringify('x\u0000y')}:${value}` : '"m":{}'}}`;
    const raw = `{"trigger":${field === 'trigger' ? value : '"group_member_added"'},"data":{"group":${group},"members":${members}}}`;
    const res = await cometchat(raw);
    t.ok(res.statusCode < 500, `CometChat, hostile ${field}: ${res.statusCode}`, { body: res.body.slice(0, 300) });
    if (res.statusCode >= 400) t.match(res.json(), { error: { code: /^[A-Z_]+$/ } }, 'an envelope with a code');

    const standardRaw = `{"type":"group.member_added","occurredAt":${JSON.stringify(new Date().toISOString())},`
      + `"group":{"guid":${field === 'guid' ? value : '"g-std"'}},"members":${field === 'members' ? value : '["m"]'}}`;
    const d = standardDelivery(tenant.signingSecret, standardRaw);
    const std = await h.app.inject({ method: 'POST', url: `/v1/webhooks/${tenant.appId}`, headers: d.headers, payload: d.payload });
    t.ok(std.statusCode < 500, `Standard Webhooks, hostile ${field}: ${std.statusCode}`, { body: std.body.slice(0, 300) });
  }
});

/**
 * A Twilio Conversations tenant end to end: a loopback stand-in for Twilio's REST API, signed
 * Conversations webhooks over the HTTP API, the queue on real Redis, the worker acting as the
 * tenant's service identity on the Virgil emulator, and real E3Kit clients who take their Virgil
 * JWTs from /v1/virgil-jwt and use the conversation SID as the group.
 *
 * Twilio is modelled as it behaves (test/helpers/twilio.ts): SDK changes and REST changes made with
 * X-Twilio-Webhook-Enabled send a webhook, REST changes without it send nothing, and only the drift
 * sweep, reading the participant lists page by page, can see those.
 */
import t, { type Test } from 'tap';
import type { TestApp } from '../helpers/app.js';
import { registeredUsers, serviceView, startWorkerStack, waitForStatus } from '../helpers/worker-stack.js';
import { waitFor } from '../helpers/wait.js';
import { sid, TwilioPlatform, TwilioStandIn, twilioDate, twilioTestSettings } from '../helpers/twilio.js';

const appId = 'twilio-e2e';
const settings = twilioTestSettings(`https://chat.example.com/v1/webhooks/${appId}/twilio`);
const standIn = await TwilioStandIn.start(t, settings, { maxPageSize: 2 });
/** The sweep's waits between retries: recorded, not slept. */
const sweepWaits: number[] = [];

// A conversation that exists before the tenant is onboarded: the first sweep imports it.
const existing = sid('CH');
standIn.conversations.set(existing, {
  sid: existing, dateCreated: twilioDate(Date.now() - 86_400_000),
  participants: new Map(['alice', 'bob', null].map((identity) => [`MB${identity ?? 'sms'}`.padEnd(34, '0'), { sid: sid('MB'), identity, dateCreated: twilioDate(Date.now() - 86_400_000) }])),
});

const stack = await startWorkerStack(t, {
  app: { env: { TWILIO_API_URL: standIn.url } },
  worker: {
    twilioSweep: {
      pollMs: 100, retry: { attempts: 4, baseDelayMs: 200, maxDelayMs: 1_000 }, random: () => 0.5, sleep: async (ms) => { sweepWaits.push(ms); },
    },
  },
});
const { h } = stack;
const tenant = await h.onboardTenant({ appId, body: { twilio: settings } });
const platform = new TwilioPlatform(h.app, appId, settings, standIn);
const svc = await serviceView(t, h, appId);
const users = await registeredUsers(t, h, tenant, ['alice', 'bob', 'carol']);
const client = (uid: string) => users.get(uid)!;
const ownerCard = await client('alice').findUsers(svc.identity);

const groupErrorCode = (err: unknown) => (err as { name?: string; errorCode?: number }).name === 'GroupError' ? (err as { errorCode: number }).errorCode : null;
const load = (uid: string, conversation: string) => client(uid).loadGroup(svc.groupIdentity(conversation), ownerCard);

async function cannotLoad(t: Test, uid: string, conversation: string, what: string) {
  const err = await load(uid, conversation).then(() => null, (e: unknown) => e);
  t.ok(err && [3, 11].includes(groupErrorCode(err) ?? -1), `${what}: ${uid} cannot load the group`);
}

interface SweepStatus { startedAt: string | null; finishedAt: string | null; fullRequested: boolean; result: Record<string, unknown> | null; lastError: unknown }
const sweepStatus = async (app: TestApp = h) => (await app.admin('GET', `/admin/v1/tenants/${appId}/twilio/sweep`)).json().data as SweepStatus;
const finished = (s: SweepStatus) => s.startedAt !== null && s.finishedAt !== null && s.finishedAt >= s.startedAt && !s.fullRequested;

/** Asks for a full sweep and waits until one that started after the request has finished. */
async function sweep(): Promise<SweepStatus> {
  const before = await sweepStatus();
  t.equal((await h.admin('POST', `/admin/v1/tenants/${appId}/twilio/import`)).statusCode, 202);
  return waitFor(async () => {
    const now = await sweepStatus();
    return finished(now) && now.startedAt! > (before.startedAt ?? '') ? now : undefined;
  }, 'a full Twilio sweep');
}

t.test('the first sweep imports a conversation that existed before onboarding', async (t) => {
  const first = await waitFor(async () => { const s = await sweepStatus(); return finished(s) ? s : undefined; }, 'the first sweep');
  t.match(first.result, { full: true, conversations: 1, changed: 1, missing: 0 });
  const status = await waitForStatus(h, appId, existing, (s) => s.status === 'synced');
  t.same(status.virgilMembers, ['alice', 'bob'], 'the identities are members; the SMS participant is not');
  const group = await load('bob', existing);
  t.equal(group.initiator, svc.identity, 'the service identity owns the group');
});

t.test('webhooks: members read each other, a removed participant cannot read new messages, deletion ends the group', async (t) => {
  const conversation = await platform.createConversation('sdk');
  await platform.addParticipant(conversation, 'alice', 'sdk', 'alice');
  await platform.addParticipant(conversation, 'bob', 'rest');
  await platform.addParticipant(conversation, 'carol', 'rest');
  await platform.addParticipant(conversation, null, 'rest');
  let status = await waitForStatus(h, appId, conversation, (s) => s.status === 'synced' && s.virgilMembers.length === 3);
  t.same(status.virgilMembers, ['alice', 'bob', 'carol']);
  t.equal(status.identity, svc.groupIdentity(conversation));

  const groups = new Map(await Promise.all(['alice', 'bob', 'carol'].map(async (uid) => [uid, await load(uid, conversation)] as const)));
  const aliceCard = await client('bob').findUsers(client('alice').identity);
  const hello = await groups.get('alice')!.encrypt('hello over Twilio');
  for (const uid of ['bob', 'carol']) t.equal(await groups.get(uid)!.decrypt(hello, aliceCard), 'hello over Twilio', `${uid} reads alice`);

  await platform.removeParticipant(conversation, 'carol', 'rest');
  status = await waitForStatus(h, appId, conversation, (s) => s.status === 'synced' && s.virgilMembers.length === 2);
  t.same(status.virgilMembers, ['alice', 'bob']);
  await groups.get('alice')!.update();
  const secret = await groups.get('alice')!.encrypt('after carol left');
  await groups.get('bob')!.update();
  t.equal(await groups.get('bob')!.decrypt(secret, aliceCard), 'after carol left', 'bob still reads new messages');
  const stale = await groups.get('carol')!.decrypt(secret, aliceCard).then(() => 'decrypted', (e: unknown) => groupErrorCode(e));
  t.equal(stale, 10, 'carol\'s group cannot read the new epoch (GroupIsOutdated)');
  await cannotLoad(t, 'carol', conversation, 'removed');

  await platform.deleteConversation(conversation, 'rest');
  status = await waitForStatus(h, appId, conversation, (s) => s.status === 'deleted');
  t.same(status.virgilMembers, []);
  t.equal(await svc.participants(conversation, []), null, 'the group is gone from Virgil');
  await cannotLoad(t, 'alice', conversation, 'deleted');
});

t.test('drift: REST changes without a webhook are repaired by the sweep, through pages and Twilio\'s 429 and 5xx', async (t) => {
  const conversation = await platform.createConversation('rest');
  await platform.addParticipant(conversation, 'alice', 'rest');
  await waitForStatus(h, appId, conversation, (s) => s.status === 'synced' && s.virgilMembers.length === 1);
  await platform.addParticipant(conversation, null, 'rest-silent');
  await platform.addParticipant(conversation, 'bob', 'rest-silent');
  await platform.addParticipant(conversation, 'carol', 'rest-silent');
  // Created over REST without the header: no webhook at all, only a listing can find it.
  const unseen = await platform.createConversation('rest-silent');
  await platform.addParticipant(unseen, 'carol', 'rest-silent');
  t.equal((await h.admin('GET', `/admin/v1/tenants/${appId}/groups/${unseen}`)).statusCode, 404, 'the service has heard nothing of it');

  const requestsBefore = standIn.requests.length;
  sweepWaits.length = 0;
  standIn.failNext({ status: 429, retryAfter: '1' }, { status: 503 });
  const swept = await sweep();
  t.same(swept.lastError, null);
  t.match(swept.result, { full: true, changed: 2, missing: 0 }, 'two conversations changed');
  // Full jitter fixed at one half of 200 ms × 2^(attempt-1); the 429 asked for a second.
  t.same(sweepWaits, [1_000, 200], 'the 429 was retried after its Retry-After, the 503 after a backoff');
  const pages = standIn.requests.slice(requestsBefore).filter((r) => r.includes(`/Conversations/${conversation}/Participants`));
  t.ok(pages.length >= 2 && pages.some((r) => /Page=1&PageToken=/.test(r)), `four participants were read in pages of two (${pages.length} requests)`);

  let status = await waitForStatus(h, appId, conversation, (s) => s.status === 'synced' && s.virgilMembers.length === 3);
  t.same(status.virgilMembers, ['alice', 'bob', 'carol'], 'bob and carol, added without a webhook, are members');
  status = await waitForStatus(h, appId, unseen, (s) => s.status === 'synced');
  t.same(status.virgilMembers, ['carol'], 'the conversation created without a webhook is a group');
  const bobGroup = await load('bob', conversation);
  t.equal(await bobGroup.decrypt(await (await load('alice', conversation)).encrypt('found by the sweep'), await client('bob').findUsers(client('alice').identity)), 'found by the sweep');

  const participants = standIn.conversations.get(conversation)!.participants;
  for (const [key, p] of participants) if (p.identity === 'bob') participants.delete(key);
  await sweep();
  status = await waitForStatus(h, appId, conversation, (s) => s.status === 'synced' && !s.virgilMembers.includes('bob'));
  t.same(status.virgilMembers, ['alice', 'carol'], 'bob, removed without a webhook, is removed');
  await cannotLoad(t, 'bob', conversation, 'removed silently');

  // A conversation Twilio no longer knows is reported, never deleted by a sweep.
  standIn.conversations.delete(unseen);
  const reported = await sweep();
  t.match(reported.result, { missing: 1 });
  t.equal((await waitForStatus(h, appId, unseen, () => true)).status, 'synced', 'the group stays');

  // Unless the tenant says its conversations are deleted without webhooks: then the 404 deletes it.
  const patched = await h.admin('PATCH', `/admin/v1/tenants/${appId}`, { twilio: { deleteMissingConversations: true } });
  t.equal(patched.json().data.twilio.deleteMissingConversations, true, patched.body.slice(0, 200));
  const deleting = await sweep();
  t.match(deleting.result, { missing: 0, changed: 1 }, 'the missing conversation counted as a change');
  status = await waitForStatus(h, appId, unseen, (s) => s.status === 'deleted');
  t.same(status.virgilMembers, []);
  await cannotLoad(t, 'carol', unseen, 'deleted by the sweep');
  const again = await sweep();
  t.match(again.result, { missing: 0, changed: 0 }, 'a deleted group is not looked for again');
});

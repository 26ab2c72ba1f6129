/**
 * Virgil Cloud's 10 KB limit on a Keyknox push's `meta` (50005), reproduced by the emulator, and the
 * worker's batching that keeps every ticket push under it: a 99-member group created by one webhook,
 * a kick from it (the new epoch shared in batches), 60 members added at once, and a run that stops
 * after its first batch finished by the next. Most members are cheap test cards; the members who
 * read are real E3Kit clients.
 */
import t from 'tap';
import type { VirgilStep } from '../../src/reconcile/reconcile.js';
import { mintVirgilJwt, publishTestCard } from '../helpers/virgil-clients.js';
import { registeredUsers, sendStandard, serviceView, startWorkerStack, waitForStatus } from '../helpers/worker-stack.js';

// One run stops right after its first batch of adds (a crash there), once per listed group.
const stopAfterFirstBatch = new Set(['burst']);
const stopped: string[] = [];
const steps: Array<{ guid: string; step: VirgilStep; members: number }> = [];
const observeVirgilChange = (step: VirgilStep, group: { guid: string }, uids: string[]) => {
  steps.push({ guid: group.guid, step, members: uids.length });
  if (step === 'added' && stopAfterFirstBatch.delete(group.guid)) {
    stopped.push(group.guid);
    throw new Error('stopped after the first batch');
  }
};

const stack = await startWorkerStack(t, { worker: { observeVirgilChange }, attempts: 3 });
const { h } = stack;
const tenant = await h.onboardTenant();
const svc = await serviceView(t, h, tenant.appId);
const readers = await registeredUsers(t, h, tenant, ['sender', 'reader', 'late']);
const reader = (uid: string) => readers.get(uid)!;
const ownerCard = await reader('reader').findUsers(svc.identity);
const senderCard = await reader('reader').findUsers(reader('sender').identity);

/** Publishes cards for uids that need no client (a member who never reads in this test). */
async function cardsFor(uids: string[]) {
  for (let i = 0; i < uids.length; i += 25) {
    await Promise.all(uids.slice(i, i + 25).map((uid) => publishTestCard(h.emulator.url, tenant.virgil, svc.userIdentity(uid))));
  }
}
const base = Date.now() - 600_000;
const at = (s: number) => new Date(base + s * 1000);

t.test('the emulator refuses a Keyknox push whose meta is over 10 KB, with 50005, as Virgil Cloud does', async (t) => {
  const token = mintVirgilJwt(tenant.virgil, 'limit-probe');
  const push = (url: string, body: Record<string, unknown>, method = 'POST') => fetch(`${h.emulator.url}${url}`, {
    method, headers: { authorization: `Virgil ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const v2 = (meta: string) => push('/keyknox/v2/push', { root: 'r', path: 'p', key: meta.length.toString(), identities: ['limit-probe'], meta, value: 'AAAA' });
  let res = await v2('A'.repeat(10_244));
  t.equal(res.status, 400);
  t.equal((await res.json() as { code: number }).code, 50005, 'v2 push: 50005');
  res = await push('/keyknox/v1', { meta: 'A'.repeat(10_244), value: 'AAAA' }, 'PUT');
  t.equal(res.status, 400);
  t.equal((await res.json() as { code: number }).code, 50005, 'v1 push: 50005');
  t.equal((await v2('A'.repeat(10_240))).status, 200, 'exactly 10,240 characters are accepted');
});

t.test('a 99-member group created by one webhook syncs; a kick shares the new epoch with all 97 who stay', async (t) => {
  const others = Array.from({ length: 97 }, (_, i) => `m${String(i).padStart(2, '0')}`);
  await cardsFor(others);
  const members = ['sender', ...others, 'reader'];
  await sendStandard(h, tenant, 'group.created', { guid: 'big', occurredAt: at(1), owner: 'sender', members });
  let status = await waitForStatus(h, tenant.appId, 'big', (s) => s.status === 'synced', 60_000);
  t.equal(status.virgilMembers.length, 99, '99 members on Virgil');
  t.equal((await svc.participants('big', members))!.length, 99);
  const created = steps.filter((s) => s.guid === 'big');
  t.equal(created[0]!.step, 'created');
  t.ok(created.length >= 4 && created.every((s) => s.members <= 28), `created with a first batch, then added in batches of at most 28 (${created.map((s) => s.members).join('+')})`);

  const sent = await reader('sender').loadGroup(svc.groupIdentity('big'), ownerCard);
  const hello = await sent.encrypt('hello, 98 others');
  const last = await reader('reader').loadGroup(svc.groupIdentity('big'), ownerCard);
  t.equal(await last.decrypt(hello, senderCard), 'hello, 98 others', 'the last member decrypts');

  const versionBefore = status.membershipVersion;
  await sendStandard(h, tenant, 'group.member_kicked', { guid: 'big', occurredAt: at(2), members: ['m00'] });
  status = await waitForStatus(h, tenant.appId, 'big', (s) => s.status === 'synced' && !s.virgilMembers.includes('m00'), 60_000);
  t.equal(status.virgilMembers.length, 98);
  t.ok(status.membershipVersion > versionBefore, 'the kick raised the membership version');
  t.notOk((await svc.participants('big', members))!.includes('m00'), 'm00 is no participant');
  await sent.update();
  const afterKick = await sent.encrypt('after the kick');
  await last.update();
  t.equal(await last.decrypt(afterKick, senderCard), 'after the kick', 'the last member of the last batch holds the new epoch');
});

t.test('60 members added at once to a small group sync, even when a run stops after its first batch', async (t) => {
  await sendStandard(h, tenant, 'group.created', { guid: 'burst', occurredAt: at(10), owner: 'sender', members: ['sender'] });
  await waitForStatus(h, tenant.appId, 'burst', (s) => s.status === 'synced');
  const sent = await reader('sender').loadGroup(svc.groupIdentity('burst'), ownerCard);
  const early = await sent.encrypt('before the burst');

  const burst = [...Array.from({ length: 59 }, (_, i) => `b${String(i).padStart(2, '0')}`), 'late'];
  await cardsFor(burst.slice(0, 59));
  await sendStandard(h, tenant, 'group.member_added', { guid: 'burst', occurredAt: at(11), members: burst });
  const status = await waitForStatus(h, tenant.appId, 'burst', (s) => s.status === 'synced' && s.virgilMembers.length === 61, 60_000);
  t.same(status.pendingRegistration, []);
  t.equal(status.lastError, null);
  const adds = steps.filter((s) => s.guid === 'burst' && s.step === 'added');
  t.ok(adds.length >= 3 && adds.every((s) => s.members <= 28), `added in batches of at most 28 (${adds.map((s) => s.members).join('+')})`);
  t.same(stopped, ['burst'], 'a run did stop after its first batch');
  t.ok([...h.logLines, ...stack.logLines].some((line) => line.includes('"msg":"reconcile failed"') && line.includes('"guid":"burst"')), 'and failed (then retried)');
  t.equal(adds.reduce((n, s) => n + s.members, 0), 60, 'the next run added exactly the members the first did not');
  const late = await reader('late').loadGroup(svc.groupIdentity('burst'), ownerCard);
  t.equal(await late.decrypt(early, senderCard), 'before the burst', 'the last of the 60 reads the history');
});

/**
 * E3Kit groups owned by a service identity, through the real e3kit-node 2.5.1 and Keyknox v2:
 * create, load, add (history readable), remove (new epoch unreadable), delete, the 100-member cap.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { startEmulator } from '../../src/http/emulator/index.js';
import { createE3Client, mintVirgilJwt, publishTestCard, type Teardown } from '../helpers/virgil-clients.js';

const emulator = await startEmulator();
t.teardown(() => emulator.close());
const app = await emulator.createApp();
const unique = randomBytes(4).toString('hex');

async function registered(name: string, tt: Teardown) {
  const e3 = await createE3Client({ apiUrl: emulator.url, getToken: () => mintVirgilJwt(app, `${name}-${unique}`), t: tt });
  await e3.register();
  return e3;
}

t.test('service-owned group: load, add, remove, delete', async (t) => {
  const [service, alice, bob, carol] = await Promise.all(['svc', 'alice', 'bob', 'carol'].map((name) => registered(name, t)));
  const groupId = `group-${unique}-members`;

  const ownerGroup = await service.createGroup(groupId, await service.findUsers([alice.identity, bob.identity]));
  t.same([...ownerGroup.participants].sort(), [service.identity, alice.identity, bob.identity].sort());
  await t.rejects(service.createGroup(groupId, await service.findUsers(alice.identity)), { name: 'GroupTicketAlreadyExistsError' });

  const serviceCard = await alice.findUsers(service.identity);
  const aliceGroup = await alice.loadGroup(groupId, serviceCard);
  const bobGroup = await bob.loadGroup(groupId, serviceCard);
  const aliceCard = await bob.findUsers(alice.identity);
  const bobCard = await alice.findUsers(bob.identity);
  const fromAlice = await aliceGroup.encrypt('hi from alice');
  const fromBob = await bobGroup.encrypt('hi from bob');
  t.equal(await bobGroup.decrypt(fromAlice, aliceCard), 'hi from alice');
  t.equal(await aliceGroup.decrypt(fromBob, bobCard), 'hi from bob');
  await t.rejects(aliceGroup.add(await alice.findUsers(carol.identity)), { name: 'GroupError' }, 'only the initiator changes the group');

  // Add: carol reads the history; existing members keep reading their own ticket copies.
  await ownerGroup.add(await service.findUsers(carol.identity));
  const carolGroup = await carol.loadGroup(groupId, await carol.findUsers(service.identity));
  t.equal(await carolGroup.decrypt(fromAlice, await carol.findUsers(alice.identity)), 'hi from alice');
  const bobReloaded = await bob.loadGroup(groupId, serviceCard);
  t.ok(bobReloaded.participants.includes(carol.identity), 'existing member sees the new participant');
  const carolCard = await alice.findUsers(carol.identity);
  t.equal(await aliceGroup.decrypt(await carolGroup.encrypt('hi from carol'), carolCard), 'hi from carol');

  // Remove: a new epoch that bob cannot read, and no ticket access for him any more.
  await ownerGroup.remove(bobCard);
  await aliceGroup.update();
  await carolGroup.update();
  t.notOk(aliceGroup.participants.includes(bob.identity));
  const afterRemoval = await aliceGroup.encrypt('bob is gone');
  t.equal(await carolGroup.decrypt(afterRemoval, await carol.findUsers(alice.identity)), 'bob is gone');
  await t.rejects(bobReloaded.decrypt(afterRemoval, aliceCard), 'removed member cannot decrypt the new epoch');
  await t.rejects(bob.loadGroup(groupId, serviceCard), { name: 'GroupError' }, 'removed member cannot load the group');
  await t.rejects(bobReloaded.update(), 'removed member cannot update the group');

  // Delete: nobody can load the tickets any more; deleting again is harmless.
  await service.deleteGroup(groupId);
  await t.rejects(alice.loadGroup(groupId, serviceCard), { name: 'GroupError' });
  await t.rejects(carol.loadGroup(groupId, serviceCard), { name: 'GroupError' });
  await t.rejects(service.loadGroup(groupId, await service.findUsers(service.identity)), { name: 'GroupError' });
  await service.deleteGroup(groupId);
});

t.test('groups are capped at 100 participants including the initiator', async (t) => {
  const service = await registered('svc-big', t);
  const members = Array.from({ length: 100 }, (_, index) => `member${index}-${unique}`);
  for (let i = 0; i < members.length; i += 20) {
    await Promise.all(members.slice(i, i + 20).map((identity) => publishTestCard(emulator.url, app, identity)));
  }
  const cards = await service.findUsers(members);
  t.equal(Object.keys(cards).length, 100, 'findUsers pages through 100 identities');

  await t.rejects(service.createGroup(`group-${unique}-too-big`, cards), { name: 'GroupError', errorCode: 6 }, '101 participants are refused');
  // Virgil Cloud refuses one ticket push for that many recipients (meta over 10 KB, 50005), as the
  // emulator does: a full group is made with a first batch and filled with adds of 28 at most.
  const entries = Object.entries(cards);
  await t.rejects(service.createGroup(`group-${unique}-one-push`, Object.fromEntries(entries.slice(0, 40))),
    { name: 'KeyknoxClientError', status: 400, code: 50005 }, 'a ticket for 41 recipients is over the meta limit');
  const group = await service.createGroup(`group-${unique}-full`, Object.fromEntries(entries.slice(0, 28)));
  for (let i = 28; i < 99; i += 28) await group.add(Object.fromEntries(entries.slice(i, Math.min(i + 28, 99))));
  t.equal(group.participants.length, 100, '100 participants are accepted');
  await t.rejects(group.add(Object.fromEntries(entries.slice(99))), { name: 'GroupError', errorCode: 5 }, 'a 101st is refused');
});

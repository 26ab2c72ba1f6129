/**
 * The real e3kit-node 2.5.1 against the emulator: the Node ≥ 18 runtime workaround, registration,
 * lookup, authenticated encryption, key backup/restore through Pythia + Keyknox, key rotation.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { startEmulator } from '../../src/http/emulator/index.js';
import { loadE3kit } from '../../src/virgil/e3kit-runtime.js';
import { createE3Client, mintVirgilJwt, type Teardown, type VirgilAppCredentials } from '../helpers/virgil-clients.js';

const listenersBefore = {
  uncaughtException: process.listenerCount('uncaughtException'),
  unhandledRejection: process.listenerCount('unhandledRejection'),
};

const emulator = await startEmulator();
t.teardown(() => emulator.close());
const app: VirgilAppCredentials = await emulator.createApp();
const unique = randomBytes(4).toString('hex');

function client(identity: string, tt: Teardown) {
  return createE3Client({ apiUrl: emulator.url, getToken: () => mintVirgilJwt(app, identity), t: tt });
}

t.test('loadE3kit works with global fetch and leaves no process-wide error listeners', async (t) => {
  t.type(globalThis.fetch, 'function', 'global fetch is present before loading');
  const [first, second] = await Promise.all([loadE3kit(), loadE3kit()]);
  t.equal(first, second, 'the module is loaded once');
  t.type(first.EThree.initialize, 'function');
  const e3 = await client(`runtime-${unique}`, t);
  t.equal(e3.identity, `runtime-${unique}`);
  t.type(globalThis.fetch, 'function', 'global fetch is still present');
  t.equal(process.listenerCount('uncaughtException'), listenersBefore.uncaughtException);
  t.equal(process.listenerCount('unhandledRejection'), listenersBefore.unhandledRejection);
});

t.test('two users register, find each other and exchange an authenticated message', async (t) => {
  const alice = await client(`alice-${unique}`, t);
  const bob = await client(`bob-${unique}`, t);
  await alice.register();
  await bob.register();

  const bobCard = await alice.findUsers(bob.identity);
  const aliceCard = await bob.findUsers(alice.identity);
  t.equal(bobCard.identity, bob.identity);
  t.equal(aliceCard.identity, alice.identity);

  const ciphertext = await alice.authEncrypt('hello bob', bobCard);
  t.equal(await bob.authDecrypt(ciphertext, aliceCard), 'hello bob');

  const both = await alice.findUsers([alice.identity, bob.identity]);
  t.same(Object.keys(both).sort(), [alice.identity, bob.identity].sort(), 'findUsers with a list');

  const again = await client(alice.identity, t);
  await t.rejects(again.register(), { name: 'IdentityAlreadyExistsError' }, 'a second registration is refused by the client');
  await t.rejects(alice.findUsers(`nobody-${unique}`), { name: 'UsersNotFoundError' });
});

t.test('backup, restore on a new device, wrong password, rotation', async (t) => {
  const identity = `carol-${unique}`;
  const friend = await client(`dave-${unique}`, t);
  await friend.register();
  const laptop = await client(identity, t);
  await laptop.register();
  await laptop.backupPrivateKey('correct horse');
  await t.rejects(laptop.backupPrivateKey('correct horse'), { name: 'CloudEntryExistsError' }, 'v1 backup exists once');

  const friendCard = await friend.findUsers(friend.identity);
  const oldMessage = await friend.authEncrypt('before the new phone', await friend.findUsers(identity));
  await laptop.cleanup();
  t.equal(await laptop.hasLocalPrivateKey(), false);

  const phone = await client(identity, t);
  await t.rejects(phone.restorePrivateKey('wrong password'), { name: 'WrongKeyknoxPasswordError' });
  t.equal(await phone.hasLocalPrivateKey(), false, 'nothing restored with a wrong password');
  await phone.restorePrivateKey('correct horse');
  t.equal(await phone.authDecrypt(oldMessage, friendCard), 'before the new phone');

  // Named backups go through Keyknox v2 (pull before push, previous hash on overwrite).
  await phone.backupPrivateKey('second secret', 'phone');
  const tablet = await client(identity, t);
  await tablet.restorePrivateKey('second secret', 'phone');
  t.equal(await tablet.authDecrypt(oldMessage, friendCard), 'before the new phone');
  await tablet.resetPrivateKeyBackupWithKeyName('phone');
  await tablet.changePassword('correct horse', 'battery staple');
  const watch = await client(identity, t);
  await watch.restorePrivateKey('battery staple');
  t.equal(await watch.hasLocalPrivateKey(), true, 'restored after changePassword');

  const before = await friend.findUsers(identity);
  await watch.cleanup();
  await watch.rotatePrivateKey();
  const after = await friend.findUsers(identity);
  t.not(after.id, before.id, 'findUsers returns the new card');
  t.equal(after.previousCardId, before.id, 'the new card replaces the old one');
  const fresh = await friend.authEncrypt('after rotation', after);
  t.equal(await watch.authDecrypt(fresh, friendCard), 'after rotation');

  await watch.resetPrivateKeyBackup();
  const other = await client(identity, t);
  await t.rejects(other.restorePrivateKey('battery staple'), { name: 'PrivateKeyNoBackupError' });

  await watch.unregister();
  await t.rejects(friend.findUsers(identity), { name: 'UsersNotFoundError' }, 'revoked cards (and their predecessors) disappear');
});

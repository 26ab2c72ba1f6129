/**
 * virgil-sdk 6.2.0 CardManager (with virgil-crypto 5) against the emulator: every signing key type,
 * rotation chains, revocation, per-app isolation, the auth errors the SDK reacts to, fault injection
 * seen by the clients, and persistence across a restart.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { initCrypto, KeyPairType, VirgilCardCrypto, VirgilCrypto } from 'virgil-crypto';
import { CallbackJwtProvider, CardManager, RawSignedModel, VirgilCardVerifier } from 'virgil-sdk';
import { startEmulator } from '../../src/http/emulator/index.js';
import { generateEd25519KeyPair } from '../../src/virgil/keys.js';
import { createE3Client, mintVirgilJwt, type VirgilAppCredentials } from '../helpers/virgil-clients.js';
import { waitFor } from '../helpers/wait.js';

await initCrypto();
const crypto = new VirgilCrypto();
const cardCrypto = new VirgilCardCrypto(crypto);
const unique = randomBytes(4).toString('hex');

const emulator = await startEmulator();
t.teardown(() => emulator.close());
const appA = await emulator.createApp();
const appB = await emulator.createApp();

function cardManager(getToken: (context: { forceReload?: boolean }) => string, apiUrl = emulator.url) {
  return new CardManager({
    cardCrypto,
    // Self signatures stay checked; the emulator cannot produce Virgil's own signature.
    cardVerifier: new VirgilCardVerifier(cardCrypto, { verifySelfSignature: true, verifyVirgilSignature: false }),
    accessTokenProvider: new CallbackJwtProvider(getToken),
    retryOnUnauthorized: true,
    apiUrl,
  });
}
const managerFor = (app: VirgilAppCredentials, identity: string) => cardManager(() => mintVirgilJwt(app, identity));

t.test('cards of every signing key type publish and verify', async (t) => {
  const types = [KeyPairType.ED25519, KeyPairType.SECP256R1, KeyPairType.RSA_2048, KeyPairType.CURVE25519_ED25519, KeyPairType.CURVE25519_ROUND5_ED25519_FALCON];
  for (const type of types) {
    const identity = `${type.toLowerCase()}-${unique}`;
    const manager = managerFor(appA, identity);
    const keyPair = crypto.generateKeys(type);
    const published = await manager.publishCard({ privateKey: keyPair.privateKey, publicKey: keyPair.publicKey });
    const [found] = await manager.searchCards(identity);
    t.equal(found?.id, published.id, `${type}: search returns the card`);

    // A well-formed signature by the right key over other data: the emulator must notice for this key type too.
    const forged = manager.generateRawCard({ privateKey: keyPair.privateKey, publicKey: keyPair.publicKey, identity });
    (forged.signatures[0] as { signature: string }).signature = cardCrypto.generateSignature({ value: `${forged.contentSnapshot} `, encoding: 'utf8' }, keyPair.privateKey).toString('base64');
    await t.rejects(manager.publishRawCard(forged), { name: 'VirgilHttpError', httpStatus: 400, errorCode: 30101 }, `${type}: forged self signature refused`);
  }

  // A key-agreement-only key cannot sign; virgil-crypto would "verify" anything with it.
  const x25519 = crypto.generateKeys(KeyPairType.CURVE25519);
  const signer = crypto.generateKeys(KeyPairType.ED25519);
  const identity = `curve-${unique}`;
  const content = JSON.stringify({ identity, created_at: 1, version: '5.0', public_key: crypto.exportPublicKey(x25519.publicKey).toString('base64') });
  const raw = new RawSignedModel(content, [{ signer: 'self', signature: cardCrypto.generateSignature({ value: content, encoding: 'utf8' }, signer.privateKey).toString('base64') }]);
  await t.rejects(managerFor(appA, identity).publishRawCard(raw), { name: 'VirgilHttpError', httpStatus: 400, errorCode: 30100 });
});

t.test('rotation links cards, revocation hides the chain from search', async (t) => {
  const identity = `rotating-${unique}`;
  const manager = managerFor(appA, identity);
  const first = crypto.generateKeys();
  const card1 = await manager.publishCard({ privateKey: first.privateKey, publicKey: first.publicKey });
  const second = crypto.generateKeys();
  const card2 = await manager.publishCard({ privateKey: second.privateKey, publicKey: second.publicKey, previousCardId: card1.id });
  const third = crypto.generateKeys();
  await t.rejects(manager.publishCard({ privateKey: third.privateKey, publicKey: third.publicKey, previousCardId: card1.id }), { name: 'VirgilHttpError', httpStatus: 400, errorCode: 30103 }, 'a card is superseded once');

  const found = await manager.searchCards(identity);
  t.equal(found.length, 1, 'the client folds the chain');
  t.equal(found[0].id, card2.id);
  t.equal(found[0].previousCard?.id, card1.id, 'the superseded card is returned for linking');
  t.equal((await manager.getCard(card1.id)).isOutdated, true, 'superseded card is outdated');
  t.equal((await manager.getCard(card2.id)).isOutdated, false);

  await t.rejects(managerFor(appA, `intruder-${unique}`).revokeCard(card2.id), { name: 'VirgilHttpError', httpStatus: 403, errorCode: 30105 }, 'only the owner revokes');
  await manager.revokeCard(card2.id);
  t.same(await manager.searchCards(identity), [], 'revoked card and its predecessor are gone from search');
  t.equal((await manager.getCard(card2.id)).isOutdated, true, 'get still returns a revoked card, marked outdated');
  await t.rejects(manager.getCard('0'.repeat(64)), { name: 'VirgilHttpError', httpStatus: 404, errorCode: 10001 });
});

t.test('apps are isolated and tokens are checked the way the SDK expects', async (t) => {
  const identity = `shared-${unique}`;
  const keys = crypto.generateKeys();
  const cardInB = await managerFor(appB, identity).publishCard({ privateKey: keys.privateKey, publicKey: keys.publicKey });
  const managerA = managerFor(appA, identity);
  t.same(await managerA.searchCards(identity), [], 'app A does not see app B cards');
  await t.rejects(managerA.getCard(cardInB.id), { name: 'VirgilHttpError', httpStatus: 404, errorCode: 10001 });

  const forger = { ...appA, appKey: generateEd25519KeyPair().privateKey };
  await t.rejects(managerFor(forger, identity).searchCards(identity), { name: 'VirgilHttpError', httpStatus: 401, errorCode: 20303 }, 'wrong signing key');
  const unknownApp = { ...appA, appId: randomBytes(16).toString('hex') };
  await t.rejects(managerFor(unknownApp, identity).searchCards(identity), { name: 'VirgilHttpError', httpStatus: 401, errorCode: 20303 }, 'unknown app');

  const contexts: Array<boolean | undefined> = [];
  const expiredFirst = cardManager((context) => {
    contexts.push(context.forceReload);
    return mintVirgilJwt(appB, identity, context.forceReload ? 600 : -3600);
  });
  t.equal((await expiredFirst.searchCards(identity)).length, 1, 'an expired token gets 401/20304 and the SDK retries with a fresh one');
  t.same(contexts, [undefined, true]);
  const alwaysExpired = cardManager(() => mintVirgilJwt(appB, identity, -3600));
  await t.rejects(alwaysExpired.searchCards(identity), { name: 'VirgilHttpError', httpStatus: 401, errorCode: 20304 });

  const impostor = crypto.generateKeys();
  const raw = managerFor(appA, 'x').generateRawCard({ privateKey: impostor.privateKey, publicKey: impostor.publicKey, identity: `victim-${unique}` });
  const eve = cardManager(() => mintVirgilJwt(appA, `eve-${unique}`));
  await t.rejects(eve.publishRawCard(raw), { name: 'VirgilHttpError', httpStatus: 403, errorCode: 30102 }, 'a card for another identity is refused');
});

t.test('injected faults reach the clients', async (t) => {
  const identity = `faulty-${unique}`;
  const manager = managerFor(appA, identity);
  emulator.setFaults([{ route: 'cards', status: 503, times: 1 }]);
  await t.rejects(manager.searchCards(identity), { name: 'VirgilHttpError', httpStatus: 503 });
  t.same(await manager.searchCards(identity), [], 'a rule with times: 1 is spent after one request');

  emulator.setFaults([{ route: 'cards', status: 401, code: 20304, times: 1 }]);
  t.same(await manager.searchCards(identity), [], 'an injected 401/20304 is retried by the SDK');

  // That the delay is applied is checked with a fake sleep in test/unit/emulator.test.ts; here, that a
  // latency rule reaches the clients as a slower but successful answer.
  emulator.setFaults([{ route: '/card/v5/actions/search', latencyMs: 120 }]);
  t.same(await manager.searchCards(identity), [], 'a latency rule delays the answer but does not fail it');

  emulator.setFaults([{ route: 'pythia', status: 429, code: 60099 }]);
  const e3 = await createE3Client({ apiUrl: emulator.url, getToken: () => mintVirgilJwt(appA, identity), t });
  await e3.register();
  await t.rejects(e3.backupPrivateKey('pwd'), { name: 'PythiaClientError', code: 60099 });
  emulator.clearFaults();
  await e3.backupPrivateKey('pwd');
  t.throws(() => emulator.setFaults([{ route: 'cards', errorRate: 2 }]), /errorRate/);
});

t.test('state survives a restart when a data file is configured', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'virgil-emulator-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const dataFile = path.join(dir, 'state.json');
  const identity = `persistent-${unique}`;

  const first = await startEmulator({ dataFile });
  const app = await first.createApp();
  // Observed on disk (the debounced write), not slept for; first.close() has not run.
  const written = await waitFor(async () => {
    const state = JSON.parse(await readFile(dataFile, 'utf8'));
    return state.apps?.some((a: { appId: string }) => a.appId === app.appId) ? state : undefined;
  }, 'the new app to reach the data file', 5_000);
  t.equal(written.apps[0]?.appId, app.appId, 'mutations reach the file shortly, without waiting for close');
  const laptop = await createE3Client({ apiUrl: first.url, getToken: () => mintVirgilJwt(app, identity), t });
  await laptop.register();
  await laptop.backupPrivateKey('remember me');
  const groupOwner = await laptop.createGroup(`group-${unique}-persisted`);
  const secret = await groupOwner.encrypt('kept');
  await first.close();

  const second = await startEmulator({ dataFile });
  t.teardown(() => second.close());
  const phone = await createE3Client({ apiUrl: second.url, getToken: () => mintVirgilJwt(app, identity), t });
  const card = await phone.findUsers(identity);
  t.equal(card.identity, identity, 'the app and its cards are back');
  await t.rejects(phone.restorePrivateKey('wrong'), { name: 'WrongKeyknoxPasswordError' });
  await phone.restorePrivateKey('remember me');
  const group = await phone.loadGroup(`group-${unique}-persisted`, card);
  t.equal(await group.decrypt(secret, card), 'kept', 'key backup (same Pythia secret) and group tickets survived');

  const corrupt = path.join(dir, 'corrupt.json');
  await writeFile(corrupt, '{"format":');
  await t.rejects(startEmulator({ dataFile: corrupt }), /not valid JSON/, 'an unreadable data file stops the start instead of being overwritten');
});

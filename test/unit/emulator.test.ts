/**
 * Emulator pieces without a server: fault rules (decisions, latency through an injected sleep), the
 * data file store (debounced writes observed through whenPersisted, not by waiting), the management
 * API's request rules and the app registry's key additions.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { AppRegistry } from '../../src/emulator/apps.js';
import { FaultInjector, parseFaultRules } from '../../src/emulator/faults.js';
import { isJsonContentType, isLoopbackHost, isMutation, parseResetBody } from '../../src/emulator/management.js';
import { generateEd25519KeyPair } from '../../src/virgil/keys.js';
import { EmulatorStore } from '../../src/emulator/store.js';

t.test('latency rules ask the sleep function for the configured delay', async (t) => {
  const slept: number[] = [];
  const faults = new FaultInjector(() => 0, async (ms) => { slept.push(ms); });
  faults.set(parseFaultRules([{ route: '/card/v5/actions/search', latencyMs: 120 }]));
  t.equal(await faults.apply('POST', '/card/v5/actions/search'), undefined, 'latency alone is no error');
  t.same(slept, [120], 'latency is added');
  t.equal(await faults.apply('GET', '/keyknox/v2/pull'), undefined);
  t.same(slept, [120], 'other routes are not delayed');
});

t.test('fault rules: first match decides, times are spent, error rates use the random source', async (t) => {
  let r = 0.5;
  const faults = new FaultInjector(() => r, async () => {});
  faults.set(parseFaultRules({ rules: [{ route: 'cards', status: 503, times: 1 }, { route: '*', errorRate: 0.4, status: 429, code: 60007 }] }));
  t.match(faults.decide('GET', '/card/v5/x'), { latencyMs: 0, error: { status: 503 } }, 'the first rule');
  t.same(faults.decide('GET', '/card/v5/x'), { latencyMs: 0 }, 'is spent; the catch-all does not fire at r=0.5 with rate 0.4');
  r = 0.1;
  t.match(faults.decide('GET', '/pythia/v1/brainkey'), { error: { status: 429, body: { code: 60007 } } }, 'fires below the rate');
  t.equal(faults.list().length, 1, 'the spent rule is no longer listed');
  faults.clear();
  t.equal(faults.decide('GET', '/card/v5/x'), undefined);
  t.throws(() => parseFaultRules([{ route: 'cards', errorRate: 2 }]), /errorRate/);
  t.throws(() => parseFaultRules([{ route: 'nowhere' }]), /route/);
  t.throws(() => parseFaultRules([{ route: 'cards', latencyMs: 60_001 }]), /latencyMs/);
});

t.test('the store writes changes to its file by itself (debounced), observably', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'emulator-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'state.json');
  const store = await EmulatorStore.open(file);
  const initial = store.persistCount;
  t.ok(initial >= 1, 'a new file is written at open (the Pythia secret is kept from the start)');
  await store.whenPersisted();
  t.equal(store.persistCount, initial, 'nothing pending: resolves without a write');
  store.reset({ apps: true });
  store.changed();
  // The debounce timer is unref'd (it must not keep a server process alive): hold the event loop
  // open while waiting for the write it schedules.
  const keepAlive = setInterval(() => {}, 1_000);
  await store.whenPersisted();
  clearInterval(keepAlive);
  t.equal(store.persistCount, initial + 1, 'several changes, one debounced write');
  const written = JSON.parse(await readFile(file, 'utf8'));
  t.same(written.apps, [], 'the file reflects the state');
  await store.flush();
  t.equal(store.persistCount, initial + 1, 'flush without changes writes nothing');
});

t.test('loopback Host names: localhost, 127.0.0.0/8 and [::1], with or without a port', async (t) => {
  for (const host of ['localhost', 'LOCALHOST', 'localhost:8787', '127.0.0.1', '127.0.0.1:1', '127.255.255.255:65535', '127.1.2.3', '[::1]', '[::1]:8787']) {
    t.ok(isLoopbackHost(host), host);
  }
  const refused = [
    undefined, '', 'evil.example', 'evil.example:8787', 'localhost.evil.example', 'evil.localhost', 'localhost.', 'localhost:',
    'localhost:99999', '127.0.0.1.nip.io', '127.0.0.256', '127.1', '2130706433', '0x7f000001', '128.0.0.1', '10.0.0.1', '0.0.0.0',
    '::1', '[::1]x', '[0:0:0:0:0:0:0:1]', '[::ffff:127.0.0.1]', 'localhost:8787@evil.example', ' localhost', 'localhost ',
  ];
  for (const host of refused) t.notOk(isLoopbackHost(host), `refused: ${JSON.stringify(host)}`);
});

t.test('management mutations need a JSON content type; bodies of bodiless requests are checked', async (t) => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'post']) t.ok(isMutation(method), method);
  for (const method of ['GET', 'HEAD', 'OPTIONS']) t.notOk(isMutation(method), method);
  for (const type of ['application/json', 'Application/JSON', 'application/json; charset=utf-8', ' application/json ;charset=UTF-8']) t.ok(isJsonContentType(type), type);
  for (const type of [undefined, '', 'text/plain', 'text/plain; application/json', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json-seq', 'application/jsonx', 'application/json, text/plain']) {
    t.notOk(isJsonContentType(type), `refused: ${JSON.stringify(type)}`);
  }
  t.same(parseResetBody(undefined), { apps: false });
  t.same(parseResetBody({}), { apps: false });
  t.same(parseResetBody({ apps: true }), { apps: true });
  t.same(parseResetBody({ apps: false }), { apps: false });
  for (const body of [null, [], 'x', 1, { apps: 'yes' }, { apps: true, more: 1 }]) t.throws(() => parseResetBody(body), { code: 30001 }, JSON.stringify(body));
});

t.test('a key is added to an existing app only when the caller may; re-registering the same key is a no-op', async (t) => {
  const apps = new AppRegistry(await EmulatorStore.open());
  const app = apps.create();
  const extra = generateEd25519KeyPair();
  const addKey = { appId: app.appId, appKeyId: 'second', appPublicKey: extra.publicKey };
  t.throws(() => apps.register(addKey), { status: 403, code: 40302 }, 'refused by default');
  t.equal(apps.publicKeyFor(app.appId, 'second'), undefined, 'nothing was added');
  t.same(apps.register(addKey, { addKeyToExistingApp: true }), { created: true }, 'allowed when asked');
  t.same(apps.register(addKey), { created: false }, 'the same key again changes nothing, so needs no permission');
  t.throws(() => apps.register({ ...addKey, appPublicKey: generateEd25519KeyPair().publicKey }, { addKeyToExistingApp: true }), { status: 409, code: 40900 });
});

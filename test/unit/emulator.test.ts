/**
 * Emulator pieces without a server: fault rules (decisions, latency through an injected sleep) and
 * the data file store (debounced writes observed through whenPersisted, not by waiting).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { FaultInjector, parseFaultRules } from '../../src/emulator/faults.js';
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

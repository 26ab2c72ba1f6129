/**
 * Planning ticket batches under Keyknox's meta limit (src/virgil/ticket-batches.ts) with a crypto
 * whose sizes are known: random mixes of key classes never produce a batch over the limit, keep the
 * order, lose nobody, and fill batches; an estimate that is off is corrected by the exact check.
 * Also the once-a-minute gate of key checks (src/lib/interval-gate.ts) on a fake clock.
 */
import t from 'tap';
import { planTicketBatches, type TicketCrypto } from '../../src/virgil/ticket-batches.js';
import { KEYKNOX_META_LIMIT } from '../../src/virgil/cloud-limits.js';
import type { VirgilCard } from '../../src/virgil/service-identities.js';
import { IntervalGate } from '../../src/lib/interval-gate.js';
import { seededRandom, testSeed } from '../helpers/group-model.js';

/** Entry sizes measured with E3Kit's crypto (base64 characters of `meta`), by key class. */
const ENTRY = { ed25519: 339, secp256r1: 424, rsa4096: 734, rsa8192: 1_416, falcon: 1_132 } as const;
type KeyClass = keyof typeof ENTRY;
const BASE = 648;

const card = (identity: string, keyClass: KeyClass) => ({ identity, publicKey: { keyClass } }) as unknown as VirgilCard;
const classOf = (key: unknown) => (key as { keyClass: KeyClass }).keyClass;

/**
 * Sizes add up exactly, plus `drift` characters per recipient beyond the first (an encoding the
 * estimate misses). Each fake is an owner class of its own: measures are remembered per owner class
 * for the whole process, unless `owner` names one measured before.
 */
let owners = 0;
function fakeCrypto(drift = 0, owner = `fake-owner-${owners++}`): TicketCrypto & { calls: number } {
  const crypto = {
    calls: 0,
    ownerClass: owner,
    metaLength(keys: unknown[]) {
      crypto.calls++;
      return BASE + keys.reduce<number>((n, key) => n + ENTRY[classOf(key)], 0) + drift * Math.max(0, keys.length - 1);
    },
    keyClass: (key: unknown) => classOf(key),
  };
  return crypto;
}
const sizeOf = (batch: VirgilCard[], drift = 0) => BASE + batch.reduce((n, c) => n + ENTRY[classOf(c.publicKey)], 0) + drift * Math.max(0, batch.length - 1);

t.test('default keys: 28 per push, so 99 members are 28+28+28+15', async (t) => {
  const cards = Array.from({ length: 99 }, (_, i) => card(`u${i}`, 'ed25519'));
  const batches = planTicketBatches(cards, fakeCrypto());
  t.same(batches.map((b) => b.length), [28, 28, 28, 15]);
  t.same(batches.flat(), cards, 'in order, nobody lost');
  t.same(planTicketBatches([], fakeCrypto()), []);
  t.same(planTicketBatches(Array.from({ length: 10 }, (_, i) => card(`r${i}`, 'rsa8192')), fakeCrypto()).map((b) => b.length), [6, 4], 'RSA 8192: 6 per push');
});

t.test('random mixes of key types: every batch fits, batches are full, the order is kept', async (t) => {
  const seed = testSeed(t, 0x5eed_10);
  const random = seededRandom(seed);
  const classes = Object.keys(ENTRY) as KeyClass[];
  for (let round = 0; round < 200; round++) {
    const drift = round % 4 === 3 ? Math.floor(random() * 40) : 0;
    const cards = Array.from({ length: 1 + Math.floor(random() * 99) }, (_, i) => card(`u${i}`, classes[Math.floor(random() * classes.length)]!));
    const batches = planTicketBatches(cards, fakeCrypto(drift));
    const over = batches.find((b) => sizeOf(b, drift) > KEYKNOX_META_LIMIT);
    if (over) return t.fail(`round ${round} (seed ${seed}): a batch of ${over.length} is ${sizeOf(over, drift)} characters`);
    if (batches.flat().map((c) => c.identity).join() !== cards.map((c) => c.identity).join()) return t.fail(`round ${round}: order or members changed`);
    // Full: the next card would not have fitted (except after the last batch).
    for (let i = 0; i + 1 < batches.length; i++) {
      const next = batches[i + 1]![0]!;
      if (sizeOf([...batches[i]!, next], drift) <= KEYKNOX_META_LIMIT) return t.fail(`round ${round}: batch ${i} could have taken one more`);
    }
  }
  t.pass('200 random groups planned within the limit');
});

t.test('one exact check per batch near the limit; the check shrinks a batch when the estimate is off; small groups cost no encryption', async (t) => {
  const cards = Array.from({ length: 56 }, (_, i) => card(`u${i}`, 'ed25519'));
  const exact = fakeCrypto();
  planTicketBatches(cards, exact);
  t.equal(exact.calls, 1 + 1 + 2, 'base + one class measure + one check per (full) batch');
  const small = fakeCrypto(0, exact.ownerClass);
  t.same(planTicketBatches(cards.slice(0, 3), small).map((b) => b.length), [3]);
  t.equal(small.calls, 0, 'measures are remembered per owner class; a batch far below the limit is not checked');
  const drifting = fakeCrypto(12);
  const batches = planTicketBatches(cards, drifting);
  t.ok(batches.every((b) => sizeOf(b, 12) <= KEYKNOX_META_LIMIT), `batches shrunk to fit (${batches.map((b) => b.length).join('+')})`);
});

t.test('key checks: at most once per interval per user, on the injected clock', async (t) => {
  let now = 1_000_000;
  const gate = new IntervalGate(60_000, 2, () => now);
  t.ok(gate.due('a'));
  t.notOk(gate.due('a'), 'not again within the minute');
  now += 59_999;
  t.notOk(gate.due('a'));
  now += 1;
  t.ok(gate.due('a'), 'due once the minute has passed');
  t.ok(gate.due('b'));
  t.ok(gate.due('c'), 'a third key evicts the oldest');
  t.ok(gate.due('a'), 'a forgotten key is simply due again');
});

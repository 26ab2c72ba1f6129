/**
 * A model of group histories for order-independence tests: a seeded PRNG (replayable via TEST_SEED),
 * random histories, the state they imply in time order, shuffling with duplicates, and the
 * shuffled-delivery check both webhook formats run through the real HTTP interface.
 */
import type { Test } from 'tap';

/**
 * The seed of a random test: TEST_SEED when set (to replay a failure), else `fallback`. Printed as a
 * tap comment either way, so every run says how to replay it.
 */
export function testSeed(t: Pick<Test, 'comment'>, fallback: number, name = 'seed'): number {
  const fromEnv = process.env.TEST_SEED;
  const seed = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : fallback;
  if (!Number.isSafeInteger(seed)) throw new Error(`TEST_SEED must be an integer, got ${JSON.stringify(fromEnv)}`);
  t.comment(`${name}: ${seed} (replay with TEST_SEED=${seed})`);
  return seed;
}

/** A deterministic PRNG (mulberry32), so a failing sequence can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ModelEvent {
  /** Neutral-format type, e.g. group.member_added. */
  type: string;
  guid: string;
  /** Event time, epoch ms. */
  at: number;
  owner?: string;
  members: string[];
}

const WEIGHTED_TYPES: Array<[string, number]> = [
  ['group.created', 10], ['group.deleted', 6], ['group.member_added', 20], ['group.member_joined', 8],
  ['group.member_left', 10], ['group.member_kicked', 10], ['group.member_banned', 7], ['group.member_unbanned', 5],
  ['group.member_scope_changed', 7], ['group.owner_transferred', 7],
];
const TOTAL_WEIGHT = WEIGHTED_TYPES.reduce((s, [, w]) => s + w, 0);

/**
 * A random history of one group: `length` events over `uids`, at times base + k * stepMs for k in
 * [0, slots) — few slots make same-time ties frequent.
 */
export function randomHistory(rng: () => number, guid: string, opts: { base: number; uids: string[]; length: number; slots: number; stepMs: number }): ModelEvent[] {
  const pick = <T>(items: T[]) => items[Math.floor(rng() * items.length)];
  const some = (min: number, max: number) => {
    const n = min + Math.floor(rng() * (max - min + 1));
    return [...new Set(Array.from({ length: n }, () => pick(opts.uids)))];
  };
  const events: ModelEvent[] = [];
  for (let i = 0; i < opts.length; i++) {
    let r = rng() * TOTAL_WEIGHT;
    const type = WEIGHTED_TYPES.find(([, w]) => (r -= w) < 0)?.[0] ?? 'group.member_added';
    const at = opts.base + Math.floor(rng() * opts.slots) * opts.stepMs;
    if (type === 'group.created') {
      events.push({ type, guid, at, ...(rng() < 0.8 ? { owner: pick(opts.uids) } : {}), members: some(0, 3) });
    } else if (type === 'group.deleted') {
      events.push({ type, guid, at, members: [] });
    } else if (type === 'group.owner_transferred') {
      events.push({ type, guid, at, owner: pick(opts.uids), members: [] });
    } else {
      events.push({ type, guid, at, members: some(1, 3) });
    }
  }
  return events;
}

export interface ExpectedGroup { exists: boolean; deleted: boolean; ownerUid: string | null; members: string[] }

const PHASE: Record<string, number> = {
  'group.created': 0,
  'group.member_added': 1, 'group.member_joined': 1, 'group.member_scope_changed': 1, 'group.owner_transferred': 1, 'group.member_unbanned': 1,
  'group.member_left': 2, 'group.member_kicked': 2, 'group.member_banned': 2,
  'group.deleted': 3,
};

/**
 * The desired state implied by applying a group's events in time order, written as a plain fold:
 * at equal times creations come first, then additions, then removals, then deletion (so removal
 * and deletion win ties); a creation starts a new member list (creations at the same instant share
 * one); the owner is the one named by the latest owner-setting event (greatest uid on a tie);
 * a deleted group wants no members. A group that only saw unbans does not exist.
 */
export function expectedGroup(events: ModelEvent[]): ExpectedGroup {
  const sorted = [...events].sort((a, b) => a.at - b.at || PHASE[a.type] - PHASE[b.type]);
  let exists = false;
  let deleted = false;
  let members = new Set<string>();
  let lastCreateAt: number | null = null;
  let owner: { uid: string; at: number } | null = null;
  const setOwner = (uid: string, at: number) => {
    if (owner === null || at > owner.at || (at === owner.at && uid > owner.uid)) owner = { uid, at };
  };
  for (const e of sorted) {
    if (e.type !== 'group.member_unbanned') exists = true;
    switch (e.type) {
      case 'group.created':
        if (lastCreateAt !== e.at) members = new Set();
        lastCreateAt = e.at;
        deleted = false;
        if (e.owner !== undefined) { members.add(e.owner); setOwner(e.owner, e.at); }
        for (const uid of e.members) members.add(uid);
        break;
      case 'group.deleted':
        deleted = true;
        break;
      case 'group.member_added': case 'group.member_joined': case 'group.member_scope_changed':
        for (const uid of e.members) members.add(uid);
        break;
      case 'group.member_left': case 'group.member_kicked': case 'group.member_banned':
        for (const uid of e.members) members.delete(uid);
        break;
      case 'group.owner_transferred':
        members.add(e.owner!);
        setOwner(e.owner!, e.at);
        break;
      default:
        break;
    }
  }
  const finalOwner = owner as { uid: string } | null;
  return { exists, deleted, ownerUid: finalOwner?.uid ?? null, members: deleted ? [] : [...members].sort() };
}

/** Every event once, in random order, plus random repeats of some of them. */
export function shuffledWithDuplicates<T>(rng: () => number, items: T[], duplicateRate: number): T[] {
  const out = [...items];
  for (const item of items) if (rng() < duplicateRate) out.push(item);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** The part of a group's desired state the model predicts (read through `desired` in the check). */
export interface DesiredGroupView { deleted: boolean; ownerUid: string | null; members: string[] }

export interface ShuffledDeliveryCheck<T> {
  histories: ModelEvent[][];
  /** The histories' events, shuffled and duplicated, in whatever form `send` takes. */
  deliveries: T[];
  send: (delivery: T) => Promise<{ statusCode: number; body: string }>;
  concurrency: number;
  desired: (guid: string) => Promise<DesiredGroupView | null | undefined>;
  /** Named in failure messages, so a failing run can be replayed. */
  seed: number;
}

/**
 * The shuffled-delivery property of both webhook formats: every delivery, `concurrency` at a time,
 * is answered 200, and every group ends in the state its events give in time order (the first three
 * groups that do not are shown in full).
 */
export async function checkShuffledDeliveries<T>(t: Test, check: ShuffledDeliveryCheck<T>): Promise<void> {
  const failures: string[] = [];
  const started = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: check.concurrency }, async () => {
    while (next < check.deliveries.length) {
      const res = await check.send(check.deliveries[next++]);
      if (res.statusCode !== 200) failures.push(`${res.statusCode} ${res.body}`);
    }
  }));
  t.same(failures, [], `${check.deliveries.length} deliveries accepted in ${Date.now() - started} ms`);
  let mismatches = 0;
  for (const events of check.histories) {
    const want = expectedGroup(events);
    const got = await check.desired(events[0].guid);
    const view: ExpectedGroup = got
      ? { exists: true, deleted: got.deleted, ownerUid: got.ownerUid, members: got.members }
      : { exists: false, deleted: false, ownerUid: null, members: [] };
    if (JSON.stringify(view) !== JSON.stringify(want) && ++mismatches <= 3) {
      t.same(view, want, `${events[0].guid} (seed ${check.seed}, replay with TEST_SEED=${check.seed}): ${JSON.stringify(events)}`);
    }
  }
  t.equal(mismatches, 0, `${check.histories.length} groups converge to their time-ordered state`);
}

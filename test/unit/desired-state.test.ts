/**
 * The desired-state rules behind both webhook formats, in memory: the random-history model
 * (test/helpers/group-model.ts) against the pure functions of src/groups/desired-state.ts. The same
 * property through HTTP and PostgreSQL is in test/integration/webhooks-standard.test.ts.
 */
import t from 'tap';
import {
  applyDecisions, booleanDecisionWins, countsAsMember, decidesAnything, decisionsOf, desiredMembers, NEVER, ownerDecisionWins,
  type GroupRegisters, type MemberDecision,
} from '../../src/groups/desired-state.js';
import type { GroupEventType } from '../../src/groups/group-event.js';
import {
  expectedGroup, randomHistory, seededRandom, shuffledWithDuplicates, testSeed, type ExpectedGroup, type ModelEvent,
} from '../helpers/group-model.js';

const base = Date.UTC(2026, 0, 1); // event times are relative: any fixed base will do

function applyInMemory(deliveries: ModelEvent[]): ExpectedGroup {
  const seen = new Set<ModelEvent>();
  let group: GroupRegisters | null = null;
  const members = new Map<string, MemberDecision>();
  for (const e of deliveries) {
    if (seen.has(e)) continue;
    seen.add(e);
    const decisions = decisionsOf({ type: e.type as GroupEventType, owner: e.owner ?? null, members: e.members });
    if (!decidesAnything(decisions)) continue;
    group ??= { deleted: false, lifecycleAt: NEVER, ownerUid: null, ownerAt: null };
    const applied = applyDecisions(group, members, decisions, new Date(e.at));
    group = applied.group;
    for (const [uid, decision] of applied.memberWrites) members.set(uid, decision);
  }
  if (group === null) return { exists: false, deleted: false, ownerUid: null, members: [] };
  return { exists: true, deleted: group.deleted, ownerUid: group.ownerUid, members: desiredMembers(group, members) };
}

t.test('property: the pure rules are order independent (in memory)', async (t) => {
  const seed = testSeed(t, 0x5eed);
  const rng = seededRandom(seed);
  const uids = ['a', 'b', 'c', 'd', 'e'];
  let mismatches = 0;
  for (let i = 0; i < 5000 && mismatches < 3; i++) {
    const events = randomHistory(rng, `g${i}`, { base, uids, length: 1 + Math.floor(rng() * 14), slots: 8, stepMs: 1000 });
    const want = expectedGroup(events);
    for (let k = 0; k < 3; k++) {
      const got = applyInMemory(shuffledWithDuplicates(rng, events, 0.3));
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        mismatches++;
        t.same(got, want, `sequence ${i} (seed ${seed}, replay with TEST_SEED=${seed}): ${JSON.stringify(events)}`);
        break;
      }
    }
  }
  t.equal(mismatches, 0, '5,000 histories x 3 delivery orders');
});


t.test('ordering rules: later wins, removal and deletion win ties, greatest uid wins an owner tie', async (t) => {
  const t0 = new Date(base);
  const t1 = new Date(base + 1000);
  t.ok(booleanDecisionWins(undefined, { value: false, at: t0 }, false), 'a first decision always wins');
  t.ok(booleanDecisionWins({ value: true, at: t0 }, { value: false, at: t1 }, false), 'later wins');
  t.notOk(booleanDecisionWins({ value: false, at: t1 }, { value: true, at: t0 }, false), 'earlier loses');
  t.ok(booleanDecisionWins({ value: true, at: t0 }, { value: false, at: t0 }, false), 'removal wins a tie');
  t.notOk(booleanDecisionWins({ value: false, at: t0 }, { value: true, at: t0 }, false), 'an addition loses a tie to a removal');
  t.notOk(booleanDecisionWins({ value: true, at: t0 }, { value: true, at: t0 }, false), 'same time, same value: nothing to change');
  t.ok(booleanDecisionWins({ value: false, at: t0 }, { value: true, at: t0 }, true), 'deletion wins a lifecycle tie');

  t.ok(ownerDecisionWins({ uid: null, at: null }, { uid: 'a', at: t0 }), 'the first owner wins');
  t.ok(ownerDecisionWins({ uid: 'z', at: t0 }, { uid: 'a', at: t1 }), 'a later owner wins');
  t.notOk(ownerDecisionWins({ uid: 'a', at: t1 }, { uid: 'z', at: t0 }), 'an earlier owner loses');
  t.ok(ownerDecisionWins({ uid: 'a', at: t0 }, { uid: 'b', at: t0 }), 'the greatest uid wins a tie');
  t.notOk(ownerDecisionWins({ uid: 'b', at: t0 }, { uid: 'a', at: t0 }), 'a smaller uid loses a tie');
});

t.test('decisions of each event type', async (t) => {
  const of = (type: GroupEventType, owner: string | null, members: string[]) => {
    const d = decisionsOf({ type, owner, members });
    return { deleted: d.deleted, owner: d.owner, members: Object.fromEntries(d.members) };
  };
  t.same(of('group.created', 'o', ['a']), { deleted: false, owner: 'o', members: { o: true, a: true } }, 'creation: live, owner and members join');
  t.same(of('group.created', null, []), { deleted: false, owner: undefined, members: {} }, 'creation without owner');
  t.same(of('group.deleted', null, ['a']), { deleted: true, owner: undefined, members: {} }, 'deletion decides only the lifecycle');
  for (const type of ['group.member_added', 'group.member_joined', 'group.member_scope_changed'] as const) {
    t.same(of(type, null, ['a', 'b']), { deleted: undefined, owner: undefined, members: { a: true, b: true } }, `${type} adds`);
  }
  for (const type of ['group.member_left', 'group.member_kicked', 'group.member_banned'] as const) {
    t.same(of(type, null, ['a']), { deleted: undefined, owner: undefined, members: { a: false } }, `${type} removes`);
  }
  t.notOk(decidesAnything(decisionsOf({ type: 'group.member_unbanned', owner: null, members: ['a'] })), 'an unban decides nothing');
  t.same(of('group.owner_transferred', 'n', []), { deleted: undefined, owner: 'n', members: { n: true } }, 'a new owner is a member');
});

t.test('applying decisions: incarnations, deleted groups and change detection', async (t) => {
  const at = (s: number) => new Date(base + s * 1000);
  let group: GroupRegisters = { deleted: false, lifecycleAt: NEVER, ownerUid: null, ownerAt: null };
  const members = new Map<string, MemberDecision>();
  const apply = (type: GroupEventType, owner: string | null, uids: string[], s: number) => {
    const applied = applyDecisions(group, members, decisionsOf({ type, owner, members: uids }), at(s));
    group = applied.group;
    for (const [uid, d] of applied.memberWrites) members.set(uid, d);
    return applied;
  };
  const created = apply('group.created', 'o', ['a'], 10);
  t.ok(created.desiredChanged && created.groupWritten);
  t.same(desiredMembers(group, members), ['a', 'o']);
  t.notOk(apply('group.member_added', null, ['a'], 5).desiredChanged, 'an older addition of a member changes nothing');
  t.ok(apply('group.member_added', null, ['b'], 5).memberWrites.has('b'), 'an addition before the creation is recorded');
  t.same(desiredMembers(group, members), ['a', 'o'], 'but belongs to an earlier incarnation');
  t.ok(apply('group.deleted', null, [], 20).desiredChanged);
  t.same(desiredMembers(group, members), [], 'a deleted group wants no members');
  t.notOk(apply('group.member_added', null, ['c'], 21).desiredChanged, 'additions to a deleted group change nothing desired');
  t.ok(apply('group.created', 'o', [], 30).desiredChanged, 'a re-creation starts a new incarnation');
  t.same(desiredMembers(group, members), ['o'], 'with none of the old members');
  t.notOk(countsAsMember(undefined, group), 'an unknown uid is no member');
});

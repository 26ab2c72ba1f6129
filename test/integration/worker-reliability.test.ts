/**
 * Nothing is lost: after duplicates, reordering, crashes, Virgil faults and a Redis restart, every
 * group's membership on Virgil (read as the service identity) equals the desired membership.
 */
import t, { type Test } from 'tap';
import { sql } from 'kysely';
import { Redis } from 'ioredis';
import { acceptGroupEvent } from '../../src/webhooks/intake.js';
import type { GroupEvent, GroupEventType } from '../../src/groups/group-event.js';
import type { VirgilStep } from '../../src/reconcile/reconcile.js';
import type { TestApp, OnboardedTenant } from '../helpers/app.js';
import { freePort } from '../../src/local/free-port.js';
import { findRedisServer, startRedis } from '../../src/local/redis-server.js';
import { expectedGroup, randomHistory, seededRandom, shuffledWithDuplicates, testSeed, type ModelEvent } from '../helpers/group-model.js';
import { waitFor } from '../helpers/wait.js';
import {
  groupStatus, registeredUsers, sendCometChat, serviceView, startWorkerStack, waitForStatus, type WorkerStack,
} from '../helpers/worker-stack.js';

const UIDS = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7'];

/** Fault injection into the reconciler: crash (throw) or hang (a killed worker) after a Virgil step. */
const faults = {
  crash: new Map<string, VirgilStep>(),
  hang: new Map<string, VirgilStep>(),
  hung: [] as string[],
  /** Ends the hung runs (with an error), once the test no longer needs them hanging. */
  releaseHung: [] as Array<() => void>,
  steps: [] as Array<{ guid: string; step: VirgilStep }>,
};
const observeVirgilChange = async (step: VirgilStep, group: { guid: string }) => {
  faults.steps.push({ guid: group.guid, step });
  if (faults.crash.get(group.guid) === step) {
    faults.crash.delete(group.guid);
    throw new Error(`simulated crash after ${step}`);
  }
  if (faults.hang.get(group.guid) === step) {
    faults.hang.delete(group.guid);
    faults.hung.push(group.guid);
    // The process "dies" here: the run goes no further (it is ended with an error after the test,
    // so its pooled connection is returned and the pool can close).
    await new Promise((_, reject) => { faults.releaseHung.push(() => reject(new Error('killed worker'))); });
  }
};

// Three attempts per job: retries run out quickly under faults, so the sweeper's retry of failed
// groups is exercised too.
const stack = await startWorkerStack(t, { worker: { observeVirgilChange }, attempts: 3 });
const { h } = stack;
const tenant = await h.onboardTenant();
const runtime = (await h.ctx.tenants.get(tenant.appId))!;
const users = await registeredUsers(t, h, tenant, UIDS);
const svc = await serviceView(t, h, tenant.appId);

function toGroupEvent(e: ModelEvent, key: string): GroupEvent {
  return {
    source: 'standard', key, type: e.type as GroupEventType, occurredAt: new Date(e.at), guid: e.guid,
    owner: e.owner ?? null, members: e.members, payload: JSON.stringify({ type: e.type, guid: e.guid }),
  };
}

/** Applies events like the webhook intake does (commit, then request a reconcile), a few at a time. */
async function applyEvents(events: Array<{ event: ModelEvent; key: string }>, parallel = 6) {
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < events.length) {
      const { event, key } = events[next++];
      await acceptGroupEvent(h.ctx, runtime, toGroupEvent(event, key));
    }
  }));
}

/** A JSON log line as an object (null for anything else). */
function parseLog(line: string): Record<string, unknown> | null {
  try { return JSON.parse(line) as Record<string, unknown>; } catch { return null; }
}

/** The worker's log (it logs through the app context's logger) and the queue's, parsed. */
const workerLogs = () => [...h.logLines, ...stack.logLines].map(parseLog);

/** Every group of the tenant reconciled: nothing behind, failed or pending, no retry under way. */
async function allSettled(app: TestApp, appId: string) {
  const { rows } = await sql<{ behind: string }>`
    SELECT count(*) AS behind FROM groups
     WHERE tenant_id = ${appId}
       AND (synced_version < desired_version OR status NOT IN ('synced', 'deleted') OR last_error IS NOT NULL)`.execute(app.ctx.db);
  return Number(rows[0].behind) === 0;
}

/** Waits for allSettled; on timeout, shows what is still unsettled. */
async function settle(t: Test, app: TestApp, appId: string, what: string) {
  try {
    await waitFor(() => allSettled(app, appId), what, 60_000);
  } catch (err) {
    const rows = await app.ctx.db.selectFrom('groups').select(['guid', 'status', 'synced_version', 'desired_version', 'last_error', 'attempts', 'updated_at'])
      .where('tenant_id', '=', appId).where((eb) => eb.or([eb('status', 'not in', ['synced', 'deleted']), eb(eb.ref('synced_version'), '<', eb.ref('desired_version'))])).execute();
    t.comment(JSON.stringify(rows, null, 1));
    const outbox = await app.ctx.db.selectFrom('reconcile_outbox').selectAll().where('tenant_id', '=', appId).execute();
    t.comment(JSON.stringify(outbox));
    throw err;
  }
}

async function compareWithVirgil(t: Test, view: Awaited<ReturnType<typeof serviceView>>, app: TestApp, appId: string, expected: Map<string, { deleted: boolean; members: string[] }>) {
  let compared = 0;
  for (const [guid, want] of expected) {
    const row = await app.ctx.db.selectFrom('groups').select(['status', 'virgil_members']).where('tenant_id', '=', appId).where('guid', '=', guid).executeTakeFirst();
    const actual = await view.participants(guid, UIDS);
    if (want.deleted) {
      if (actual !== null || row?.status !== 'deleted') t.fail(`${guid}: expected deleted, Virgil has ${JSON.stringify(actual)}, status ${row?.status}`);
    } else if (JSON.stringify(actual) !== JSON.stringify(want.members) || JSON.stringify([...(row?.virgil_members ?? [])].sort()) !== JSON.stringify(want.members)) {
      t.fail(`${guid}: expected ${JSON.stringify(want.members)}, Virgil has ${JSON.stringify(actual)}, recorded ${JSON.stringify(row?.virgil_members)}`);
    }
    compared++;
  }
  t.pass(`${compared} groups match their desired membership on Virgil`);
}

t.test('hundreds of duplicated, reordered events: every Virgil group ends equal to the desired one', async (t) => {
  const rng = seededRandom(testSeed(t, 20261122));
  const base = Date.now() - 3_600_000;
  const histories = new Map<string, ModelEvent[]>();
  for (let g = 0; g < 30; g++) {
    const guid = `rand-${g}`;
    histories.set(guid, randomHistory(rng, guid, { base, uids: UIDS, length: 12, slots: 8, stepMs: 1_000 }));
  }
  const keyed = [...histories.values()].flat().map((event, i) => ({ event, key: `evt-${i}` }));
  const deliveries = shuffledWithDuplicates(rng, keyed, 0.25);
  t.ok(deliveries.length > 400, `${deliveries.length} deliveries`);
  await applyEvents(deliveries);

  const expected = new Map<string, { deleted: boolean; members: string[] }>();
  for (const [guid, events] of histories) {
    const want = expectedGroup(events);
    if (want.exists) expected.set(guid, { deleted: want.deleted, members: want.members });
  }
  await settle(t, h, tenant.appId, 'every random group to settle');
  await compareWithVirgil(t, svc, h, tenant.appId, expected);
});

t.test('a run that dies after creating the group, or mid-change, is finished by the next run', async (t) => {
  const base = Date.now() - 600_000;
  // Crash right after createGroup, before the database knows: the retry must load, not re-create.
  faults.crash.set('crash-create', 'created');
  await applyEvents([{ event: { type: 'group.created', guid: 'crash-create', at: base, owner: 'u0', members: ['u1', 'u2'] }, key: 'crash-1' }]);
  const status = await waitForStatus(h, tenant.appId, 'crash-create', (s) => s.status === 'synced');
  t.same(status.virgilMembers, ['u0', 'u1', 'u2']);
  t.same(await svc.participants('crash-create', UIDS), ['u0', 'u1', 'u2']);
  t.equal(faults.steps.filter((s) => s.guid === 'crash-create' && s.step === 'created').length, 1, 'the group was created once; the retry loaded it');

  // A removal that stops between the new epoch and the revocation (Virgil fails the revocation
  // call): the next run finds u2 gone from the participants and revokes the leftover access.
  h.emulator.setFaults([{ route: '/keyknox/v2/reset', status: 503, times: 1 }]);
  await applyEvents([{ event: { type: 'group.member_kicked', guid: 'crash-create', at: base + 1_000, members: ['u2'] }, key: 'crash-2' }]);
  await waitForStatus(h, tenant.appId, 'crash-create', (s) => s.status === 'synced' && !s.virgilMembers.includes('u2'));
  h.emulator.clearFaults();
  t.same(await svc.participants('crash-create', UIDS), ['u0', 'u1']);
  t.ok(faults.steps.some((s) => s.guid === 'crash-create' && s.step === 'revoked'), 'the leftover access was revoked by the next run');
  const u2 = users.get('u2')!;
  const denied = await u2.loadGroup(svc.groupIdentity('crash-create'), await u2.findUsers(svc.identity)).then(() => null, (e: { name?: string; errorCode?: number }) => e);
  t.ok(denied?.name === 'GroupError' && [3, 11].includes(denied.errorCode ?? -1), 'the kicked member cannot load the group');

  // Crash (throw) right after a member was added; the retry finds them in and finishes.
  faults.crash.set('crash-create', 'added');
  await applyEvents([{ event: { type: 'group.member_added', guid: 'crash-create', at: base + 2_000, members: ['u6'] }, key: 'crash-3' }]);
  await waitForStatus(h, tenant.appId, 'crash-create', (s) => s.status === 'synced' && s.virgilMembers.includes('u6'));
  t.same(await svc.participants('crash-create', UIDS), ['u0', 'u1', 'u6']);

  // A worker killed mid-run (its process gone: jobs abandoned, its database session ended).
  faults.hang.set('killed', 'created');
  await applyEvents([{ event: { type: 'group.created', guid: 'killed', at: base, owner: 'u3', members: ['u4'] }, key: 'kill-1' }]);
  await waitFor(async () => faults.hung.includes('killed'), 'the run to reach the kill point');
  // More changes arrive while the run hangs.
  await applyEvents([{ event: { type: 'group.member_added', guid: 'killed', at: base + 1_000, members: ['u5'] }, key: 'kill-2' }]);
  await stack.restartWorker({ force: true });
  await sql`SELECT pg_terminate_backend(pid) FROM pg_locks
             WHERE locktype = 'advisory' AND pid <> pg_backend_pid()
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`.execute(h.ctx.db);
  const killed = await waitForStatus(h, tenant.appId, 'killed', (s) => s.status === 'synced', 30_000);
  t.same(killed.virgilMembers, ['u3', 'u4', 'u5']);
  t.same(await svc.participants('killed', UIDS), ['u3', 'u4', 'u5']);
  // The abandoned run fails late; having lost its lock, it must not record anything.
  for (const release of faults.releaseHung.splice(0)) release();
  // Wait for the dead run to finish failing (its log line: having lost its lock, it records nothing
  // and says so), instead of sleeping and hoping it did.
  const deadRunEnded = await waitFor(() => workerLogs().find((l) => l?.guid === 'killed'
    && (l.msg === 'reconcile run lost its group lock; nothing recorded' || (l.msg === 'reconcile failed' && String(l.err).includes('killed worker')))), 'the dead run to fail');
  t.comment(`the dead run ended with: ${deadRunEnded!.msg}`);
  const after = await waitForStatus(h, tenant.appId, 'killed', (s) => s.status === 'synced');
  t.equal(after.lastError, null, 'the late failure of the dead run was not recorded');
});

t.test('one run per group at a time: a group held by another run waits for it', async (t) => {
  // Another worker holds the group (the same advisory lock the runs take).
  const holder = await h.ctx.pool.connect();
  const key = JSON.stringify(['e2ee-group', tenant.appId, 'held']);
  try {
    await holder.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]);
    await applyEvents([{ event: { type: 'group.created', guid: 'held', at: Date.now() - 60_000, owner: 'u0', members: ['u1'] }, key: 'held-1' }]);
    // Wait until a run has tried and been postponed, then check that nothing happened.
    await waitFor(async () => {
      const job = (await (await stack.queue.getQueue()).getDelayed()).find((j) => j.name === 'reconcile' && (j.data as { guid: string }).guid === 'held');
      return job !== undefined;
    }, 'the run to be postponed');
    t.equal(await svc.participants('held', UIDS), null, 'nothing was done while the group was held');
  } finally {
    await holder.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]).catch(() => {});
    holder.release();
  }
  const status = await waitForStatus(h, tenant.appId, 'held', (s) => s.status === 'synced');
  t.same(status.virgilMembers, ['u0', 'u1'], 'the postponed run went ahead once the group was free');
});

t.test('Virgil failing 30% of calls for a while: retries with backoff, then everything converges', async (t) => {
  const rng = seededRandom(testSeed(t, 7));
  const base = Date.now() - 1_800_000;
  const histories = new Map<string, ModelEvent[]>();
  for (let g = 0; g < 12; g++) {
    const guid = `flaky-${g}`;
    histories.set(guid, randomHistory(rng, guid, { base, uids: UIDS, length: 8, slots: 6, stepMs: 1_000 }));
  }
  // First Virgil is down altogether: the group runs out of retries and is marked failed.
  h.emulator.setFaults([{ route: '*', status: 503 }]);
  await applyEvents([{ event: { type: 'group.created', guid: 'flaky-doomed', at: base, owner: 'u0', members: ['u1'] }, key: 'doomed-1' }]);
  const doomed = await waitFor(async () => {
    const status = await groupStatus(h, tenant.appId, 'flaky-doomed');
    return status?.status === 'failed' ? status : undefined;
  }, 'the group to run out of retries');
  t.equal(doomed.lastError?.code, 'VIRGIL_UNAVAILABLE', `failed with the reason: ${doomed.lastError?.message}`);
  histories.set('flaky-doomed', [{ type: 'group.created', guid: 'flaky-doomed', at: base, owner: 'u0', members: ['u1'] }]);

  // Then it fails 30% of calls for a while.
  h.emulator.setFaults([{ route: '*', errorRate: 0.3, status: 503 }]);
  try {
    await applyEvents([...histories.values()].flat().map((event, i) => ({ event, key: `flaky-${i}` })));
    await waitFor(async () => {
      const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM groups WHERE tenant_id = ${tenant.appId} AND guid LIKE 'flaky-%' AND last_error IS NOT NULL`.execute(h.ctx.db);
      return Number(rows[0].n) > 0;
    }, 'failures to be recorded while Virgil is flaky');
    // Keep failing a while: until some group has exhausted its attempts under the faults (seen in the
    // log), or at least retries have failed repeatedly, so the sweeper's retry of failed groups runs;
    // or until no flaky group has anything left to run (each change runs once, so the runs, and the
    // failures they can meet, may end first).
    await waitFor(async () => {
      const failures = workerLogs().filter((l) => l?.msg === 'reconcile failed' && String(l.guid).startsWith('flaky-') && l.guid !== 'flaky-doomed');
      if (failures.some((l) => l!.final === true) || failures.filter((l) => Number(l!.attempt) >= 2).length >= 6) return true;
      const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM groups WHERE tenant_id = ${tenant.appId} AND guid LIKE 'flaky-%'
        AND guid <> 'flaky-doomed' AND synced_version < desired_version`.execute(h.ctx.db);
      return Number(rows[0].n) === 0;
    }, 'flaky groups to fail their retries, or to have nothing left to run', 60_000);
  } finally {
    h.emulator.clearFaults();
  }
  const expected = new Map<string, { deleted: boolean; members: string[] }>();
  for (const [guid, events] of histories) {
    const want = expectedGroup(events);
    if (want.exists) expected.set(guid, want);
  }
  await settle(t, h, tenant.appId, 'every flaky group to settle after healing');
  await compareWithVirgil(t, svc, h, tenant.appId, expected);
});

t.test('Redis restarted during processing: webhooks are still accepted, work resumes, nothing is lost', { skip: findRedisServer() ? false : 'redis-server is not installed' }, async (t) => {
  const port = await freePort();
  let redis = await startRedis(findRedisServer()!, port);
  t.teardown(() => redis.stop());
  const own: WorkerStack = await startWorkerStack(t, { redisUrl: redis.url });
  const app = own.h;
  const tenant2: OnboardedTenant = await app.onboardTenant();
  await registeredUsers(t, app, tenant2, UIDS.slice(0, 5));
  const view = await serviceView(t, app, tenant2.appId);
  let clock = Math.floor(Date.now() / 1000) - 600;
  const guids = Array.from({ length: 6 }, (_, i) => `redis-${i}`);
  for (const guid of guids) await sendCometChat(app, tenant2, 'group_created', { guid, owner: 'u0', members: ['u0', 'u1'], createdAt: ++clock });
  for (const guid of guids) await waitForStatus(app, tenant2.appId, guid, (s) => s.status === 'synced');

  // A burst of changes, and Redis goes away while they are processed.
  for (const guid of guids) await sendCometChat(app, tenant2, 'group_member_added', { guid, members: ['u2', 'u3'], updatedAt: ++clock });
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 0 });
  await admin.call('SHUTDOWN', 'NOSAVE').catch(() => {}); // the connection drops as the server exits
  admin.disconnect();
  await redis.stop();

  // While Redis is down, webhooks are still accepted quickly (the outbox keeps the requests).
  // No timing assertion: the answer is 200 with the request in the outbox, and the queue call gave up
  // (bounded by the queue's enqueue timeout) instead of holding the webhook.
  for (const guid of guids) {
    const res = await sendCometChat(app, tenant2, 'group_member_kicked', { guid, members: ['u1'], by: 'u0', updatedAt: ++clock });
    t.equal(res.statusCode, 200, `webhook for ${guid} accepted with Redis down`);
    const outboxed = await sql<{ n: string }>`SELECT count(*) AS n FROM reconcile_outbox WHERE tenant_id = ${tenant2.appId} AND guid = ${guid}`.execute(app.ctx.db);
    t.ok(Number(outboxed.rows[0].n) > 0, `the request for ${guid} is in the outbox`);
    await waitFor(() => own.logLines.map(parseLog).some((l) => l?.msg === 'reconcile request left to the outbox sweeper' && l.guid === guid),
      `the queue call for ${guid} to give up`);
  }
  const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM reconcile_outbox WHERE tenant_id = ${tenant2.appId}`.execute(app.ctx.db);
  t.ok(Number(rows[0].n) > 0, 'the requests wait in the outbox');

  redis = await startRedis(redis.bin, port);
  await settle(t, app, tenant2.appId, 'work to resume after Redis is back');
  await compareWithVirgil(t, view, app, tenant2.appId, new Map(guids.map((guid) => [guid, { deleted: false, members: ['u0', 'u2', 'u3'] }])));
});

t.test('no secret reaches the logs', async (t) => {
  const runtime = (await h.ctx.tenants.get(tenant.appId))!;
  const secrets = [tenant.virgil.appKey, tenant.userAuthSecret, tenant.webhookBasic.password, tenant.signingSecret, runtime.servicePrivateKey()];
  const logs = [...stack.logLines, ...h.logLines].join('\n');
  t.ok(logs.length > 0, 'there are logs to check');
  for (const secret of secrets) t.notOk(logs.includes(secret), 'a tenant secret is absent from the logs');
  t.notOk(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/.test(logs), 'no JWT in the logs');
  t.notOk(logs.includes('outbox sweep failed'), 'the sweeper never failed');
  t.notOk(logs.includes(runtime.servicePrivateKey().slice(16, 48)), 'no fragment of the service key');
});

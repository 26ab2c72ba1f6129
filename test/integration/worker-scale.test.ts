/**
 * A worker built for many tenants, through the real pipeline (HTTP webhooks, PostgreSQL, Redis, the
 * emulator): many jobs at once on a pool of two connections, one run per change (the sweeper leaves
 * running jobs alone, and still finds lost ones), per-tenant queue priorities, a service identity
 * evicted from the LRU rebuilt by its tenant's next job, and a failing group store failing the run
 * (retried), never the process. Figures (throughput, memory, descriptors) are in `npm run bench`.
 */
import t from 'tap';
import { sql } from 'kysely';
import type { Job } from 'bullmq';
import type { GroupJobData } from '../../src/reconcile/jobs.js';
import { requestResync } from '../../src/groups/outbox-repository.js';
import { GroupStoreError, MemoryGroupStore } from '../../src/virgil/group-store.js';
import type { OnboardedTenant } from '../helpers/app.js';
import { publishTestCard } from '../helpers/virgil-clients.js';
import { waitFor } from '../helpers/wait.js';
import { sendStandard, serviceView, startWorkerStack, waitForStatus } from '../helpers/worker-stack.js';

// Twelve jobs at once against a pool of two connections: a design where every running job holds a
// pooled connection for its group lock would leave none for the runs' queries.
const stack = await startWorkerStack(t, {
  app: { env: { DATABASE_POOL_SIZE: '2' } },
  worker: { concurrency: 12, sweeper: { intervalMs: 200, redeliverAfterMs: 300, pendingRecheckMs: 60_000 } },
});
const { h } = stack;
const [a, b] = [await h.onboardTenant(), await h.onboardTenant()];
const UIDS = ['u0', 'u1', 'u2', 'u3'];
for (const tenant of [a, b]) {
  const runtime = (await h.ctx.tenants.get(tenant.appId))!;
  for (const uid of UIDS) await publishTestCard(h.emulator.url, tenant.virgil, runtime.userIdentity(uid));
}

/** Finished reconcile runs per group, as the queue reports them (a superseded run counts too). */
const runs = new Map<string, number>();
const countRuns = () => stack.worker.worker.on('completed', (job: Job<GroupJobData>) => {
  if (job.name === 'reconcile' && 'guid' in job.data) runs.set(job.data.guid, (runs.get(job.data.guid) ?? 0) + 1);
});
countRuns();
let clock = Date.now() - 3_600_000;
const create = (tenant: OnboardedTenant, guid: string, members = ['u1', 'u2']) =>
  sendStandard(h, tenant, 'group.created', { guid, occurredAt: new Date(clock += 1_000), owner: 'u0', members });
const logged = (msg: string) => [...h.logLines, ...stack.logLines].map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);

t.test('sixteen groups at once on a pool of two connections all sync', async (t) => {
  const guids = Array.from({ length: 16 }, (_, i) => `many-${i}`);
  await Promise.all(guids.map((guid) => create(a, guid)));
  for (const guid of guids) await waitForStatus(h, a.appId, guid, (s) => s.status === 'synced');
  t.notOk([...h.logLines, ...stack.logLines].some((l) => l.includes('timeout exceeded when trying to connect')), 'no run waited in vain for a connection');
});

t.test('one run per change: the sweeper leaves a running job alone, and finds a lost one', async (t) => {
  // Runs far longer than the redelivery delay (300 ms) and several sweeps (every 200 ms).
  h.emulator.setFaults([{ route: '/keyknox/v2/push', latencyMs: 1_500 }]);
  try {
    await create(a, 'slow');
    await waitForStatus(h, a.appId, 'slow', (s) => s.status === 'synced');
  } finally {
    h.emulator.clearFaults();
  }
  t.equal(runs.get('slow'), 1, 'one run, though the sweeper passed several times while it ran');

  // The request was handed to the queue long ago and the job is gone (Redis lost it): swept again.
  t.ok(await requestResync(h.ctx.db, a.appId, 'slow', true));
  await sql`UPDATE reconcile_outbox SET enqueued_at = now() - interval '1 hour' WHERE tenant_id = ${a.appId} AND guid = 'slow'`.execute(h.ctx.db);
  await waitFor(async () => runs.get('slow') === 2
    && (await h.ctx.db.selectFrom('reconcile_outbox').select('guid').where('tenant_id', '=', a.appId).where('guid', '=', 'slow').execute()).length === 0,
  'the sweeper to enqueue the lost request and a run to clear it');
  t.pass('the lost request ran');
});

t.test('a change arriving while the group runs is synced by a follow-up run the worker queues', async (t) => {
  // The intake does not enqueue a group whose request is still with the queue: the running job
  // cannot record the older state it read, and queues the follow-up itself.
  h.emulator.setFaults([{ route: '/keyknox/v2/push', latencyMs: 1_000 }]);
  try {
    await create(a, 'moving');
    const queue = await stack.queue.getQueue();
    await waitFor(async () => (await queue.getJobs(['active'])).some((j) => (j.data as { guid?: string }).guid === 'moving'), 'the run to start');
    await sendStandard(h, a, 'group.member_added', { guid: 'moving', occurredAt: new Date(clock += 1_000), members: ['u3'] });
    const status = await waitForStatus(h, a.appId, 'moving', (s) => s.status === 'synced' && s.virgilMembers.includes('u3'));
    t.same(status.virgilMembers, ['u0', 'u1', 'u2', 'u3']);
  } finally {
    h.emulator.clearFaults();
  }
  t.same(await (await serviceView(t, h, a.appId)).participants('moving', UIDS), ['u0', 'u1', 'u2', 'u3'], 'Virgil holds the newest state');
});

t.test('a group behind its desired state with no request and no job is found by the sweeper', async (t) => {
  await create(a, 'behind');
  await waitForStatus(h, a.appId, 'behind', (s) => s.status === 'synced');
  await waitFor(async () => (await stack.queue.isQueued(a.appId, 'behind')) === false, 'the run to leave the queue');
  const before = runs.get('behind') ?? 0;
  // The desired state moves on and both the outbox row and the job are lost (a write that did not
  // ask for a run): only `unsynced_since`, set by the trigger, says the group is behind.
  const { rows } = await sql<{ unsynced_since: Date | null }>`
    UPDATE groups SET desired_version = desired_version + 1 WHERE tenant_id = ${a.appId} AND guid = 'behind'
    RETURNING unsynced_since`.execute(h.ctx.db);
  t.ok(rows[0]?.unsynced_since instanceof Date, 'the trigger marked the group as behind');
  await waitFor(async () => {
    const group = await h.ctx.db.selectFrom('groups').select(['synced_version', 'desired_version', 'unsynced_since'])
      .where('tenant_id', '=', a.appId).where('guid', '=', 'behind').executeTakeFirstOrThrow();
    return group.synced_version === group.desired_version && group.unsynced_since === null;
  }, 'the sweeper to enqueue the group and a run to catch it up');
  t.equal(runs.get('behind'), before + 1, 'one run');
});

t.test("reconcile jobs carry their tenant's priority: a quiet tenant's job is taken before a busy one's next", async (t) => {
  await stack.worker.worker.pause();
  try {
    for (const guid of ['p1', 'p2', 'p3']) await stack.queue.enqueue('prio-busy', guid);
    await stack.queue.enqueue('prio-quiet', 'q1');
    const queue = await stack.queue.getQueue();
    const jobs = (await queue.getJobs(['prioritized', 'waiting'])).filter((j) => j.name === 'reconcile' && String((j.data as { tenantId: string }).tenantId).startsWith('prio-'));
    const priorityOf = (guid: string) => jobs.find((j) => (j.data as { guid: string }).guid === guid)?.opts.priority;
    t.same(['p1', 'p2', 'p3', 'q1'].map(priorityOf), [1, 2, 3, 1]);
  } finally {
    stack.worker.worker.resume();
  }
});

t.test('a service identity evicted from the LRU is rebuilt by its next job', async (t) => {
  await stack.restartWorker({ worker: { serviceIdentities: 1 } });
  countRuns();
  const ready = (tenant: OnboardedTenant) => logged('service identity ready').filter((l) => l.tenantId === tenant.appId).length;
  const before = ready(a);
  await create(a, 'lru');
  await waitForStatus(h, a.appId, 'lru', (s) => s.status === 'synced');
  await create(b, 'lru-other'); // b takes the only place
  await waitForStatus(h, b.appId, 'lru-other', (s) => s.status === 'synced');
  await sendStandard(h, a, 'group.member_added', { guid: 'lru', occurredAt: new Date(clock += 1_000), members: ['u3'] });
  const status = await waitForStatus(h, a.appId, 'lru', (s) => s.status === 'synced' && s.virgilMembers.includes('u3'));
  t.same(status.virgilMembers, ['u0', 'u1', 'u2', 'u3']);
  t.equal(ready(a) - before, 2, "a's service identity was built, evicted, and built again");
  const view = await serviceView(t, h, a.appId);
  t.same(await view.participants('lru', UIDS), ['u0', 'u1', 'u2', 'u3'], 'Virgil holds the group as recorded');
});

t.test('a failing group store fails the run, which is retried; the process goes on', async (t) => {
  // The first store built fails as a group's local copy is cleared (a deletion); later ones work.
  let built = 0;
  class FailingStore extends MemoryGroupStore {
    override _clear(_options: object, callback: (err?: Error) => void): void {
      queueMicrotask(() => callback(new GroupStoreError('simulated storage failure')));
    }
  }
  await stack.restartWorker({ worker: { groupStore: () => (built++ === 0 ? new FailingStore() : new MemoryGroupStore()) } });
  countRuns();
  await sendStandard(h, a, 'group.deleted', { guid: 'many-0', occurredAt: new Date(clock += 1_000) });
  const status = await waitForStatus(h, a.appId, 'many-0', (s) => s.status === 'deleted');
  t.equal(status.lastError, null);
  const failed = logged('reconcile failed').find((l) => l.guid === 'many-0');
  t.equal(failed?.code, 'GROUP_STORAGE_FAILED', `the run failed with the reason: ${String(failed?.err)}`);
  t.ok(built >= 2, 'the service identity was rebuilt with a new store');
  t.equal(await (await serviceView(t, h, a.appId)).participants('many-0', UIDS), null, 'the retry deleted the group on Virgil');
});

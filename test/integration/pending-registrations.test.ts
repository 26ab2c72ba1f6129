/**
 * The API's in-memory view of pending registrations (which uids some group waits for), against a
 * real PostgreSQL: loaded on first use, reloaded on the worker's notification, unknown (so callers
 * fall back to the database) while loading or when a tenant has too many pending uids.
 */
import t from 'tap';
import { sql } from 'kysely';
import { NotificationListener } from '../../src/db/notification-listener.js';
import { PendingRegistrations } from '../../src/groups/pending-registrations.js';
import { recordOutcome, type GroupOutcome } from '../../src/groups/run-records.js';
import { startTestApp } from '../helpers/app.js';
import { waitFor } from '../helpers/wait.js';

const h = await startTestApp(t);
const tenant = await h.onboardTenant();
const { db } = h.ctx;

async function addGroup(guid: string, pending: string[], deleted = false, appId = tenant.appId) {
  await sql`INSERT INTO groups (tenant_id, guid, identity, lifecycle_at, pending_registration, deleted)
    VALUES (${appId}, ${guid}, ${`id-${guid}`}, now(), ${pending}::text[], ${deleted})`.execute(db);
}

/** What the worker records after a run that found `pending` members without a card. */
function outcome(pending: string[], newlyPending: boolean): GroupOutcome {
  return { status: 'pending', virgilMembers: ['alice'], pendingRegistration: pending, lastError: null, attempts: 1, newlyPending };
}

/** Resolves true once the view answers that `uid` is awaited; fails the test after 5 s. */
const becomesAwaited = (view: PendingRegistrations, uid: string, appId = tenant.appId) =>
  waitFor(async () => view.awaits(appId, uid) === true, `${uid} to be awaited`, 5_000);

await addGroup('hikers', ['frank']);
await addGroup('gone', ['ghost'], true);

t.test('loaded on first use: awaited uids, nobody else, never members of deleted groups', async (t) => {
  const view = new PendingRegistrations(db, h.ctx.notifications);
  t.teardown(() => view.close());
  t.equal(view.awaits(tenant.appId, 'frank'), undefined, 'unknown until the first load completes');
  t.ok(await becomesAwaited(view, 'frank'));
  t.equal(view.awaits(tenant.appId, 'alice'), false, 'a uid no group waits for');
  t.equal(view.awaits(tenant.appId, 'ghost'), false, 'a deleted group waits for nobody');
});

t.test('the worker recording a new pending member reaches the view through NOTIFY, not its max age', async (t) => {
  const view = new PendingRegistrations(db, h.ctx.notifications, { maxAgeMs: 600_000 });
  t.teardown(() => view.close());
  await becomesAwaited(view, 'frank');
  t.equal(view.awaits(tenant.appId, 'gina'), false);

  t.ok(await recordOutcome(db, tenant.appId, 'hikers', '1', outcome(['frank', 'gina'], true)));
  t.ok(await becomesAwaited(view, 'gina'), 'gina is awaited after the notification');

  // A run that only drops a pending member sends nothing: the stale entry costs one harmless lookup.
  await sql`UPDATE groups SET desired_version = 2 WHERE tenant_id = ${tenant.appId} AND guid = 'hikers'`.execute(db);
  t.ok(await recordOutcome(db, tenant.appId, 'hikers', '2', outcome(['gina'], false)));
  // Instead of sleeping: a later notification for another tenant, on the same channel and connection,
  // is delivered after any the run above could have sent. Once the view has acted on it, a
  // notification for this tenant would have been seen too.
  const marker = await h.onboardTenant();
  await addGroup('camp', ['ivan'], false, marker.appId);
  await becomesAwaited(view, 'ivan', marker.appId);
  t.ok(await recordOutcome(db, marker.appId, 'camp', '1', outcome(['ivan', 'judy'], true)));
  await becomesAwaited(view, 'judy', marker.appId);
  t.equal(view.awaits(tenant.appId, 'frank'), true, 'not reloaded without a notification');
});

t.test('a tenant with more pending uids than the view holds stays unknown', async (t) => {
  // Loads are observed through a Kysely plugin counting query results (instead of sleeping).
  let results = 0;
  const observed = db.withPlugin({ transformQuery: (args) => args.node, transformResult: async (args) => { results++; return args.result; } });
  const view = new PendingRegistrations(observed, h.ctx.notifications, { maxUids: 1 });
  t.teardown(() => view.close());
  await addGroup('crowd', ['p1', 'p2', 'p3']);
  view.awaits(tenant.appId, 'p1');
  await waitFor(() => results >= 1, 'the first load to complete', 5_000);
  await new Promise((resolve) => setImmediate(resolve)); // let the load's own continuation store its outcome
  t.equal(view.awaits(tenant.appId, 'p1'), undefined);
  t.equal(view.awaits(tenant.appId, 'nobody'), undefined, 'callers ask the database instead');
});

t.test('a listener that reconnects makes every loaded tenant reload', async (t) => {
  const listener = new NotificationListener({ databaseUrl: h.databaseUrl });
  const view = new PendingRegistrations(db, listener, { maxAgeMs: 600_000 });
  await listener.start();
  t.teardown(async () => { view.close(); await listener.close(); });
  await becomesAwaited(view, 'gina');
  // Written without a notification, as if it had been sent while the listener was away.
  await sql`UPDATE groups SET pending_registration = '{gina,hana}' WHERE tenant_id = ${tenant.appId} AND guid = 'hikers'`.execute(db);
  t.equal(view.awaits(tenant.appId, 'hana'), false);
  await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'e2ee-extension-listener' AND pid <> pg_backend_pid()`.execute(db);
  t.ok(await waitFor(async () => view.awaits(tenant.appId, 'hana') === true, 'hana after the reconnect', 10_000));
});

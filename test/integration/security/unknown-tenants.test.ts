/**
 * Made-up app ids must not turn into database work: a flood of distinct unknown ids, in the appId
 * header and in webhook paths, is answered from the set of known app ids without a query, while a
 * real tenant keeps being served. That set follows tenant writes (this process's at once, other
 * replicas' by NOTIFY) and is reloaded after the notification connection was lost.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import t, { type Test } from 'tap';
import type { TenantRow } from '../../../src/db/schema.js';
import { openField, type SealedField } from '../../../src/tenants/runtime.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { virgilJwtCall } from '../../helpers/extension-client.js';
import { waitFor, waitUntil } from '../../helpers/wait.js';

const a = await startTestApp(t);
const b = await startTestApp(t, { shareWith: a });

/** Counts connections the app takes from its pool: every query and transaction takes one. */
function countQueries(t: Test, h: TestApp) {
  const counter = { n: 0 };
  const onAcquire = () => { counter.n++; };
  h.ctx.pool.on('acquire', onAcquire);
  t.teardown(() => { h.ctx.pool.off('acquire', onAcquire); });
  return counter;
}

t.test('20,000 distinct unknown app ids cost no database query, and a real tenant is served throughout', async (t) => {
  t.ok(a.ctx.tenants.knowsAllIds, 'the app ids were loaded before the first request');
  // Onboarded after the ids were loaded: this process knows it at once.
  const tenant = await a.onboardTenant();
  const token = tenant.userToken('alice');
  t.equal((await virgilJwtCall(a.app, tenant.appId, token)).statusCode, 200, 'a tenant onboarded after the load is found at once');

  // The onboarding's own notification must have arrived before the cached copy is taken (it drops
  // the copy). Notifications arrive in commit order, so one sent after it marks the point.
  const marker = `marker-${randomBytes(4).toString('hex')}`;
  await sql`SELECT pg_notify('tenant_changed', ${marker})`.execute(a.ctx.db);
  await waitFor(() => a.ctx.tenants.peek(marker) === undefined, 'the notifications of the onboarding to arrive');
  t.equal((await virgilJwtCall(a.app, tenant.appId, token)).statusCode, 200);
  const cached = a.ctx.tenants.peek(tenant.appId);
  t.ok(cached, 'the tenant is cached');
  const queries = countQueries(t, a);
  const run = randomBytes(4).toString('hex');
  const statuses = new Map<string, number>();
  const tally = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);
  const TOTAL = 20_000;
  const BATCH = 500;
  for (let start = 0; start < TOTAL; start += BATCH) {
    const calls = [];
    for (let i = start; i < start + BATCH; i++) {
      const appId = `ghost-${run}-${i}`;
      calls.push(i % 2 === 0
        ? a.app.inject({ method: 'GET', url: '/v1/virgil-jwt', headers: { appid: appId, authorization: `Bearer ${token}` } })
          .then((res) => tally(`header ${res.statusCode} ${res.json().error?.code}`))
        : a.app.inject({ method: 'POST', url: `/v1/webhooks/${appId}`, headers: { 'content-type': 'application/json' }, payload: '{}' })
          .then((res) => tally(`path ${res.statusCode} ${res.json().error?.code}`)));
    }
    calls.push(virgilJwtCall(a.app, tenant.appId, token).then((res) => tally(`known ${res.statusCode}`)));
    await Promise.all(calls);
  }
  t.same(Object.fromEntries(statuses), {
    'header 404 TENANT_NOT_FOUND': TOTAL / 2,
    'path 404 TENANT_NOT_FOUND': TOTAL / 2,
    'known 200': TOTAL / BATCH,
  }, 'every unknown id is 404 TENANT_NOT_FOUND, and the real tenant got every token it asked for');
  t.ok(queries.n <= 3, `at most a handful of queries for ${TOTAL} unknown ids (made ${queries.n})`);
  t.equal(a.ctx.tenants.peek(tenant.appId), cached, 'the flood never pushed the active tenant out of the cache');
});

t.test('a tenant onboarded on another replica is known there once its notification arrives', async (t) => {
  t.ok(b.ctx.tenants.knowsAllIds);
  const queries = countQueries(t, b);
  const tenant = await a.onboardTenant();
  const token = tenant.userToken('bob');
  // Replica b answers from its own set: 404 (at no cost) until the NOTIFY of the insert reaches it.
  await waitUntil(() => virgilJwtCall(b.app, tenant.appId, token), (res) => res.statusCode === 200, 'replica b to serve the new tenant');
  t.ok(queries.n <= 2, `one lookup of the new tenant on replica b (made ${queries.n})`);
});

t.test('after the notification connection is lost and back, the app ids are reloaded', async (t) => {
  const source = await a.onboardTenant();
  const token = source.userToken('carol');
  await waitUntil(() => virgilJwtCall(b.app, source.appId, token), (res) => res.statusCode === 200, 'replica b to serve the source tenant');

  // A tenant whose write sent no notification, as if it had come while nobody listened.
  const missed = `missed-${randomBytes(4).toString('hex')}`;
  const row = await a.ctx.db.selectFrom('tenants').selectAll().where('app_id', '=', source.appId).executeTakeFirstOrThrow();
  const reseal = (field: SealedField, value: string | null) =>
    value === null ? null : a.ctx.keyring.seal(openField(a.ctx.keyring, row, field, value), { tenant: missed, field });
  const clone: TenantRow = {
    ...row, app_id: missed,
    virgil_app_key: reseal('virgil_app_key', row.virgil_app_key)!,
    identity_secret: reseal('identity_secret', row.identity_secret)!,
    service_private_key: reseal('service_private_key', row.service_private_key)!,
    user_auth_key: reseal('user_auth_key', row.user_auth_key)!,
    webhook_basic_password: reseal('webhook_basic_password', row.webhook_basic_password),
    webhook_signing_secret: reseal('webhook_signing_secret', row.webhook_signing_secret),
  };
  await a.ctx.db.insertInto('tenants').values({ ...clone, user_auth: JSON.stringify(clone.user_auth), rate_limits: null } as never).execute();

  const queries = countQueries(t, b);
  const before = await virgilJwtCall(b.app, missed, token);
  t.equal(before.statusCode, 404, 'without its notification, replica b does not know it');
  t.equal(queries.n, 0, 'and answered without a query');

  // Drop every notification connection of this database; the listeners reconnect and reload.
  await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'e2ee-extension-listener'`.execute(a.ctx.db);
  await waitUntil(() => virgilJwtCall(b.app, missed, token), (res) => res.statusCode === 200, 'replica b to serve the missed tenant');
  await waitFor(() => b.ctx.tenants.knowsAllIds, 'replica b to have reloaded its app ids');
  const after = await virgilJwtCall(b.app, `ghost-${randomBytes(4).toString('hex')}`, token);
  t.equal(after.statusCode, 404, 'unknown ids are answered from the reloaded set');
});
